package sops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/rotorhq/rotor/internal/atomicfile"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// tx is one change of the file. It is made under the lock of the file's folder (a flock of
// the folder itself, which leaves no lock file in a repository), and by sops: each value
// is set on a copy of the file beside it (sops decrypts with the executor's key, keeps the
// ciphertext of every value it does not change, and computes a new MAC), and the copy replaces
// the file in one rename — only if the file is still, byte for byte, what the change read.
// Someone who edited it meanwhile (a person with `sops edit`, another tool) loses nothing:
// the change is dropped, and its retry starts from their version.
type tx struct {
	s          *Store
	ctx        context.Context
	op         string
	credential string
	run        string
	as         member
	orig       []byte // the file as the change read it
	doc        *document
	lay        layout
	book       *book
	tmp        string     // the copy sops edits; "" until the first write
	written    [][]string // paths given a value: checked encrypted before the rename
	summary    []string   // what changed, for the commit message
}

// change runs fn on the file's version list under the lock and, if fn changed anything,
// writes its values and the list, checks the result, and puts it in place (see tx).
func (s *Store) change(ctx context.Context, op, credential, run string, as provider.Identity, fn func(t *tx) (changed bool, err error)) (err error) {
	m, err := acting(op, as, s.env)
	if err != nil {
		return err
	}
	if _, err := s.run.resolve(ctx); err != nil {
		return err
	}
	release, err := provider.LockDir(ctx, op, filepath.Dir(s.path))
	if err != nil {
		return err
	}
	defer release()
	orig, err := s.readFile(op)
	if err != nil {
		return err
	}
	doc, lay, err := s.parse(op, orig)
	if err != nil {
		return err
	}
	if err := recipientOf(op, s.path, m, doc.meta); err != nil {
		return err
	}
	b, err := doc.state(lay)
	if err != nil {
		return s.damaged(op, err)
	}
	t := &tx{s: s, ctx: ctx, op: op, credential: credential, run: run, as: m, orig: orig, doc: doc, lay: lay, book: b}
	defer func() {
		if t.tmp != "" {
			os.Remove(t.tmp)
		}
	}()
	changed, err := fn(t)
	if err != nil || !changed {
		return err
	}
	if s.git != nil { // only a change needs a commit: a retry that finds its effect done does not
		if err := s.git.ready(ctx, op); err != nil {
			return err
		}
	}
	if err := t.adopt(); err != nil {
		return err
	}
	if err := t.writeBook(); err != nil {
		return err
	}
	if err := t.verify(); err != nil {
		return err
	}
	if err := t.replace(); err != nil {
		return err
	}
	if s.git != nil {
		return s.git.commit(ctx, op, t.message())
	}
	return nil
}

// readFile reads the file. A missing file is Terminal: rotor does not create SOPS files,
// whose recipients and rules are the owner's choice.
func (s *Store) readFile(op string) ([]byte, error) {
	f, err := os.Open(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, provider.Errorf(provider.Terminal, op,
			"%s does not exist: create it with sops (encrypted to the age recipients of the executor and every consumer, e.g. from .sops.yaml creation rules), then run rotor again", s.path)
	case errors.Is(err, fs.ErrPermission):
		return nil, provider.Wrap(provider.Denied, op, err)
	case err != nil:
		return nil, provider.Wrap(provider.Terminal, op, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, op, fmt.Errorf("reading %s: %w", s.path, err))
	}
	if len(b) > maxFile {
		return nil, provider.Errorf(provider.Terminal, op, "%s is larger than %d bytes: not a file of secrets rotor manages", s.path, maxFile)
	}
	return b, nil
}

// parse reads the document and places the credential's entries in it.
func (s *Store) parse(op string, raw []byte) (*document, layout, error) {
	doc, err := parseDocument(s.format, raw)
	if err != nil {
		return nil, layout{}, provider.Errorf(provider.Terminal, op, "%s: %v", s.path, err)
	}
	lay, err := plan(&s.cfg, doc.meta, s.path)
	if err != nil {
		return nil, layout{}, err
	}
	return doc, lay, nil
}

func (s *Store) damaged(op string, err error) error {
	return provider.Errorf(provider.NeedsHuman, op, "%s: %v: nothing was changed; restore the file from git or repair the list by hand", s.path, err)
}

// read decrypts the value at path as the executor, from the file as the change read it.
func (t *tx) read(path []string) (secret.Value, error) {
	out, err := t.s.run.extract(t.ctx, t.op, t.as.keyFile, t.orig, path)
	if err != nil {
		return secret.Value{}, err
	}
	v := secret.New(out)
	clear(out)
	return v, nil
}

// copyFile makes the copy sops edits: beside the file (the rename stays on one file system),
// with its mode.
func (t *tx) copyFile() error {
	if t.tmp != "" {
		return nil
	}
	mode := os.FileMode(0o600)
	if st, err := os.Stat(t.s.path); err == nil {
		mode = st.Mode().Perm()
	}
	var rnd [6]byte
	if _, err := io.ReadFull(rand.Reader, rnd[:]); err != nil {
		return provider.Wrap(provider.Retryable, t.op, err)
	}
	p := filepath.Join(filepath.Dir(t.s.path), "."+filepath.Base(t.s.path)+".rotor-"+hex.EncodeToString(rnd[:])+".tmp")
	if err := os.WriteFile(p, t.orig, mode); err != nil {
		return fsError(t.op, err)
	}
	t.tmp = p
	return nil
}

// setValue gives path the value v, encrypted by sops.
func (t *tx) setValue(path []string, v secret.Value) error {
	plain := v.Reveal()
	defer clear(plain)
	if !utf8.Valid(plain) {
		return provider.Errorf(provider.Terminal, t.op, "the value is not UTF-8 text, and a SOPS document holds text: encode it (base64) at the authority")
	}
	if t.lay.format == formatDotenv && strings.Contains(string(plain), `\n`) {
		return provider.Errorf(provider.Terminal, t.op, `the value holds a backslash followed by n, which a dotenv file cannot keep apart from a line break: use a yaml or json file`)
	}
	js := appendJSONString(make([]byte, 0, len(plain)*6+2), plain) // room for every escape: no copy left behind
	defer clear(js)
	if err := t.copyFile(); err != nil {
		return err
	}
	if err := t.s.run.set(t.ctx, t.op, t.as.keyFile, t.tmp, path, js, [][]byte{plain, js}); err != nil {
		return err
	}
	t.written = append(t.written, path)
	return nil
}

// unset removes path, and the maps above it that it leaves empty, up to rotor's root.
func (t *tx) unset(path []string) error {
	if _, ok := t.doc.lookup(path); !ok {
		return nil
	}
	for len(path) > 1 && t.doc.children(path[:len(path)-1]) == 1 {
		path = path[:len(path)-1]
	}
	if err := t.copyFile(); err != nil {
		return err
	}
	return t.s.run.unset(t.ctx, t.op, t.as.keyFile, t.tmp, path)
}

// adopt writes the adopted version (see document.state) into the list: its value, read from
// the key, is copied beside the others, so it can be read by id and restored once another
// value is current.
func (t *tx) adopt() error {
	for i := range t.book.Versions {
		r := &t.book.Versions[i]
		if !r.adopted {
			continue
		}
		r.adopted = false
		if r.Deleted {
			continue
		}
		v, err := t.read(t.lay.user)
		if err != nil {
			return err
		}
		if t.s.env.Fingerprint != nil {
			r.Fingerprint = t.s.env.Fingerprint(v)
		}
		err = t.setValue(t.lay.slot(r.ID), v)
		v.Wipe()
		if err != nil {
			return err
		}
		t.summary = append(t.summary, fmt.Sprintf("adopt the value already at %s as %s", t.lay.key, r.ID))
	}
	return nil
}

// writeBook writes the version list, in clear.
func (t *tx) writeBook() error {
	js, err := t.book.encode(t.lay.format)
	if err != nil {
		return provider.Wrap(provider.Terminal, t.op, err)
	}
	if err := t.copyFile(); err != nil {
		return err
	}
	return t.s.run.set(t.ctx, t.op, t.as.keyFile, t.tmp, t.lay.meta(), js, nil)
}

// verify reads the copy back before it replaces the file: every value written is encrypted,
// and the version list reads as written. plan placed them so; this holds the result to it.
func (t *tx) verify() error {
	raw, err := os.ReadFile(t.tmp)
	if err != nil {
		return fsError(t.op, err)
	}
	doc, err := parseDocument(t.s.format, raw)
	if err != nil {
		return provider.Errorf(provider.NeedsHuman, t.op, "sops wrote a copy of %s that does not read (%v): nothing was changed", t.s.path, err)
	}
	for _, p := range t.written {
		if _, ok := doc.encryptedAt(p); !ok {
			return provider.Errorf(provider.NeedsHuman, t.op, "sops did not encrypt %s in its copy of %s: nothing was changed, and the copy is removed", strings.Join(p, "."), t.s.path)
		}
	}
	b, err := doc.book(t.lay)
	if err != nil {
		return provider.Errorf(provider.NeedsHuman, t.op, "the version list sops wrote into its copy of %s does not read (%v): nothing was changed", t.s.path, err)
	}
	if len(b.Versions) != len(t.book.Versions) || b.Seq != t.book.Seq {
		return provider.Errorf(provider.NeedsHuman, t.op, "the version list sops wrote into its copy of %s differs from rotor's: nothing was changed", t.s.path)
	}
	return nil
}

// replace renames the copy over the file, if the file is still what the change read.
func (t *tx) replace() error {
	now, err := os.ReadFile(t.s.path)
	if err != nil {
		return fsError(t.op, err)
	}
	if was, is := digest(t.orig), digest(now); was != is {
		return provider.Errorf(provider.Retryable, t.op,
			"%s was changed by someone else while rotor was changing it (sha256 %s… when read, %s… now): rotor wrote nothing, and a retry starts from the new content",
			t.s.path, was[:12], is[:12])
	}
	if err := os.Rename(t.tmp, t.s.path); err != nil {
		return fsError(t.op, err)
	}
	t.tmp = ""
	if err := atomicfile.SyncDir(filepath.Dir(t.s.path)); err != nil {
		return fsError(t.op, err)
	}
	return nil
}

// message is the commit message of the change: the credential, what changed, the run and the
// versions by id and stage — never a value.
func (t *tx) message() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rotor: %s: %s\n\n", t.credential, strings.Join(t.summary, "; "))
	fmt.Fprintf(&b, "Key %s of %s, changed by rotor.\n\n", t.lay.key, filepath.Base(t.s.path))
	run := t.run
	if run == "" {
		run = "(none given)"
	}
	var vs []string
	for _, r := range t.book.newestFirst() {
		st := string(r.Stage)
		if st == "" {
			st = "retired"
		}
		if !r.Enabled {
			st += ", disabled"
		}
		vs = append(vs, r.ID+" ("+st+")")
	}
	fmt.Fprintf(&b, "Rotor-Run: %s\nRotor-Credential: %s\nRotor-Versions: %s\n", run, t.credential, strings.Join(vs, ", "))
	return b.String()
}

// appendJSONString appends s as a JSON string, escaping what JSON requires; it builds into a
// byte slice the caller clears, where encoding/json would leave a copy of the value in a
// string.
func appendJSONString(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// fsError classifies a file system failure: a permission problem is Denied, anything else
// Terminal.
func fsError(op string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return provider.Wrap(provider.Denied, op, err)
	}
	return provider.Wrap(provider.Terminal, op, err)
}
