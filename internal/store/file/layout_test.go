package file_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/file"
)

// versionFiles lists the files of versions/ that belong to a version, in either layout.
func versionFiles(t *testing.T, vdir, id string) []string {
	t.Helper()
	ents, err := os.ReadDir(vdir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), id+".") {
			out = append(out, e.Name())
		}
	}
	return out
}

func recipientOf(id provider.Identity) string { return id.Config.(*identity.Age).Recipient }

func readerFileName(versionID, recipient string) string {
	h := sha256.Sum256([]byte(recipient))
	return versionID + "." + hex.EncodeToString(h[:8]) + ".age"
}

// stanzas counts the recipient stanzas in an age file's header.
func stanzas(t *testing.T, b []byte) int {
	t.Helper()
	hdr, _, ok := bytes.Cut(b, []byte("\n--- "))
	if !ok {
		t.Fatal("not an age file")
	}
	return bytes.Count(hdr, []byte("\n-> "))
}

// Every reader has its own file, named from its recipient, holding one stanza that its key
// alone opens; the same recipient listed twice gets one file.
func TestOneFilePerReader(t *testing.T) {
	f := newFixture(t)
	alias := f.reader
	alias.ID = "search-api-canary" // another identity with the same key
	const plain = "per-reader-value-0123456789"
	resp, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString(plain), Key: "run-1",
		Readers: []provider.Identity{f.executor, f.reader, alias}})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Version.ID
	vdir := filepath.Join(f.storeDir, "cred", "versions")
	want := []string{readerFileName(id, recipientOf(f.executor)), readerFileName(id, recipientOf(f.reader))}
	slices.Sort(want)
	got := versionFiles(t, vdir, id)
	if !slices.Equal(got, want) {
		t.Fatalf("files of %s = %v, want %v", id, got, want)
	}
	for _, who := range []provider.Identity{f.executor, f.reader} {
		b, err := os.ReadFile(filepath.Join(vdir, readerFileName(id, recipientOf(who))))
		if err != nil {
			t.Fatal(err)
		}
		if n := stanzas(t, b); n != 1 {
			t.Errorf("%s's file has %d stanzas, want 1", who.ID, n)
		}
		// A plain age file: age itself decrypts it with the reader's key, and with no other.
		for _, as := range []provider.Identity{f.executor, f.reader} {
			ids := parseKeyFile(t, f.keyFile(as))
			r, err := age.Decrypt(bytes.NewReader(b), ids...)
			if as.ID != who.ID {
				var nm *age.NoIdentityMatchError
				if !errors.As(err, &nm) {
					t.Errorf("%s's file opened with %s's key: %v", who.ID, as.ID, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s's file with its own key: %v", who.ID, err)
			}
			if p, _ := io.ReadAll(r); string(p) != plain {
				t.Errorf("%s's file decrypts to another value", who.ID)
			}
		}
	}
	// Each reads its own file through the store; the index records every reader identity.
	for _, as := range []provider.Identity{f.executor, f.reader, alias} {
		rr, err := f.store.Read(ctx, provider.ReadRequest{Credential: "cred", Version: id, As: as})
		if err != nil || rr.Value.String() == "" || !rr.Value.Equal(secret.FromString(plain)) {
			t.Errorf("Read as %s: %v", as.ID, err)
		}
	}
	idx, err := os.ReadFile(filepath.Join(f.storeDir, "cred", "index.json"))
	if err != nil || !bytes.Contains(idx, []byte(`"search-api-canary"`)) {
		t.Errorf("index does not record every reader: %v", err)
	}
}

func parseKeyFile(t *testing.T, path string) []age.Identity {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// A reader left out has no file: Denied, through the store and the consumer-side Reader. A
// version whose files are all gone is not found, not denied: nobody could read it.
func TestDeniedWithoutFileGoneWithoutAny(t *testing.T) {
	f := newFixture(t)
	v := put(t, f, "run-1", secret.FromString("value-0123456789abcdef"))
	promote(t, f, v.ID)
	_, err := f.store.Read(ctx, provider.ReadRequest{Credential: "cred", Version: v.ID, As: f.nonReader})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.Denied || !strings.Contains(err.Error(), `"intruder"`) || !strings.Contains(err.Error(), "not among the version's recipients") {
		t.Fatalf("Read as a non-reader: %v, want Denied naming the identity", err)
	}
	r, err := file.OpenReader(f.storeDir, "cred", f.keyFile(f.nonReader))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Use("billing"); provider.KindOf(err) != provider.Denied {
		t.Errorf("Reader.Use as a non-reader: %v, want Denied", err)
	}
	vdir := filepath.Join(f.storeDir, "cred", "versions")
	for _, n := range versionFiles(t, vdir, v.ID) {
		if err := os.Remove(filepath.Join(vdir, n)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.store.Read(ctx, provider.ReadRequest{Credential: "cred", Version: v.ID, As: f.reader})
	if provider.KindOf(err) != provider.Terminal || !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Read of a version whose files are gone: %v, want Terminal not-found", err)
	}
}

// Parsed identity files are kept, but the file is read at every call: a key file replaced by
// another key, or removed, takes effect at the next Read.
func TestIdentityFileChangesTakeEffect(t *testing.T) {
	f := newFixture(t)
	v := put(t, f, "run-1", secret.FromString("value-0123456789abcdef"))
	read := func() error {
		rr, err := f.store.Read(ctx, provider.ReadRequest{Credential: "cred", Version: v.ID, As: f.reader})
		rr.Value.Wipe()
		return err
	}
	for range 2 {
		if err := read(); err != nil {
			t.Fatalf("Read as the reader: %v", err)
		}
	}
	other, err := os.ReadFile(f.keyFile(f.nonReader))
	if err != nil {
		t.Fatal(err)
	}
	// Same size, other key: a cache keyed by size and time could be fooled within a tick.
	if err := os.WriteFile(f.keyFile(f.reader), other, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := read(); provider.KindOf(err) != provider.Denied {
		t.Errorf("Read after the key file was replaced by another key: %v, want Denied", err)
	}
	if err := os.Remove(f.keyFile(f.reader)); err != nil {
		t.Fatal(err)
	}
	if err := read(); err == nil || !strings.Contains(err.Error(), f.keyFile(f.reader)) {
		t.Errorf("Read after the key file was removed: %v, want an error naming it", err)
	}
}

// Post-quantum (hybrid) keys read their own file; mixing them with classic keys is refused, as
// age refuses it in one file: the value would be no safer than its classic copies.
func TestPostQuantumReaders(t *testing.T) {
	f := newFixture(t)
	pq := func(name string) provider.Identity {
		k, err := age.GenerateHybridIdentity()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.base, name+".key"), []byte(k.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return provider.Identity{ID: name, Type: "age", Config: &identity.Age{Recipient: k.Recipient().String(), IdentityFile: name + ".key"}}
	}
	a, b := pq("pq-a"), pq("pq-b")
	resp, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("pq-value-0123456789"), Key: "run-1", Readers: []provider.Identity{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	for _, as := range []provider.Identity{a, b} {
		rr, err := f.store.Read(ctx, provider.ReadRequest{Credential: "cred", Version: resp.Version.ID, As: as})
		if err != nil || !rr.Value.Equal(secret.FromString("pq-value-0123456789")) {
			t.Errorf("Read as %s: %v", as.ID, err)
		}
	}
	_, err = f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("mixed-0123456789"), Key: "run-2", Readers: []provider.Identity{a, f.executor}})
	if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), "post-quantum") {
		t.Errorf("Put to post-quantum and classic readers: %v, want Terminal", err)
	}
	if got := versionFiles(t, filepath.Join(f.storeDir, "cred", "versions"), "v0002-"); len(got) != 0 {
		t.Errorf("a refused Put left files: %v", got)
	}
}

// legacyCanaries are the values in testdata/legacy-single-file, a store written by the file
// store before per-reader files (each version one age file to every reader): v0001 current and
// pinned by billing, v0002 pending; readers rotor-prod and search-api, intruder not one.
var legacyCanaries = map[string]string{
	"v0001-e2643b67": "LEGACY-CANARY-one-4e1d7a",
	"v0002-06f423a3": "LEGACY-CANARY-two-9b3c5f",
}

// copyTree copies testdata into a temporary folder with the store's modes.
func copyTree(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

func legacyIdentity(t *testing.T, base, name string) provider.Identity {
	t.Helper()
	ids := parseKeyFile(t, filepath.Join(base, name+".key"))
	return provider.Identity{ID: name, Type: "age", Config: &identity.Age{Recipient: ids[0].(*age.X25519Identity).Recipient().String(), IdentityFile: name + ".key"}}
}

// A store written in the single-file layout keeps working: its versions read (through the
// store and the consumer-side Reader, pins included) for their readers and are Denied to
// others; new versions are written per reader beside them; Delete removes an old version's
// file; no file holds a value in plain.
func TestLegacySingleFileLayout(t *testing.T) {
	base := copyTree(t, filepath.Join("testdata", "legacy-single-file"))
	s, err := file.New(file.Config{Dir: "store"}, testEnv(t, base))
	if err != nil {
		t.Fatal(err)
	}
	ex, rd, in := legacyIdentity(t, base, "rotor-prod"), legacyIdentity(t, base, "search-api"), legacyIdentity(t, base, "intruder")
	vdir := filepath.Join(base, "store", "cred", "versions")
	for id, want := range legacyCanaries {
		if got := versionFiles(t, vdir, id); !slices.Equal(got, []string{id + ".age"}) {
			t.Fatalf("fixture files of %s = %v, want the single file", id, got)
		}
		for _, as := range []provider.Identity{ex, rd} {
			rr, err := s.Read(ctx, provider.ReadRequest{Credential: "cred", Version: id, As: as})
			if err != nil || !rr.Value.Equal(secret.FromString(want)) || rr.Version.ID != id {
				t.Errorf("Read %s as %s: %v", id, as.ID, err)
			}
		}
		if _, err := s.Read(ctx, provider.ReadRequest{Credential: "cred", Version: id, As: in}); provider.KindOf(err) != provider.Denied {
			t.Errorf("Read %s as intruder: %v, want Denied", id, err)
		}
	}
	r, err := file.OpenReader(filepath.Join(base, "store"), "cred", filepath.Join(base, "search-api.key"))
	if err != nil {
		t.Fatal(err)
	}
	if vv, err := r.Use("billing"); err != nil || vv.ID != "v0001-e2643b67" || vv.AuthorityRef != "orders_a" || !vv.Value.Equal(secret.FromString(legacyCanaries[vv.ID])) {
		t.Errorf("Use(billing) = %s %s, %v; want the pinned v0001", vv.ID, vv.AuthorityRef, err)
	}
	if all, err := r.Enabled(); err != nil || len(all) != 2 {
		t.Errorf("Enabled = %d versions, %v", len(all), err)
	}

	// A new version beside them is written per reader, and all three read.
	v3, err := s.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("NEW-CANARY-three-51aa0c"), Key: "run-3", Readers: []provider.Identity{ex, rd}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{readerFileName(v3.Version.ID, recipientOf(ex)), readerFileName(v3.Version.ID, recipientOf(rd))}
	slices.Sort(want)
	if got := versionFiles(t, vdir, v3.Version.ID); !slices.Equal(got, want) {
		t.Errorf("files of the new version = %v, want %v", got, want)
	}
	for _, id := range []string{"v0002-06f423a3", v3.Version.ID} {
		if _, err := s.Promote(ctx, provider.PromoteRequest{Credential: "cred", Version: id}); err != nil {
			t.Fatal(err)
		}
	}
	if vv, err := r.Use("orders"); err != nil || vv.ID != v3.Version.ID || !vv.Value.Equal(secret.FromString("NEW-CANARY-three-51aa0c")) {
		t.Errorf("Use(orders) = %s, %v; want the new current version", vv.ID, err)
	}
	if _, err := s.Read(ctx, provider.ReadRequest{Credential: "cred", As: in}); provider.KindOf(err) != provider.Denied {
		t.Errorf("Read of the new version as intruder: %v, want Denied", err)
	}

	// The old current version, retired and unpinned, is deleted: its single file goes, the
	// other old version's stays.
	if err := s.Unpin(ctx, provider.PinRequest{Credential: "cred", Consumer: "billing"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, provider.ToggleRequest{Credential: "cred", Version: "v0001-e2643b67"}); err != nil {
		t.Fatal(err)
	}
	if got := versionFiles(t, vdir, "v0001-e2643b67"); len(got) != 0 {
		t.Errorf("deleted legacy version's files: %v", got)
	}
	if rr, err := s.Read(ctx, provider.ReadRequest{Credential: "cred", Version: "v0002-06f423a3", As: rd}); err != nil || !rr.Value.Equal(secret.FromString(legacyCanaries["v0002-06f423a3"])) {
		t.Errorf("Read of the remaining legacy version after the sweep: %v", err)
	}

	err = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, plain := range []string{"CANARY-one", "CANARY-two", "CANARY-three"} {
			if bytes.Contains(b, []byte(plain)) {
				t.Errorf("%s holds a value in plain", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fixedRand makes every version id's random part abababab, so a test knows the next id.
type fixedRand struct{}

func (fixedRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0xab
	}
	return len(p), nil
}

// A Put that fails half-way through writing its files (the second reader's temp file cannot be
// created; then its rename fails) returns the error, leaves no temp file, and the index does not
// name the version; what was already renamed is an orphan that the next Put sweeps before
// writing the version again.
func TestPutFailsHalfWay(t *testing.T) {
	f := newFixture(t)
	env := testEnv(t, f.base)
	env.Rand = fixedRand{}
	s, err := file.New(file.Config{Dir: "store"}, env)
	if err != nil {
		t.Fatal(err)
	}
	putReq := provider.PutRequest{Credential: "cred", Value: secret.FromString("value-2-0123456789abcdef"), Key: "run-2", Readers: f.readers()}
	if _, err := s.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("value-1-0123456789abcdef"), Key: "run-1", Readers: f.readers()}); err != nil {
		t.Fatal(err)
	}
	const id = "v0002-abababab"
	vdir := filepath.Join(f.storeDir, "cred", "versions")
	first, second := readerFileName(id, recipientOf(f.executor)), readerFileName(id, recipientOf(f.reader))
	versions := func() int {
		vs, err := s.Versions(ctx, provider.VersionsRequest{Credential: "cred"})
		if err != nil {
			t.Fatal(err)
		}
		return len(vs.Versions)
	}

	// A directory where the second temp file goes: creating it fails, even as root.
	block := filepath.Join(vdir, second+".tmp")
	if err := os.Mkdir(block, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, putReq); err == nil {
		t.Fatal("Put with its second file blocked succeeded")
	}
	if n := versions(); n != 1 {
		t.Errorf("the index names %d versions after a failed Put, want 1", n)
	}
	if got := versionFiles(t, vdir, id); !slices.Equal(got, []string{second + ".tmp"}) {
		t.Errorf("files of %s after a failed write: %v, want only the blocking directory", id, got)
	}
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}

	// A non-empty directory where the second file goes: its rename fails after the first's.
	block = filepath.Join(vdir, second)
	if err := os.MkdirAll(filepath.Join(block, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, putReq); err == nil {
		t.Fatal("Put with its second rename blocked succeeded")
	}
	if n := versions(); n != 1 {
		t.Errorf("the index names %d versions after a failed rename, want 1", n)
	}
	if got, want := versionFiles(t, vdir, id), slices.Sorted(slices.Values([]string{first, second})); !slices.Equal(got, want) {
		t.Errorf("files of %s after a failed rename: %v, want the first (an orphan) and the blocking directory", id, got)
	}
	if err := os.RemoveAll(block); err != nil {
		t.Fatal(err)
	}

	// The retry writes the version; it reads for both readers.
	resp, err := s.Put(ctx, putReq)
	if err != nil || !resp.Created || resp.Version.ID != id {
		t.Fatalf("retried Put = %+v, %v", resp, err)
	}
	for _, as := range f.readers() {
		rr, err := s.Read(ctx, provider.ReadRequest{Credential: "cred", Version: id, As: as})
		if err != nil || !rr.Value.Equal(secret.FromString("value-2-0123456789abcdef")) {
			t.Errorf("Read as %s after the retry: %v", as.ID, err)
		}
	}
	ents, err := os.ReadDir(vdir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("%s left behind", e.Name())
		}
	}
}
