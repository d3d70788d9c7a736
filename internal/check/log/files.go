package log

import (
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

// maxLine bounds a line: one of maxLine bytes or more (without its line ending) is skipped
// and counted as malformed.
const maxLine = 64 << 10
