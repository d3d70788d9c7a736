package filelock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLockExcludesAndContextEndsTheWait: a second Lock of a held file waits, gives up when
// its context ends (saying so), and succeeds once the first is released.
func TestLockExcludesAndContextEndsTheWait(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	release, err := Lock(context.Background(), p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Lock(ctx, p, 0o600); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock while held: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the wait ignored the context: %v", d)
	}
	release()
	again, err := Lock(context.Background(), p, 0o600)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	again()
}

// TestLockDirHoldsAcrossRenames: the lock of a directory excludes a second holder while files
// in it are replaced by rename, and leaves no file behind.
func TestLockDirHoldsAcrossRenames(t *testing.T) {
	dir := t.TempDir()
	release, err := LockDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "secrets.yaml")
	if err := os.WriteFile(p+".tmp", []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := LockDir(ctx, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second LockDir while held: %v", err)
	}
	release()
	again, err := LockDir(context.Background(), dir)
	if err != nil {
		t.Fatalf("LockDir after release: %v", err)
	}
	again()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("the directory holds %d entries, want only the file: the lock leaves nothing", len(ents))
	}
	if _, err := LockDir(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Fatal("LockDir of a missing directory succeeded")
	}
}
