//go:build !linux

package testenv

import (
	"errors"
	"os"
	"syscall"
)

// osUser would be the account postgres runs as when we are root; running PostgreSQL tests
// as root is supported only on Linux.
type osUser struct{}

func serverUser() (*osUser, error) {
	if os.Geteuid() == 0 {
		return nil, errors.New("PostgreSQL refuses to run as root, and testenv switches users only on Linux\nhint: run the tests as another user")
	}
	return nil, nil
}

func (u *osUser) sysProcAttr() *syscall.SysProcAttr { return nil }
func (u *osUser) chown(string) error                { return nil }
func (u *osUser) canTraverse(string) bool           { return true }
