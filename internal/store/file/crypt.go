package file

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"filippo.io/age"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// maxCiphertext bounds a version file: values are keys, passwords and certificates, never
// megabytes.
const maxCiphertext = 4 << 20

// maxIdentityFile bounds what is read of an identity file (age's own parser allows 16 MiB;
// an identity file of rotor's holds a few keys).
const maxIdentityFile = 1 << 20

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

// readerKey names a reader's file of a version: the first 16 hex digits of the SHA-256 of
// its recipient's canonical encoding (age1…, lower case). It is derived from public
// information only, so the consumer side finds its file from its own private key, and a
// listing of versions/ says no more than index.json does.
func readerKey(canonicalRecipient string) string {
	h := sha256.Sum256([]byte(canonicalRecipient))
	return hex.EncodeToString(h[:8])
}

// canonical returns the encoding age itself gives a recipient, so that a recipient written
// in the inventory in upper case and the one derived from the private key name the same file.
func canonical(r age.Recipient, configured string) string {
	if s, ok := r.(fmt.Stringer); ok {
		return s.String()
	}
	return configured
}

// target is one file a Put writes: a recipient and the reader key that names its file.
type target struct {
	rec age.Recipient
	key string
}

// recipientsOf parses the readers' age recipients, one target per distinct recipient. It
// reports every identity that is not an age identity, or whose recipient does not parse, so
// one Put names all the problems.
func recipientsOf(readers []provider.Identity) ([]target, []reader, error) {
	if len(readers) == 0 {
		return nil, nil, provider.Errorf(provider.Terminal, "put version", "no readers: a version nobody can decrypt is useless; pass the executor and every consumer identity")
	}
	var (
		out  []reader
		errs []error
	)
	for _, id := range readers {
		c, err := ageConfig(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, reader{Identity: id.ID, Recipient: strings.TrimSpace(c.Recipient)})
	}
	targets, err := targetsOf(out)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, nil, provider.Wrap(provider.Terminal, "put version", errors.Join(errs...))
	}
	return targets, out, nil
}

// targetsOf parses readers' recipients, one target per distinct recipient: those of a new
// version, or those an index records for a version whose files a retried Put writes again.
func targetsOf(readers []reader) ([]target, error) {
	var (
		targets []target
		errs    []error
		seen    = map[string]string{} // reader key → canonical recipient
		pq      = map[bool]bool{}
	)
	for _, rd := range readers {
		r := rd.Recipient
		if r == "" || strings.ContainsAny(r, "\n\r#") {
			errs = append(errs, fmt.Errorf("identity %q: recipient %q is not one age public key", rd.Identity, r))
			continue
		}
		parsed, err := age.ParseRecipients(strings.NewReader(r))
		if err != nil || len(parsed) != 1 {
			errs = append(errs, fmt.Errorf("identity %q: recipient %q is not an age public key (age1…)", rd.Identity, r))
			continue
		}
		_, hybrid := parsed[0].(*age.HybridRecipient)
		pq[hybrid] = true
		can := canonical(parsed[0], r)
		k := readerKey(can)
		switch prev, ok := seen[k]; {
		case ok && prev == can:
			continue // the same key listed twice: one file
		case ok:
			// 2^-64 by chance; refusing is cheaper than a layout that handles it.
			errs = append(errs, fmt.Errorf("identity %q: recipient %q and %q share the file name %s; use another key", rd.Identity, r, prev, k))
			continue
		}
		seen[k] = can
		targets = append(targets, target{rec: parsed[0], key: k})
	}
	if pq[true] && pq[false] {
		// Each reader gets its own file, so age no longer sees them together; its rule still
		// holds: a value also readable with a classic key is not protected from a quantum
		// computer, and labelling some copies post-quantum would say otherwise.
		errs = append(errs, errors.New("incompatible recipients: can't mix post-quantum and classic recipients, or the value would be vulnerable to quantum computers"))
	}
	return targets, errors.Join(errs...)
}

// seal encrypts v to one recipient.
func seal(v secret.Value, rec age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rec)
	if err != nil {
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

// keyring is what a Read needs of an identity file: its private keys, and the reader keys
// of their recipients (which file of a version each one opens).
type keyring struct {
	ids  []age.Identity
	keys []string // distinct, in the file's order
	// recipients are the public keys of ids (canonical age1…), for messages: public
	// information, never the private keys.
	recipients []string
}

// keyrings caches parsed identity files by the SHA-256 of their contents. Parsing a key
// costs a scalar multiplication (age derives the public key), and the engine builds a Store
// per credential per operation, so without it every Read pays one. The file itself is still
// read at every call: a key file that is removed, made unreadable or replaced takes effect at
// once, exactly as without the cache. The cache holds nothing the process did not already
// hold while reading, and is bounded.
var keyrings struct {
	sync.Mutex
	m map[[sha256.Size]byte]*keyring
}

// maxKeyrings bounds the cache: an inventory has a handful of identities; when a long-lived
// process meets more (keys replaced over and over), the cache starts afresh.
const maxKeyrings = 64

// loadIdentities reads an age identity file. Errors name the file and never quote it.
func loadIdentities(path string) (*keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fsError("read identity file", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(io.LimitReader(f, maxIdentityFile))
	b := buf.Bytes()
	defer clear(b)
	if err != nil {
		return nil, fsError("read identity file", fmt.Errorf("%s: %w", path, err))
	}
	sum := sha256.Sum256(b)
	keyrings.Lock()
	kr := keyrings.m[sum]
	keyrings.Unlock()
	if kr != nil {
		return kr, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		// age's message may quote part of a line; the file holds private keys, so say only
		// which file.
		return nil, provider.Errorf(provider.Terminal, "read identity file", "%s is not an age identity file (one AGE-SECRET-KEY-… per line)", path)
	}
	kr = &keyring{ids: ids}
	for _, id := range ids {
		var rec string
		switch i := id.(type) {
		case *age.X25519Identity:
			rec = i.Recipient().String()
		case *age.HybridIdentity:
			rec = i.Recipient().String()
		default:
			continue // a type age may add: it can still read versions in the single-file layout
		}
		if k := readerKey(rec); !slices.Contains(kr.keys, k) {
			kr.keys = append(kr.keys, k)
			kr.recipients = append(kr.recipients, rec)
		}
	}
	keyrings.Lock()
	if keyrings.m == nil || len(keyrings.m) >= maxKeyrings {
		keyrings.m = map[[sha256.Size]byte]*keyring{}
	}
	keyrings.m[sum] = kr
	keyrings.Unlock()
	return kr, nil
}

// identityFor loads the private key of the identity a Read acts as. A relative identity_file
// is relative to the inventory's folder (provider.Env.Path).
func identityFor(as provider.Identity, env provider.Env) (*keyring, error) {
	c, err := ageConfig(as)
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, "read version", err)
	}
	if c.IdentityFile == "" {
		return nil, provider.Errorf(provider.Terminal, "read version",
			"identity %q has no identity_file: rotor cannot read as it; set identity_file to its age private key file", as.ID)
	}
	kr, err := loadIdentities(env.Path(c.IdentityFile))
	if err != nil {
		return nil, fmt.Errorf("as identity %q: %w", as.ID, err)
	}
	return kr, nil
}

// readerFile is the name of a version's file for one reader (the layout since per-reader
// files); legacyFile the name of its one file encrypted to every reader (the layout before).
func readerFile(versionID, key string) string { return versionID + "." + key + cipherSuffix }
func legacyFile(versionID string) string      { return versionID + cipherSuffix }

// openVersion decrypts a version with the keys of kr. A version written in the single-file
// layout (versions/<id>.age, every reader's stanza in one file) is read from that file: a
// store written by an earlier rotor, or restored from a backup of one, reads as before.
// Otherwise each key opens its own file (versions/<id>.<reader key>.age, one stanza: one
// unwrap). A key with no file is not among the version's readers: Denied, as when age finds
// no stanza for it.
func openVersion(vdir, versionID, who string, kr *keyring) (secret.Value, error) {
	v, found, err := open(filepath.Join(vdir, legacyFile(versionID)), versionID, who, kr.ids)
	if found {
		return v, err
	}
	if err != nil {
		return secret.Value{}, err
	}
	for _, k := range kr.keys {
		v, found, err := open(filepath.Join(vdir, readerFile(versionID, k)), versionID, who, kr.ids)
		if found {
			return v, err
		}
		if err != nil {
			return secret.Value{}, err
		}
	}
	// No file for these keys: either the version has files for other readers only (this
	// identity is not a reader), or it has none left.
	ents, err := os.ReadDir(vdir)
	if err != nil {
		return secret.Value{}, fsError("read version", err)
	}
	for _, e := range ents {
		if m := cipherName.FindStringSubmatch(e.Name()); m != nil && m[1] == versionID {
			return secret.Value{}, denied(who, versionID)
		}
	}
	return secret.Value{}, provider.Errorf(provider.Terminal, "read version", "version %s: its files are gone from %s: %w", versionID, vdir, provider.ErrNotFound)
}

func denied(who, versionID string) error {
	return provider.Errorf(provider.Denied, "read version",
		"%s cannot decrypt version %s: its key is not among the version's recipients; add its recipient to the readers and write a new version", who, versionID)
}

// open decrypts one version file; found is false (and err nil) when there is no such file. A
// key that is not among the file's recipients is Denied: that is the file store's missing
// permission.
func open(path, versionID, who string, ids []age.Identity) (v secret.Value, found bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return secret.Value{}, false, nil
		}
		return secret.Value{}, false, fsError("read version", err)
	}
	defer f.Close()
	r, err := age.Decrypt(io.LimitReader(f, maxCiphertext), ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return secret.Value{}, true, denied(who, versionID)
		}
		return secret.Value{}, true, provider.Errorf(provider.Terminal, "read version", "version %s: %s is not a readable age file: %v", versionID, path, err)
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
		return secret.Value{}, true, provider.Errorf(provider.Terminal, "read version", "version %s: %s is damaged: %v", versionID, path, err)
	}
	return secret.New(plain), true, nil
}
