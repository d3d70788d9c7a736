//go:build !unix

package pemfiles

import (
	"context"
	"fmt"

	"github.com/rotorhq/rotor/internal/provider"
)

// Without unix ownership, flock(2) and credentials for a child, the store refuses to work
// rather than hand out key files it cannot protect.

type account struct{ uid uint32 }

func lookupUser(string) (account, error) {
	return account{}, fmt.Errorf("owners: %w on this operating system", provider.ErrUnsupported)
}

func lookupGroup(string) (uint32, error) {
	return 0, fmt.Errorf("groups: %w on this operating system", provider.ErrUnsupported)
}

func (s *Store) readAs(context.Context, string, provider.Identity, []string) ([]byte, error) {
	return nil, provider.Wrap(provider.Terminal, "read version", fmt.Errorf("reading as an identity: %w on this operating system", provider.ErrUnsupported))
}

// CheckIdentity implements provider.IdentityChecker: without unix users, no identity can act
// on this store.
func (s *Store) CheckIdentity(context.Context, provider.CheckIdentityRequest) error {
	return provider.Wrap(provider.Terminal, "check identity", fmt.Errorf("reading as an identity: %w on this operating system", provider.ErrUnsupported))
}
