package log

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/check/evidence"
	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `log` check's configuration.
type Config struct {
	Source      Source        `yaml:"source" rotor:"required"`
	Match       Match         `yaml:"match"`
	Bin         time.Duration `yaml:"bin" doc:"Time bin width (default 5m)."`
	Window      time.Duration `yaml:"window" doc:"How far back from now to look (default: since cutover)."`
	By          []string      `yaml:"by" doc:"Fields to group counts by (host, path, status, key_id)."`
	Max         *int          `yaml:"max" doc:"Highest count allowed in any bin (per group)."`
	MaxRate     float64       `yaml:"max_rate" doc:"Highest matching fraction of all lines in any bin."`
	MaxIncrease float64       `yaml:"max_increase" doc:"Highest ratio against the same-length window before cutover."`
}

// Source says where log lines come from and how to read them.
type Source struct {
	Type    string            `yaml:"type" rotor:"required,enum=file" doc:"Only local files for now."`
	Path    string            `yaml:"path" rotor:"required" doc:"File or glob; rotated and gzipped files are read."`
	Format  string            `yaml:"format" rotor:"required,enum=combined|json|regexp"`
	Pattern string            `yaml:"pattern" doc:"For format regexp: named groups time, status, path, host, key_id."`
	Fields  map[string]string `yaml:"fields" doc:"For format json: rotor field -> JSON field."`
}

// Match selects the lines that count. Every criterion set must hold; none set counts every
// line.
type Match struct {
	Status []int    `yaml:"status"`
	Paths  []string `yaml:"paths"`
	Hosts  []string `yaml:"hosts"`
	KeyID  string   `yaml:"key_id" doc:"previous or current: lines that used that version's key id."`
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	add := func(field, msg string) { out = append(out, provider.FieldError{Field: field, Msg: msg}) }
	out = append(out, c.limits().Problems("log")...)
	if c.Source.Format == "regexp" && c.Source.Pattern == "" {
		add("source", "format regexp needs a pattern")
	}
	if c.Match.KeyID != "" && c.Match.KeyID != "previous" && c.Match.KeyID != "current" {
		add("match", "key_id is previous or current")
	}
	if c.Source.Pattern != "" {
		if c.Source.Format != "regexp" {
			add("source.pattern", "is only read with format regexp")
		} else if re, err := regexp.Compile(c.Source.Pattern); err != nil {
			add("source.pattern", "does not compile: "+err.Error())
		} else if re.SubexpIndex("time") < 0 {
			add("source.pattern", "needs a named group time, (?P<time>…): a line without a time cannot be placed in a window")
		}
	}
	if len(c.Source.Fields) > 0 && c.Source.Format != "json" {
		add("source.fields", "is only read with format json")
	}
	for _, k := range slices.Sorted(maps.Keys(c.Source.Fields)) {
		if fieldIndex(k) < 0 {
			add("source.fields", fmt.Sprintf("%q is not a field: use time, status, path, host or key_id", k))
		}
	}
	if c.Source.Path != "" {
		if _, err := filepath.Match(c.Source.Path, ""); err != nil {
			add("source.path", "is not a valid file name or glob")
		}
	}
	for i, b := range c.By {
		if f := fieldIndex(b); f < 0 || f == fTime {
			add("by", fmt.Sprintf("%q is not a field to group by: use host, path, status or key_id", b))
		} else if slices.Index(c.By, b) != i {
			add("by", fmt.Sprintf("lists %q twice", b))
		}
	}
	if c.Bin < 0 || (c.Bin > 0 && c.Bin < time.Second) {
		add("bin", "is at least 1s")
	}
	if c.Window < 0 {
		add("window", "is a positive duration")
	}
	return out
}

// limits are the check's thresholds, as the query checks that count lines share them.
func (c *Config) limits() evidence.CountLimits {
	return evidence.CountLimits{Max: c.Max, MaxRate: c.MaxRate, MaxIncrease: c.MaxIncrease}
}

const (
	op         = "log check"
	defaultBin = 5 * time.Minute
	// maxBins is how many (bin, group) counts a result carries; the highest are kept.
	maxBins = 500
	// maxCells bounds the distinct (bin, group) counts kept while reading; matching lines of
	// further groups are counted together as "other groups".
	maxCells = 100_000
	// checkEvery is how many lines are read between looks at the context.
	checkEvery = 4096
	// rotationSlack: lines of an older rotated file may be a little later than the first of
	// the next one (a line stamped when its request began, written when it ended). Older
	// files are read until one starts this long before the first instant needed.
	rotationSlack = 5 * time.Minute
	// maxPathLen is how much of a path a group shows.
	maxPathLen = 256
)

// Checker counts log lines. It is safe for concurrent use: each check makes its own parser.
type Checker struct {
	cfg  Config
	path string // source.path, resolved against the inventory's folder
	glob bool
	re   *regexp.Regexp
	bin  time.Duration
	by   []int
	env  provider.Env
	// How files are read: parts of at least minPart bytes, at most maxParts of them, read
	// bufSize bytes at a time. Tests shrink them; fileReader, when set, reads instead.
	minPart    int64
	maxParts   int
	bufSize    int
	maxCells   int
	noMmap     bool
	fileReader func(ctx context.Context, s *scan, path string) (time.Time, error)
}

// New builds the check. A configuration that fails Validate is a Terminal error. The files
// are not looked at: a log missing now is missing evidence when the check runs.
func New(cfg *Config, env provider.Env) (*Checker, error) {
	if err := evidence.Validated(op, cfg); err != nil {
		return nil, err
	}
	if cfg.Source.Type != "file" {
		return nil, provider.Wrap(provider.Terminal, op, fmt.Errorf("source type %q: %w", cfg.Source.Type, provider.ErrUnsupported))
	}
	if cfg.Source.Path == "" {
		return nil, provider.Errorf(provider.Terminal, op, "invalid configuration: source.path: is required")
	}
	c := &Checker{cfg: *cfg, path: cfg.Source.Path, bin: cfg.Bin, env: env,
		minPart: minPart, maxParts: defaultParts(), bufSize: readBuf, maxCells: maxCells}
	switch cfg.Source.Format {
	case "combined", "json":
	case "regexp":
		c.re = regexp.MustCompile(cfg.Source.Pattern) // Validate compiled it
	default:
		return nil, provider.Errorf(provider.Terminal, op, "invalid configuration: source.format: %q is not combined, json or regexp", cfg.Source.Format)
	}
	c.path = env.Path(c.path)
	c.glob = strings.ContainsAny(cfg.Source.Path, "*?[")
	if c.bin == 0 {
		c.bin = defaultBin
	}
	for _, b := range cfg.By {
		c.by = append(c.by, fieldIndex(b))
	}
	return c, nil
}

func (c *Checker) newScan(m *matcher, keyLabel func([]byte) string) *scan {
	s := &scan{binNs: int64(c.bin), m: m, by: c.by, keyLabel: keyLabel, cells: map[string]*int{},
		fast: c.cfg.Source.Format == "combined", newParser: c.parser, keyed: len(m.keyIDs) > 0,
		needPath: len(m.paths) > 0, minPart: c.minPart, maxParts: c.maxParts, bufSize: c.bufSize, maxCells: c.maxCells, mmap: !c.noMmap}
	s.totals = map[int64]int{}
	s.keyTails = keyTails(m.keyIDs)
	for _, f := range c.by {
		s.needPath = s.needPath || f == fPath
		s.byKey = s.byKey || f == fKeyID
	}
	return s
}

// readFile reads one file into s (see scan.file); tests replace it with a reference.
func (c *Checker) readFile(ctx context.Context, s *scan, path string) (time.Time, error) {
	if c.fileReader != nil {
		return c.fileReader(ctx, s, path)
	}
	return s.file(ctx, path)
}

func (c *Checker) parser() parser {
	switch c.cfg.Source.Format {
	case "json":
		return &jsonParser{fields: newJSONFields(c.cfg.Source.Fields)}
	case "regexp":
		return newRegexpParser(c.re)
	}
	return combinedParser{}
}

// Check reads the lines of the window and judges them against the thresholds.
//
// The window runs from req.Since to req.Now; with `window`, from Now-window when that is
// later. Counts are made per bin (aligned to the Unix epoch) and per group of the `by`
// fields. `max` holds for every bin and group; `max_rate` for every bin, as the share of the
// bin's lines (all groups) that match; `max_increase` compares the matching lines of the
// window with those of the same length of time just before req.Since (the cutover).
//
// Any threshold broken is a fail; otherwise any threshold that cannot be judged — and any
// gap in the evidence — is unknown. Check returns an error only for a request it cannot
// serve; every outcome of reading the log is a result.
func (c *Checker) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResult, error) {
	now := evidence.Now(req, c.env)
	res := provider.CheckResult{At: now, Threshold: c.threshold(req)}
	unknown := func(reason, msg string) (provider.CheckResult, error) {
		res.Verdict, res.Reason, res.Message = provider.Unknown, reason, msg
		return res, nil
	}

	// A first rotation has no previous version: nothing can still be using it. That is a
	// fact about the run, not missing evidence, so it passes — and says why.
	if c.cfg.Match.KeyID == "previous" && req.Previous == nil {
		res.Verdict, res.Reason = provider.Pass, "first rotation: there is no previous version that anything could still use"
		res.Query = c.query(req)
		return res, nil
	}
	window := evidence.Observe(req.Since, now, c.cfg.Window, c.bin)
	from := window.From
	m, keyLabel, err := c.matcher(req)
	res.Query = c.query(req)
	if err != nil {
		return unknown(err.Error(), "")
	}
	if from.IsZero() {
		return unknown("no start instant", "the request has no since (cutover) and the check no window: there is no time range to read")
	}
	if from.After(now) {
		return unknown("empty window", fmt.Sprintf("the window starts at %s, after now (%s)", evidence.Stamp(from), evidence.Stamp(now)))
	}
	res.Window = window.Interval()

	s := c.newScan(m, keyLabel)
	s.from, s.to, s.readFrom = from, now, from
	var increaseUnknown string
	if c.cfg.MaxIncrease > 0 {
		if req.Since.IsZero() {
			increaseUnknown = "max_increase needs the cutover (since) to compare with the time before it"
		} else {
			span := now.Sub(from)
			s.baseFrom, s.baseTo = req.Since.Add(-span), req.Since
			if s.baseFrom.Before(s.readFrom) {
				s.readFrom = s.baseFrom
			}
		}
	}

	if reason, msg := c.read(ctx, s); reason != "" {
		return unknown(reason, msg)
	}

	res.Message = s.summary()
	inWindow := s.valid + s.malformed
	if s.malformed > 0 && s.malformed*10 > inWindow {
		return unknown("malformed lines",
			fmt.Sprintf("%d of %d lines in the window are not %s lines (more than 10%%): check source.format and source.fields; %s",
				s.malformed, inWindow, c.cfg.Source.Format, res.Message))
	}
	if s.valid == 0 {
		msg := fmt.Sprintf("no log lines since %s: the source is silent, and a silent log proves neither use nor non-use; %s", evidence.Stamp(from), res.Message)
		res.CompleteAt = window.CompleteAt
		return unknown("no log lines in the window", msg)
	}
	for f, crit := range m.uses() {
		if crit && s.carry[f] == 0 {
			return unknown("field missing", fmt.Sprintf("none of the %d lines in the window carries a %s, which the match needs: check source.fields (or the pattern's groups); %s",
				s.valid, fieldNames[f], res.Message))
		}
	}

	cells := s.sortedCells()
	res.Bins, res.Observed = c.evidence(s, cells)
	if len(cells) > maxBins {
		res.Message += fmt.Sprintf("; %d of %d bins shown (the highest counts)", maxBins, len(cells))
	}

	res.Verdict, res.Reason = c.judge(s, cells, now, increaseUnknown)
	// A window that reaches back before the start (the cutover) is not full yet: matches in
	// it are use, but their absence is only a short look, not evidence of non-use.
	if !window.Full() && res.Verdict != provider.Fail {
		res.Verdict, res.CompleteAt = provider.Unknown, window.CompleteAt
		res.Reason = fmt.Sprintf("window not full yet: only %s of %s since %s (complete at %s)",
			now.Sub(req.Since).Round(time.Millisecond), window.Length, evidence.Stamp(req.Since), evidence.Stamp(window.CompleteAt))
	}
	return res, nil
}

// judge compares the counts with the thresholds. Any threshold broken is a fail, naming the
// worst bin and group; otherwise a threshold that cannot be judged makes the verdict unknown.
func (c *Checker) judge(s *scan, cells []cell, now time.Time, increaseUnknown string) (provider.Verdict, string) {
	var fails, unknowns []string
	if c.cfg.Max != nil {
		if worst := worstCell(cells); worst != nil && worst.count > *c.cfg.Max {
			fails = append(fails, fmt.Sprintf("%s in bin %s%s, max %d",
				evidence.Count(worst.count, "matching line"), c.binLabel(worst.bin, now), groupLabel(c.cfg.By, worst.group), *c.cfg.Max))
		}
	}
	if c.cfg.MaxRate > 0 {
		if b, n, total := worstRate(s, cells); total > 0 && float64(n) > c.cfg.MaxRate*float64(total) {
			fails = append(fails, fmt.Sprintf("%d of %d lines (%s) matched in bin %s%s, max %s",
				n, total, evidence.Percent(float64(n)/float64(total)), c.binLabel(b, now), largestIn(c.cfg.By, cells, b), evidence.Percent(c.cfg.MaxRate)))
		}
	}
	if c.cfg.MaxIncrease > 0 {
		switch {
		case increaseUnknown != "":
			unknowns = append(unknowns, increaseUnknown)
		case s.baseLines == 0:
			unknowns = append(unknowns, fmt.Sprintf("no log lines in the %s before %s to compare with: the log does not reach back that far, or was silent",
				evidence.Duration(s.baseTo.Sub(s.baseFrom)), evidence.Stamp(s.baseTo)))
		case s.baseMatches == 0 && s.matches > 0:
			// Nothing to divide by: an increase from none is unbounded, whatever the ratio.
			fails = append(fails, fmt.Sprintf("%s since %s against none in the %s before (%d lines read there): an increase from zero is unbounded, max %sx",
				evidence.Count(s.matches, "matching line"), evidence.Stamp(s.baseTo), evidence.Duration(s.baseTo.Sub(s.baseFrom)), s.baseLines, evidence.Ratio(c.cfg.MaxIncrease)))
		case s.baseMatches > 0 && float64(s.matches) > c.cfg.MaxIncrease*float64(s.baseMatches):
			fails = append(fails, fmt.Sprintf("%s in the window against %d in the %s before %s (%sx), max %sx",
				evidence.Count(s.matches, "matching line"), s.baseMatches, evidence.Duration(s.baseTo.Sub(s.baseFrom)), evidence.Stamp(s.baseTo),
				evidence.Ratio(float64(s.matches)/float64(s.baseMatches)), evidence.Ratio(c.cfg.MaxIncrease)))
		}
	}
	return evidence.Judge(fails, unknowns, fmt.Sprintf("%d matching of %d lines in the window, within the thresholds", s.matches, s.valid))
}

// read reads the files into s, each chain newest first, and stops a chain at the first
// rotation that starts before the instants needed. It returns an unknown's reason and message
// when the evidence is incomplete.
func (c *Checker) read(ctx context.Context, s *scan) (reason, msg string) {
	chains, err := c.files()
	// The reason names the path: it is what a gate shows on its one line, and "no log file"
	// alone sends an operator looking for which one.
	if errors.Is(err, fs.ErrNotExist) {
		return "no log file at " + c.path, err.Error()
	}
	if err != nil {
		return "log file unreadable at " + c.path, err.Error()
	}
	for _, chain := range chains {
		for _, f := range chain {
			oldest, err := c.readFile(ctx, s, f)
			if ctxErr := ctx.Err(); ctxErr != nil {
				return "interrupted", fmt.Sprintf("stopped after %d lines of %s: %v", s.lines, f, ctxErr)
			}
			if errors.Is(err, fs.ErrNotExist) {
				return "log rotated while it was read", fmt.Sprintf("%s disappeared: run the check again", f)
			}
			if errors.Is(err, errShrank) {
				return "log rotated while it was read", fmt.Sprintf("%v: run the check again", err)
			}
			if err != nil {
				return "log file unreadable", err.Error()
			}
			s.read = append(s.read, f)
			if !oldest.IsZero() && oldest.Before(s.readFrom.Add(-rotationSlack)) {
				break // older rotations hold older lines still
			}
		}
	}
	return "", ""
}

// files lists the files to read: one chain per file the path names (a glob may name several),
// each newest first with its rotations. A file listed twice is read once.
func (c *Checker) files() ([][]string, error) {
	names := []string{c.path}
	if c.glob {
		m, err := filepath.Glob(c.path)
		if err != nil {
			return nil, fmt.Errorf("source.path %s: %w", c.cfg.Source.Path, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("no file matches %s: %w", c.path, fs.ErrNotExist)
		}
		names = m
	}
	seen := map[string]bool{}
	var chains [][]string
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil && fi.IsDir() {
			continue
		}
		rs, err := rotations(n)
		if err != nil {
			return nil, fmt.Errorf("listing the rotations of %s: %w", n, err)
		}
		var chain []string
		for _, f := range rs {
			if seen[f] {
				continue
			}
			seen[f] = true
			// The live file may be missing for a moment after a rotation; its predecessors
			// still hold the lines.
			if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
				continue
			}
			chain = append(chain, f)
		}
		if len(chain) > 0 {
			chains = append(chains, chain)
		}
	}
	if len(chains) == 0 {
		return nil, fmt.Errorf("no log file at %s (nor rotated ones): %w", c.path, fs.ErrNotExist)
	}
	return chains, nil
}

// matcher builds the line filter for one request, and the labels key ids are shown with.
func (c *Checker) matcher(req provider.CheckRequest) (*matcher, func([]byte) string, error) {
	m := &matcher{status: c.cfg.Match.Status}
	for _, p := range c.cfg.Match.Paths {
		m.paths = append(m.paths, []byte(p))
	}
	for _, h := range c.cfg.Match.Hosts {
		m.hosts = append(m.hosts, []byte(h))
	}
	ids := func(v *provider.Version) [][]byte {
		var out [][]byte
		if v == nil {
			return nil
		}
		if v.ID != "" {
			out = append(out, []byte(v.ID))
		}
		if v.AuthorityRef != "" && v.AuthorityRef != v.ID {
			out = append(out, []byte(v.AuthorityRef))
		}
		return out
	}
	prev, cur := ids(req.Previous), ids(&req.Current)
	switch c.cfg.Match.KeyID {
	case "previous":
		if req.Previous == nil {
			return nil, nil, errors.New("no previous version to match key_id against")
		}
		m.keyIDs = prev
	case "current":
		m.keyIDs = cur
	}
	if c.cfg.Match.KeyID != "" && len(m.keyIDs) == 0 {
		return nil, nil, fmt.Errorf("the %s version has no id to match key_id against", c.cfg.Match.KeyID)
	}
	// A key id is shown only as the version it names: the line's own text may be anything.
	label := func(k []byte) string {
		for _, id := range prev {
			if bytes.Equal(k, id) {
				return req.Previous.ID
			}
		}
		for _, id := range cur {
			if bytes.Equal(k, id) {
				return req.Current.ID
			}
		}
		return "other"
	}
	return m, label, nil
}

// matcher selects the lines that count.
type matcher struct {
	status []int
	paths  [][]byte
	hosts  [][]byte
	keyIDs [][]byte
}

func (m *matcher) match(r *record) bool {
	if len(m.status) > 0 && (!r.has(fStatus) || !slices.Contains(m.status, r.status)) {
		return false
	}
	if len(m.paths) > 0 && (!r.has(fPath) || !slices.ContainsFunc(m.paths, func(p []byte) bool { return bytes.HasPrefix(r.path, p) })) {
		return false
	}
	if len(m.hosts) > 0 && (!r.has(fHost) || !slices.ContainsFunc(m.hosts, func(h []byte) bool { return bytes.Equal(r.host, h) })) {
		return false
	}
	if len(m.keyIDs) > 0 && (!r.has(fKeyID) || !m.keyIDMatch(r.keyID)) {
		return false
	}
	return true
}

// keyIDMatch reports whether a line's key id (nil when it has none) is one looked for.
func (m *matcher) keyIDMatch(k []byte) bool {
	for _, id := range m.keyIDs {
		if k != nil && string(k) == string(id) {
			return true
		}
	}
	return false
}

// uses reports the fields the match reads.
func (m *matcher) uses() [numFields]bool {
	var u [numFields]bool
	u[fStatus], u[fPath], u[fHost], u[fKeyID] = len(m.status) > 0, len(m.paths) > 0, len(m.hosts) > 0, len(m.keyIDs) > 0
	return u
}

// scan holds the counts of one check while its files are read.
type scan struct {
	from, to         time.Time // the window, both ends included
	baseFrom, baseTo time.Time // the baseline of max_increase, [from, to); zero without one
	readFrom         time.Time // the earliest instant needed
	binNs            int64
	m                *matcher
	by               []int
	keyLabel         func([]byte) string

	// How lines are read (see scan.go).
	fast      bool          // the combined format, read by part.combined
	newParser func() parser // the other formats: one parser per part
	needPath  bool          // the match or the groups read the path
	keyed     bool          // the match reads the key id
	keyTails  []keyTail     // combined: how lines with a key id looked for end
	byKey     bool          // the groups show the key id
	minPart   int64         // a file is cut into parts of at least this size…
	maxParts  int           // …and at most this many
	bufSize   int
	maxCells  int  // see the constant; tests lower it
	mmap      bool // read plain files mapped into memory

	counts
	cells map[string]*int // bin and group -> matching lines
	read  []string
}

// The byte after a cell key's bin: a group of values follows, or the cell counts the lines
// of every group past maxCells.
const (
	oneGroup    = 0
	otherGroups = 1
)

// groupKey encodes a bin and the values of the `by` fields, each with its length.
func (s *scan) groupKey(key []byte, bin int64, r *record) []byte {
	key = binary.BigEndian.AppendUint64(key, uint64(bin))
	key = append(key, oneGroup)
	for _, f := range s.by {
		var v []byte
		switch {
		case !r.has(f):
			v = []byte("-")
		case f == fHost:
			v = r.host
		case f == fPath:
			v = r.path
			if i := bytes.IndexAny(v, "?#"); i >= 0 {
				v = v[:i] // a query string may carry a token
			}
			if len(v) > maxPathLen {
				v = v[:maxPathLen]
			}
		case f == fStatus:
			v = strconv.AppendInt(nil, int64(r.status), 10)
		case f == fKeyID:
			v = []byte(s.keyLabel(r.keyID))
		}
		key = binary.AppendUvarint(key, uint64(len(v)))
		key = append(key, v...)
	}
	return key
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// cell is one count: a bin and a group.
type cell struct {
	bin   int64
	group []string // nil for "other groups"
	count int
}

// sortedCells decodes the counts, in order of bin then group.
func (s *scan) sortedCells() []cell {
	out := make([]cell, 0, len(s.cells))
	for k, n := range s.cells {
		c := cell{bin: int64(binary.BigEndian.Uint64([]byte(k[:8]))), count: *n}
		if k[8] == oneGroup {
			rest := []byte(k[9:])
			c.group = []string{}
			for len(rest) > 0 {
				l, w := binary.Uvarint(rest)
				c.group = append(c.group, strings.ToValidUTF8(string(rest[w:w+int(l)]), "\uFFFD"))
				rest = rest[w+int(l):]
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, cellOrder)
	return out
}

// cellOrder sorts by bin, then group ("other groups" last).
func cellOrder(a, b cell) int {
	switch {
	case a.bin != b.bin:
		return cmpInt(a.bin, b.bin)
	case (a.group == nil) != (b.group == nil):
		if a.group == nil {
			return 1
		}
		return -1
	}
	return slices.Compare(a.group, b.group)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// worstCell is the highest count, the earliest on a tie.
func worstCell(cells []cell) *cell {
	var w *cell
	for i := range cells {
		if w == nil || cells[i].count > w.count {
			w = &cells[i]
		}
	}
	return w
}

// worstRate is the bin with the highest matching share, the earliest on a tie.
func worstRate(s *scan, cells []cell) (bin int64, n, total int) {
	per := map[int64]int{}
	for _, c := range cells {
		per[c.bin] += c.count
	}
	for b, k := range per {
		t := s.totals[b]
		if t == 0 {
			continue
		}
		// k/t > n/total, without division.
		if total == 0 || k*total > n*t || (k*total == n*t && b < bin) {
			bin, n, total = b, k, t
		}
	}
	return bin, n, total
}

// largestIn names the group with the most matching lines in a bin, when there are groups.
func largestIn(by []string, cells []cell, bin int64) string {
	var w *cell
	for i := range cells {
		if cells[i].bin == bin && (w == nil || cells[i].count > w.count) {
			w = &cells[i]
		}
	}
	if w == nil || len(by) == 0 {
		return ""
	}
	return strings.Replace(groupLabel(by, w.group), " (", " (most from ", 1)
}

// groupLabel names a group; a nil group is the matching lines counted past maxCells groups.
func groupLabel(by []string, group []string) string {
	if len(by) > 0 && group == nil {
		return " (other groups)"
	}
	return evidence.GroupLabel(by, group)
}

// evidence turns the counts into the result's bins (the highest maxBins, in time order) and
// its observed numbers.
func (c *Checker) evidence(s *scan, cells []cell) ([]provider.Bin, string) {
	shown := cells
	if len(shown) > maxBins {
		shown = slices.Clone(cells)
		slices.SortStableFunc(shown, func(a, b cell) int { return b.count - a.count })
		shown = shown[:maxBins]
		slices.SortFunc(shown, cellOrder)
	}
	bins := make([]provider.Bin, 0, len(shown))
	for _, cl := range shown {
		b := provider.Bin{Start: time.Unix(0, cl.bin*s.binNs).UTC(), Count: cl.count, Total: s.totals[cl.bin]}
		if len(c.cfg.By) > 0 {
			b.Group = map[string]string{}
			for i, f := range c.cfg.By {
				v := "(other groups)"
				if cl.group != nil {
					v = cl.group[i]
				}
				b.Group[f] = v
			}
		}
		bins = append(bins, b)
	}
	obs := fmt.Sprintf("%d matching of %d lines in the window", s.matches, s.valid)
	if w := worstCell(cells); w != nil {
		obs += fmt.Sprintf("; highest bin %d at %s%s", w.count, c.binLabel(w.bin, s.to), groupLabel(c.cfg.By, w.group))
	}
	if c.cfg.MaxRate > 0 {
		if b, n, total := worstRate(s, cells); total > 0 {
			obs += fmt.Sprintf("; highest share %s (%d of %d) at %s", evidence.Percent(float64(n)/float64(total)), n, total, c.binLabel(b, s.to))
		}
	}
	if c.cfg.MaxIncrease > 0 && !s.baseTo.IsZero() {
		obs += fmt.Sprintf("; %d matching of %d lines in the %s before %s", s.baseMatches, s.baseLines, evidence.Duration(s.baseTo.Sub(s.baseFrom)), evidence.Stamp(s.baseTo))
	}
	return bins, obs
}

// summary says what was read, for the result's message.
func (s *scan) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "read %d lines from %s", s.lines, strings.Join(s.read, ", "))
	fmt.Fprintf(&b, "; %d in the window, %d malformed", s.valid, s.malformed)
	if s.future > 0 {
		fmt.Fprintf(&b, "; %s stamped after now skipped (a clock ahead?)", evidence.Count(s.future, "line"))
	}
	if s.other > 0 {
		fmt.Fprintf(&b, "; more than %d groups: %s counted as other groups", s.maxCells, evidence.Count(s.other, "matching line"))
	}
	return b.String()
}

// query describes the match, for the result.
func (c *Checker) query(req provider.CheckRequest) string {
	var parts []string
	if len(c.cfg.Match.Status) > 0 {
		st := make([]string, len(c.cfg.Match.Status))
		for i, n := range c.cfg.Match.Status {
			st[i] = strconv.Itoa(n)
		}
		parts = append(parts, "status in "+strings.Join(st, ", "))
	}
	if len(c.cfg.Match.Paths) > 0 {
		parts = append(parts, "path starting with "+strings.Join(c.cfg.Match.Paths, " or "))
	}
	if len(c.cfg.Match.Hosts) > 0 {
		parts = append(parts, "host in "+strings.Join(c.cfg.Match.Hosts, ", "))
	}
	switch c.cfg.Match.KeyID {
	case "previous":
		id := "none"
		if req.Previous != nil {
			id = req.Previous.ID
		}
		parts = append(parts, "key_id of the previous version ("+id+")")
	case "current":
		parts = append(parts, "key_id of the current version ("+req.Current.ID+")")
	}
	q := c.cfg.Source.Format + " lines of " + c.cfg.Source.Path
	if len(parts) > 0 {
		q += " where " + strings.Join(parts, " and ")
	}
	q += ", counted per " + evidence.Duration(c.bin)
	if len(c.cfg.By) > 0 {
		q += " by " + strings.Join(c.cfg.By, ", ")
	}
	return q
}

// threshold describes the thresholds, for the result: max_increase compares with the time
// before the cutover's instant when the request has one.
func (c *Checker) threshold(req provider.CheckRequest) string {
	before := "the cutover"
	if !req.Since.IsZero() {
		before = evidence.Stamp(req.Since)
	}
	return c.cfg.limits().Describe(len(c.cfg.By) > 0, before)
}

// binLabel names a bin, counted in bins since the Unix epoch, by its start.
func (c *Checker) binLabel(bin int64, now time.Time) string {
	return evidence.BinLabel(time.Unix(0, bin*int64(c.bin)), now)
}
