package filelock

import (
	"context"
	"errors"
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
