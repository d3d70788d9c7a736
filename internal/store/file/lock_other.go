//go:build !unix

package file

import (
	"fmt"
	"os"

	"github.com/rotorhq/rotor/internal/provider"
)

// The file store needs flock(2) to keep two writers apart; without it, refuse to write rather
// than risk a lost update.
func tryLock(*os.File) (bool, error) {
	return false, fmt.Errorf("locking the index: %w on this operating system", provider.ErrUnsupported)
}

func unlock(*os.File) error { return nil }
