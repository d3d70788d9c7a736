package sops_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/provider/providertest"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/sops"
	"github.com/rotorhq/rotor/internal/testenv"
)

// clock moves one second per reading.
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

// fixture is a SOPS file in a fresh inventory folder, encrypted by the real sops to the
// executor and one reader (and not to the intruder), holding other secrets rotor must not
// disturb, and a store on one of its keys.
type fixture struct {
	base, file               string
	store                    *sops.Store
	cfg                      sops.Config
	executor, reader, intrud provider.Identity
	keyFile                  map[string]string // identity id → private key file
	rec                      map[string]string // identity id → age recipient
}

func (f fixture) recipient(id string) string { return f.rec[id] }

// plainYAML is the file before rotor: a comment, other secrets, a value in clear.
const plainYAML = `# operations secrets
db:
    password: hunter2-db
    host: db.internal
bastion:
    host: bastion.internal
port_unencrypted: 2222
`

func newFixture(t testing.TB, format, name, plain string, mutate ...func(*sops.Config)) fixture {
	t.Helper()
	base := t.TempDir()
	rec := testenv.AgeKeys(t, base, "rotor-prod", "search-api", "intruder")
	id := func(n string) provider.Identity {
		return provider.Identity{ID: n, Type: "age", Config: &identity.Age{Recipient: rec[n], IdentityFile: "keys/" + n + ".key"}}
	}
	f := fixture{base: base, file: filepath.Join(base, name),
		executor: id("rotor-prod"), reader: id("search-api"), intrud: id("intruder"),
		keyFile: map[string]string{}, rec: rec}
	for _, n := range []string{"rotor-prod", "search-api", "intruder"} {
		f.keyFile[n] = filepath.Join(base, "keys", n+".key")
	}
	testenv.SOPSEncrypt(t, f.file, format, plain, []string{rec["rotor-prod"], rec["search-api"]})
	f.cfg = sops.Config{Path: name, Key: "bastion.private_key", Binary: testenv.SOPS(t)}
	if format == "dotenv" {
		f.cfg.Key = "BASTION_KEY"
	}
	for _, m := range mutate {
		m(&f.cfg)
	}
	s, err := sops.New(f.cfg, testEnv(t, base))
	if err != nil {
		t.Fatal(err)
	}
	f.store = s
	return f
}

func (f fixture) readers() []provider.Identity { return []provider.Identity{f.executor, f.reader} }

func conformance(t *testing.T, format, name, plain string) {
	providertest.StoreSuite(t, func(t *testing.T) providertest.StoreFixture {
		f := newFixture(t, format, name, plain)
		return providertest.StoreFixture{
			Store: f.store, Credential: "search-api-key",
			Executor: f.executor, Reader: f.reader, NonReader: f.intrud,
			Lacks: map[provider.Capability]string{
				provider.CanPin:              "every consumer reads the one key of the file: no consumer can be held on another version than the others",
				provider.CanListCertificates: "it keeps opaque values, not certificates: pem-files keeps those",
				provider.CanReseal:           "every version is encrypted to the file's recipients, which rotor never changes: a reader the file does not name is added with sops updatekeys, by its owner",
			},
		}
	})
}

func TestConformanceYAML(t *testing.T) { conformance(t, "yaml", "ops.enc.yaml", plainYAML) }

func TestConformanceJSON(t *testing.T) {
	conformance(t, "json", "ops.enc.json", `{"db": {"password": "hunter2-db"}, "bastion": {"host": "b"}}`)
}

func TestConformanceDotenv(t *testing.T) {
	conformance(t, "dotenv", "ops.env", "DB_PASSWORD=hunter2-db\nAPI_URL=https://api.internal\n")
}

var ctx = context.Background()

func put(t *testing.T, f fixture, run string, v secret.Value) provider.Version {
	t.Helper()
	resp, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: v, Key: run, Readers: f.readers(), As: f.executor})
	if err != nil {
		t.Fatalf("Put(%s): %v", run, err)
	}
	return resp.Version
}

func promote(t *testing.T, f fixture, id string) {
	t.Helper()
	if _, err := f.store.Promote(ctx, provider.PromoteRequest{Credential: "cred", Version: id, As: f.executor, RunID: "run-test"}); err != nil {
		t.Fatalf("Promote(%s): %v", id, err)
	}
}
