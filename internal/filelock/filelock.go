// Package filelock is the advisory lock rotor processes take on a file, or on a folder itself,
// to order their changes to shared files on disk — a store's folder, a trust bundle, a CRL, a
// SOPS file in git. It is flock(2), taken without blocking and retried, because a blocking
// flock cannot be interrupted: polling lets a context end the wait, so a stuck holder never
// hangs rotor.
package filelock

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Lock takes the exclusive lock of path, creating the file with mode if it is missing, and
// returns its release. It waits until the lock is free or ctx ends; then the error wraps
// ctx.Err() and says the file is held by another process. Other errors are the file
// system's.
func Lock(ctx context.Context, path string, mode os.FileMode) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, mode)
	if err != nil {
		return nil, err
	}
	return lock(ctx, path, f)
}

// LockDir takes the exclusive lock of an existing directory itself, for changes to files in
// it that must leave no lock file behind (a folder kept in git). The directory's inode stays
// the same whatever is renamed inside it, so the lock holds across atomic replacements. It
// waits like Lock.
func LockDir(ctx context.Context, dir string) (release func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	return lock(ctx, dir, f)
}

func lock(ctx context.Context, path string, f *os.File) (release func(), err error) {
	wait := 2 * time.Millisecond
	for {
		busy, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !busy {
			return func() { _ = unlock(f); f.Close() }, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("%s is held by another rotor process (or a stuck one): %w", path, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}
