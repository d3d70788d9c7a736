//go:build !unix

package filelock

import (
	"errors"
	"os"
)

// Without flock(2) two writers cannot be kept apart: refuse rather than risk a lost update.
func tryLock(*os.File) (bool, error) {
	return false, errors.New("file locks are not supported on this operating system")
}

func unlock(*os.File) error { return nil }
