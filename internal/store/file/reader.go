package file

import (
	"fmt"
	"path/filepath"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// Reader is a consumer's view of one credential in a file store: it reads with the
// consumer's own age identity, as the service would. It reads the index afresh on every call,
// so a reload picks up what rotor changed; it takes no lock.
type Reader struct {
	dir string
	kr  *keyring
	who string
}

// VersionValue is one enabled version and its value.
type VersionValue struct {
	ID    string
	Stage provider.Stage
	// AuthorityRef is the authority's public name for the version: the database role of an
	// alternating-roles login, an API key's id.
	AuthorityRef string
	Value        secret.Value
}

// OpenReader opens the credential folder dir/name (dir as in the store's config, name the
// credential id or the store's name) to read with the age identity file identityFile.
func OpenReader(dir, name, identityFile string) (*Reader, error) {
	if !validName(name) {
		return nil, provider.Errorf(provider.Terminal, "open reader", "%q cannot name a folder of the file store", name)
	}
	kr, err := loadIdentities(identityFile)
	if err != nil {
		return nil, err
	}
	return &Reader{dir: filepath.Join(dir, name), kr: kr, who: "identity file " + identityFile}, nil
}

// Current returns the current version.
func (r *Reader) Current() (versionID string, v secret.Value, err error) {
	ix, err := loadIndex(r.dir)
	if err != nil {
		return "", secret.Value{}, err
	}
	rec, err := pick("read current", ix, "")
	if err != nil {
		return "", secret.Value{}, err
	}
	return r.open(rec)
}

// ForConsumer returns the version the consumer must use: the one it is pinned to (a bounded
// rollback), or else the current one.
func (r *Reader) ForConsumer(consumer string) (versionID string, v secret.Value, err error) {
	ix, err := loadIndex(r.dir)
	if err != nil {
		return "", secret.Value{}, err
	}
	id := ix.Pins[consumer] // "" (not pinned) picks current
	rec, err := pick("read for consumer", ix, id)
	if err != nil {
		return "", secret.Value{}, fmt.Errorf("consumer %q: %w", consumer, err)
	}
	return r.open(rec)
}

// Use returns the version the consumer must use (pinned, or else current) with its
// authority's name for it: what a client needs to log in (role and password).
func (r *Reader) Use(consumer string) (VersionValue, error) {
	ix, err := loadIndex(r.dir)
	if err != nil {
		return VersionValue{}, err
	}
	rec, err := pick("read for consumer", ix, ix.Pins[consumer])
	if err != nil {
		return VersionValue{}, fmt.Errorf("consumer %q: %w", consumer, err)
	}
	id, v, err := r.open(rec)
	if err != nil {
		return VersionValue{}, err
	}
	return VersionValue{ID: id, Stage: rec.Stage, AuthorityRef: rec.AuthorityRef, Value: v}, nil
}

// Enabled returns every enabled version, newest first, pending ones included: the accepting
// side of an overlap rotation accepts each of them. A version this identity cannot decrypt is
// an error, not a silent gap: a value the accepting side cannot see would be refused.
func (r *Reader) Enabled() ([]VersionValue, error) {
	ix, err := loadIndex(r.dir)
	if err != nil {
		return nil, err
	}
	var out []VersionValue
	for _, rec := range ix.newestFirst() {
		if !rec.Enabled {
			continue
		}
		id, v, err := r.open(rec)
		if err != nil {
			for _, o := range out {
				o.Value.Wipe()
			}
			return nil, err
		}
		out = append(out, VersionValue{ID: id, Stage: rec.Stage, AuthorityRef: rec.AuthorityRef, Value: v})
	}
	return out, nil
}

func (r *Reader) open(rec *record) (string, secret.Value, error) {
	v, err := openVersion(filepath.Join(r.dir, versionsDir), rec.ID, r.who, r.kr)
	if err != nil {
		return "", secret.Value{}, err
	}
	return rec.ID, v, nil
}
