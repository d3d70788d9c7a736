package vaultserver

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
)

// The environment variables that point the tests at a real server.
const (
	EnvAddr        = "ROTOR_TEST_VAULT_ADDR"
	EnvToken       = "ROTOR_TEST_VAULT_TOKEN"
	EnvAuditLog    = "ROTOR_TEST_VAULT_AUDIT_LOG"
	EnvAuditDevice = "ROTOR_TEST_VAULT_AUDIT_DEVICE"
)

// Env is a server to test against, set up through its HTTP API with a root token — the same
// calls whether it is the in-process server or a real Vault or OpenBao.
type Env struct {
	Addr, RootToken       string
	AuditLog, AuditDevice string // "" when a real server's audit log is not given
	// Local is the in-process server (nil for a real one): its faults can be injected.
	Local *Server
	admin *vault.Client
}

// Connect returns a real server when ROTOR_TEST_VAULT_ADDR and ROTOR_TEST_VAULT_TOKEN are
// set, else starts the in-process one. Tests name what they create with Unique, so they
// can share a real server.
func Connect(t testing.TB) *Env {
	t.Helper()
	e := &Env{}
	if addr, tok := os.Getenv(EnvAddr), os.Getenv(EnvToken); addr != "" && tok != "" {
		e.Addr, e.RootToken = addr, tok
		e.AuditLog, e.AuditDevice = os.Getenv(EnvAuditLog), os.Getenv(EnvAuditDevice)
		if e.AuditLog != "" && e.AuditDevice == "" {
			e.AuditDevice = "file"
		}
	} else {
		return ConnectLocal(t)
	}
	e.admin = e.Client(t)
	e.admin.SetToken(e.RootToken)
	return e
}

// ConnectLocal starts the in-process server whatever the environment says: the tests that
// inject a fault (a failed write, a sealed server, a 5xx) need a server they control, and run
// against it also when a real one is configured for the others.
func ConnectLocal(t testing.TB) *Env {
	t.Helper()
	s := Start(t)
	e := &Env{Addr: s.URL, RootToken: s.RootToken, AuditLog: s.AuditLog, AuditDevice: s.AuditDevice, Local: s}
	e.admin = e.Client(t)
	e.admin.SetToken(e.RootToken)
	return e
}

// Real reports whether the tests run against a real server.
func (e *Env) Real() bool { return e.Local == nil }

// Unique returns prefix with a random suffix: a name no other test uses.
func Unique(prefix string) string { return prefix + "-" + hex.EncodeToString(randomBytes(4)) }

func (e *Env) client(ns string) *vault.Client {
	if ns == "" {
		return e.admin
	}
	return e.admin.WithNamespace(ns)
}

func (e *Env) write(t testing.TB, ns, path string, data map[string]any) *vault.Secret {
	t.Helper()
	s, err := e.client(ns).Logical().WriteWithContext(context.Background(), path, data)
	if err != nil {
		t.Fatalf("vault admin: write %s (namespace %q): %v", path, ns, err)
	}
	return s
}

// Namespace creates a namespace (Vault Enterprise, OpenBao).
func (e *Env) Namespace(t testing.TB, ns string) {
	t.Helper()
	e.write(t, "", "sys/namespaces/"+ns, nil)
}

// MountKV enables a KV version 2 engine at path.
func (e *Env) MountKV(t testing.TB, ns, path string) {
	t.Helper()
	e.write(t, ns, "sys/mounts/"+path, map[string]any{"type": "kv", "options": map[string]any{"version": "2"}})
}

// MountKVIfMissing enables a KV version 2 engine at path unless something is mounted there
// (a real server shared by runs).
func (e *Env) MountKVIfMissing(t testing.TB, ns, path string) {
	t.Helper()
	mounts, err := e.client(ns).Sys().ListMountsWithContext(context.Background())
	if err == nil {
		if _, ok := mounts[strings.TrimSuffix(path, "/")+"/"]; ok {
			return
		}
	}
	e.MountKV(t, ns, path)
}

// Policy writes an ACL policy: path pattern -> capabilities.
func (e *Env) Policy(t testing.TB, ns, name string, rules map[string][]string) {
	t.Helper()
	doc := map[string]any{}
	for p, caps := range rules {
		doc[p] = map[string]any{"capabilities": caps}
	}
	b, err := json.Marshal(map[string]any{"path": doc})
	if err != nil {
		t.Fatal(err)
	}
	e.write(t, ns, "sys/policies/acl/"+name, map[string]any{"policy": string(b)})
}

// Token creates a token with policies (and the default policy).
func (e *Env) Token(t testing.TB, ns, name string, policies ...string) string {
	t.Helper()
	s := e.write(t, ns, "auth/token/create", map[string]any{"policies": policies, "display_name": name})
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		t.Fatalf("vault admin: auth/token/create gave no token")
	}
	return s.Auth.ClientToken
}

// AppRoleMount enables the AppRole auth method at mount.
func (e *Env) AppRoleMount(t testing.TB, ns, mount string) {
	t.Helper()
	e.write(t, ns, "sys/auth/"+mount, map[string]any{"type": "approle"})
}

// AppRole creates a role with policies and returns its role_id and a new secret_id.
func (e *Env) AppRole(t testing.TB, ns, mount, name string, policies ...string) (roleID, secretID string) {
	t.Helper()
	e.write(t, ns, "auth/"+mount+"/role/"+name, map[string]any{"token_policies": strings.Join(policies, ","), "token_ttl": "1h"})
	s, err := e.client(ns).Logical().ReadWithContext(context.Background(), "auth/"+mount+"/role/"+name+"/role-id")
	if err != nil || s == nil {
		t.Fatalf("vault admin: read role-id of %s: %v", name, err)
	}
	roleID, _ = s.Data["role_id"].(string)
	s = e.write(t, ns, "auth/"+mount+"/role/"+name+"/secret-id", nil)
	if s == nil {
		t.Fatalf("vault admin: no secret-id for %s", name)
	}
	secretID, _ = s.Data["secret_id"].(string)
	if roleID == "" || secretID == "" {
		t.Fatalf("vault admin: approle %s: empty role_id or secret_id", name)
	}
	return roleID, secretID
}

// Write writes a version of a secret as root, outside rotor (a concurrent writer).
func (e *Env) Write(t testing.TB, ns, mount, path string, data map[string]any) int {
	t.Helper()
	s := e.write(t, ns, mount+"/data/"+path, map[string]any{"data": data})
	v, _ := s.Data["version"].(json.Number)
	n, _ := v.Int64()
	return int(n)
}

// Read reads a version of a secret as root (0: the newest); nil when it does not read.
func (e *Env) Read(t testing.TB, ns, mount, path string, version int) map[string]any {
	t.Helper()
	q := map[string][]string{}
	if version > 0 {
		q["version"] = []string{fmt.Sprint(version)}
	}
	s, err := e.client(ns).Logical().ReadWithDataWithContext(context.Background(), mount+"/data/"+path, q)
	if err != nil || s == nil || s.Data["data"] == nil {
		return nil
	}
	d, _ := s.Data["data"].(map[string]any)
	return d
}

// Metadata reads a secret's metadata as root.
func (e *Env) Metadata(t testing.TB, ns, mount, path string) map[string]any {
	t.Helper()
	s, err := e.client(ns).Logical().ReadWithContext(context.Background(), mount+"/metadata/"+path)
	if err != nil {
		t.Fatalf("vault admin: read metadata %s/%s: %v", mount, path, err)
	}
	if s == nil {
		return nil
	}
	return s.Data
}

// Client is a client of the server with no token, as a consumer starts.
func (e *Env) Client(t testing.TB) *vault.Client {
	t.Helper()
	conf := vault.DefaultConfig()
	conf.Address = e.Addr
	conf.MaxRetries = 0
	c, err := vault.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	c.ClearNamespace()
	return c
}

// Login logs in with an AppRole, as a consumer would, and returns its client.
func (e *Env) Login(t testing.TB, mount, roleID, secretID string) *vault.Client {
	t.Helper()
	c := e.Client(t)
	s, err := c.Logical().Write("auth/"+mount+"/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	if err != nil || s == nil || s.Auth == nil {
		t.Fatalf("login at auth/%s: %v", mount, err)
	}
	c.SetToken(s.Auth.ClientToken)
	return c
}
