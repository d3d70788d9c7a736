package log

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// How a file is read. A plain file is cut into parts at line starts, read side by side, one
// goroutine each, and the parts' counts are merged in file order: the result is the one a
// single read from the first line to the last gives (the package's tests compare them). A
// gzipped file is one part.
const (
	// minPart is the smallest part worth a goroutine of its own.
	minPart = 16 << 20
	// readBuf is how much of a file a part reads at a time: small enough to stay in a core's
	// cache while its lines are parsed, many times maxLine.
	readBuf = 512 << 10
)

// counts are what a scan adds up; a part keeps its own and they are summed.
type counts struct {
	lines       int // every line read
	valid       int // well-formed lines in the window
	malformed   int // malformed lines attributed to the window
	future      int // well-formed lines after the window (clocks ahead?)
	carry       [numFields]int
	totals      map[int64]int // bin -> lines
	other       int           // matching lines counted under "other groups"
	matches     int
	baseLines   int
	baseMatches int
}

// Where a well-formed line's time puts it.
const (
	kindBefore = iota // before the window, outside the baseline
	kindBase          // before the window, in the baseline of max_increase
	kindIn            // in the window
	kindFuture        // after the window
)

// classify places a time; bin is set for kindIn only.
func (s *scan) classify(t time.Time) (kind int, bin int64) {
	switch {
	case t.After(s.to):
		return kindFuture, 0
	case t.Before(s.from):
		if !s.baseTo.IsZero() && !t.Before(s.baseFrom) && t.Before(s.baseTo) {
			return kindBase, 0
		}
		return kindBefore, 0
	}
	return kindIn, floorDiv(t.UnixNano(), s.binNs)
}

// Where the last well-formed line of a part stands, for the malformed lines after it.
const (
	stNone = iota // no well-formed line yet
	stIn
	stOut
)

// part reads the lines that start in one byte range of a file.
type part struct {
	s *scan
	counts
	// cells is the part's own, merged in order of first appearance (order), or, when the
	// file is one part, the scan's: then the cap on groups is applied as the lines come.
	cells  map[string]*int
	order  []string
	direct bool
	// full: a group arrived past the cap in a part that is not direct. Which groups the
	// cap keeps depends on the lines before the part: the file is read again in one part.
	full bool

	lead        int // malformed lines before the part's first well-formed one
	first, last int // stIn or stOut of the first and last well-formed lines; stNone
	oldest      time.Time
	hasOldest   bool

	tick int   // lines read before the part, for the look at the context every checkEvery lines
	err  error // the context's, when it ended the read

	ends   []int32 // line endings found in a window
	parser parser  // formats other than combined
	r      record
	key    []byte
	// A run of lines of one bin is added to totals at once.
	bin  int64
	binN int
	// The combined format's last time, which most following lines repeat.
	clock struct {
		text []byte
		ok   bool
		t    time.Time
		kind int
		bin  int64
	}
}

func (s *scan) newPart(direct bool) *part {
	p := &part{s: s, direct: direct, counts: counts{totals: map[int64]int{}}}
	if direct {
		p.cells = s.cells
	} else {
		p.cells = map[string]*int{}
	}
	if !s.fast {
		p.parser = s.newParser()
	}
	return p
}

// file reads one file and returns the time of its oldest well-formed line (zero if none).
//
// A malformed line has no time, so it is attributed to the window by where it stands: with
// the well-formed line before it in the file, or, when none precedes it, the one after it;
// in a file without any well-formed line, to the window if the file was written since the
// window began.
func (s *scan) file(ctx context.Context, path string) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	var magic [2]byte
	n, err := f.ReadAt(magic[:], 0)
	if err != nil && err != io.EOF {
		return time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	var parts []*part
	if n == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		p := s.newPart(true)
		p.tick = s.lines
		err = p.stream(ctx, gz, 0, math.MaxInt64, false, make([]byte, s.bufSize))
		parts = []*part{p}
		if err != nil {
			s.lines += p.lines
			return time.Time{}, fmt.Errorf("%s: %w", path, err)
		}
	} else {
		fi, err := f.Stat()
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", path, err)
		}
		parts, err = s.plain(ctx, f, fi.Size())
		if err != nil {
			for _, p := range parts {
				s.lines += p.lines
			}
			return time.Time{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	pending, prev := s.merge(parts)
	if prev == stNone && pending > 0 {
		if fi, err := f.Stat(); err == nil && !fi.ModTime().Before(s.from) {
			s.malformed += pending
		}
	}
	var oldest time.Time
	for _, p := range parts {
		if p.hasOldest && (oldest.IsZero() || p.oldest.Before(oldest)) {
			oldest = p.oldest
		}
	}
	return oldest, nil
}

// errShrank: a file mapped into memory became shorter while it was read.
var errShrank = errors.New("the file shrank while it was read (truncated by a rotation?)")

// plain reads a file that is not compressed: from memory where the system maps files (up to
// the size it has when the read starts), else with reads; in parts side by side when it is
// large.
func (s *scan) plain(ctx context.Context, f *os.File, size int64) ([]*part, error) {
	n := 1
	if s.minPart > 0 {
		n = int(max(1, min(int64(s.maxParts), size/s.minPart)))
	}
	if s.mmap {
		if data, unmap := mapFile(f, size); data != nil {
			defer unmap()
			return s.inParts(ctx, n, size, func(p *part, start, end int64) error {
				return p.fromMemory(ctx, data, start, end)
			})
		}
	}
	return s.inParts(ctx, n, size, func(p *part, start, end int64) error {
		off := max(start-1, 0) // from the byte before: the line ending there is the previous part's
		return p.stream(ctx, io.NewSectionReader(f, off, math.MaxInt64-off), off, end, start > 0, make([]byte, s.bufSize))
	})
}

// inParts reads n parts side by side, each from the line that starts at or after its first
// byte to the last that starts before the next part's first byte. Each is read by its own
// goroutine, and all of them have ended when it returns.
func (s *scan) inParts(ctx context.Context, n int, size int64, read func(p *part, start, end int64) error) ([]*part, error) {
	if n == 1 {
		p := s.newPart(true)
		p.tick = s.lines
		return []*part{p}, read(p, 0, math.MaxInt64)
	}
	parts := make([]*part, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range parts {
		p := s.newPart(false)
		parts[k] = p
		start, end := size*int64(k)/int64(n), size*int64(k+1)/int64(n)
		if k == n-1 {
			end = math.MaxInt64 // and whatever was appended since
		}
		wg.Go(func() { errs[k] = read(p, start, end) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return parts, err
		}
	}
	for _, p := range parts {
		if p.full {
			// Too many groups to merge exactly: read it again in one part.
			return s.inParts(ctx, 1, size, read)
		}
	}
	return parts, nil
}

// fromMemory reads the lines of a mapped file that start in [start, end).
func (p *part) fromMemory(ctx context.Context, data []byte, start, end int64) (err error) {
	// A mapped file that shrinks under the reader faults: an error, not a crash.
	defer func(old bool) {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			err = errShrank
		}
	}(debug.SetPanicOnFault(true))
	i := int(min(start, int64(len(data))))
	if start > 0 {
		j := bytes.IndexByte(data[start-1:], '\n')
		if j < 0 {
			return nil
		}
		i = int(start) + j
	}
	used, stop := p.scanLines(ctx, data[i:], int64(i), end)
	if stop || p.err != nil {
		return p.err
	}
	if i += used; i < len(data) {
		p.lastLine(ctx, data[i:])
	}
	return p.err
}

// stream reads from src, whose first byte is at offset off of the file, the lines that start
// before end; with skip, the bytes up to the first line ending are another part's.
func (p *part) stream(ctx context.Context, src io.Reader, off, end int64, skip bool, buf []byte) error {
	n := 0
	eof := false
	for {
		i := 0
		if skip {
			if j := bytes.IndexByte(buf[:n], '\n'); j >= 0 {
				i, skip = j+1, false
			} else {
				i = n
			}
		}
		if !skip {
			used, stop := p.scanLines(ctx, buf[i:n], off+int64(i), end)
			if stop || p.err != nil {
				return p.err
			}
			i += used
			if eof {
				if i < n {
					p.lastLine(ctx, buf[i:n])
				}
				return p.err
			}
			if n-i >= maxLine {
				// Longer than any line kept: counted, and skipped to its end.
				p.overlong()
				skip = true
				i = n
			}
		}
		if eof {
			return p.err
		}
		copy(buf, buf[i:n])
		off += int64(i)
		n -= i
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
		m, err := src.Read(buf[n:])
		n += m
		switch {
		case err == io.EOF:
			eof = true
		case err != nil:
			return err
		}
	}
}

// endsWindow is how many bytes a part looks for line endings in at a time.
const endsWindow = 16 << 10

// scanLines reads the lines of data that end with a line ending, data[0] starting one, and
// stops before a line that starts at end or later (data[0] is at offset base): then stop is
// set. It returns how many bytes it read.
func (p *part) scanLines(ctx context.Context, data []byte, base, end int64) (used int, stop bool) {
	if p.ends == nil {
		p.ends = make([]int32, endsWindow)
	}
	i := 0
	for i < len(data) {
		if base+int64(i) >= end {
			return i, true
		}
		// The line endings of a window at once, rather than a search per line.
		w := min(len(data), i+endsWindow)
		ends := p.ends[:lineEnds(data[i:w], p.ends)]
		if len(ends) == 0 {
			// A line longer than the window (or the last bytes, without a line ending).
			j := bytes.IndexByte(data[w:], '\n')
			if j < 0 {
				return i, false
			}
			ends = append(p.ends[:0], int32(w-i+j))
		}
		start := i
		for _, e := range ends {
			if base+int64(start) >= end {
				return start, true
			}
			line := data[start : i+int(e)]
			start = i + int(e) + 1
			if len(line) >= maxLine {
				p.overlong()
				continue
			}
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			p.line(ctx, line)
			if p.err != nil {
				return start, true
			}
		}
		i = start
	}
	return i, false
}

// lastLine reads the last line of a file, which has no line ending.
func (p *part) lastLine(ctx context.Context, line []byte) {
	if len(line) >= maxLine {
		p.overlong()
		return
	}
	p.line(ctx, line)
}

// overlong counts a line too long to hold: a malformed line.
func (p *part) overlong() {
	p.lines++
	p.bad()
}

// line reads one line, without its line ending.
func (p *part) line(ctx context.Context, line []byte) {
	p.lines++
	if (p.tick+p.lines)%checkEvery == 0 {
		if err := ctx.Err(); err != nil {
			p.err = err
			return
		}
	}
	if blank(line) {
		return
	}
	if p.s.fast {
		p.combined(line)
		return
	}
	r := &p.r
	if !p.parser.parse(line, r) {
		p.bad()
		return
	}
	p.seen(r.t)
	kind, bin := p.s.classify(r.t)
	p.good(kind)
	p.count(r, kind, bin)
}

func blank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// bad attributes a malformed line.
func (p *part) bad() {
	switch p.last {
	case stIn:
		p.malformed++
	case stNone:
		p.lead++
	}
}

// good notes where a well-formed line stands, for the malformed lines after it.
func (p *part) good(kind int) {
	st := stOut
	if kind == kindIn {
		st = stIn
	}
	if p.first == stNone {
		p.first = st
	}
	p.last = st
}

func (p *part) seen(t time.Time) {
	if !p.hasOldest || t.Before(p.oldest) {
		p.oldest, p.hasOldest = t, true
	}
}

// count counts one well-formed line.
func (p *part) count(r *record, kind int, bin int64) {
	m := p.s.m
	switch kind {
	case kindFuture:
		p.future++
	case kindBase:
		p.baseLines++
		if m.match(r) {
			p.baseMatches++
		}
	case kindIn:
		p.valid++
		for f := range numFields {
			if r.has(f) {
				p.carry[f]++
			}
		}
		p.total(bin)
		if m.match(r) {
			p.matched(bin, r)
		}
	}
}

// combined reads a line of the combined format: combinedParser and count in one, with the
// time parsed once per second of log rather than per line, and only the fields the match and
// the groups read.
func (p *part) combined(line []byte) {
	var c combinedLine
	clk := &p.clock
	if !cutCombined(line, &c, clk.text) {
		p.bad()
		return
	}
	s := p.s
	if !c.sameTS {
		clk.text = append(clk.text[:0], c.ts...)
		clk.t, clk.ok = parseTime(c.ts, true)
		if clk.ok {
			clk.kind, clk.bin = s.classify(clk.t)
			p.seen(clk.t)
		}
	}
	if !clk.ok {
		p.bad()
		return
	}
	kind := clk.kind
	p.good(kind)
	switch kind {
	case kindFuture:
		p.future++
		return
	case kindBefore:
		return
	case kindIn:
		p.valid++ // and carries a time, a status and a host: merge counts them
		p.total(clk.bin)
	}
	var path, key []byte
	if s.needPath {
		if path = requestPath(c.request); path != nil && kind == kindIn {
			p.carry[fPath]++
		}
	}
	if s.keyed {
		hit := s.trailingKey(c.tail)
		// The key id itself is read for a line that holds one looked for, and, until a line
		// of the window has shown one, to know that the log carries key ids at all.
		if hit || (kind == kindIn && p.carry[fKeyID] == 0) {
			if key = combinedKeyID(c.tail); key != nil && kind == kindIn {
				p.carry[fKeyID]++
			}
		}
		if !hit { // the match cannot hold: no need for a record
			if kind == kindBase {
				p.baseLines++
			}
			return
		}
	}
	r := record{t: clk.t, status: c.status, host: c.host, path: path, keyID: key, present: 1<<fTime | 1<<fStatus | 1<<fHost}
	if path != nil {
		r.present |= 1 << fPath
	}
	if key != nil {
		r.present |= 1 << fKeyID
	}
	matched := s.m.match(&r)
	if kind == kindBase {
		p.baseLines++
		if matched {
			p.baseMatches++
		}
		return
	}
	if !matched {
		return
	}
	if s.byKey && !s.keyed {
		if r.keyID = combinedKeyID(c.tail); r.keyID != nil {
			r.present |= 1 << fKeyID
		}
	}
	p.matched(clk.bin, &r)
}

// keyTail is how a combined line ends when its key id is one looked for.
type keyTail struct {
	suffix string // ` key_id="ID"` or ` key_id=ID`
	last8  uint64 // the suffix's last 8 bytes, little-endian
}

// keyTails lists the endings of the lines whose combinedKeyID is one of ids.
func keyTails(ids [][]byte) []keyTail {
	var out []keyTail
	for _, id := range ids {
		if len(id) == 0 || string(id) == "-" {
			continue // never a key id
		}
		add := func(sfx string) {
			out = append(out, keyTail{sfx, binary.LittleEndian.Uint64([]byte(sfx[len(sfx)-8:]))})
		}
		if bytes.IndexByte(id, '"') < 0 {
			add(` key_id="` + string(id) + `"`)
		}
		if bytes.IndexByte(id, ' ') < 0 && id[len(id)-1] != '"' {
			add(` key_id=` + string(id))
		}
	}
	return out
}

// trailingKey reports whether combinedKeyID(tail) is one of the ids looked for, without
// reading it: most lines differ from every id in their last 8 bytes.
func (s *scan) trailingKey(tail []byte) bool {
	n := len(tail)
	if n < 9 {
		return false
	}
	last := binary.LittleEndian.Uint64(tail[n-8:])
	for _, k := range s.keyTails {
		// A quoted and a bare ending differ in their last byte, so in last8.
		if k.last8 == last && n >= len(k.suffix) && string(tail[n-len(k.suffix):]) == k.suffix {
			return true
		}
	}
	return false
}

// total adds a line to its bin's total.
func (p *part) total(bin int64) {
	if p.binN > 0 && bin == p.bin {
		p.binN++
		return
	}
	p.flushTotal()
	p.bin, p.binN = bin, 1
}

func (p *part) flushTotal() {
	if p.binN > 0 {
		p.totals[p.bin] += p.binN
		p.binN = 0
	}
}

// matched counts a matching line of the window in its bin and group.
func (p *part) matched(bin int64, r *record) {
	p.matches++
	p.key = p.s.groupKey(p.key[:0], bin, r)
	n, ok := p.cells[string(p.key)]
	if !ok {
		if len(p.cells) >= p.s.maxCells {
			if !p.direct {
				p.full = true
				return
			}
			p.other++
			p.key = binary.BigEndian.AppendUint64(p.key[:0], uint64(bin))
			p.key = append(p.key, otherGroups)
			n, ok = p.cells[string(p.key)]
		}
		if !ok {
			n = new(int)
			k := string(p.key)
			p.cells[k] = n
			if !p.direct {
				p.order = append(p.order, k)
			}
		}
	}
	*n++
}

// merge adds the parts of one file, in file order, to s. It returns the malformed lines not
// yet attributed and where the file's last well-formed line stands.
func (s *scan) merge(parts []*part) (pending, prev int) {
	prev = stNone
	for _, p := range parts {
		p.flushTotal()
		s.lines += p.lines
		s.valid += p.valid
		s.future += p.future
		s.matches += p.matches
		s.baseLines += p.baseLines
		s.baseMatches += p.baseMatches
		s.other += p.other
		for f := range numFields {
			s.carry[f] += p.carry[f]
		}
		if s.fast { // every well-formed combined line has these
			s.carry[fTime] += p.valid
			s.carry[fStatus] += p.valid
			s.carry[fHost] += p.valid
		}
		for b, n := range p.totals {
			s.totals[b] += n
		}
		// The malformed lines that open the part go with the well-formed line before them.
		switch prev {
		case stIn:
			s.malformed += p.lead
		case stNone:
			pending += p.lead
		}
		if p.first != stNone {
			if prev == stNone && p.first == stIn {
				s.malformed += pending
			}
			prev = p.last
		}
		s.malformed += p.malformed
		if p.direct {
			continue
		}
		// Groups join in the order they first appear in the file, up to maxCells.
		for _, k := range p.order {
			n := *p.cells[k]
			if c, ok := s.cells[k]; ok {
				*c += n
				continue
			}
			if len(s.cells) < s.maxCells {
				s.cells[k] = &n
				continue
			}
			s.other += n
			ok := k[:8] + string([]byte{otherGroups})
			if c, found := s.cells[ok]; found {
				*c += n
			} else {
				s.cells[ok] = &n
			}
		}
	}
	return pending, prev
}

// defaultParts is how many parts a large file is read in.
func defaultParts() int { return runtime.GOMAXPROCS(0) }
