package log

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// rotations lists a log file and its rotated predecessors, newest first: path, then
// path.1, path.2.gz, … by number (logrotate's names, with or without delaycompress), then
// other path.*.gz names, newest name first (dated suffixes sort by name). The files are not
// opened.
func rotations(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type rotated struct {
		name string
		num  int // -1 for non-numbered
	}
	var rs []rotated
	for _, e := range entries {
		name := e.Name()
		suffix, ok := strings.CutPrefix(name, base+".")
		if !ok || e.IsDir() {
			continue
		}
		numPart := strings.TrimSuffix(suffix, ".gz")
		if n, err := strconv.Atoi(numPart); err == nil && n >= 0 && numPart == strconv.Itoa(n) {
			rs = append(rs, rotated{name, n})
		} else if strings.HasSuffix(suffix, ".gz") {
			rs = append(rs, rotated{name, -1})
		}
	}
	slices.SortFunc(rs, func(a, b rotated) int {
		switch {
		case a.num >= 0 && b.num >= 0:
			return a.num - b.num
		case a.num >= 0:
			return -1
		case b.num >= 0:
			return 1
		}
		return strings.Compare(b.name, a.name)
	})
	out := []string{path}
	for _, r := range rs {
		out = append(out, filepath.Join(dir, r.name))
	}
	return out, nil
}

// maxLine is the longest line read; a longer one is skipped and counted as malformed.
const maxLine = 64 << 10

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
