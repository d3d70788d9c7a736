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
