//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package log

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// A log truncated while it is read from memory (logrotate's copytruncate) is an error the
// check reports, not a crash.
func TestMappedFileTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	writeLines(t, path, every(cutover, now, time.Second, func(t time.Time) string { return clf(t, "a", "/", 200) }))
	chk, err := New(&Config{Source: Source{Type: "file", Path: path, Format: "combined"}, Max: intp(0)}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	m, label, err := chk.matcher(request())
	if err != nil {
		t.Fatal(err)
	}
	s := chk.newScan(m, label)
	s.from, s.to = cutover, now
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	data, unmap := mapFile(f, fi.Size())
	if data == nil {
		t.Fatal("the temporary folder's file system does not map files: this test needs one that does")
	}
	defer unmap()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.newPart(true).fromMemory(context.Background(), data, 0, math.MaxInt64); !errors.Is(err, errShrank) {
		t.Fatalf("got %v, want errShrank", err)
	}
}
