package file_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/provider/providertest"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/file"
)

// clock is a fake clock that moves one second per reading, so creation times differ and are
// predictable.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func testEnv(t testing.TB, base string) provider.Env {
	t.Helper()
	fp, err := secret.NewFingerprinter(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)}
	return provider.Env{Now: c.Now, Rand: rand.Reader, Fingerprint: fp.Fingerprint, BaseDir: base}
}

// ageIdentity makes a real age key pair; the private key is written to dir/<id>.key and
// referred to relative to dir (the inventory folder).
func ageIdentity(t testing.TB, dir, id string) provider.Identity {
	t.Helper()
	k, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, id+".key"), []byte("# "+id+"\n"+k.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return provider.Identity{ID: id, Type: "age", Config: &identity.Age{Recipient: k.Recipient().String(), IdentityFile: id + ".key"}}
}

// fixture is a store in a fresh inventory folder, with the store directory given relative
// to it.
type fixture struct {
	base, storeDir string
	store          *file.Store
	executor       provider.Identity
	reader         provider.Identity
	nonReader      provider.Identity
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	base := t.TempDir()
	s, err := file.New(file.Config{Dir: "store"}, testEnv(t, base))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{
		base: base, storeDir: filepath.Join(base, "store"), store: s,
		executor:  ageIdentity(t, base, "rotor-prod"),
		reader:    ageIdentity(t, base, "search-api"),
		nonReader: ageIdentity(t, base, "intruder"),
	}
}

func (f fixture) readers() []provider.Identity { return []provider.Identity{f.executor, f.reader} }

func (f fixture) keyFile(id provider.Identity) string {
	return filepath.Join(f.base, id.Config.(*identity.Age).IdentityFile)
}

func TestConformance(t *testing.T) {
	providertest.StoreSuite(t, func(t *testing.T) providertest.StoreFixture {
		f := newFixture(t)
		return providertest.StoreFixture{
			Store: f.store, Credential: "search-api-key",
			Executor: f.executor, Reader: f.reader, NonReader: f.nonReader,
			Lacks: map[provider.Capability]string{
				provider.CanCheckRead:        "its access is its encryption: a reader is proven by decrypting the pending version (the read-access step), there is no policy to ask before a version exists",
				provider.CanListCertificates: "it keeps opaque values, not certificates: pem-files keeps those",
			},
			ConsumerVersion: func(t *testing.T, consumer string) string {
				r, err := file.OpenReader(f.storeDir, "search-api-key", f.keyFile(f.reader))
				if err != nil {
					t.Fatal(err)
				}
				id, v, err := r.ForConsumer(consumer)
				if err != nil {
					t.Fatalf("ForConsumer(%s): %v", consumer, err)
				}
				v.Wipe()
				return id
			},
		}
	})
}

var ctx = context.Background()

func put(t *testing.T, f fixture, key string, v secret.Value) provider.Version {
	t.Helper()
	resp, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: v, Key: key, Readers: f.readers()})
	if err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
	return resp.Version
}

func promote(t *testing.T, f fixture, id string) {
	t.Helper()
	if _, err := f.store.Promote(ctx, provider.PromoteRequest{Credential: "cred", Version: id}); err != nil {
		t.Fatalf("Promote(%s): %v", id, err)
	}
}

func TestVersionIDsAndMetadata(t *testing.T) {
	f := newFixture(t)
	v := secret.FromString("first-value-0123456789")
	exp := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	resp, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: v, Key: "run-a", Readers: f.readers(), Expires: exp, AuthorityRef: "orders_b"})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Version
	if !strings.HasPrefix(got.ID, "v0001-") || len(got.ID) != len("v0001-3f2a9c1b") {
		t.Errorf("first version id %q, want v0001-<8 hex>", got.ID)
	}
	if got.AuthorityRef != "orders_b" || !got.Expires.Equal(exp) || got.Created.IsZero() {
		t.Errorf("version metadata = %+v", got)
	}
	if !strings.HasPrefix(got.Fingerprint, "hmac-sha256:") {
		t.Errorf("fingerprint %q, want a keyed fingerprint", got.Fingerprint)
	}
	second := put(t, f, "run-b", secret.FromString("second-value-0123456789"))
	if !strings.HasPrefix(second.ID, "v0002-") || !second.Created.After(got.Created) {
		t.Errorf("second version %s created %v, want v0002-… after %v", second.ID, second.Created, got.Created)
	}
}

func TestReadersMustBeAgeIdentities(t *testing.T) {
	f := newFixture(t)
	vault := provider.Identity{ID: "orders-api", Type: "vault-approle", Config: &identity.VaultAppRole{Role: "orders-api"}}
	_, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("v-0123456789abcdef"), Key: "run-1",
		Readers: []provider.Identity{f.executor, vault}})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.Terminal || !errors.Is(err, provider.ErrUnsupported) {
		t.Fatalf("Put with a vault-approle reader: %v; want Terminal wrapping ErrUnsupported", err)
	}
	if !strings.Contains(err.Error(), `"orders-api"`) || !strings.Contains(err.Error(), "vault-approle") {
		t.Errorf("error %q does not name the identity and its type", err)
	}
	// Nothing was written.
	vs, err := f.store.Versions(ctx, provider.VersionsRequest{Credential: "cred"})
	if err != nil || len(vs.Versions) != 0 {
		t.Errorf("Versions after a refused Put = %v, %v", vs.Versions, err)
	}
	// Reading as a non-age identity is refused the same way.
	_, err = f.store.Read(ctx, provider.ReadRequest{Credential: "cred", As: vault})
	if provider.KindOf(err) != provider.Terminal || !errors.Is(err, provider.ErrUnsupported) {
		t.Errorf("Read as vault-approle: %v; want Terminal wrapping ErrUnsupported", err)
	}
	// A bad recipient is named.
	bad := provider.Identity{ID: "typo", Type: "age", Config: &identity.Age{Recipient: "age1notakey"}}
	_, err = f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("v-0123456789abcdef"), Key: "run-1", Readers: []provider.Identity{bad}})
	if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), `"typo"`) {
		t.Errorf("Put with a malformed recipient: %v", err)
	}
}

func TestDeniedWhenIdentityFileIsAnotherKey(t *testing.T) {
	// The consumer's inventory entry has its recipient, but its key file holds another key:
	// the consumer would fail in production, so readiness must fail too.
	f := newFixture(t)
	v := put(t, f, "run-1", secret.FromString("value-0123456789abcdef"))
	wrong := *f.reader.Config.(*identity.Age)
	wrong.IdentityFile = f.nonReader.Config.(*identity.Age).IdentityFile
	_, err := f.store.Read(ctx, provider.ReadRequest{Credential: "cred", Version: v.ID, As: provider.Identity{ID: "search-api", Type: "age", Config: &wrong}})
	if provider.KindOf(err) != provider.Denied {
		t.Fatalf("Read with the wrong key file: %v, want Denied", err)
	}
	// A missing key file says which file.
	wrong.IdentityFile = "nowhere.key"
	_, err = f.store.Read(ctx, provider.ReadRequest{Credential: "cred", Version: v.ID, As: provider.Identity{ID: "search-api", Type: "age", Config: &wrong}})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(f.base, "nowhere.key")) {
		t.Fatalf("Read with a missing key file: %v, want the path in the error", err)
	}
	// A key file that is not one says so without quoting it.
	junk := filepath.Join(f.base, "junk.key")
	if err := os.WriteFile(junk, []byte("AGE-SECRET-KEY-NOTREALLY-SECRETBITS\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong.IdentityFile = junk
	_, err = f.store.Read(ctx, provider.ReadRequest{Credential: "cred", Version: v.ID, As: provider.Identity{ID: "search-api", Type: "age", Config: &wrong}})
	if err == nil || strings.Contains(err.Error(), "SECRETBITS") || !strings.Contains(err.Error(), junk) {
		t.Fatalf("Read with a junk key file: %v", err)
	}
}

// The store directory holds ciphertext only: the plain value appears in no file.
func TestNoPlainValueOnDisk(t *testing.T) {
	f := newFixture(t)
	const plain = "PLAIN-CANARY-7d1f0a9b2c"
	v1 := put(t, f, "run-1", secret.FromString(plain))
	promote(t, f, v1.ID)
	v2 := put(t, f, "run-2", secret.FromString(plain+"-2"))
	promote(t, f, v2.ID)
	n := 0
	err := filepath.WalkDir(f.storeDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if bytes.Contains(b, []byte(plain)) {
			t.Errorf("%s holds the plain value", p)
		}
		return nil
	})
	if err != nil || n < 3 {
		t.Fatalf("walked %d files: %v", n, err)
	}
}

func TestModes(t *testing.T) {
	f := newFixture(t)
	v1 := put(t, f, "run-1", secret.FromString("value-0123456789abcdef"))
	if err := f.store.Pin(ctx, provider.PinRequest{Credential: "cred", Consumer: "c", Version: v1.ID}); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(filepath.Join(f.storeDir, "cred"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPromoteDisabledRefused(t *testing.T) {
	f := newFixture(t)
	v1 := put(t, f, "run-1", secret.FromString("value-1-0123456789abcdef"))
	promote(t, f, v1.ID)
	v2 := put(t, f, "run-2", secret.FromString("value-2-0123456789abcdef"))
	promote(t, f, v2.ID)
	if err := f.store.Disable(ctx, provider.ToggleRequest{Credential: "cred", Version: v1.ID}); err != nil {
		t.Fatal(err)
	}
	_, err := f.store.Promote(ctx, provider.PromoteRequest{Credential: "cred", Version: v1.ID})
	if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("Promote(disabled): %v", err)
	}
	// The current version cannot be disabled or deleted: every consumer reads it.
	if err := f.store.Disable(ctx, provider.ToggleRequest{Credential: "cred", Version: v2.ID}); err == nil || !strings.Contains(err.Error(), "current") {
		t.Errorf("Disable(current): %v", err)
	}
	if err := f.store.Delete(ctx, provider.ToggleRequest{Credential: "cred", Version: v2.ID}); err == nil {
		t.Error("Delete(current) succeeded")
	}
	// A pinned version cannot be disabled or deleted until its consumers are unpinned.
	if err := f.store.Enable(ctx, provider.ToggleRequest{Credential: "cred", Version: v1.ID}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Pin(ctx, provider.PinRequest{Credential: "cred", Consumer: "billing", Version: v1.ID}); err != nil {
		t.Fatal(err)
	}
	for _, try := range []func(context.Context, provider.ToggleRequest) error{f.store.Disable, f.store.Delete} {
		if err := try(ctx, provider.ToggleRequest{Credential: "cred", Version: v1.ID}); err == nil || !strings.Contains(err.Error(), "billing") {
			t.Errorf("taking away a pinned version: %v, want a refusal naming the consumer", err)
		}
	}
}

func TestDeleteRemovesCiphertextKeepsRecord(t *testing.T) {
	f := newFixture(t)
	v1 := put(t, f, "run-1", secret.FromString("value-1-0123456789abcdef"))
	promote(t, f, v1.ID)
	v2 := put(t, f, "run-2", secret.FromString("value-2-0123456789abcdef"))
	promote(t, f, v2.ID)
	if err := f.store.Delete(ctx, provider.ToggleRequest{Credential: "cred", Version: v1.ID}); err != nil {
		t.Fatal(err)
	}
	if got := versionFiles(t, filepath.Join(f.storeDir, "cred", "versions"), v1.ID); len(got) != 0 {
		t.Errorf("the deleted version's files are still there: %v", got)
	}
	if got := versionFiles(t, filepath.Join(f.storeDir, "cred", "versions"), v2.ID); len(got) != 2 {
		t.Errorf("the current version's files: %v, want one per reader", got)
	}
	idx, err := os.ReadFile(filepath.Join(f.storeDir, "cred", "index.json"))
	if err != nil || !bytes.Contains(idx, []byte(v1.ID)) || !bytes.Contains(idx, []byte(`"deleted": true`)) {
		t.Errorf("index no longer records the deleted version: %v\n%s", err, idx)
	}
	// A retried Put of the deleted version's run finds it rather than writing another.
	resp, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("other-0123456789abcdef"), Key: "run-1", Readers: f.readers()})
	if err != nil || resp.Created || resp.Version.ID != v1.ID {
		t.Errorf("Put(run-1) after delete = %+v, %v", resp, err)
	}
	// The next sequence number is not reused.
	v3 := put(t, f, "run-3", secret.FromString("value-3-0123456789abcdef"))
	if !strings.HasPrefix(v3.ID, "v0003-") {
		t.Errorf("version after a delete: %s, want v0003-…", v3.ID)
	}
}

// A Put that crashed after writing its ciphertext, and a Delete that crashed after marking
// its version deleted, leave files the index does not name; the next Put removes them.
func TestSweepRemovesOrphans(t *testing.T) {
	f := newFixture(t)
	v1 := put(t, f, "run-1", secret.FromString("value-1-0123456789abcdef"))
	vdir := filepath.Join(f.storeDir, "cred", "versions")
	orphans := []string{"v0009-deadbeef.age", "v0002-00000000.age.tmp", "index.json.tmp",
		"v0009-deadbeef.0123456789abcdef.age", "v0009-deadbeef.0123456789abcdef.age.tmp"}
	for _, o := range orphans {
		if err := os.WriteFile(filepath.Join(vdir, o), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	put(t, f, "run-2", secret.FromString("value-2-0123456789abcdef"))
	for _, o := range orphans {
		if _, err := os.Stat(filepath.Join(vdir, o)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("orphan %s is still there", o)
		}
	}
	if got := versionFiles(t, vdir, v1.ID); len(got) != 2 {
		t.Errorf("the sweep removed a live version's files: %v left, want 2", got)
	}
}

// TestRetriedPutRestoresLostFiles: a power loss after Put's renames, before its folders were
// synced, may keep the index naming a version and lose a reader's file. The engine retries a
// Put whose outcome it did not record; that retry writes the lost file again with the same
// value, proven by the fingerprint, and refuses another value.
func TestRetriedPutRestoresLostFiles(t *testing.T) {
	f := newFixture(t)
	value := secret.FromString("value-1-0123456789abcdef")
	v1 := put(t, f, "run-1", value)
	vdir := filepath.Join(f.storeDir, "cred", "versions")
	files := versionFiles(t, vdir, v1.ID)
	if len(files) != 2 {
		t.Fatalf("files %v, want one per reader", files)
	}
	lost := filepath.Join(vdir, files[1])
	if err := os.Remove(lost); err != nil {
		t.Fatal(err)
	}

	_, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("another-value-0123456789"), Key: "run-1", Readers: f.readers()})
	if provider.KindOf(err) != provider.NeedsHuman {
		t.Fatalf("retried Put with another value: %v (kind %v), want NeedsHuman", err, provider.KindOf(err))
	}
	if _, err := os.Stat(lost); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file was written with a value the version was not written with: %v", err)
	}

	if got := put(t, f, "run-1", value); got.ID != v1.ID {
		t.Fatalf("retried Put made version %s, want %s", got.ID, v1.ID)
	}
	if got := versionFiles(t, vdir, v1.ID); len(got) != 2 {
		t.Fatalf("after the retry: files %v, want both back", got)
	}
	for _, who := range f.readers() {
		resp, err := f.store.Read(ctx, provider.ReadRequest{Credential: "cred", Version: v1.ID, As: who})
		if err != nil {
			t.Fatalf("read as %s after the retry: %v", who.ID, err)
		}
		if !resp.Value.Equal(value) {
			t.Fatalf("read as %s: another value", who.ID)
		}
		resp.Value.Wipe()
	}
}

func TestReader(t *testing.T) {
	f := newFixture(t)
	a, b, c := secret.FromString("value-a-0123456789abcdef"), secret.FromString("value-b-0123456789abcdef"), secret.FromString("value-c-0123456789abcdef")
	v1 := put(t, f, "run-1", a)
	promote(t, f, v1.ID)
	v2 := put(t, f, "run-2", b)
	promote(t, f, v2.ID)
	v3 := put(t, f, "run-3", c) // pending

	r, err := file.OpenReader(f.storeDir, "cred", f.keyFile(f.reader))
	if err != nil {
		t.Fatal(err)
	}
	id, v, err := r.Current()
	if err != nil || id != v2.ID || !v.Equal(b) {
		t.Fatalf("Current = %s, %v; want %s and its value", id, err, v2.ID)
	}
	all, err := r.Enabled()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, vv := range all {
		ids = append(ids, vv.ID+":"+string(vv.Stage))
	}
	if want := v3.ID + ":pending," + v2.ID + ":current," + v1.ID + ":previous"; strings.Join(ids, ",") != want {
		t.Errorf("Enabled = %v, want %s", ids, want)
	}
	if !all[0].Value.Equal(c) || !all[2].Value.Equal(a) {
		t.Error("Enabled returned the wrong values")
	}

	// Revoke: the previous version is disabled; the accepting side no longer sees it.
	if err := f.store.Disable(ctx, provider.ToggleRequest{Credential: "cred", Version: v1.ID}); err != nil {
		t.Fatal(err)
	}
	all, err = r.Enabled()
	if err != nil || len(all) != 2 || all[1].ID != v2.ID {
		t.Errorf("Enabled after revoke = %d versions, %v", len(all), err)
	}

	// Rollback of one consumer: re-enable and pin it.
	if err := f.store.Enable(ctx, provider.ToggleRequest{Credential: "cred", Version: v1.ID}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Pin(ctx, provider.PinRequest{Credential: "cred", Consumer: "billing", Version: v1.ID}); err != nil {
		t.Fatal(err)
	}
	if id, v, err := r.ForConsumer("billing"); err != nil || id != v1.ID || !v.Equal(a) {
		t.Errorf("ForConsumer(billing) = %s, %v; want pinned %s", id, err, v1.ID)
	}
	if id, _, err := r.ForConsumer("orders"); err != nil || id != v2.ID {
		t.Errorf("ForConsumer(orders) = %s, %v; want current %s", id, err, v2.ID)
	}

	// An identity that is not a reader cannot open any version.
	nr, err := file.OpenReader(f.storeDir, "cred", f.keyFile(f.nonReader))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := nr.Current(); provider.KindOf(err) != provider.Denied {
		t.Errorf("Current as a non-reader: %v, want Denied", err)
	}
	if _, err := nr.Enabled(); provider.KindOf(err) != provider.Denied {
		t.Errorf("Enabled as a non-reader: %v, want Denied", err)
	}
	if _, err := file.OpenReader(f.storeDir, "../cred", f.keyFile(f.reader)); err == nil {
		t.Error("OpenReader accepted a name with a path in it")
	}
}

func TestFixedNameAndRelativeDir(t *testing.T) {
	base := t.TempDir()
	s, err := file.New(file.Config{Dir: "secrets/shared", Name: "api-key"}, testEnv(t, base))
	if err != nil {
		t.Fatal(err)
	}
	w := ageIdentity(t, base, "w")
	if _, err := s.Put(ctx, provider.PutRequest{Credential: "some-credential", Value: secret.FromString("value-0123456789abcdef"), Key: "k", Readers: []provider.Identity{w}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "secrets", "shared", "api-key", "index.json")); err != nil {
		t.Errorf("the index is not under BaseDir/dir/name: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, name := range []string{"../x", "a/b", ".hidden", "", "ok-name_1.2"} {
		errs := (&file.Config{Dir: "d", Name: name}).Validate()
		bad := name != "" && name != "ok-name_1.2"
		if (len(errs) > 0) != bad {
			t.Errorf("Validate(name %q) = %v", name, errs)
		}
	}
	if _, err := file.New(file.Config{Dir: "d"}, provider.Env{}); err == nil {
		t.Error("New without clock and randomness succeeded")
	}
	base := t.TempDir()
	s, err := file.New(file.Config{Dir: "d"}, testEnv(t, base))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Versions(ctx, provider.VersionsRequest{Credential: "../etc"}); err == nil {
		t.Error("a credential id with a path in it was used as a folder")
	}
}

func TestCheckWrite(t *testing.T) {
	f := newFixture(t)
	if err := f.store.CheckWrite(ctx, provider.CheckWriteRequest{Credential: "cred", As: f.executor}); err != nil {
		t.Fatalf("CheckWrite on a new store: %v", err)
	}
	ents, err := os.ReadDir(filepath.Join(f.storeDir, "cred"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != ".lock" && e.Name() != "versions" {
			t.Errorf("CheckWrite left %s behind", e.Name())
		}
	}
}

// TestCheckIdentityNamesWhatDoesNotFit: readiness learns, before anything is minted, that an
// identity cannot act on this store — a key file of another recipient (naming both public
// keys, never the private one), a missing or unparsable key file, no key file, an identity
// of another type — and a fitting one passes.
func TestCheckIdentityNamesWhatDoesNotFit(t *testing.T) {
	f := newFixture(t)
	check := func(id provider.Identity) error {
		return f.store.CheckIdentity(ctx, provider.CheckIdentityRequest{Credential: "cred", Identity: id})
	}
	if err := check(f.reader); err != nil {
		t.Fatalf("a fitting identity: %v", err)
	}
	other := ageIdentity(t, f.base, "other")
	swapped := f.reader
	cfg := *f.reader.Config.(*identity.Age)
	cfg.IdentityFile = other.Config.(*identity.Age).IdentityFile
	swapped.Config = &cfg
	err := check(swapped)
	secretKey, _ := os.ReadFile(f.keyFile(other))
	if err == nil || !strings.Contains(err.Error(), cfg.Recipient) || !strings.Contains(err.Error(), other.Config.(*identity.Age).Recipient) ||
		strings.Contains(err.Error(), strings.TrimSpace(string(secretKey))) {
		t.Errorf("a key file of another recipient: %v", err)
	}
	for name, mod := range map[string]func(c *identity.Age){
		"missing key file":     func(c *identity.Age) { c.IdentityFile = "nowhere.key" },
		"no key file":          func(c *identity.Age) { c.IdentityFile = "" },
		"not an age recipient": func(c *identity.Age) { c.Recipient = "ssh-ed25519 AAAA" },
	} {
		c := *f.reader.Config.(*identity.Age)
		mod(&c)
		id := f.reader
		id.Config = &c
		if err := check(id); err == nil || provider.KindOf(err) != provider.Terminal {
			t.Errorf("%s: %v, want a terminal error", name, err)
		}
	}
	if err := check(provider.Identity{ID: "svc", Type: "os-user"}); !errors.Is(err, provider.ErrUnsupported) || !strings.Contains(err.Error(), `"svc"`) {
		t.Errorf("an os-user identity: %v", err)
	}
}

// TestResealRemovesFormerReaders: the files of readers a version is no longer written for are
// removed, also when a reseal cut short left them (the repeat removes them); the index names
// the new readers.
func TestResealRemovesFormerReaders(t *testing.T) {
	f := newFixture(t)
	val := secret.FromString("a-value-to-write-again-0123")
	v := put(t, f, "run-1", val)
	vdir := filepath.Join(f.storeDir, "cred", "versions")
	before := versionFiles(t, vdir, v.ID)
	if len(before) != 2 {
		t.Fatalf("%d files before, want 2", len(before))
	}
	resp, err := f.store.Reseal(ctx, provider.ResealRequest{Credential: "cred", Version: v.ID, Value: val, Readers: []provider.Identity{f.executor, f.nonReader}})
	if err != nil || !resp.Changed || !strings.Contains(resp.Detail, "intruder") {
		t.Fatalf("Reseal: %+v %v", resp, err)
	}
	after := versionFiles(t, vdir, v.ID)
	if len(after) != 2 {
		t.Fatalf("%d files after, want 2 (executor, the new reader)", len(after))
	}
	// A cut-short reseal: a former reader's file back in place; the repeat removes it.
	stale := ""
	for _, b := range before {
		if !slices.Contains(after, b) {
			stale = filepath.Join(vdir, b)
		}
	}
	if err := os.WriteFile(stale, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err = f.store.Reseal(ctx, provider.ResealRequest{Credential: "cred", Version: v.ID, Value: val, Readers: []provider.Identity{f.executor, f.nonReader}})
	if err != nil || !resp.Changed {
		t.Fatalf("Reseal repeated: %+v %v", resp, err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the former reader's file is still there: %v", err)
	}
	if _, err := f.store.Read(ctx, provider.ReadRequest{Credential: "cred", Version: v.ID, As: f.reader}); provider.KindOf(err) != provider.Denied {
		t.Fatalf("the former reader still reads: %v", err)
	}
}
