package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/internal/store/vaultkv"
	"github.com/rotorhq/rotor/internal/testenv/vaultserver"
)

// The vault-kv scenarios of issue 14 run the real rotor binary against the real KV version
// 2 engine behind internal/testenv/vaultserver (or a real Vault/OpenBao with
// ROTOR_TEST_VAULT_ADDR, ROTOR_TEST_VAULT_TOKEN and ROTOR_TEST_VAULT_AUDIT_LOG), with
// consumers that log in with their own AppRoles.

// vaultPlatform is an inventory whose credential lives in a vault-kv store.
type vaultPlatform struct {
	*platform
	srv          *vaultserver.Env
	mount, path  string
	approle      string
	env          []string // role ids and secret ids, as rotor and the consumers read them
	policy       map[string]string
	readerPolicy map[string][]string
}

func (v *vaultPlatform) rotor(t *testing.T, args ...string) result {
	t.Helper()
	return v.rotorEnv(t, v.env, args...)
}

// role creates an AppRole with a policy and puts its login in the platform's environment.
func (v *vaultPlatform) role(t *testing.T, name string, rules map[string][]string) {
	t.Helper()
	pol := vaultserver.Unique(name)
	v.srv.Policy(t, "", pol, rules)
	v.policy[name] = pol
	roleID, secretID := v.srv.AppRole(t, "", v.approle, name, pol)
	env := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	v.env = append(v.env, env+"_ROLE_ID="+roleID, env+"_SECRET_ID="+secretID)
	writeFile(t, filepath.Join(v.dir, "secrets", name+".role-id"), roleID+"\n")
	writeFile(t, filepath.Join(v.dir, "secrets", name+".secret-id"), secretID+"\n")
}

// newVaultPlatform: the executor rotor-prod; consumer api (an AppRole allowed to read,
// checked by vaultclient reading as it, honouring pins) and consumer reports (whose policy
// lacks read until the test grants it); a generated API key at PATH of a mount of its own,
// with the file audit device's log as the store's audit_log.
func newVaultPlatform(t *testing.T, reportsCanRead bool) *vaultPlatform {
	t.Helper()
	srv := vaultserver.Connect(t)
	if srv.AuditLog == "" {
		t.Fatalf("a real server needs %s for these scenarios", vaultserver.EnvAuditLog)
	}
	v := &vaultPlatform{platform: &platform{dir: t.TempDir()}, srv: srv, mount: vaultserver.Unique("kv"), path: "prod/partner/api-key",
		approle: vaultserver.Unique("approle"), policy: map[string]string{}}
	srv.MountKV(t, "", v.mount)
	srv.AppRoleMount(t, "", v.approle)
	m, p := v.mount, v.path
	v.role(t, "rotor-prod", map[string][]string{
		m + "/data/" + p + "*": {"create", "read", "update"}, m + "/metadata/" + p + "*": {"read", "patch"},
		m + "/delete/" + p: {"update"}, m + "/undelete/" + p: {"update"}, m + "/destroy/" + p + "*": {"update"},
		"sys/audit-hash/" + srv.AuditDevice: {"update"},
	})
	v.readerPolicy = map[string][]string{m + "/data/" + p: {"read"}, m + "/data/" + p + ".rotor-pending": {"read"}}
	v.role(t, "api", v.readerPolicy)
	if reportsCanRead {
		v.role(t, "reports", v.readerPolicy)
	} else {
		v.role(t, "reports", map[string][]string{m + "/data/prod/other": {"read"}})
	}
	// The executor's login is in the environment; the consumers' in files (relative to the
	// inventory), which their checks read too: an exec check gets no secret from rotor's
	// environment.
	fromEnv := func(name string) string {
		env := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		return fmt.Sprintf("  %s: {type: vault-approle, role: %s, mount: %s, role_id_env: %s_ROLE_ID, secret_id_env: %s_SECRET_ID}\n", name, name, v.approle, env, env)
	}
	fromFile := func(name string) string {
		return fmt.Sprintf("  %s: {type: vault-approle, role: %s, mount: %s, role_id_file: ../secrets/%s.role-id, secret_id_file: ../secrets/%s.secret-id}\n", name, name, v.approle, name, name)
	}
	check := func(consumer string) string {
		return "[" + quoteAll([]string{bin.vaultclient, "-addr", srv.Addr, "-mount", m, "-path", p, "-approle", v.approle,
			"-role-id-file", "../secrets/" + consumer + ".role-id", "-secret-id-file", "../secrets/" + consumer + ".secret-id", "-consumer", consumer}) + "]"
	}
	inv := "teams:\n  team-api: {contact: api@example.test, approvers: [bob]}\nidentities:\n" + fromEnv("rotor-prod") + fromFile("api") + fromFile("reports") +
		"checks:\n  api-reads: {type: exec, timeout: 20s, command: " + check("api") + "}\n" +
		"  reports-reads: {type: exec, timeout: 20s, command: " + check("reports") + "}\n" +
		fmt.Sprintf(`credentials:
  %s:
    description: API key partners use to call the orders API
    kind: api-key
    owner: team-api
    store:
      type: vault-kv
      address: %s
      mount: %s
      path: %s
      identity: rotor-prod
      audit_log: {path: %s, device: %s, bin: 1m, window: 3s}
    authority: {type: generated, strategy: overlap}
    rotate: {every: 30d}
    consumers:
      api:
        kind: service
        identity: api
        reads: at-start
        reload: {type: exec, command: ["true"]}
        checks: [api-reads]
      reports:
        kind: script
        identity: reports
        reads: per-request
        checks: [reports-reads]
`, credential, srv.Addr, m, p, srv.AuditLog, srv.AuditDevice)
	writeFile(t, filepath.Join(v.dir, "inventory", "rotor.yaml"), inv)
	return v
}

// consumerReads is what a consumer honouring pins reads now, as that consumer.
func (v *vaultPlatform) consumerReads(t *testing.T, consumer string) vaultkv.ConsumerRead {
	t.Helper()
	c := v.login(t, consumer)
	r, err := vaultkv.ReadForConsumer(t.Context(), c, v.mount, v.path, "", consumer)
	if err != nil {
		t.Fatalf("%s reads: %v", consumer, err)
	}
	return r
}

func (v *vaultPlatform) login(t *testing.T, name string) *vault.Client {
	t.Helper()
	env := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	get := func(k string) string {
		for _, kv := range v.env {
			if after, ok := strings.CutPrefix(kv, k+"="); ok {
				return after
			}
		}
		return ""
	}
	return v.srv.Login(t, v.approle, get(env+"_ROLE_ID"), get(env+"_SECRET_ID"))
}

// TestVaultRotation: a generated API key kept in vault-kv, with two consumers.
//
//   - reports' policy lacks read: the run stops in prepare, at readiness, naming reports and
//     the path, and nothing is written to Vault;
//   - once granted, rotations run; a forgotten batch job (legacy-batch, declared nowhere)
//     reads the previous version by number after the cutover: the audit log shows it, and
//     revoke is blocked naming it;
//   - api is rolled back alone: pinned to the previous version (custom_metadata
//     rotor.pin.api), which it reads while reports reads the new one; at the exception's
//     expiry api is moved back and proven, the forgotten reader has stopped, and revoke
//     soft-deletes the previous version, which no longer reads;
//   - no value appears in anything rotor printed, exported or stored.
func TestVaultRotation(t *testing.T) {
	v := newVaultPlatform(t, false)
	var outputs []result
	r := v.rotor(t, "rotate", credential, "--as", "alice")
	outputs = append(outputs, r)
	wantCode(t, r, 3, "rotate with a consumer that cannot read")
	if !contains(r.stdout+r.stderr, "readiness", "consumer reports (identity reports) cannot read", "read on "+v.mount+"/data/"+v.path) {
		t.Fatalf("readiness must stop the run naming reports and what it lacks:\n%s", r)
	}
	if v.srv.Metadata(t, "", v.mount, v.path) != nil || v.srv.Metadata(t, "", v.mount, v.path+".rotor-pending") != nil {
		t.Fatal("a run stopped at readiness wrote to Vault")
	}

	// Grant reports its read; the first rotation makes the first value.
	v.srv.Policy(t, "", v.policy["reports"], v.readerPolicy)
	r = v.rotor(t, "rotate", credential, "--as", "alice")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "first rotation")

	r = v.rotor(t, "rotate", credential, "--now", "--through", "cutover", "--as", "alice")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "second rotation through cutover")
	run := runOf(t, r)
	st := v.status(t, run)
	v1, v2 := st.Run.Previous.ID, st.Run.New.ID
	if got := v.consumerReads(t, "reports"); got.ID != v2 {
		t.Fatalf("after cutover reports reads %s, want %s", got.ID, v2)
	}
	old := v.consumerReads(t, "api") // kept for the canary: the value of v2 from api's read
	values := []string{}
	for _, n := range []int{1, 2} {
		if d := v.srv.Read(t, "", v.mount, v.path, n); d != nil {
			values = append(values, fmt.Sprint(d["value"]))
		}
	}
	old.Value.Wipe()
	if len(values) != 2 {
		t.Fatalf("want the two versions' values to search for, got %d", len(values))
	}

	// A batch job nobody declared still reads the previous version, by number.
	v.role(t, "legacy-batch", v.readerPolicy)
	legacy := v.login(t, "legacy-batch")
	prevN := v.consumerReadsVersionOf(t, v1)
	for range 2 {
		if _, err := legacy.Logical().ReadWithData(v.mount+"/data/"+v.path, map[string][]string{"version": {fmt.Sprint(prevN)}}); err != nil {
			t.Fatalf("legacy read: %v", err)
		}
	}
	r = v.rotor(t, "rotate", credential, "--as", "alice")
	outputs = append(outputs, r)
	wantCode(t, r, 3, "rotate with a forgotten reader of the previous version")
	if !contains(r.stdout, "blocked at: residual-use", "legacy-batch") {
		t.Fatalf("revoke must be blocked naming the forgotten reader:\n%s", r)
	}

	// api fails on the new key: roll it back alone, for 6 seconds.
	r = v.rotor(t, "rollback", run, "--consumers", "api", "--owner", "bob", "--expires", "6s", "--reason", "api rejects the new key")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "rollback of api")
	if got := v.consumerReads(t, "api"); got.ID != v1 || !got.Pinned {
		t.Fatalf("after the rollback api reads %s (pinned %v), want %s pinned", got.ID, got.Pinned, v1)
	}
	if got := v.consumerReads(t, "reports"); got.ID != v2 {
		t.Fatalf("after api's rollback reports reads %s, want %s: the rollback is for api alone", got.ID, v2)
	}
	md := v.srv.Metadata(t, "", v.mount, v.path)
	cm, _ := md["custom_metadata"].(map[string]any)
	if cm["rotor.pin.api"] != fmt.Sprint(prevN) || cm["rotor.current"] != v2 {
		t.Fatalf("custom_metadata = %v, want rotor.pin.api=%d and rotor.current=%s", cm, prevN, v2)
	}
	r = v.rotor(t, "rotate", credential, "--as", "alice")
	outputs = append(outputs, r)
	wantCode(t, r, 3, "rotate during the exception")

	// The exception expires; the forgotten job has stopped for longer than the window.
	time.Sleep(6500 * time.Millisecond)
	r = v.rotor(t, "rotate", credential, "--as", "alice", "--wait", "30s")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "rotate after the exception expired")
	if got := v.consumerReads(t, "api"); got.ID != v2 || got.Pinned {
		t.Fatalf("after the exception api reads %s (pinned %v), want %s", got.ID, got.Pinned, v2)
	}
	if d := v.srv.Read(t, "", v.mount, v.path, prevN); d != nil {
		t.Fatalf("the revoked version %s (KV version %d) still reads", v1, prevN)
	}
	if st := v.status(t, run); st.Run.Phase != "done" {
		t.Fatalf("run phase %s, want done", st.Run.Phase)
	}
	var exports []string
	for _, f := range []string{"md", "json", "html"} {
		r := v.rotor(t, "journal", run, "--format", f)
		wantCode(t, r, 0, "journal "+f)
		exports = append(exports, r.stdout)
	}
	if !contains(exports[0], "legacy-batch", "api rejects the new key") {
		t.Fatalf("the ticket must show the forgotten reader and the rollback:\n%s", exports[0])
	}
	wantCode(t, v.rotor(t, "journal", "verify", run), 0, "journal verify")

	// Canary: no value in anything rotor printed, exported or stored.
	var hay []string
	for _, o := range outputs {
		hay = append(hay, o.stdout, o.stderr)
	}
	hay = append(hay, exports...)
	for _, f := range filesUnder(t, filepath.Join(v.dir, "state")) {
		b, _ := os.ReadFile(f)
		hay = append(hay, string(b))
	}
	for i, val := range values {
		for _, form := range forms([]byte(val)) {
			for _, h := range hay {
				if strings.Contains(h, form) {
					t.Fatalf("value %d leaked (%q… form found)", i, form[:4])
				}
			}
		}
	}
}

// consumerReadsVersionOf is the KV version number of a rotor version id, from the labels.
func (v *vaultPlatform) consumerReadsVersionOf(t *testing.T, id string) int {
	t.Helper()
	md := v.srv.Metadata(t, "", v.mount, v.path)
	cm, _ := md["custom_metadata"].(map[string]any)
	var n int
	if _, err := fmt.Sscan(fmt.Sprint(cm["rotor."+id]), &n); err != nil || n == 0 {
		t.Fatalf("no KV version for %s in %v", id, cm)
	}
	return n
}
