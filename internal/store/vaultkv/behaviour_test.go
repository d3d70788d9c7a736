package vaultkv_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/vaultkv"
	"github.com/rotorhq/rotor/internal/testenv/vaultserver"
)

const cred = "search-api-key"

func (f *fixture) put(t *testing.T, key, val string) provider.Version {
	t.Helper()
	r, err := f.store.Put(ctx, provider.PutRequest{Credential: cred, Value: secret.FromString(val), Key: key,
		Readers: []provider.Identity{f.executor, f.reader}})
	if err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
	return r.Version
}

func (f *fixture) promote(t *testing.T, id string) {
	t.Helper()
	if _, err := f.store.Promote(ctx, provider.PromoteRequest{Credential: cred, Version: id}); err != nil {
		t.Fatalf("Promote(%s): %v", id, err)
	}
}

// unpinned is what a plain consumer reads: GET data/PATH with its own token.
func (f *fixture) unpinned(t *testing.T) (string, int) {
	t.Helper()
	c := f.clientAs(t, f.reader)
	s, err := c.Logical().Read(f.mount + "/data/" + f.path)
	if err != nil || s == nil {
		t.Fatalf("plain read of the secret: %v", err)
	}
	d, _ := s.Data["data"].(map[string]any)
	v, _ := d["value"].(string)
	md, _ := s.Data["metadata"].(map[string]any)
	var ver int
	_, _ = fmt.Sscan(fmt.Sprint(md["version"]), &ver)
	return v, ver
}

// TestPendingNeverLatest: a value Put as pending is never what an unpinned consumer reads —
// not the newest version of the secret, not in its data — until it is promoted.
func TestPendingNeverLatest(t *testing.T) {
	f := newFixture(t)
	v1 := f.put(t, "run-1", "first-value-0123456789")
	f.promote(t, v1.ID)
	v2 := f.put(t, "run-2", "pending-value-0123456789")
	if got, _ := f.unpinned(t); got != "first-value-0123456789" {
		t.Fatalf("before promote of %s, an unpinned reader reads another value than the current one", v2.ID)
	}
	md := f.srv.Metadata(t, "", f.mount, f.path)
	if fmt.Sprint(md["current_version"]) != "1" {
		t.Errorf("the secret's current_version is %v after a pending Put, want 1: the pending value must not be a version of it", md["current_version"])
	}
	r, err := vaultkv.ReadForConsumer(ctx, f.clientAs(t, f.reader), f.mount, f.path, "", "billing")
	if err != nil || r.ID != v1.ID {
		t.Fatalf("ReadForConsumer before promote = %s, %v; want %s", r.ID, err, v1.ID)
	}
	r.Value.Wipe()
	f.promote(t, v2.ID)
	if got, n := f.unpinned(t); got != "pending-value-0123456789" || n != 2 {
		t.Fatalf("after promote, an unpinned reader reads version %d, not the promoted value", n)
	}
	// The staged copy is gone once promoted: the value lives once, in the secret.
	if d := f.srv.Read(t, "", f.mount, f.path+".rotor-pending", 2); d != nil {
		t.Errorf("the staged copy of %s still reads after its promote", v2.ID)
	}
	// Labels are ids, never values.
	md = f.srv.Metadata(t, "", f.mount, f.path)
	cm, _ := md["custom_metadata"].(map[string]any)
	if cm["rotor.current"] != v2.ID || cm["rotor.previous"] != v1.ID {
		t.Errorf("custom_metadata = %v, want rotor.current %s and rotor.previous %s", cm, v2.ID, v1.ID)
	}
	for k, v := range cm {
		if strings.Contains(fmt.Sprint(v), "value-0123456789") {
			t.Errorf("custom_metadata %s holds a value", k)
		}
	}
}

// TestAdoptsExistingSecret: a secret written before rotor is its current version (kv<N>),
// and becomes previous at the first promote.
func TestAdoptsExistingSecret(t *testing.T) {
	f := newFixture(t)
	f.srv.Write(t, "", f.mount, f.path, map[string]any{"value": "hand-written-0123456789"})
	vs, err := f.store.Versions(ctx, provider.VersionsRequest{Credential: cred})
	if err != nil || len(vs.Versions) != 1 || vs.Versions[0].ID != "kv1" || vs.Versions[0].Stage != provider.StageCurrent {
		t.Fatalf("Versions of a hand-written secret = %+v, %v; want kv1 current", vs.Versions, err)
	}
	v := f.put(t, "run-1", "rotor-value-0123456789")
	resp, err := f.store.Promote(ctx, provider.PromoteRequest{Credential: cred, Version: v.ID})
	if err != nil || resp.Previous == nil || resp.Previous.ID != "kv1" {
		t.Fatalf("first Promote = %+v, %v; want previous kv1", resp, err)
	}
}

// TestPromoteDetectsConcurrentWriter: someone writes the secret between rotor's read and its
// check-and-set write: the promote fails, names the secret and the cause, and the other
// writer's value stays the newest — nothing is overwritten.
func TestPromoteDetectsConcurrentWriter(t *testing.T) {
	f := newFixture(t)
	if f.srv.Local == nil {
		t.Log("the write between read and write is injected in the in-process server; on a real server this checks the outside write before promote")
	}
	v1 := f.put(t, "run-1", "first-value-0123456789")
	f.promote(t, v1.ID)
	v2 := f.put(t, "run-2", "second-value-0123456789")
	if f.srv.Local != nil {
		f.srv.Local.Before(http.MethodPost, f.mount+"/data/"+f.path, func() {
			f.srv.Write(t, "", f.mount, f.path, map[string]any{"value": "someone-else-0123456789"})
		})
	} else {
		f.srv.Write(t, "", f.mount, f.path, map[string]any{"value": "someone-else-0123456789"})
	}
	_, err := f.store.Promote(ctx, provider.PromoteRequest{Credential: cred, Version: v2.ID})
	if err == nil || !errors.Is(err, vaultkv.ErrConflict) || provider.KindOf(err) != provider.Terminal {
		t.Fatalf("Promote with a concurrent writer: %v; want Terminal wrapping ErrConflict", err)
	}
	if !strings.Contains(err.Error(), f.mount+"/data/"+f.path) {
		t.Errorf("the error does not name the secret: %v", err)
	}
	if d := f.srv.Read(t, "", f.mount, f.path, 0); d["value"] != "someone-else-0123456789" {
		t.Errorf("the concurrent writer's value is no longer the newest: rotor overwrote it")
	}
	// Readiness says so too, before the next run mints anything.
	err = f.store.CheckWrite(ctx, provider.CheckWriteRequest{Credential: cred, As: f.executor})
	if err == nil || !strings.Contains(err.Error(), "written outside rotor") {
		t.Errorf("CheckWrite after an outside write: %v", err)
	}
}

// TestPromoteResumesAfterCrash: a promote that wrote the secret and crashed before moving
// its labels is finished by its retry, without a second version.
func TestPromoteResumesAfterCrash(t *testing.T) {
	f := newFixtureOn(t, vaultserver.ConnectLocal(t)) // the label write is failed on purpose
	v1 := f.put(t, "run-1", "first-value-0123456789")
	f.promote(t, v1.ID)
	v2 := f.put(t, "run-2", "second-value-0123456789")
	f.srv.Local.FailNext(f.mount+"/metadata/"+f.path, http.StatusBadGateway, 1) // the label write after the data write
	_, err := f.store.Promote(ctx, provider.PromoteRequest{Credential: cred, Version: v2.ID})
	if provider.KindOf(err) != provider.Retryable {
		t.Fatalf("Promote with its label write failing: %v; want a retryable error", err)
	}
	f.promote(t, v2.ID)
	md := f.srv.Metadata(t, "", f.mount, f.path)
	if fmt.Sprint(md["current_version"]) != "2" {
		t.Errorf("after the retried promote the secret has %v versions, want 2", md["current_version"])
	}
	wantStages(t, f, map[string]provider.Stage{v2.ID: provider.StageCurrent, v1.ID: provider.StagePrevious})
}

func wantStages(t *testing.T, f *fixture, want map[string]provider.Stage) {
	t.Helper()
	vs, err := f.store.Versions(ctx, provider.VersionsRequest{Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]provider.Stage{}
	for _, v := range vs.Versions {
		got[v.ID] = v.Stage
	}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("stage of %s = %q, want %q (all: %v)", id, got[id], st, got)
		}
	}
}

// TestFaults: a 403, a sealed server, a 5xx: each is an error naming the path and the
// cause, classified, with no value in it, and the store is as it was.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(s *vaultserver.Server, f *fixture)
		kind   provider.ErrorKind
		says   string
	}{
		{"403", func(s *vaultserver.Server, f *fixture) { s.Deny(f.mount + "/data/" + f.path) }, provider.Denied, "permission denied"},
		{"sealed", func(s *vaultserver.Server, f *fixture) { s.Seal() }, provider.Retryable, "sealed"},
		{"500", func(s *vaultserver.Server, f *fixture) { s.FailNext(f.mount+"/data/"+f.path, 500, 1) }, provider.Retryable, "HTTP 500"},
		{"503", func(s *vaultserver.Server, f *fixture) { s.FailNext(f.mount+"/data/"+f.path, 503, 1) }, provider.Retryable, "HTTP 503"},
		{"400", func(s *vaultserver.Server, f *fixture) { s.FailNext(f.mount+"/data/"+f.path, 400, 1) }, provider.Terminal, "HTTP 400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureOn(t, vaultserver.ConnectLocal(t)) // faults are injected in the in-process server
			const secretValue = "CANARY-fault-value-0123456789"
			v1 := f.put(t, "run-1", "first-value-0123456789")
			f.promote(t, v1.ID)
			v2 := f.put(t, "run-2", secretValue)
			before, _ := f.store.Versions(ctx, provider.VersionsRequest{Credential: cred})
			tc.inject(f.srv.Local, f)
			_, err := f.store.Promote(ctx, provider.PromoteRequest{Credential: cred, Version: v2.ID})
			f.srv.Local.Unseal()
			if err == nil {
				t.Fatal("Promote succeeded through the fault")
			}
			if k := provider.KindOf(err); k != tc.kind {
				t.Errorf("kind %s, want %s: %v", k, tc.kind, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.says) || !strings.Contains(msg, f.mount+"/") {
				t.Errorf("error %q does not say %q and the path", msg, tc.says)
			}
			if strings.Contains(fmt.Sprintf("%s %+v %#v", msg, err, err), secretValue) {
				t.Errorf("the error shows the value")
			}
			if tc.name == "403" {
				return // the secret cannot be read to compare
			}
			after, _ := f.store.Versions(ctx, provider.VersionsRequest{Credential: cred})
			if fmt.Sprint(before.Versions) != fmt.Sprint(after.Versions) {
				t.Errorf("the store changed: %v -> %v", before.Versions, after.Versions)
			}
			if got, _ := f.unpinned(t); got != "first-value-0123456789" {
				t.Errorf("consumers read another value after a failed promote")
			}
		})
	}
}

// TestReadinessNamesMissingCapabilities: an executor lacking a capability is refused by
// CheckWrite with every missing capability named; a consumer whose policy lacks read by
// CheckRead — before anything is written.
func TestReadinessNamesMissingCapabilities(t *testing.T) {
	f := newFixture(t)
	weak := vaultserver.Unique("weak")
	f.srv.Policy(t, "", weak, map[string][]string{f.mount + "/data/" + f.path + "*": {"read", "create", "update"}})
	approle := vaultserver.Unique("approle")
	f.srv.AppRoleMount(t, "", approle)
	id := f.approle(t, approle, "weak-exec", weak)
	err := f.store.CheckWrite(ctx, provider.CheckWriteRequest{Credential: cred, As: id})
	if provider.KindOf(err) != provider.Denied {
		t.Fatalf("CheckWrite as an executor without patch: %v", err)
	}
	for _, want := range []string{"weak-exec", "patch on " + f.mount + "/metadata/" + f.path, "update on " + f.mount + "/destroy/" + f.path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CheckWrite's error does not say %q: %v", want, err)
		}
	}
	err = f.store.CheckRead(ctx, provider.CheckReadRequest{Credential: cred, As: f.nonReader})
	if provider.KindOf(err) != provider.Denied || !strings.Contains(err.Error(), "read on "+f.mount+"/data/"+f.path) {
		t.Fatalf("CheckRead as a non-reader: %v", err)
	}
	md := f.srv.Metadata(t, "", f.mount, f.path)
	if md != nil {
		t.Errorf("readiness wrote the secret: %v", md)
	}
}

// TestIdentities: tokens from a file, AppRole logins, and what is said when they fail.
func TestIdentities(t *testing.T) {
	f := newFixture(t)
	v1 := f.put(t, "run-1", "first-value-0123456789")
	f.promote(t, v1.ID)
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(f.env.get("READER_TOKEN")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := provider.Identity{ID: "file-reader", Type: "vault-token", Config: &identity.VaultToken{TokenFile: tokFile}}
	r, err := f.store.Read(ctx, provider.ReadRequest{Credential: cred, As: fromFile})
	if err != nil || r.Version.ID != v1.ID {
		t.Fatalf("Read as a token from a file: %v", err)
	}
	r.Value.Wipe()

	cfg := *f.nonReader.Config.(*identity.VaultAppRole)
	cfg.SecretIDEnv = "WRONG_SECRET_ID"
	f.env.set("WRONG_SECRET_ID", "00000000-0000-0000-0000-000000000000")
	_, err = f.store.Read(ctx, provider.ReadRequest{Credential: cred, As: provider.Identity{ID: "bad-login", Type: "vault-approle", Config: &cfg}})
	if provider.KindOf(err) != provider.Denied || !strings.Contains(err.Error(), "bad-login") {
		t.Errorf("Read as an AppRole with a wrong secret_id: %v; want Denied naming the identity", err)
	}
	_, err = f.store.Read(ctx, provider.ReadRequest{Credential: cred, As: provider.Identity{ID: "no-env", Type: "vault-token", Config: &identity.VaultToken{TokenEnv: "UNSET_TOKEN"}}})
	if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), "UNSET_TOKEN") {
		t.Errorf("Read as a token from an unset variable: %v", err)
	}
	_, err = f.store.Read(ctx, provider.ReadRequest{Credential: cred, As: provider.Identity{ID: "nginx", Type: "os-user", Config: &identity.OSUser{User: "nginx"}}})
	if !errors.Is(err, provider.ErrUnsupported) {
		t.Errorf("Read as an os-user: %v; want ErrUnsupported", err)
	}
}

// TestNamespace: the store works in a namespace (Vault Enterprise, OpenBao): the mount, the
// AppRole and the policies live there, and every request says so.
func TestNamespace(t *testing.T) {
	srv := vaultserver.Connect(t)
	ns := vaultserver.Unique("team")
	srv.Namespace(t, ns)
	mount, approle := "kv", "approle"
	srv.MountKV(t, ns, mount)
	srv.AppRoleMount(t, ns, approle)
	srv.Policy(t, ns, "exec", map[string][]string{mount + "/*": {"create", "read", "update", "patch", "delete"}})
	roleID, secretID := srv.AppRole(t, ns, approle, "exec", "exec")
	e := &env{vars: map[string]string{"R": roleID, "S": secretID}}
	exec := provider.Identity{ID: "exec", Type: "vault-approle", Config: &identity.VaultAppRole{Role: "exec", Mount: approle, RoleIDEnv: "R", SecretIDEnv: "S"}}
	st, err := vaultkv.New(vaultkv.Config{Address: srv.Addr, Namespace: ns, Mount: mount, Path: "app/key"},
		provider.Env{Now: time.Now, Getenv: e.get, Executor: exec})
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Put(ctx, provider.PutRequest{Credential: cred, Value: secret.FromString("ns-value-0123456789"), Key: "run-1", Readers: []provider.Identity{exec}})
	if err != nil {
		t.Fatalf("Put in namespace %s: %v", ns, err)
	}
	if _, err := st.Promote(ctx, provider.PromoteRequest{Credential: cred, Version: p.Version.ID}); err != nil {
		t.Fatalf("Promote in namespace %s: %v", ns, err)
	}
	if d := srv.Read(t, ns, mount, "app/key", 0); d["value"] != "ns-value-0123456789" {
		t.Errorf("the secret in namespace %s does not hold the promoted value", ns)
	}
	if d := srv.Read(t, "", mount, "app/key", 0); d != nil {
		t.Errorf("the root namespace has the secret too")
	}
}

// TestConfigValidation: every problem of a config at once.
func TestConfigValidation(t *testing.T) {
	c := vaultkv.Config{Address: "ftp://x", Mount: "/kv/../x", Path: "a//b", Staging: "a//b", Field: "rotor_key",
		AuditLog: vaultkv.Audit{Device: "file"}}
	var fields []string
	for _, fe := range c.Validate() {
		fields = append(fields, fe.Field)
	}
	for _, want := range []string{"address", "mount", "path", "staging_path", "field", "audit_log.path"} {
		if !slices.Contains(fields, want) {
			t.Errorf("Validate does not refuse %s (refused: %v)", want, fields)
		}
	}
	ok := vaultkv.Config{Address: "https://vault.example:8200", Namespace: "team/a/", Mount: "kv", Path: "prod/orders/db",
		AuditLog: vaultkv.Audit{Path: "/var/log/vault/audit.log"}}
	if errs := ok.Validate(); len(errs) != 0 || !ok.ReportsUsage() {
		t.Errorf("a good config: %v, reports usage %v", errs, ok.ReportsUsage())
	}
}
