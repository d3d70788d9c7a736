package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/rotorhq/rotor/internal/testenv"
	"github.com/rotorhq/rotor/internal/testenv/vaultserver"
)

// landed are the authority types this build implements.
var landed = []string{"generated", "none", "postgres", "x509-ca", "acme"}

// TestExamplePlatformVault rotates, end to end and twice each (a first value, then a
// rotation with its revoke), every credential of examples/platform whose store is vault-kv
// and whose authority has landed — found by reading the example, so a credential added there
// is rotated here too (today orders-db and reporting-db, postgres; internal-ca, x509-ca).
//
// Each credential's store and authority blocks are the example's, verbatim (mount, path,
// roles, strategy, CA settings); the test adds the store's address and binds the example's
// identities rotor-prod and pg-prod-admin to the test's Vault AppRole and PostgreSQL cluster
// (a real one, password-checking). What the example declares that cannot run here is
// replaced, and only that: its consumers read with identity types vault-kv cannot log in as
// (kubernetes-service-account, github-actions-oidc, os-user) and reload with
// kubernetes-rollout, which is not implemented, and its checks reach hosts that do not exist
// here; so each credential gets one consumer, "app", an AppRole proven by a real PostgreSQL
// login with the value it reads from Vault (postgres) or by reading the value as itself
// (x509-ca). Windows and criticality are dropped, so the test does not wait for a window.
func TestExamplePlatformVault(t *testing.T) {
	creds := exampleVaultCredentials(t)
	var ids []string
	for id := range creds {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if want := []string{"internal-ca", "orders-db", "reporting-db"}; !slices.Equal(ids, want) {
		t.Fatalf("the example's vault-kv credentials with a landed authority are %v; this test was written for %v: check them and update it", ids, want)
	}
	srv := vaultserver.Connect(t)
	pg := testenv.StartPostgreSQL(t, testenv.PostgreSQLOptions{})
	pg.Exec(t, `CREATE ROLE orders_a NOLOGIN`)
	pg.Exec(t, `CREATE ROLE orders_b NOLOGIN`)
	pg.Exec(t, `CREATE ROLE reporting_ro LOGIN PASSWORD 'initial-password-0123'`)

	dir := t.TempDir()
	approle := vaultserver.Unique("approle")
	srv.AppRoleMount(t, "", approle)
	mounts := map[string]bool{}
	rules := map[string][]string{"sys/audit-hash/+": {"update"}}
	readRules := map[string][]string{}
	for _, id := range ids {
		st := creds[id]["store"].(map[string]any)
		m, p := st["mount"].(string), st["path"].(string)
		if !mounts[m] {
			srv.MountKVIfMissing(t, "", m)
			mounts[m] = true
		}
		for _, k := range []string{"data", "metadata", "delete", "undelete", "destroy"} {
			rules[m+"/"+k+"/"+p+"*"] = []string{"create", "read", "update", "patch"}
		}
		readRules[m+"/data/"+p] = []string{"read"}
		readRules[m+"/data/"+p+".rotor-pending"] = []string{"read"}
	}
	env := []string{"ROTOR_PG_ADMIN_DSN=" + pg.AdminDSN()}
	for name, r := range map[string]map[string][]string{"rotor-prod": rules, "app": readRules} {
		pol := vaultserver.Unique(name)
		srv.Policy(t, "", pol, r)
		roleID, secretID := srv.AppRole(t, "", approle, name, pol)
		writeFile(t, filepath.Join(dir, "secrets", name+".role-id"), roleID+"\n")
		writeFile(t, filepath.Join(dir, "secrets", name+".secret-id"), secretID+"\n")
		env = append(env, strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+"_SECRET_ID="+secretID)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "teams:\n  team-payments: {contact: p@example.test}\n  team-data: {contact: d@example.test}\n  team-security: {contact: s@example.test}\n")
	fmt.Fprintf(&b, "identities:\n")
	fmt.Fprintf(&b, "  rotor-prod: {type: vault-approle, role: rotor-prod, mount: %s, role_id_file: ../secrets/rotor-prod.role-id, secret_id_env: ROTOR_PROD_SECRET_ID}\n", approle)
	fmt.Fprintf(&b, "  app: {type: vault-approle, role: app, mount: %s, role_id_file: ../secrets/app.role-id, secret_id_file: ../secrets/app.secret-id}\n", approle)
	fmt.Fprintf(&b, "  pg-prod-admin: {type: postgres-dsn, dsn_env: ROTOR_PG_ADMIN_DSN}\n")
	fmt.Fprintf(&b, "checks:\n  db-login: {type: postgres-login, host: 127.0.0.1, port: %d, database: postgres, sslmode: disable}\n", pg.Port)
	fmt.Fprintf(&b, "credentials:\n")
	for _, id := range ids {
		c := creds[id]
		st := c["store"].(map[string]any)
		st["address"] = srv.Addr
		au := c["authority"].(map[string]any)
		block := map[string]any{"description": c["description"], "owner": c["owner"], "store": st, "authority": au,
			"rotate": map[string]any{"every": "30d"}}
		check := "db-login"
		if au["type"] == "x509-ca" {
			check = "app-reads-" + id
			mount, path := st["mount"].(string), st["path"].(string)
			checkLine := fmt.Sprintf("  %s: {type: exec, timeout: 20s, command: [%s]}\n", check, quoteAll([]string{bin.vaultclient, "-addr", srv.Addr,
				"-mount", mount, "-path", path, "-approle", approle, "-role-id-file", "../secrets/app.role-id", "-secret-id-file", "../secrets/app.secret-id", "-consumer", "app"}))
			writeFile(t, filepath.Join(dir, "inventory", "checks-"+id+".yaml"), "checks:\n"+checkLine)
		}
		block["consumers"] = map[string]any{"app": map[string]any{"kind": "service", "identity": "app", "reads": "at-start",
			"reload": map[string]any{"type": "exec", "command": []string{"true"}}, "checks": []string{check}}}
		out, err := yaml.Marshal(map[string]any{id: block})
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	writeFile(t, filepath.Join(dir, "inventory", "rotor.yaml"), b.String())
	p := &platform{dir: dir}
	rot := func(args ...string) result { return p.rotorEnv(t, env, args...) }
	wantCode(t, rot("validate", "--strict"), 0, "validate")

	// The CA first: nothing else depends on it here, but it is the one the example's
	// certificates chain to.
	for _, id := range ids {
		st := creds[id]["store"].(map[string]any)
		mount, path := st["mount"].(string), st["path"].(string)
		var before int // a real server shared by runs may hold earlier versions
		if md := srv.Metadata(t, "", mount, path); md != nil {
			_, _ = fmt.Sscan(fmt.Sprint(md["current_version"]), &before)
		}
		for i := range 2 {
			r := rot("rotate", id, "--now", "--as", "alice", "--wait", "20s")
			if r.code != 0 {
				t.Fatalf("rotation %d of the example's %s: want exit 0\n%s", i+1, id, r)
			}
		}
		md := srv.Metadata(t, "", mount, path)
		cm, _ := md["custom_metadata"].(map[string]any)
		if fmt.Sprint(md["current_version"]) != fmt.Sprint(before+2) || cm["rotor.current"] == nil || cm["rotor.previous"] == nil || cm["rotor.current"] == cm["rotor.previous"] {
			t.Errorf("%s: after two rotations the secret has current_version %v (was %d) and labels %v", id, md["current_version"], before, cm)
		}
		if d := srv.Read(t, "", mount, path, before+1); d != nil {
			t.Errorf("%s: the revoked version %d still reads", id, before+1)
		}
	}
	// The revoked passwords no longer log in.
	if err := pg.CanLogin(t.Context(), "reporting_ro", "initial-password-0123"); err == nil {
		t.Error("reporting_ro still logs in with its first password")
	}
}

// exampleVaultCredentials reads examples/platform: every credential whose store is vault-kv
// and whose authority has landed, as the YAML gives it.
func exampleVaultCredentials(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, _ := filepath.Glob("../../examples/platform/credentials/*.yaml")
	if len(files) == 0 {
		t.Fatal("no credentials in examples/platform")
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Credentials map[string]map[string]any `yaml:"credentials"`
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for id, c := range doc.Credentials {
			st, _ := c["store"].(map[string]any)
			au, _ := c["authority"].(map[string]any)
			if st["type"] == "vault-kv" && slices.Contains(landed, fmt.Sprint(au["type"])) {
				out[id] = c
			}
		}
	}
	return out
}
