package vaultkv_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/provider/providertest"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/vaultkv"
	"github.com/rotorhq/rotor/internal/testenv/vaultserver"
)

// The store is tested against the real KV version 2 engine in-process
// (internal/testenv/vaultserver, rung R), or against a real Vault or OpenBao when
// ROTOR_TEST_VAULT_ADDR and ROTOR_TEST_VAULT_TOKEN are set: the same tests, through the same
// HTTP API, set up with the same admin calls.

var ctx = context.Background()

// env is the environment variables the identities read their login secrets from.
type env struct {
	mu   sync.Mutex
	vars map[string]string
}

func (e *env) set(k, v string) { e.mu.Lock(); e.vars[k] = v; e.mu.Unlock() }
func (e *env) get(k string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.vars[k]
}

// fixture is a mount of its own on the server, the executor (AppRole with every capability a
// rotation uses), a reader (a token allowed to read the secret and its staging secret) and a
// non-reader (an AppRole whose policy reads something else).
type fixture struct {
	srv                         *vaultserver.Env
	env                         *env
	mount, path                 string
	executor, reader, nonReader provider.Identity
	store                       *vaultkv.Store
	cfg                         vaultkv.Config
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureOn(t, vaultserver.Connect(t))
}

// newFixtureOn is a fixture on the given server: the in-process one for fault injection.
func newFixtureOn(t testing.TB, srv *vaultserver.Env) *fixture {
	t.Helper()
	f := &fixture{srv: srv, env: &env{vars: map[string]string{}}, mount: vaultserver.Unique("kv"), path: "prod/search/api-key"}
	srv.MountKV(t, "", f.mount)
	approle := vaultserver.Unique("approle")
	srv.AppRoleMount(t, "", approle)
	m, p := f.mount, f.path
	execPolicy := vaultserver.Unique("rotor-exec")
	srv.Policy(t, "", execPolicy, map[string][]string{
		m + "/data/" + p + "*":     {"create", "read", "update"},
		m + "/metadata/" + p + "*": {"read", "patch"},
		m + "/delete/" + p + "*":   {"update"},
		m + "/undelete/" + p + "*": {"update"},
		m + "/destroy/" + p + "*":  {"update"},
		"sys/audit-hash/+":         {"update"},
	})
	readPolicy := vaultserver.Unique("search-read")
	srv.Policy(t, "", readPolicy, map[string][]string{
		m + "/data/" + p:                    {"read"},
		m + "/data/" + p + ".rotor-pending": {"read"},
	})
	otherPolicy := vaultserver.Unique("other-read")
	srv.Policy(t, "", otherPolicy, map[string][]string{m + "/data/prod/other": {"read"}})

	f.executor = f.approle(t, approle, "rotor-prod", execPolicy)
	f.nonReader = f.approle(t, approle, "intruder", otherPolicy)
	f.env.set("READER_TOKEN", srv.Token(t, "", "search-api", readPolicy))
	f.reader = provider.Identity{ID: "search-api", Type: "vault-token", Config: &identity.VaultToken{TokenEnv: "READER_TOKEN"}}
	f.cfg = vaultkv.Config{Address: srv.Addr, Mount: f.mount, Path: f.path}
	f.store = f.newStore(t, f.cfg)
	return f
}

func (f *fixture) approle(t testing.TB, mount, name, policy string) provider.Identity {
	t.Helper()
	roleID, secretID := f.srv.AppRole(t, "", mount, name, policy)
	f.env.set(name+"_ROLE_ID", roleID)
	f.env.set(name+"_SECRET_ID", secretID)
	return provider.Identity{ID: name, Type: "vault-approle", Config: &identity.VaultAppRole{Role: name, Mount: mount,
		RoleIDEnv: name + "_ROLE_ID", SecretIDEnv: name + "_SECRET_ID"}}
}

func (f *fixture) providerEnv(t testing.TB) provider.Env {
	fp, err := secret.NewFingerprinter(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return provider.Env{Now: time.Now, Getenv: f.env.get, Fingerprint: fp.Fingerprint, Executor: f.executor, BaseDir: t.TempDir()}
}

func (f *fixture) newStore(t testing.TB, cfg vaultkv.Config) *vaultkv.Store {
	t.Helper()
	s, err := vaultkv.New(cfg, f.providerEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// clientAs logs in as an identity with the plain official client, as a consumer would.
func (f *fixture) clientAs(t testing.TB, id provider.Identity) *vault.Client {
	t.Helper()
	switch cfg := id.Config.(type) {
	case *identity.VaultToken:
		c := f.srv.Client(t)
		c.SetToken(f.env.get(cfg.TokenEnv))
		return c
	case *identity.VaultAppRole:
		return f.srv.Login(t, cfg.Mount, f.env.get(cfg.RoleIDEnv), f.env.get(cfg.SecretIDEnv))
	}
	t.Fatalf("cannot log in as %s", id.ID)
	return nil
}

func TestConformance(t *testing.T) {
	providertest.StoreSuite(t, func(t *testing.T) providertest.StoreFixture {
		f := newFixture(t)
		reader := f.clientAs(t, f.reader)
		return providertest.StoreFixture{
			Store: f.store, Credential: "search-api-key",
			Executor: f.executor, Reader: f.reader, NonReader: f.nonReader,
			Lacks: map[provider.Capability]string{
				provider.CanListCertificates: "it keeps opaque values: pem-files keeps certificates",
				provider.CanReseal:           "a version is readable by whoever Vault's policies let read the path, not encrypted per reader: there is nothing to write again when readers change",
			},
			ConsumerVersion: func(t *testing.T, consumer string) string {
				r, err := vaultkv.ReadForConsumer(ctx, reader, f.mount, f.path, "", consumer)
				if err != nil {
					t.Fatalf("ReadForConsumer(%s): %v", consumer, err)
				}
				r.Value.Wipe()
				return r.ID
			},
		}
	})
}
