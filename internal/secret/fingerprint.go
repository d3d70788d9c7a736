package secret

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// KeySize is the size in bytes of a fingerprint key.
const KeySize = 32

const (
	keyFileHeader     = "rotor-fingerprint-key-v1:"
	fingerprintPrefix = "hmac-sha256:"
	keyIDDomain       = "rotor key id"
	// maxKeyFileSize bounds what is read from a key file: a valid one is 70
	// bytes, anything much bigger is not ours.
	maxKeyFileSize = 4096
)

// Fingerprinter computes keyed fingerprints of secret values. A fingerprint
// names a value in the database, the journal, logs and API answers without
// revealing it: it is an HMAC-SHA256 under an install key, so someone who has
// a copy of the database but not the key file cannot test guesses offline.
//
// A Fingerprinter is safe for concurrent use. Its key is held in a Value and
// never printed.
type Fingerprinter struct {
	key Value
	id  string
}

// NewFingerprinter returns a Fingerprinter for a KeySize-byte key, which it
// copies. Production code uses LoadOrCreateKey; this is for tests and for
// callers that manage the key themselves.
func NewFingerprinter(key []byte) (*Fingerprinter, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: fingerprint key is %d bytes: it must be %d", len(key), KeySize)
	}
	h := sha256.New()
	h.Write([]byte(keyIDDomain))
	h.Write(key)
	return &Fingerprinter{
		key: New(key),
		id:  hex.EncodeToString(h.Sum(nil)[:4]),
	}, nil
}

// Fingerprint returns "hmac-sha256:" followed by the first 16 bytes of
// HMAC-SHA256(key, value) in lower-case hex (32 characters). Equal values
// give equal fingerprints under the same key. Compare fingerprints only when
// their KeyIDs are equal; record the KeyID next to them.
func (f *Fingerprinter) Fingerprint(v Value) string {
	key, b := f.key.open(), v.open()
	defer clear(key)
	defer clear(b)
	mac := hmac.New(sha256.New, key)
	mac.Write(b)
	return fingerprintPrefix + hex.EncodeToString(mac.Sum(nil)[:16])
}

// KeyID returns a short public identifier of the key: the first 4 bytes, in
// hex, of SHA-256("rotor key id" || key). It tells which key made a
// fingerprint, so that fingerprints made under different keys (another
// install, a lost and recreated key file) are never compared by mistake.
func (f *Fingerprinter) KeyID() string { return f.id }

// String names the key by its id only.
func (f *Fingerprinter) String() string { return "fingerprinter(key id " + f.id + ")" }

// LoadOrCreateKey loads the fingerprint key from the file at path, or creates
// it with KeySize bytes read from rand (crypto/rand.Reader outside tests) if
// there is no file. created reports whether this call made the key.
//
// The file lives beside the database and never inside it. Creation makes the
// parent directory (mode 0700) if it is missing, writes the key to a
// temporary file of mode 0600 in the same directory, syncs it, and then
// hard-links it to path, which fails if path exists. So a crash never leaves
// a half-written key at path, and of several processes that race to create
// the key exactly one wins; the others load the winner's key.
//
// A key file that is group- or world-accessible, not a regular file, or not
// in the expected format is refused with an error that names the path and
// says what to do; the error never quotes the file's content.
func LoadOrCreateKey(path string, rand io.Reader) (f *Fingerprinter, created bool, err error) {
	f, err = loadKey(path)
	if err == nil {
		return f, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	return createKey(path, rand)
}

func loadKey(path string) (*Fingerprinter, error) {
	// Stat before opening, so that a FIFO or device at path is refused
	// instead of blocking or being read.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secret: fingerprint key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secret: fingerprint key file %s is not a regular file (%s): move it aside or point rotor at the real key file", path, fi.Mode().Type())
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secret: fingerprint key file %s: %w", path, err)
	}
	defer file.Close()
	// Check the mode of what was opened, not of what was stat'ed before.
	fi, err = file.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret: fingerprint key file %s: %w", path, err)
	}
	if err := checkKeyFileMode(path, fi.Mode()); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(file, maxKeyFileSize+1))
	defer clear(data)
	if err != nil {
		return nil, fmt.Errorf("secret: fingerprint key file %s: %w", path, err)
	}
	key, err := parseKeyFile(data)
	defer clear(key)
	if err != nil {
		return nil, fmt.Errorf("secret: fingerprint key file %s is corrupt: %v. "+
			"Restore it from a backup. Only if it is lost for good, move it aside: rotor will then create a new key, "+
			"and every fingerprint recorded under the old key id stops matching", path, err)
	}
	return NewFingerprinter(key)
}

func checkKeyFileMode(path string, mode fs.FileMode) error {
	// Windows has no such permission bits; os reports 0666 or 0444 there.
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := mode.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("secret: fingerprint key file %s has mode %04o: group and others must have no access. "+
			"Run `chmod 600 %s`; if someone else may have read it, its fingerprints can be used to test guesses of values", path, perm, path)
	}
	return nil
}

// parseKeyFile accepts exactly one line: the header, the standard base64 of
// KeySize bytes, and an optional final newline. Errors describe the problem
// without quoting the content.
func parseKeyFile(data []byte) ([]byte, error) {
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("it is larger than %d bytes", maxKeyFileSize)
	}
	line, _ := bytes.CutSuffix(data, []byte("\n"))
	if len(line) == 0 {
		return nil, errors.New("it is empty")
	}
	rest, ok := bytes.CutPrefix(line, []byte(keyFileHeader))
	if !ok {
		return nil, fmt.Errorf("it does not start with %q", keyFileHeader)
	}
	if bytes.ContainsAny(rest, "\r\n") {
		return nil, errors.New("it has more than one line")
	}
	if base64.StdEncoding.EncodedLen(KeySize) != len(rest) {
		return nil, fmt.Errorf("the key is %d characters of base64: it must be %d", len(rest), base64.StdEncoding.EncodedLen(KeySize))
	}
	// 44 characters can also encode 31 or 33 bytes; decode into room for
	// whatever they encode, then check.
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(rest)))
	n, err := base64.StdEncoding.Strict().Decode(buf, rest)
	if err != nil || n != KeySize {
		clear(buf)
		return nil, fmt.Errorf("the key is not valid base64 of %d bytes", KeySize)
	}
	return buf[:KeySize:KeySize], nil
}

func formatKeyFile(key []byte) []byte {
	out := make([]byte, 0, len(keyFileHeader)+base64.StdEncoding.EncodedLen(len(key))+1)
	out = append(out, keyFileHeader...)
	out = base64.StdEncoding.AppendEncode(out, key)
	return append(out, '\n')
}

func createKey(path string, rand io.Reader) (*Fingerprinter, bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("secret: creating the directory for fingerprint key file %s: %w", path, err)
	}
	key := make([]byte, KeySize)
	defer clear(key)
	if _, err := io.ReadFull(rand, key); err != nil {
		return nil, false, fmt.Errorf("secret: creating fingerprint key file %s: reading randomness: %w; nothing was written", path, err)
	}
	content := formatKeyFile(key)
	defer clear(content)

	// CreateTemp opens with O_EXCL and mode 0600.
	tmp, err := os.CreateTemp(dir, ".rotor-fingerprint-key-*.tmp")
	if err != nil {
		return nil, false, fmt.Errorf("secret: creating fingerprint key file %s: %w", path, err)
	}
	tmpName := tmp.Name()
	// Once linked, the temporary name is only a second name for the same
	// file; on failure it is the only one. Either way it goes.
	defer os.Remove(tmpName)
	if err := writeAndSync(tmp, content); err != nil {
		return nil, false, fmt.Errorf("secret: creating fingerprint key file %s: writing %s: %w; nothing was written at %s", path, tmpName, err, path)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Someone else created it first: theirs is the key.
			f, err := loadKey(path)
			if err != nil {
				return nil, false, err
			}
			return f, false, nil
		}
		return nil, false, fmt.Errorf("secret: creating fingerprint key file %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return nil, false, fmt.Errorf("secret: created fingerprint key file %s but could not sync its directory: %w; run again to load it", path, err)
	}
	f, err := NewFingerprinter(key)
	if err != nil {
		return nil, false, err
	}
	return f, true, nil
}

func writeAndSync(f *os.File, content []byte) error {
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a new directory entry durable. Windows cannot open a
// directory for syncing, and NTFS journals the metadata anyway.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
