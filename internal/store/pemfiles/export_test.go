package pemfiles

// ProveByBits makes Read prove access by permission bits even as root, so a test can compare
// both proofs on the same files.
func (s *Store) ProveByBits() { s.bitsOnly = true }

// LiveName and VersionsDir are the layout's names, for tests that read as nginx does.
const (
	LiveName    = liveName
	VersionsDir = versionsDir
)
