package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// maxCiphertext bounds a version file: values are keys, passwords and certificates, never
// megabytes.
const maxCiphertext = 4 << 20

// ageConfig returns the age config of an identity, or an error wrapping
// provider.ErrUnsupported for any other identity type: this store can only encrypt to, and
// read as, age identities. Callers classify it Terminal.
func ageConfig(id provider.Identity) (identity.Age, error) {
	switch c := id.Config.(type) {
	case *identity.Age:
		if c != nil {
			return *c, nil
		}
	case identity.Age:
		return c, nil
	}
	return identity.Age{}, fmt.Errorf("identity %q is of type %q: the file store encrypts to and reads as age identities only: %w", id.ID, id.Type, provider.ErrUnsupported)
}

// recipientsOf parses the readers' age recipients. It reports every identity that is not an
// age identity, or whose recipient does not parse, so one Put names all the problems.
func recipientsOf(readers []provider.Identity) ([]age.Recipient, []reader, error) {
	if len(readers) == 0 {
		return nil, nil, provider.Errorf(provider.Terminal, "put version", "no readers: a version nobody can decrypt is useless; pass the executor and every consumer identity")
	}
	var (
		recs []age.Recipient
		out  []reader
		errs []error
		seen = map[string]bool{}
	)
	for _, id := range readers {
		c, err := ageConfig(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r := strings.TrimSpace(c.Recipient)
		if r == "" || strings.ContainsAny(r, "\n\r#") {
			errs = append(errs, fmt.Errorf("identity %q: recipient %q is not one age public key", id.ID, r))
			continue
		}
		parsed, err := age.ParseRecipients(strings.NewReader(r))
		if err != nil || len(parsed) != 1 {
			errs = append(errs, fmt.Errorf("identity %q: recipient %q is not an age public key (age1…)", id.ID, r))
			continue
		}
		out = append(out, reader{Identity: id.ID, Recipient: r})
		if !seen[r] {
			seen[r] = true
			recs = append(recs, parsed[0])
		}
	}
	if len(errs) > 0 {
		return nil, nil, provider.Wrap(provider.Terminal, "put version", errors.Join(errs...))
	}
	return recs, out, nil
}

// seal encrypts v to the recipients.
func seal(v secret.Value, recs []age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, recs...)
	if err != nil {
		// age refuses, for one, to mix post-quantum and classic recipients.
		return nil, provider.Wrap(provider.Terminal, "encrypt version", err)
	}
	plain := v.Reveal() // to age, which writes only ciphertext
	_, err = w.Write(plain)
	clear(plain)
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, "encrypt version", err)
	}
	return buf.Bytes(), nil
}

// loadIdentities reads an age identity file. Errors name the file and never quote it.
func loadIdentities(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fsError("read identity file", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(io.LimitReader(f, 1<<20))
	if err != nil {
		// age's message may quote part of a line; the file holds private keys, so say only
		// which file.
		return nil, provider.Errorf(provider.Terminal, "read identity file", "%s is not an age identity file (one AGE-SECRET-KEY-… per line)", path)
	}
	return ids, nil
}

// identityFor loads the private key of the identity a Read acts as. A relative identity_file
// is relative to base (the inventory's folder).
func identityFor(as provider.Identity, base string) ([]age.Identity, error) {
	c, err := ageConfig(as)
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, "read version", err)
	}
	if c.IdentityFile == "" {
		return nil, provider.Errorf(provider.Terminal, "read version",
			"identity %q has no identity_file: rotor cannot read as it; set identity_file to its age private key file", as.ID)
	}
	p := c.IdentityFile
	if !filepath.IsAbs(p) && base != "" {
		p = filepath.Join(base, p)
	}
	ids, err := loadIdentities(p)
	if err != nil {
		return nil, fmt.Errorf("as identity %q: %w", as.ID, err)
	}
	return ids, nil
}

// open decrypts one version file. A key that is not among the version's recipients is
// Denied: that is the file store's missing permission.
func open(path, versionID, who string, ids []age.Identity) (secret.Value, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return secret.Value{}, provider.Errorf(provider.Terminal, "read version", "version %s: its file %s is gone: %w", versionID, path, provider.ErrNotFound)
		}
		return secret.Value{}, fsError("read version", err)
	}
	defer f.Close()
	r, err := age.Decrypt(io.LimitReader(f, maxCiphertext), ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return secret.Value{}, provider.Errorf(provider.Denied, "read version",
				"%s cannot decrypt version %s: its key is not among the version's recipients; add its recipient to the readers and write a new version", who, versionID)
		}
		return secret.Value{}, provider.Errorf(provider.Terminal, "read version", "version %s: %s is not a readable age file: %v", versionID, path, err)
	}
	// The plain text is shorter than the file; growing the buffer once up front means no
	// copy of the value is left behind in a discarded smaller buffer.
	var buf bytes.Buffer
	if st, err := f.Stat(); err == nil && st.Size() < maxCiphertext {
		buf.Grow(int(st.Size()) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(r)
	plain := buf.Bytes()
	defer clear(plain)
	if err != nil {
		return secret.Value{}, provider.Errorf(provider.Terminal, "read version", "version %s: %s is damaged: %v", versionID, path, err)
	}
	return secret.New(plain), nil
}
