package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

const (
	indexName    = "index.json"
	indexTemp    = "index.json.tmp"
	lockName     = ".lock"
	versionsDir  = "versions"
	cipherSuffix = ".age"
	tempSuffix   = ".tmp"
	indexFormat  = 1
	dirMode      = 0o700
	fileMode     = 0o600
	maxIndexSize = 16 << 20 // far above any real index; a bigger file is not ours
)

// idPattern is the shape of a version id. Ids from the index are checked against it when it
// is loaded, so an id never carries a path element into a file name.
var idPattern = regexp.MustCompile(`^v[0-9]{4,9}-[0-9a-f]{8}$`)

// cipherName is the shape of a version's file in versions/: <id>.<reader key>.age (one per
// reader), or <id>.age (one for every reader, as written before). The first group is the
// version id.
var cipherName = regexp.MustCompile(`^(v[0-9]{4,9}-[0-9a-f]{8})(?:\.[0-9a-f]{16})?\.age$`)

// index is index.json: everything about a credential's versions except their values.
type index struct {
	Format int `json:"format"`
	// Seq is the last sequence number handed out; it never goes down, even when versions are
	// deleted, so an id is never reused.
	Seq      int               `json:"seq"`
	Versions []record          `json:"versions"` // oldest first
	Pins     map[string]string `json:"pins,omitempty"`
}

// record is one version.
type record struct {
	ID           string         `json:"id"`
	Seq          int            `json:"seq"`
	Created      time.Time      `json:"created"`
	Stage        provider.Stage `json:"stage,omitempty"`
	Enabled      bool           `json:"enabled"`
	Deleted      bool           `json:"deleted,omitempty"`
	Key          string         `json:"key"`
	Fingerprint  string         `json:"fingerprint,omitempty"`
	AuthorityRef string         `json:"authority_ref,omitempty"`
	Expires      time.Time      `json:"expires,omitzero"`
	Readers      []reader       `json:"readers"`
}

// reader is one identity a version was encrypted to.
type reader struct {
	Identity  string `json:"identity"`
	Recipient string `json:"recipient"`
}

func (r *record) version() provider.Version {
	return provider.Version{
		ID:           r.ID,
		Fingerprint:  r.Fingerprint,
		Stage:        r.Stage,
		Enabled:      r.Enabled,
		Created:      r.Created,
		Key:          r.Key,
		AuthorityRef: r.AuthorityRef,
		Expires:      r.Expires,
	}
}

// find returns the record with id, deleted or not, or nil.
func (ix *index) find(id string) *record {
	for i := range ix.Versions {
		if ix.Versions[i].ID == id {
			return &ix.Versions[i]
		}
	}
	return nil
}

// byKey returns the record written with the idempotency key, or nil.
func (ix *index) byKey(key string) *record {
	for i := range ix.Versions {
		if ix.Versions[i].Key == key {
			return &ix.Versions[i]
		}
	}
	return nil
}

// withStage returns the live record with the stage, or nil.
func (ix *index) withStage(s provider.Stage) *record {
	for i := range ix.Versions {
		if r := &ix.Versions[i]; r.Stage == s && !r.Deleted {
			return r
		}
	}
	return nil
}

// pinnedTo lists the consumers pinned to id, sorted.
func (ix *index) pinnedTo(id string) []string {
	var out []string
	for c, v := range ix.Pins {
		if v == id {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// newestFirst returns the live records, newest first.
func (ix *index) newestFirst() []*record {
	var out []*record
	for i := range ix.Versions {
		if !ix.Versions[i].Deleted {
			out = append(out, &ix.Versions[i])
		}
	}
	slices.SortFunc(out, func(a, b *record) int { return b.Seq - a.Seq })
	return out
}

// check reports the first inconsistency of an index read from disk. Each rule is one the
// store relies on; an index that breaks one was edited by hand or by something else.
func (ix *index) check() error {
	if ix.Format != indexFormat {
		return fmt.Errorf("format is %d, this rotor reads format %d", ix.Format, indexFormat)
	}
	ids, keys, seqs := map[string]bool{}, map[string]bool{}, map[int]bool{}
	stages := map[provider.Stage]int{}
	for i, r := range ix.Versions {
		switch {
		case !idPattern.MatchString(r.ID):
			return fmt.Errorf("versions[%d]: id %q is not a version id", i, r.ID)
		case ids[r.ID]:
			return fmt.Errorf("versions[%d]: id %s appears twice", i, r.ID)
		case r.Key == "":
			return fmt.Errorf("versions[%d] (%s): no idempotency key", i, r.ID)
		case keys[r.Key]:
			return fmt.Errorf("versions[%d] (%s): idempotency key %q appears twice", i, r.ID, r.Key)
		case r.Seq < 1 || r.Seq > ix.Seq || seqs[r.Seq]:
			return fmt.Errorf("versions[%d] (%s): sequence %d is out of order (last is %d)", i, r.ID, r.Seq, ix.Seq)
		case r.Deleted && r.Enabled:
			return fmt.Errorf("versions[%d] (%s): deleted but enabled", i, r.ID)
		}
		switch r.Stage {
		case provider.StagePending, provider.StageCurrent, provider.StagePrevious, provider.StageRetired:
		default:
			return fmt.Errorf("versions[%d] (%s): unknown stage %q", i, r.ID, r.Stage)
		}
		if r.Stage == provider.StageCurrent && !r.Enabled {
			return fmt.Errorf("versions[%d] (%s): the current version is disabled or deleted", i, r.ID)
		}
		if !r.Deleted {
			stages[r.Stage]++
		}
		ids[r.ID], keys[r.Key], seqs[r.Seq] = true, true, true
	}
	if stages[provider.StageCurrent] > 1 || stages[provider.StagePrevious] > 1 {
		return fmt.Errorf("%d current and %d previous versions: at most one of each", stages[provider.StageCurrent], stages[provider.StagePrevious])
	}
	for c, id := range ix.Pins {
		if r := ix.find(id); r == nil || r.Deleted {
			return fmt.Errorf("consumer %q is pinned to %s, which the index does not keep", c, id)
		}
	}
	return nil
}

// loadIndex reads dir/index.json. A missing file is an empty index: the credential has no
// version yet. Anything else that does not read is kind NeedsHuman, naming the path: rotor
// must not guess which versions exist.
func loadIndex(dir string) (*index, error) {
	p := filepath.Join(dir, indexName)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &index{Format: indexFormat}, nil
	}
	if err != nil {
		return nil, fsError("read index", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&limited{f, maxIndexSize}); err != nil {
		return nil, fsError("read index", fmt.Errorf("%s: %w", p, err))
	}
	var ix index
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ix); err != nil {
		return nil, corrupt(p, err)
	}
	if dec.More() {
		return nil, corrupt(p, errors.New("data after the JSON document"))
	}
	if err := ix.check(); err != nil {
		return nil, corrupt(p, err)
	}
	return &ix, nil
}

func corrupt(path string, err error) error {
	return provider.Errorf(provider.NeedsHuman, "read index",
		"%s is corrupt (%v): nothing was changed; restore it from a backup or repair it by hand, keeping the versions/ files it names", path, err)
}

// limited reads at most n bytes and fails on more, so a huge file is refused rather than
// loaded.
type limited struct {
	f interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("larger than %d bytes", maxIndexSize)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

// save writes the index atomically: temp file, sync, rename, sync of the directory (see
// writeFiles). The temp file has a fixed name because only the holder of the lock writes it; a
// stale one from a crash is truncated and rewritten.
func (ix *index) save(dir string) error { return ix.saveWith(dir, nil) }

// saveWith writes files (a new version's, into versions/) and the index in one writeFiles:
// the index is renamed last, so after a crash of the process the index never names a file that
// is not there. A power loss can still keep the index's rename and lose a version's (they are
// in two folders, synced together): the version's retried Put writes its files again (Put).
func (ix *index) saveWith(dir string, files []namedFile) error {
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return provider.Wrap(provider.Terminal, "write index", err)
	}
	b = append(b, '\n')
	if err := writeFiles(append(files, namedFile{dir: dir, temp: indexTemp, final: indexName, data: b})); err != nil {
		return fsError("write index", err)
	}
	return nil
}

// namedFile is one file for writeFiles: dir/final, written through dir/temp.
type namedFile struct {
	dir, temp, final string
	data             []byte
}

// writeFiles writes each file's data to its final name through its temp name: every temp
// file is written and synced first, then all are renamed in order, then each folder is
// synced. On a failure the temp files are removed; finals already renamed stay, and are what
// the caller's index does not name yet (the sweep removes them), exactly like one write that
// crashed after its rename.
//
// The files are written side by side, and the folders synced side by side: each sync waits on
// the disk, and the file system commits syncs that wait together at once, so a version with
// three readers and its index cost about two syncs' wait rather than six.
func writeFiles(files []namedFile) (err error) {
	errs := make([]error, len(files))
	defer func() {
		if err != nil {
			// Only the temp files this call wrote: a failed writeTemp removed its own, and
			// what stood in its way is not ours.
			for i, f := range files {
				if errs[i] == nil {
					os.Remove(filepath.Join(f.dir, f.temp))
				}
			}
		}
	}()
	if err := each(len(files), func(i int) error {
		errs[i] = writeTemp(filepath.Join(files[i].dir, files[i].temp), files[i].data)
		return errs[i]
	}); err != nil {
		return err
	}
	var dirs []string
	for _, nf := range files {
		if err := os.Rename(filepath.Join(nf.dir, nf.temp), filepath.Join(nf.dir, nf.final)); err != nil {
			return err
		}
		if !slices.Contains(dirs, nf.dir) {
			dirs = append(dirs, nf.dir)
		}
	}
	return each(len(dirs), func(i int) error { return syncDir(dirs[i]) })
}

// each runs fn for 0…n-1, side by side when n > 1 (a single one, the index save on its own,
// runs without a goroutine), and returns their errors joined.
func each(n int, fn func(i int) error) error {
	if n == 1 {
		return fn(0)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeTemp writes and syncs one temp file; on failure it is removed.
func writeTemp(tp string, b []byte) (err error) {
	f, err := os.OpenFile(tp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tp)
		}
	}()
	// A stale temp file from another umask or owner keeps its mode through O_TRUNC.
	if err = f.Chmod(fileMode); err != nil {
		return err
	}
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("writing %s: %w", tp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tp, err)
	}
	return nil
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// fsError classifies a file system failure: a permission problem is Denied (a person must
// grant access), a missing file is Terminal and not-found, and anything else (a full disk, an
// I/O error, a directory where a file should be) is Terminal: retrying blindly would not help.
func fsError(op string, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return provider.Wrap(provider.Denied, op, err)
	case errors.Is(err, fs.ErrNotExist):
		return provider.Wrap(provider.Terminal, op, fmt.Errorf("%w: %w", provider.ErrNotFound, err))
	default:
		return provider.Wrap(provider.Terminal, op, err)
	}
}
