package provider_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// TestLockFileKinds: a lock another holder keeps is Retryable once the wait ends; a lock file
// that cannot be created is Terminal; a free lock is taken and released.
func TestLockFileKinds(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".lock")
	release, err := provider.LockFile(context.Background(), "put version", p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := provider.LockFile(ctx, "put version", p, 0o600); provider.KindOf(err) != provider.Retryable {
		t.Errorf("held lock: %v (kind %v), want Retryable", err, provider.KindOf(err))
	}
	release()
	again, err := provider.LockFile(context.Background(), "put version", p, 0o600)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
	missing := filepath.Join(t.TempDir(), "no-such-folder", ".lock")
	if _, err := provider.LockFile(context.Background(), "put version", missing, 0o600); provider.KindOf(err) != provider.Terminal {
		t.Errorf("lock file in a missing folder: %v (kind %v), want Terminal", err, provider.KindOf(err))
	}
}
