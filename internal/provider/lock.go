package provider

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"github.com/rotorhq/rotor/internal/filelock"
)

// LockFile takes the exclusive advisory lock of path (internal/filelock) for the operation op
// of a provider that changes files on disk. A wait that ctx ended is Retryable — another rotor
// holds the file and will let go —, a lock file this process may not open Denied, and any
// other failure Terminal.
func LockFile(ctx context.Context, op, path string, mode os.FileMode) (release func(), err error) {
	release, err = filelock.Lock(ctx, path, mode)
	return classifyLock(ctx, op, release, err)
}

// LockDir takes the exclusive advisory lock of a directory itself (filelock.LockDir): for a
// provider whose files live where a lock file would be noise (a folder kept in git). Errors
// are classified as LockFile's.
func LockDir(ctx context.Context, op, dir string) (release func(), err error) {
	release, err = filelock.LockDir(ctx, dir)
	return classifyLock(ctx, op, release, err)
}

func classifyLock(ctx context.Context, op string, release func(), err error) (func(), error) {
	switch {
	case err == nil:
		return release, nil
	case ctx.Err() != nil:
		return nil, Wrap(Retryable, op, err)
	case errors.Is(err, fs.ErrPermission):
		return nil, Wrap(Denied, op, err)
	}
	return nil, Wrap(Terminal, op, err)
}
