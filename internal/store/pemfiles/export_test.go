package pemfiles

import (
	"context"

	"github.com/rotorhq/rotor/internal/provider"
)

// ProveByBits makes Read prove access by permission bits even as root, so a test can compare
// both proofs on the same files.
func (s *Store) ProveByBits() { s.bitsOnly = true }

// LiveName and VersionsDir are the layout's names, for tests that read as nginx does.
const (
	LiveName    = liveName
	VersionsDir = versionsDir
)

// PinRecordOnly and UnpinRecordOnly stop Pin and Unpin after the record is written and
// before the consumer's ..live is switched: a crash in between, for the crash tests.
func (s *Store) PinRecordOnly(ctx context.Context, req provider.PinRequest) error {
	return s.pin(ctx, req, false)
}

func (s *Store) UnpinRecordOnly(ctx context.Context, req provider.PinRequest) error {
	return s.unpin(ctx, req, false)
}
