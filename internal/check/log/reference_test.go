package log

// The reference reader: how a file was read before parts, the combined fast path and the
// large buffers (bufio lines, one parser, one record at a time), kept to test that the fast
// reader gives the same results. One change: the oldest time of a file is a true minimum
// (it treated a line stamped at Go's zero time, year 1, as no line).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

func referenceFile(ctx context.Context, s *scan, path string) (time.Time, error) {
	var oldest time.Time
	hasOldest := false
	if err := ctx.Err(); err != nil {
		return oldest, err
	}
	lr, err := openLines(path)
	if err != nil {
		return oldest, err
	}
	defer lr.Close()
	p := s.newParser()
	if _, ok := p.(combinedParser); ok {
		p = referenceCombined{}
	}
	const (
		none = iota
		in
		out
	)
	prev, pending, overlong := none, 0, 0
	malformed := func(n int) {
		switch prev {
		case in:
			s.malformed += n
		case none:
			pending += n
		}
	}
	var r record
	var key []byte
	for {
		line, err := lr.next()
		if lr.overlong != overlong { // lines too long to hold were skipped here
			malformed(lr.overlong - overlong)
			s.lines += lr.overlong - overlong
			overlong = lr.overlong
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return oldest, fmt.Errorf("%s: %w", path, err)
		}
		s.lines++
		if s.lines%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return oldest, err
			}
		}
		if blank(line) {
			continue
		}
		if !p.parse(line, &r) {
			malformed(1)
			continue
		}
		if !hasOldest || r.t.Before(oldest) {
			oldest, hasOldest = r.t, true
		}
		state := out
		if !r.t.Before(s.from) && !r.t.After(s.to) {
			state = in
		}
		if prev == none && state == in {
			s.malformed += pending
		}
		prev = state
		key = referenceAdd(s, &r, key)
	}
	if prev == none && pending > 0 {
		if fi, err := lr.f.Stat(); err == nil && !fi.ModTime().Before(s.from) {
			s.malformed += pending
		}
	}
	return oldest, nil
}

// referenceAdd counts one well-formed line.
func referenceAdd(s *scan, r *record, key []byte) []byte {
	t := r.t
	switch {
	case t.After(s.to):
		s.future++
		return key
	case t.Before(s.from):
		if !s.baseTo.IsZero() && !t.Before(s.baseFrom) && t.Before(s.baseTo) {
			s.baseLines++
			if s.m.match(r) {
				s.baseMatches++
			}
		}
		return key
	}
	s.valid++
	for f := range numFields {
		if r.has(f) {
			s.carry[f]++
		}
	}
	bin := floorDiv(t.UnixNano(), s.binNs)
	s.totals[bin]++
	if !s.m.match(r) {
		return key
	}
	s.matches++
	key = s.groupKey(key[:0], bin, r)
	n, ok := s.cells[string(key)]
	if !ok {
		if len(s.cells) >= s.maxCells {
			s.other++
			key = binary.BigEndian.AppendUint64(key[:0], uint64(bin))
			key = append(key, otherGroups)
			n, ok = s.cells[string(key)]
		}
		if !ok {
			n = new(int)
			s.cells[string(key)] = n
		}
	}
	*n++
	return key
}

// lineReader streams the lines of one file, plain or gzip (recognised by its magic bytes,
// whatever its name), without ever holding more than one buffer of it.
type lineReader struct {
	f        *os.File
	gz       *gzip.Reader
	r        *bufio.Reader
	overlong int
}

func openLines(path string) (*lineReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	lr := &lineReader{f: f, r: bufio.NewReaderSize(f, maxLine)}
	magic, _ := lr.r.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(lr.r)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		lr.gz = gz
		lr.r = bufio.NewReaderSize(gz, maxLine)
	}
	return lr, nil
}

// next returns the next line without its line ending; the slice is valid until the next
// call. It returns io.EOF after the last line.
func (lr *lineReader) next() ([]byte, error) {
	for {
		line, err := lr.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			lr.overlong++
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = lr.r.ReadSlice('\n')
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		if len(line) == 0 {
			if err == nil {
				err = io.EOF
			}
			return nil, err
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		line = line[:len(line)-trailing(line)]
		return line, nil
	}
}

func trailing(line []byte) int {
	n := 0
	if len(line) > 0 && line[len(line)-1] == '\n' {
		n++
		if len(line) > 1 && line[len(line)-2] == '\r' {
			n++
		}
	}
	return n
}

func (lr *lineReader) Close() error {
	if lr.gz != nil {
		lr.gz.Close()
	}
	return lr.f.Close()
}

// referenceCombined is the combined parser as it was, one IndexByte after another, with the
// key id field read the same way.
type referenceCombined struct{}

func (referenceCombined) parse(line []byte, r *record) bool {
	*r = record{}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	r.host = line[:sp]
	open := bytes.IndexByte(line[sp:], '[')
	if open < 0 {
		return false
	}
	open += sp
	end := bytes.IndexByte(line[open:], ']')
	if end < 0 {
		return false
	}
	end += open
	t, ok := parseTime(line[open+1:end], true)
	if !ok {
		return false
	}
	r.t = t
	rest := line[end+1:]
	if len(rest) < 2 || rest[0] != ' ' || rest[1] != '"' {
		return false
	}
	rest = rest[2:]
	q := referenceQuote(rest)
	if q < 0 {
		return false
	}
	request := rest[:q]
	rest = rest[q+1:]
	if m := bytes.IndexByte(request, ' '); m > 0 {
		target := request[m+1:]
		if e := bytes.IndexByte(target, ' '); e >= 0 {
			target = target[:e]
		}
		if len(target) > 0 {
			r.path = target
			r.present |= 1 << fPath
		}
	}
	if len(rest) < 4 || rest[0] != ' ' {
		return false
	}
	rest = rest[1:]
	e := bytes.IndexByte(rest, ' ')
	if e < 0 {
		e = len(rest)
	}
	st, ok := atoi(rest[:e])
	if !ok {
		return false
	}
	r.status = st
	r.present |= 1<<fTime | 1<<fStatus | 1<<fHost
	if k := referenceKeyID(rest[e:]); k != nil {
		r.keyID = k
		r.present |= 1 << fKeyID
	}
	return true
}

func referenceQuote(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// referenceKeyID reads the last field after the status one byte at a time, from the end.
func referenceKeyID(b []byte) []byte {
	var v []byte
	start := -1 // of the field, after its space
	if n := len(b); n > 0 && b[n-1] == '"' {
		q := n - 2
		for q >= 0 && b[q] != '"' {
			q--
		}
		if q < 0 {
			return nil
		}
		v, start = b[q+1:n-1], q-len("key_id=")
	} else {
		sp := n - 1
		for sp >= 0 && b[sp] != ' ' {
			sp--
		}
		if sp < 0 {
			return nil
		}
		start = sp + 1
		if len(b)-start < len("key_id=") {
			return nil
		}
		v = b[start+len("key_id="):]
	}
	if start < 1 || b[start-1] != ' ' || string(b[start:start+len("key_id=")]) != "key_id=" {
		return nil
	}
	if len(v) == 0 || (len(v) == 1 && v[0] == '-') {
		return nil
	}
	return v
}
