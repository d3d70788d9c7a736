package inventory

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Options tune a load.
type Options struct {
	// Catalog maps provider types to their configs. Required.
	Catalog Catalog
	// Now is the instant that "can this window ever open" and "can this policy be met" are
	// judged from. Required: the loader never reads the clock itself.
	Now time.Time
	// MaxFileSize bounds one inventory file (default 512 MiB): a runaway file is an error,
	// not an out-of-memory kill.
	MaxFileSize int64
}

// fragment is what one YAML document may hold. Collections from every document are merged.
type fragment struct {
	Defaults      *Defaults       `yaml:"defaults" doc:"Inventory-wide settings; at most one file may set them."`
	Teams         []*Team         `yaml:"teams" rotor:"keyed" doc:"Owning teams and who may approve for them."`
	Windows       []*Window       `yaml:"windows" rotor:"keyed" doc:"Recurring change windows."`
	Freezes       []*Freeze       `yaml:"freezes" doc:"Dated periods when no phase starts."`
	Identities    []*Identity     `yaml:"identities" rotor:"keyed" doc:"Who acts: the executor, and the identity each consumer reads with."`
	Checks        []*Check        `yaml:"checks" rotor:"keyed" doc:"Named sources of evidence with a pass condition."`
	Credentials   []*Credential   `yaml:"credentials" rotor:"keyed" doc:"The things that get rotated."`
	Notifications []*Notification `yaml:"notifications" rotor:"keyed" doc:"Where rotor tells people that a run needs them: webhooks and Slack."`
}

// fileResult is what decoding one file produced.
type fileResult struct {
	frags []*fragment
	errs  ErrorList
}

// Load reads an inventory folder (every *.yaml and *.yml below it, hidden entries skipped) or
// one file, and returns the validated model. On any problem it returns an ErrorList holding
// every error found, and no model.
func Load(root string, opts Options) (*Inventory, error) {
	if opts.Catalog == nil || opts.Now.IsZero() {
		return nil, errors.New("inventory.Load: Options.Catalog and Options.Now are required")
	}
	if opts.MaxFileSize == 0 {
		opts.MaxFileSize = 512 << 20
	}
	e := &errs{}
	files := listFiles(root, e)
	if len(files) == 0 && len(e.list) == 0 {
		e.add(Pos{File: root}, "no inventory files (*.yaml, *.yml) found")
	}

	// Files are decoded in parallel, each into its own result: the order of the model and of
	// the errors does not depend on which goroutine finished first. Each file's yaml.Node
	// trees are dropped as soon as the file is decoded.
	results := make([]fileResult, len(files))
	workers := make([]*scratch, min(runtime.GOMAXPROCS(0), max(len(files), 1)))
	var wg sync.WaitGroup
	work := make(chan int)
	for w := range workers {
		sc := &scratch{strs: newInterner(), uses: newRefUses()}
		workers[w] = sc
		wg.Go(func() {
			for i := range work {
				results[i] = decodeFile(files[i], int32(i), opts, sc)
			}
		})
	}
	for _, i := range largestFirst(files) {
		work <- i
	}
	close(work)
	wg.Wait()

	inv := &Inventory{Root: root}
	for _, r := range results {
		e.list = append(e.list, r.errs...)
		for _, f := range r.frags {
			merge(inv, f, e)
		}
	}
	uses := make([]*refUses, len(workers))
	for w, sc := range workers {
		uses[w] = sc.uses
	}
	validate(inv, files, uses, opts, e)
	if len(e.list) > 0 {
		return nil, e.list.sorted()
	}
	return inv, nil
}

// largestFirst orders the indexes of files by decreasing size, so that the goroutines end
// together rather than one decoding the largest file (often the shared one, listed last)
// while the others wait.
func largestFirst(files []string) []int {
	size := make([]int64, len(files))
	order := make([]int, len(files))
	for i, f := range files {
		order[i] = i
		if st, err := os.Stat(f); err == nil { // errors are reported when the file is read
			size[i] = st.Size()
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(size[b], size[a]) })
	return order
}

// listFiles finds the inventory files below root in lexical order. Symbolic links are
// followed; a directory reached twice (a link loop) is reported, not walked forever.
func listFiles(root string, e *errs) []string {
	info, err := os.Stat(root)
	if err != nil {
		e.add(Pos{File: root}, "cannot read inventory: %v", unwrapPathError(err))
		return nil
	}
	if !info.IsDir() {
		return []string{root}
	}
	var files []string
	visited := map[string]bool{}
	var walk func(dir string)
	walk = func(dir string) {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			e.add(Pos{File: dir}, "cannot read directory: %v", unwrapPathError(err))
			return
		}
		if visited[real] {
			e.add(Pos{File: dir}, "symbolic link loop: this directory was already read as %s", real)
			return
		}
		visited[real] = true
		entries, err := os.ReadDir(dir)
		if err != nil {
			e.add(Pos{File: dir}, "cannot read directory: %v", unwrapPathError(err))
			return
		}
		for _, ent := range entries {
			name := ent.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			p := filepath.Join(dir, name)
			isDir := ent.IsDir()
			if ent.Type()&fs.ModeSymlink != 0 {
				st, err := os.Stat(p)
				if err != nil {
					if isYAML(name) {
						e.add(Pos{File: p}, "cannot read: %v", unwrapPathError(err))
					} else if errors.Is(err, fs.ErrNotExist) || isLoop(err) {
						e.add(Pos{File: p}, "broken or looping symbolic link: %v", unwrapPathError(err))
					}
					continue
				}
				isDir = st.IsDir()
			}
			switch {
			case isDir:
				walk(p)
			case isYAML(name):
				files = append(files, p)
			}
		}
	}
	walk(root)
	slices.Sort(files)
	return files
}

func isYAML(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

func isLoop(err error) bool {
	return strings.Contains(err.Error(), "too many levels of symbolic links")
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var fragmentType = reflect.TypeFor[fragment]()

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// scratch is what one decoding goroutine reuses from one file to the next.
type scratch struct {
	strs *interner // nil: no interning
	data []byte    // the file's bytes: nothing decoded points into them
	uses *refUses  // nil: collect refs instead
	refs *[]refUse
}

// decodeFile decodes the file of the given index in the load.
func decodeFile(name string, index int32, opts Options, sc *scratch) (res fileResult) {
	e := &errs{}
	defer func() { res.errs = e.list }()
	data, err := readLimited(name, opts.MaxFileSize, sc.data)
	sc.data = data
	if err != nil {
		e.add(Pos{File: name}, "%v", err)
		return
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		e.add(Pos{File: name}, "not a YAML text file (binary data or invalid UTF-8)")
		return
	}
	d := &decoder{file: name, cat: opts.Catalog, e: e, nodes: 1_000_000 + 16*len(data),
		strs: sc.strs, index: index, uses: sc.uses, refs: sc.refs}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			line, msg := 1, err.Error()
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				if m[1] != "" {
					line, _ = strconv.Atoi(m[1])
				}
				msg = m[2]
			}
			e.add(Pos{File: name, Line: line, Col: 1}, "invalid YAML: %s", msg)
			break
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue
		}
		root := doc.Content[0]
		if root.Kind != yaml.MappingNode {
			d.errorf(root, "an inventory document is a mapping with keys %s, got %s",
				strings.Join(infoOf(fragmentType).keys, ", "), describe(root))
			continue
		}
		f := &fragment{}
		d.decodeStruct(root, reflect.ValueOf(f).Elem(), infoOf(fragmentType))
		res.frags = append(res.frags, f)
	}
	return
}

// readLimited reads a file of at most limit bytes, into buf when it is large enough.
func readLimited(name string, limit int64, buf []byte) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %v", unwrapPathError(err))
	}
	defer f.Close()
	// Read into a buffer of the file's size (and one byte more, to see that it did not grow)
	// rather than growing one as io.ReadAll does: inventory files can be large.
	size := int64(512)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = min(st.Size(), limit) + 1
	}
	data := buf[:0]
	if int64(cap(data)) < size {
		data = make([]byte, 0, size)
	}
	r := io.LimitReader(f, limit+1)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read: %v", unwrapPathError(err))
		}
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file is larger than %d MiB: split the inventory into several files", limit>>20)
	}
	return data, nil
}

// merge adds one document's entries to the inventory. Ids defined twice are found once all
// documents are in (see dedupe), so merging stays linear in the number of entries.
func merge(inv *Inventory, f *fragment, e *errs) {
	if f.Defaults != nil {
		if inv.Defaults.Pos.File != "" {
			e.add(f.Defaults.Pos, "defaults are already set at %s: set them in one file only", inv.Defaults.Pos)
		} else {
			inv.Defaults = *f.Defaults
		}
	}
	inv.Teams = append(inv.Teams, f.Teams...)
	inv.Windows = append(inv.Windows, f.Windows...)
	inv.Identities = append(inv.Identities, f.Identities...)
	inv.Checks = append(inv.Checks, f.Checks...)
	inv.Credentials = append(inv.Credentials, f.Credentials...)
	inv.Freezes = append(inv.Freezes, f.Freezes...)
	inv.Notifications = append(inv.Notifications, f.Notifications...)
}

// index drops (and reports) entries whose id an earlier entry already took, and returns the
// remaining entries with an index by id.
func index[T any](list []T, what string, id func(T) (string, Pos), e *errs) ([]T, map[string]T) {
	m := make(map[string]T, len(list))
	first := make(map[string]Pos, len(list))
	out := list[:0]
	for _, x := range list {
		k, p := id(x)
		if at, dup := first[k]; dup {
			e.add(p, "%s %q is already defined at %s", what, k, at)
			continue
		}
		first[k] = p
		m[k] = x
		out = append(out, x)
	}
	return out, m
}
