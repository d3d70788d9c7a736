package sops

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"filippo.io/age"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
)

// member is an identity as the sops store acts with it: its age recipient, and its private
// key file (SOPS_AGE_KEY_FILE) when it has one.
type member struct {
	id        string
	recipient string // canonical (age1…, lower case)
	keyFile   string // absolute; "" when the identity names none
}

// ageMember reads an identity of type age. Any other type is ErrUnsupported (Terminal): the
// store reads and writes with age keys only (a PGP recipient of the file is kept, never used).
func ageMember(id provider.Identity, env provider.Env) (member, error) {
	var c identity.Age
	switch v := id.Config.(type) {
	case *identity.Age:
		if v == nil {
			return member{}, unsupported(id)
		}
		c = *v
	case identity.Age:
		c = v
	default:
		return member{}, unsupported(id)
	}
	rec := strings.TrimSpace(c.Recipient)
	parsed, err := age.ParseX25519Recipient(rec)
	if err != nil {
		return member{}, fmt.Errorf("identity %q: recipient %q is not an age X25519 public key (age1…)", id.ID, rec)
	}
	return member{id: id.ID, recipient: parsed.String(), keyFile: env.Path(c.IdentityFile)}, nil
}

func unsupported(id provider.Identity) error {
	return fmt.Errorf("identity %q is of type %q: the sops store reads and writes as age identities only: %w", id.ID, id.Type, provider.ErrUnsupported)
}

// acting is the member an operation acts as: an age identity with a readable key file.
func acting(op string, id provider.Identity, env provider.Env) (member, error) {
	if id.ID == "" && id.Config == nil {
		return member{}, provider.Errorf(provider.Terminal, op, "no identity to act as: the store names no executor (store.identity)")
	}
	m, err := ageMember(id, env)
	if err != nil {
		return member{}, provider.Wrap(provider.Terminal, op, err)
	}
	if m.keyFile == "" {
		return member{}, provider.Errorf(provider.Terminal, op,
			"identity %q has no identity_file: sops cannot act as it without its private key; set identity_file", id.ID)
	}
	f, err := os.Open(m.keyFile)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return member{}, provider.Errorf(provider.Denied, op, "identity %q: cannot read its identity file %s: %v", id.ID, m.keyFile, err)
	case err != nil:
		return member{}, provider.Errorf(provider.Terminal, op, "identity %q: its identity file %s: %v", id.ID, m.keyFile, err)
	}
	f.Close()
	return m, nil
}

// recipientOf refuses, naming the identity and the file, a member whose recipient is not one
// of the file's: sops encrypts the data key to the file's recipients only, so such an
// identity cannot read any value of it, and rotor does not change who may read a file.
func recipientOf(op, path string, m member, meta sopsMetadata) error {
	if slices.Contains(meta.Recipients, m.recipient) {
		return nil
	}
	return provider.Errorf(provider.Denied, op,
		"identity %q (%s) is not a recipient of %s, so it cannot decrypt it; add it with `sops updatekeys` (after adding it to .sops.yaml) or `sops rotate --add-age %s`, then run rotor again",
		m.id, m.recipient, path, m.recipient)
}
