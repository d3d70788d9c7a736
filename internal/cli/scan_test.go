package cli

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/scan/scantest"
	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/sqlite"
	"github.com/rotorhq/rotor/internal/store/pemfiles"
)

// scanWorld is a set of real TLS endpoints on 127.0.0.1, an inventory and a state database
// that know some of their certificates.
type scanWorld struct {
	dir, inv, db, caFile string
	addr                 map[string]string // role -> address
	cert                 map[string]tls.Certificate
}

func newScanWorld(t *testing.T) *scanWorld {
	t.Helper()
	w := &scanWorld{dir: t.TempDir(), addr: map[string]string{}, cert: map[string]tls.Certificate{}}
	ca := scantest.NewCA(t, "scan test root")
	ca.Intermediate(t)
	w.caFile = ca.WriteRoot(t, w.dir)
	now := time.Now()
	leaves := map[string]scantest.Leaf{
		"minted":    {DNS: []string{"web.test"}},
		"previous":  {DNS: []string{"web.test"}},
		"pem":       {DNS: []string{"files.test"}},
		"declared":  {DNS: []string{"decl.test"}},
		"forgotten": {DNS: []string{"old.test"}, NotAfter: now.Add(10*24*time.Hour + time.Hour)},
		"expired":   {DNS: []string{"gone.test"}, NotBefore: now.Add(-100 * 24 * time.Hour), NotAfter: now.Add(-48 * time.Hour)},
	}
	for role, l := range leaves {
		c := ca.Issue(t, l)
		w.cert[role] = c
		w.addr[role] = scantest.Serve(t, c).Addr
	}
	w.addr["garbage"] = scantest.Garbage(t)
	w.addr["closed"] = scantest.Closed(t)

	// The inventory: a pem-files store holding the "pem" certificate, and a tls check
	// declaring the "declared" endpoint.
	w.inv = filepath.Join(w.dir, "inventory")
	certDir := filepath.Join(w.inv, "certs", "files")
	must(t, os.MkdirAll(certDir, 0o755))
	must(t, os.WriteFile(filepath.Join(certDir, "cert.pem"), pki.CertsPEM([]*x509.Certificate{w.cert["pem"].Leaf}), 0o644))
	inv := fmt.Sprintf(`teams:
  team-web: {contact: "#web", approvers: [a@example.com]}
checks:
  decl-tls:
    type: tls
    address: %s
    server_name: decl.test
credentials:
  files-cert:
    kind: certificate
    owner: team-web
    store: {type: pem-files, dir: certs/files}
    authority: {type: manual, instructions: "ask the CA"}
    consumers:
      web:
        kind: service
        reads: at-start
        checks: [decl-tls]
`, w.addr["declared"])
	must(t, os.WriteFile(filepath.Join(w.inv, "rotor.yaml"), []byte(inv), 0o644))

	// The state: a run that minted "minted" and replaced "previous".
	w.db = filepath.Join(w.dir, "rotor.db")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, w.db, sqlite.Options{})
	must(t, err)
	defer db.Close()
	run := rotation.Run{ID: "run-1", Credential: "web-cert", Phase: rotation.Verifying, StartedAt: now, UpdatedAt: now,
		New:      &provider.Version{ID: "v2", AuthorityRef: scantest.Ref(w.cert["minted"])},
		Previous: &provider.Version{ID: "v1", AuthorityRef: scantest.Ref(w.cert["previous"])}}
	data, err := json.Marshal(run)
	must(t, err)
	_, err = db.SaveRun(ctx, state.RunSave{Run: state.RunRecord{ID: run.ID, Credential: run.Credential, Phase: string(run.Phase), Data: data}})
	must(t, err)
	return w
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

func TestScanJSON(t *testing.T) {
	w := newScanWorld(t)
	roles := []string{"minted", "previous", "pem", "declared", "forgotten", "expired"}
	args := []string{"scan", "-i", w.inv, "--db", w.db, "--ca-file", w.caFile, "-o", "json", "--server-name", "web.test"}
	for _, r := range roles {
		args = append(args, w.addr[r])
	}
	code, out, errs := runMain(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep scanReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Targets != 6 || rep.Answered != 6 || rep.Forgotten != 2 || rep.Expired != 1 || rep.Expiring != 1 {
		t.Errorf("summary %+v", rep)
	}
	knownAs := map[string]string{
		"minted":   "credential web-cert: version v2 minted by run run-1",
		"previous": "credential web-cert: version v1, replaced by run run-1",
		"pem":      "credential files-cert: served from " + filepath.Join(w.inv, "certs", "files", "cert.pem"),
		"declared": "declared by check decl-tls (credential files-cert consumer web)",
	}
	for i, role := range roles {
		r := rep.Results[i]
		c := w.cert[role]
		if r.Target != w.addr[role] || r.Ref != scantest.Ref(c) || r.Serial != pki.Serial(c.Leaf) || r.Subject != c.Leaf.Subject.String() || !r.NotAfter.Equal(c.Leaf.NotAfter.UTC()) {
			t.Errorf("%s: %+v", role, r.Result)
		}
		want, known := knownAs[role]
		if r.Known != known || (known && strings.Join(r.KnownAs, "; ") != want) {
			t.Errorf("%s: known %v %q, want %v %q", role, r.Known, r.KnownAs, known, want)
		}
	}
	// --server-name web.test: only the two web.test certificates verify; the others are named
	// for other hosts.
	if !rep.Results[0].Verified || rep.Results[2].Verified || rep.Results[2].VerifyReason != "name mismatch" {
		t.Errorf("verification: %+v / %+v", rep.Results[0].Result, rep.Results[2].Result)
	}
	if !rep.Results[4].Expiring || rep.Results[4].DaysLeft != 10 || !rep.Results[5].Expired {
		t.Errorf("expiry flags: %+v / %+v", rep.Results[4], rep.Results[5])
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Error("a key in the output")
	}
}

func TestScanNoInventoryNoState(t *testing.T) {
	w := newScanWorld(t)
	dir := t.TempDir()
	// The default inventory folder is absent and the database does not exist: nothing is
	// known, the scan works, and no database is created.
	t.Chdir(dir)
	db := filepath.Join(dir, "none.db")
	code, out, errs := runMain(t, "scan", "--db", db, "--ca-file", w.caFile, "-o", "json", w.addr["minted"])
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep scanReport
	must(t, json.Unmarshal([]byte(out), &rep))
	if rep.Forgotten != 1 || rep.Results[0].Known || !strings.Contains(rep.State, "does not exist") || !strings.Contains(rep.Inventory, "does not exist") {
		t.Errorf("%+v", rep)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the scan created %s", db)
	}
	// An inventory named with -i must exist.
	code, _, errs = runMain(t, "scan", "-i", filepath.Join(dir, "nope"), "--db", db, w.addr["minted"])
	if code != ExitUsage && code != ExitError {
		t.Errorf("a missing -i inventory: exit %d %s", code, errs)
	}
}

func TestScanUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"scan"}, "requires at least 1 arg"},
		{[]string{"scan", "127.0.0.1"}, "missing port"},
		{[]string{"scan", "127.0.0.1:9000-8000"}, "ends before it starts (write 8000-9000)"},
		{[]string{"scan", "127.0.0.1:1", "--concurrency", "0"}, "--concurrency 0"},
		{[]string{"scan", "127.0.0.1:1", "--ca-file", "/nonexistent/ca.pem"}, "--ca-file"},
		{[]string{"scan", "@/nonexistent/targets.txt"}, "cannot read the targets file"},
	}
	for _, c := range cases {
		code, _, errs := runMain(t, c.args...)
		if code != ExitUsage || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, code, errs, c.msg)
		}
	}
}

// TestScanScript runs `rotor scan` as its own process (the testscript harness of cli_test.go)
// against the endpoints of a scanWorld: the table, the forgotten report and the exit codes.
func TestScanScript(t *testing.T) {
	w := newScanWorld(t)
	scripts := t.TempDir()
	// A port range around the garbage listener: closed ports are counted, the listener that
	// speaks no TLS is listed, and neither fails the scan.
	gp := w.addr["garbage"][strings.LastIndexByte(w.addr["garbage"], ':')+1:]
	script := `
# Known and forgotten certificates, in a table.
rotor scan -i $INV --db $DB --ca-file $CA $MINTED $FORGOTTEN $EXPIRED $DECLARED
stdout '^` + w.addr["minted"] + `$'
stdout '^  fingerprint  ` + scantest.Ref(w.cert["minted"]) + `$'
stdout '^  inventory    known: credential web-cert: version v2 minted by run run-1$'
stdout '^  chain        NOT VERIFIED: name mismatch'
stdout '^Forgotten certificates — served, but not known to the inventory or the state \(2\):$'
stdout '^  ` + w.addr["forgotten"] + `  serial ` + pki.Serial(w.cert["forgotten"].Leaf) + `  CN=old.test  not after .* \(10 days left\)  EXPIRING$'
stdout '^  ` + w.addr["expired"] + ` .*\(expired\)  EXPIRED$'
stdout '^4 targets: 4 answered, 0 did not; 2 forgotten, 1 expired, 1 expiring within 30 days, 4 not verified$'
! stdout 'did not answer'

# A named target that does not answer fails the scan (exit 1), with the reason.
! rotor scan --db $DB $MINTED $GARBAGE $CLOSED --timeout 2s
exits 1
stdout 'Did not answer \(2\):'
stdout '^  ` + w.addr["garbage"] + `: the endpoint does not speak TLS'
stdout '^  ` + w.addr["closed"] + `: connection refused'
stderr '^error: 2 of the named targets did not answer with a certificate$'

# Ports of a range never fail it: closed ones are counted.
rotor scan --db $DB 127.0.0.1:` + gp + `-` + gp + ` $CLOSED_RANGE -o table
stdout '\(port of a range\): the endpoint does not speak TLS'
stdout '1 closed port of ranges not shown'

# Bad targets are usage errors.
! rotor scan 127.0.0.1:0
exits 2
stderr 'out of range 1-65535'
`
	must(t, os.WriteFile(filepath.Join(scripts, "scan.txtar"), []byte(script), 0o644))
	closedPort := w.addr["closed"][strings.LastIndexByte(w.addr["closed"], ':')+1:]
	testscript.Run(t, testscript.Params{
		Dir: scripts,
		Setup: func(e *testscript.Env) error {
			e.Setenv("INV", w.inv)
			e.Setenv("DB", w.db)
			e.Setenv("CA", w.caFile)
			e.Setenv("MINTED", w.addr["minted"])
			e.Setenv("FORGOTTEN", w.addr["forgotten"])
			e.Setenv("EXPIRED", w.addr["expired"])
			e.Setenv("DECLARED", w.addr["declared"])
			e.Setenv("GARBAGE", w.addr["garbage"])
			e.Setenv("CLOSED", w.addr["closed"])
			e.Setenv("CLOSED_RANGE", "127.0.0.1:"+closedPort+"-"+closedPort)
			e.Setenv("XDG_STATE_HOME", filepath.Join(e.WorkDir, ".xdg"))
			return nil
		},
		Cmds: scriptCmds,
	})
}

// TestScanReplacedVersion: a pem-files store that went through three rotations, each version
// served by its own endpoint. The current and the pending versions are known; the previous and
// the retired ones are findings — an endpoint that missed a rotation — even when a run of the
// state names the previous one, and they are neither forgotten nor known.
func TestScanReplacedVersion(t *testing.T) {
	dir := t.TempDir()
	ca := scantest.NewCA(t, "scan replaced root")
	ca.Intermediate(t)
	caFile := ca.WriteRoot(t, dir)
	inv := filepath.Join(dir, "inventory")
	store, err := pemfiles.New(pemfiles.Config{Dir: "certs/rot"}, provider.Env{Now: time.Now, Rand: rand.Reader, BaseDir: inv})
	must(t, err)
	ctx := context.Background()
	stages := []string{"retired", "previous", "current", "pending"}
	certs, addrs, ids := map[string]tls.Certificate{}, map[string]string{}, map[string]string{}
	for i, stage := range stages {
		c := ca.Issue(t, scantest.Leaf{DNS: []string{"rot.test"}})
		var chain []*x509.Certificate
		for _, der := range c.Certificate[1:] {
			ic, err := x509.ParseCertificate(der)
			must(t, err)
			chain = append(chain, ic)
		}
		v, err := pki.Encode(pki.Bundle{Leaf: c.Leaf, Chain: chain, Key: c.PrivateKey.(crypto.Signer)})
		must(t, err)
		put, err := store.Put(ctx, provider.PutRequest{Credential: "rot-cert", Value: v, Key: fmt.Sprintf("run-%d", i+1)})
		must(t, err)
		if stage != "pending" {
			_, err = store.Promote(ctx, provider.PromoteRequest{Credential: "rot-cert", Version: put.Version.ID})
			must(t, err)
		}
		certs[stage], addrs[stage], ids[stage] = c, scantest.Serve(t, c).Addr, put.Version.ID
	}
	must(t, os.WriteFile(filepath.Join(inv, "rotor.yaml"), []byte(`teams:
  team-web: {contact: "#web", approvers: [a@example.com]}
credentials:
  rot-cert:
    kind: certificate
    owner: team-web
    store: {type: pem-files, dir: certs/rot}
    authority: {type: manual, instructions: "ask the CA"}
    consumers:
      web: {kind: service, reads: at-start}
`), 0o644))
	// The run that made the current version, as the state records it: it names the previous
	// version too, which must not make that one known.
	dbPath := filepath.Join(dir, "rotor.db")
	db, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	must(t, err)
	run := rotation.Run{ID: "run-3", Credential: "rot-cert", Phase: rotation.Done, StartedAt: time.Now(), UpdatedAt: time.Now(),
		New:      &provider.Version{ID: ids["current"], AuthorityRef: scantest.Ref(certs["current"])},
		Previous: &provider.Version{ID: ids["previous"], AuthorityRef: scantest.Ref(certs["previous"])}}
	data, err := json.Marshal(run)
	must(t, err)
	_, err = db.SaveRun(ctx, state.RunSave{Run: state.RunRecord{ID: run.ID, Credential: run.Credential, Phase: string(run.Phase), Data: data}})
	must(t, err)
	db.Close()

	base := []string{"scan", "-i", inv, "--db", dbPath, "--ca-file", caFile}
	args := append(slices.Clone(base), "-o", "json")
	for _, s := range stages {
		args = append(args, addrs[s])
	}
	code, out, errs := runMain(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep scanReport
	must(t, json.Unmarshal([]byte(out), &rep))
	if rep.Replaced != 2 || rep.Forgotten != 0 || rep.Answered != 4 {
		t.Errorf("summary: %d replaced, %d forgotten, %d answered; want 2, 0, 4", rep.Replaced, rep.Forgotten, rep.Answered)
	}
	certDir := filepath.Join(inv, "certs", "rot")
	want := map[string]struct {
		known    bool
		replaced string
		knownAs  string
	}{
		"current": {known: true, knownAs: "credential rot-cert: current version " + ids["current"] + " in " + filepath.Join(certDir, "cert.pem") +
			"; credential rot-cert: version " + ids["current"] + " minted by run run-3"},
		"pending":  {known: true, knownAs: "credential rot-cert: pending version " + ids["pending"] + " in " + filepath.Join(certDir, ".versions", ids["pending"], "cert.pem")},
		"previous": {replaced: "serves a replaced version of rot-cert (version " + ids["previous"] + ", previous)", knownAs: "credential rot-cert: version " + ids["previous"] + ", replaced by run run-3"},
		"retired":  {replaced: "serves a replaced version of rot-cert (version " + ids["retired"] + ", retired)"},
	}
	for i, s := range stages {
		r, w := rep.Results[i], want[s]
		if r.Ref != scantest.Ref(certs[s]) {
			t.Fatalf("%s: result %d is %s, want %s", s, i, r.Ref, scantest.Ref(certs[s]))
		}
		if r.Known != w.known || strings.Join(r.Replaced, "; ") != w.replaced || strings.Join(r.KnownAs, "; ") != w.knownAs {
			t.Errorf("%s: known %v %q, replaced %q; want %v %q, %q", s, r.Known, r.KnownAs, r.Replaced, w.known, w.knownAs, w.replaced)
		}
	}

	// The table says it on the endpoint, in a list of its own and in the summary.
	code, out, errs = runMain(t, append(slices.Clone(base), "-o", "table", addrs["previous"], addrs["current"])...)
	if code != 0 {
		t.Fatalf("table: exit %d: %s", code, errs)
	}
	for _, line := range []string{
		"  inventory    REPLACED: serves a replaced version of rot-cert (version " + ids["previous"] + ", previous)\n" +
			"               known: credential rot-cert: version " + ids["previous"] + ", replaced by run run-3\n",
		"Replaced versions — served, but their credential has moved on to a newer version (1):\n  " + addrs["previous"] +
			"  serial " + pki.Serial(certs["previous"].Leaf) + "  CN=rot.test  serves a replaced version of rot-cert (version " + ids["previous"] + ", previous)\n",
		"2 targets: 2 answered, 0 did not; 0 forgotten, 1 replaced, 0 expired",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("the table lacks %q:\n%s", line, out)
		}
	}
}
