package metrics_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/metrics"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/sqlite"
	"github.com/rotorhq/rotor/internal/state/statetest"
	"github.com/rotorhq/rotor/internal/store/file"
	"github.com/rotorhq/rotor/internal/testenv"
)

// The metrics tests drive real rotations in-process, as the engine tests do: the file store
// (age-encrypted files), the generated authority, an http reload against a real server on
// 127.0.0.1, exec checks, and the state in a real SQLite file. Only time is fake. The
// exporter then reads that file read-only, as `rotor metrics` does.

const inventoryYAML = `identities:
  rotor: {type: age, recipient: %[1]s, identity_file: keys/rotor.key}
  api: {type: age, recipient: %[2]s, identity_file: keys/api.key}
checks:
  api-ok: {type: exec, command: ["true"]}
  api-broken: {type: exec, command: ["false"]}
freezes:
  - {from: 2026-12-19, to: 2027-01-04, reason: year-end freeze}
teams:
  team-a: {contact: a@example.test}
  team-b: {contact: b@example.test, approvers: [bob, carol]}
credentials:
  api-key:
    owner: team-a
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: generated, strategy: overlap}
    rotate: {every: 30d}
    consumers:
      api: &api
        kind: service
        identity: api
        reads: at-start
        accepts: true
        reload: {type: http, url: %[3]q}
        checks: [api-ok]
  pay-key:
    owner: team-b
    critical: true
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: generated, strategy: overlap}
    rotate: {every: 30d}
    consumers:
      api: *api
  hook-key:
    owner: team-a
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: generated, strategy: overlap}
    rotate: {every: 30d}
    consumers:
      api: *api
  batch-token:
    owner: team-a
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: generated, strategy: overlap}
    rotate: {every: 30d}
    consumers:
      nightly:
        kind: job
        schedule: "0 2 * * *"
        timezone: UTC
        identity: api
        reads: at-start
        checks: [api-ok]
  bad-key:
    owner: team-a
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: generated, strategy: overlap}
    rotate: {every: 30d}
    consumers:
      api:
        kind: service
        identity: api
        reads: at-start
        reload: {type: http, url: %[3]q}
        checks: [api-broken]
  legacy-cert:
    owner: team-b
    critical: true
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: generated, strategy: overlap}
    rotate: {every: 90d, before_expiry: 14d}
`

type fixture struct {
	t   *testing.T
	dir string
	inv *inventory.Inventory
	db  *sqlite.DB
	fp  *secret.Fingerprinter
	mu  sync.Mutex
	now time.Time
}

var t0 = time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), now: t0}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	t.Cleanup(srv.Close)
	invDir := filepath.Join(f.dir, "inventory")
	rec := testenv.AgeKeys(t, invDir, "rotor", "api")
	yaml := fmt.Sprintf(inventoryYAML, rec["rotor"], rec["api"], srv.URL+"/admin/reload")
	if err := os.WriteFile(filepath.Join(invDir, "rotor.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.inv, err = f.load(t0); err != nil {
		t.Fatalf("inventory: %v", err)
	}
	f.db, err = sqlite.Open(context.Background(), f.dbPath(), sqlite.Options{Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	if f.fp, _, err = secret.LoadOrCreateKey(filepath.Join(f.dir, "rotor.key"), rand.Reader); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) dbPath() string { return filepath.Join(f.dir, "rotor.db") }

func (f *fixture) load(now time.Time) (*inventory.Inventory, error) {
	return inventory.Load(filepath.Join(f.dir, "inventory"), inventory.Options{Catalog: builtin.New(), Now: now})
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fixture) engine(actor string) *engine.Engine {
	e := &engine.Engine{Inv: f.inv, Registry: builtin.New(), State: f.db, Fingerprinter: f.fp, Clock: f.clock,
		Sleep:   func(_ context.Context, d time.Duration) error { f.advance(d); return nil },
		BaseDir: filepath.Join(f.dir, "inventory")}
	e.Defaults()
	return e
}

func (f *fixture) rotate(cred string, through rotation.Stage) engine.Result {
	f.t.Helper()
	res, err := f.engine("alice").Rotate(context.Background(), engine.Call{Actor: "alice", MaxWait: time.Hour, Force: true}, cred, through)
	if err != nil {
		f.t.Fatalf("rotate %s: %v", cred, err)
	}
	return res
}

// exporter reads the fixture's database read-only, as `rotor metrics` does.
func (f *fixture) exporter() *metrics.Exporter {
	return &metrics.Exporter{
		Inventory: f.load,
		OpenState: func(ctx context.Context) (state.Store, error) {
			return sqlite.Open(ctx, f.dbPath(), sqlite.Options{ReadOnly: true})
		},
		Registry: builtin.New(),
		Clock:    f.clock,
	}
}

// platform drives the runs the tests look at:
//
//	api-key      rotated at 14:00, done
//	pay-key      (critical) rotated at 14:00; a second run at 15:00 awaits approval
//	hook-key     rotated at 15:00; a second run cut over at 16:00 and rolled back for api
//	             until 20:00 (owner bob)
//	batch-token  first run at 16:00 waits for its nightly job's proof (02:00)
//	bad-key      first run at 16:00 stopped at its consumer's failing check
//	legacy-cert  no rotation by rotor; a bare done run saved its state: rotated 80 days ago,
//	             expires in 10 days
//
// and returns the runs in progress by credential. The scrape is at 17:00.
func platform(t *testing.T) (*fixture, map[string]rotation.Run) {
	f := newFixture(t)
	runs := map[string]rotation.Run{}
	if res := f.rotate("api-key", rotation.StageRevoke); res.Run.Phase != rotation.Done {
		t.Fatalf("api-key: %s %+v", res.Run.Phase, res.Action.Gate)
	}
	if res := f.rotate("pay-key", rotation.StageRevoke); res.Run.Phase != rotation.Done {
		t.Fatalf("pay-key first run: %s %+v", res.Run.Phase, res.Action.Gate)
	}
	f.advance(time.Hour) // 15:00
	res := f.rotate("pay-key", rotation.StageRevoke)
	if res.Run.Phase != rotation.AwaitingApproval || res.Action.Gate.Gate != "approval" {
		t.Fatalf("pay-key second run: %s %+v", res.Run.Phase, res.Action.Gate)
	}
	runs["pay-key"] = res.Run
	if res := f.rotate("hook-key", rotation.StageRevoke); res.Run.Phase != rotation.Done {
		t.Fatalf("hook-key first run: %s %+v", res.Run.Phase, res.Action.Gate)
	}
	f.advance(time.Hour) // 16:00
	res = f.rotate("hook-key", rotation.StageCutover)
	if res.Run.Phase != rotation.Verifying {
		t.Fatalf("hook-key through cutover: %s %+v", res.Run.Phase, res.Action.Gate)
	}
	res, err := f.engine("alice").Rollback(context.Background(), engine.Call{Actor: "alice", MaxWait: time.Hour, Force: true}, res.Run.ID,
		engine.RollbackRequest{Consumers: []string{"api"}, Owner: "bob", Expires: 4 * time.Hour, Reason: "api 5xx after cutover"})
	if err != nil || res.Run.Phase != rotation.RolledBack {
		t.Fatalf("rollback: %v %s %+v", err, res.Run.Phase, res.Action.Gate)
	}
	runs["hook-key"] = res.Run
	res = f.rotate("batch-token", rotation.StageRevoke)
	if res.Action.Gate.Gate != "follow-ups" {
		t.Fatalf("batch-token: %s %+v", res.Run.Phase, res.Action.Gate)
	}
	runs["batch-token"] = res.Run
	res = f.rotate("bad-key", rotation.StageRevoke)
	if res.Action.Gate.Gate != "check:api" {
		t.Fatalf("bad-key: %s %+v", res.Run.Phase, res.Action.Gate)
	}
	runs["bad-key"] = res.Run
	if err := statetest.SaveState(context.Background(), f.db, "legacy", state.CredentialState{ID: "legacy-cert",
		CurrentVersion: "legacy-v7", CurrentFingerprint: "fp1:legacyfingerprint0123456789",
		LastRotated: t0.Add(-80 * 24 * time.Hour), Expires: t0.Add(10 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Hour) // 17:00
	return f, runs
}

func ts(t time.Time) string { return fmt.Sprint(float64(t.UnixMilli()) / 1e3) }

// TestExposition checks the series and their values, one metric family at a time.
func TestExposition(t *testing.T) {
	f, runs := platform(t)
	snap := f.exporter().Read(context.Background())
	if len(snap.Problems) > 0 || !snap.StateUp || !snap.InventoryUp {
		t.Fatalf("problems: %v", snap.Problems)
	}
	day := 24 * time.Hour
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	pay, hook, batch, bad := runs["pay-key"].ID, runs["hook-key"].ID, runs["batch-token"].ID, runs["bad-key"].ID
	nextRun := time.Date(2026, 3, 11, 2, 0, 0, 0, time.UTC)

	cases := map[string]string{
		"rotor_state_up":     "rotor_state_up 1\n",
		"rotor_inventory_up": "rotor_inventory_up 1\n",
		// Unknown expiries (generated values do not expire) are absent, not zero.
		"rotor_credential_expiry_timestamp_seconds": fmt.Sprintf(`rotor_credential_expiry_timestamp_seconds{credential="legacy-cert",critical="true",owner="team-b"} %s
`, ts(t0.Add(10*day))),
		"rotor_credential_last_rotation_timestamp_seconds": fmt.Sprintf(`rotor_credential_last_rotation_timestamp_seconds{credential="api-key",critical="false",owner="team-a"} %s
rotor_credential_last_rotation_timestamp_seconds{credential="hook-key",critical="false",owner="team-a"} %s
rotor_credential_last_rotation_timestamp_seconds{credential="legacy-cert",critical="true",owner="team-b"} %s
rotor_credential_last_rotation_timestamp_seconds{credential="pay-key",critical="true",owner="team-b"} %s
`, ts(t0), ts(h(1)), ts(t0.Add(-80*day)), ts(t0)),
		// No history (batch-token, bad-key): no due date to show. legacy-cert: 14 days
		// before its expiry comes before 90 days after its last rotation.
		"rotor_credential_next_due_timestamp_seconds": fmt.Sprintf(`rotor_credential_next_due_timestamp_seconds{credential="api-key",critical="false",owner="team-a"} %s
rotor_credential_next_due_timestamp_seconds{credential="hook-key",critical="false",owner="team-a"} %s
rotor_credential_next_due_timestamp_seconds{credential="legacy-cert",critical="true",owner="team-b"} %s
rotor_credential_next_due_timestamp_seconds{credential="pay-key",critical="true",owner="team-b"} %s
`, ts(t0.Add(30*day)), ts(h(1).Add(30*day)), ts(t0.Add(-4*day)), ts(t0.Add(30*day))),
		"rotor_credential_plan_status": `rotor_credential_plan_status{credential="api-key",critical="false",owner="team-a",status="ok"} 1
rotor_credential_plan_status{credential="bad-key",critical="false",owner="team-a",status="due"} 1
rotor_credential_plan_status{credential="batch-token",critical="false",owner="team-a",status="due"} 1
rotor_credential_plan_status{credential="hook-key",critical="false",owner="team-a",status="ok"} 1
rotor_credential_plan_status{credential="legacy-cert",critical="true",owner="team-b",status="expiring"} 1
rotor_credential_plan_status{credential="pay-key",critical="true",owner="team-b",status="ok"} 1
`,
		// Only runs in progress: api-key's and the first runs of pay-key and hook-key are done.
		"rotor_run_phase": fmt.Sprintf(`rotor_run_phase{credential="bad-key",phase="cutting-over",run=%q} 1
rotor_run_phase{credential="batch-token",phase="verifying",run=%q} 1
rotor_run_phase{credential="hook-key",phase="rolled-back",run=%q} 1
rotor_run_phase{credential="pay-key",phase="awaiting-approval",run=%q} 1
`, bad, batch, hook, pay),
		"rotor_run_phase_since_timestamp_seconds": fmt.Sprintf(`rotor_run_phase_since_timestamp_seconds{credential="bad-key",run=%q} %s
rotor_run_phase_since_timestamp_seconds{credential="batch-token",run=%q} %s
rotor_run_phase_since_timestamp_seconds{credential="hook-key",run=%q} %s
rotor_run_phase_since_timestamp_seconds{credential="pay-key",run=%q} %s
`, bad, ts(h(2)), batch, ts(h(2)), hook, ts(h(2)), pay, ts(h(1))),
		// bad-key's next step is its check again (rotate retries it), so it waits at no gate;
		// its failing verdict shows in rotor_check_verdict.
		"rotor_run_gate_blocked": fmt.Sprintf(`rotor_run_gate_blocked{credential="batch-token",gate="follow-ups",run=%q,verdict="unknown"} 1
rotor_run_gate_blocked{credential="hook-key",gate="exception",run=%q,verdict="unknown"} 1
rotor_run_gate_blocked{credential="pay-key",gate="approval",run=%q,verdict="unknown"} 1
`, batch, hook, pay),
		"rotor_run_gate_until_timestamp_seconds": fmt.Sprintf(`rotor_run_gate_until_timestamp_seconds{credential="batch-token",gate="follow-ups",run=%q} %s
rotor_run_gate_until_timestamp_seconds{credential="hook-key",gate="exception",run=%q} %s
`, batch, ts(nextRun), hook, ts(h(6))),
		"rotor_exception_expiry_timestamp_seconds": fmt.Sprintf(`rotor_exception_expiry_timestamp_seconds{consumers="api",credential="hook-key",owner="bob",run=%q,state="open"} %s
`, hook, ts(h(6))),
		"rotor_followups_open": fmt.Sprintf(`rotor_followups_open{consumer="nightly",credential="batch-token",run=%q} 1
`, batch),
	}
	exposition := text(t, snap)
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			if err := testutil.CollectAndCompare(snap, strings.NewReader(header(exposition, name)+want), name); err != nil {
				t.Error(err)
			}
		})
	}

	// Verdicts: every evidence gate each run recorded, never the waits (approval, soak…).
	for _, want := range []string{
		fmt.Sprintf(`rotor_check_verdict{credential="bad-key",gate="check:api",run=%q,verdict="fail"} 1`, bad),
		fmt.Sprintf(`rotor_check_verdict{credential="pay-key",gate="check:api",run=%q,verdict="pass"} 1`, pay),
		fmt.Sprintf(`rotor_check_verdict{credential="pay-key",gate="readiness",run=%q,verdict="pass"} 1`, pay),
		fmt.Sprintf(`rotor_check_verdict{credential="hook-key",gate="check:api",run=%q,verdict="pass"} 1`, hook),
		fmt.Sprintf(`rotor_check_verdict{credential="batch-token",gate="read-access",run=%q,verdict="pass"} 1`, batch),
	} {
		if !strings.Contains(exposition, want+"\n") {
			t.Errorf("missing %s in\n%s", want, grep(exposition, "rotor_check_verdict"))
		}
	}
	verdicts := grep(exposition, "rotor_check_verdict")
	for _, gate := range []string{"approval", "exception", "follow-ups", "soak"} {
		if strings.Contains(verdicts, `gate="`+gate+`"`) {
			t.Errorf("a wait gate (%s) shows as a verdict:\n%s", gate, verdicts)
		}
	}
	if problems, err := testutil.CollectAndLint(snap); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

// TestExceptionExpired: after its expiry the exception still shows (open until rotor acts on
// it), the plan says so, and the run no longer waits at a gate: its next step re-revokes.
func TestExceptionExpired(t *testing.T) {
	f, runs := platform(t)
	f.advance(4 * time.Hour) // 21:00, an hour past the expiry
	snap := f.exporter().Read(context.Background())
	hook := runs["hook-key"].ID
	want := fmt.Sprintf(`rotor_exception_expiry_timestamp_seconds{consumers="api",credential="hook-key",owner="bob",run=%q,state="open"} %s
`, hook, ts(t0.Add(6*time.Hour)))
	exposition := text(t, snap)
	if err := testutil.CollectAndCompare(snap, strings.NewReader(header(exposition, "rotor_exception_expiry_timestamp_seconds")+want), "rotor_exception_expiry_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	if !strings.Contains(exposition, `rotor_credential_plan_status{credential="hook-key",critical="false",owner="team-a",status="exception overdue"} 1`) {
		t.Errorf("plan status:\n%s", grep(exposition, "plan_status"))
	}
	if strings.Contains(exposition, `rotor_run_gate_blocked{credential="hook-key"`) {
		t.Errorf("the run has a step to do, it is not blocked:\n%s", grep(exposition, "gate_blocked"))
	}
}

// TestNoValueNoFingerprint is the canary: no form of any value in the store, and no
// fingerprint or version id, appears in the exposition.
func TestNoValueNoFingerprint(t *testing.T) {
	f, _ := platform(t)
	srv := httptest.NewServer(f.exporter().Handler(nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("rotor_run_phase{")) {
		t.Fatalf("scrape: %d\n%s", resp.StatusCode, body)
	}
	exposition := string(body)

	var needles []string
	for _, cred := range []string{"api-key", "pay-key", "hook-key", "batch-token", "bad-key"} {
		rd, err := file.OpenReader(filepath.Join(f.dir, "store"), cred, filepath.Join(f.dir, "inventory", "keys", "rotor.key"))
		if err != nil {
			t.Fatal(err)
		}
		vs, err := rd.Enabled()
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) == 0 {
			t.Fatalf("%s: no enabled version to look for", cred)
		}
		for _, v := range vs {
			b := v.Value.Reveal()
			needles = append(needles, string(b), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
				hex.EncodeToString(b), v.ID)
			v.Value.Wipe()
		}
	}
	states, err := f.db.CredentialStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		needles = append(needles, s.CurrentFingerprint, s.CurrentVersion)
	}
	recs, err := f.db.Runs(context.Background(), state.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		st, err := f.engine("auditor").View().Status(context.Background(), rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n := st.Run.New; n != nil {
			needles = append(needles, n.ID, n.Fingerprint)
		}
		if p := st.Run.Previous; p != nil {
			needles = append(needles, p.ID, p.Fingerprint)
		}
	}
	for i, n := range needles {
		if n == "" {
			continue
		}
		if strings.Contains(exposition, n) {
			t.Errorf("needle %d (%q…) found in the exposition", i, n[:min(4, len(n))])
		}
	}
}

// TestStateUnreadable: a state file that cannot be read turns into rotor_state_up 0, and no
// state-derived series; the endpoint still answers 200.
func TestStateUnreadable(t *testing.T) {
	f := newFixture(t)
	bad := filepath.Join(f.dir, "not-a-db")
	if err := os.WriteFile(bad, []byte("this is not a database, it is a grocery list\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	x := f.exporter()
	x.OpenState = func(ctx context.Context) (state.Store, error) {
		return sqlite.Open(ctx, bad, sqlite.Options{ReadOnly: true})
	}
	var told []string
	srv := httptest.NewServer(x.Handler(func(p []string) { told = append(told, p...) }))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := header(string(body), "rotor_state_up") + "rotor_state_up 0\n" + header(string(body), "rotor_inventory_up") + "rotor_inventory_up 1\n"
	if err := testutil.CollectAndCompare(x, strings.NewReader(want)); err != nil {
		t.Errorf("%v\nserved:\n%s", err, body)
	}
	if len(told) != 1 || !strings.Contains(told[0], "state: ") || !strings.Contains(told[0], "not-a-db") {
		t.Errorf("problems told: %q", told)
	}
	var fe *state.FormatError
	if _, err := sqlite.Open(context.Background(), bad, sqlite.Options{ReadOnly: true}); !errors.As(err, &fe) {
		t.Errorf("the store accepted a grocery list: %v", err)
	}
}

// TestInventoryInvalid: an inventory broken after the exporter started leaves the runs' series
// (read from the state alone) and says rotor_inventory_up 0.
func TestInventoryInvalid(t *testing.T) {
	f, runs := platform(t)
	x := f.exporter()
	x.Inventory = func(time.Time) (*inventory.Inventory, error) { return nil, errors.New("rotor.yaml:3:1: unknown key") }
	snap := x.Read(context.Background())
	if snap.InventoryUp || !snap.StateUp || len(snap.Credentials) != 0 {
		t.Fatalf("inventory up %v, state up %v, %d credentials", snap.InventoryUp, snap.StateUp, len(snap.Credentials))
	}
	want := fmt.Sprintf(`rotor_run_phase{credential="bad-key",phase="cutting-over",run=%q} 1
rotor_run_phase{credential="batch-token",phase="verifying",run=%q} 1
rotor_run_phase{credential="hook-key",phase="rolled-back",run=%q} 1
rotor_run_phase{credential="pay-key",phase="awaiting-approval",run=%q} 1
`, runs["bad-key"].ID, runs["batch-token"].ID, runs["hook-key"].ID, runs["pay-key"].ID)
	if err := testutil.CollectAndCompare(snap, strings.NewReader(header(text(t, snap), "rotor_run_phase")+want), "rotor_run_phase"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(snap, "rotor_run_gate_blocked"); n != 0 {
		t.Errorf("%d gate series without an inventory to judge the runs by", n)
	}
}

// TestNoDatabaseYet: before any rotation there is no file; the scrape says the state is
// readable (empty) and every credential is due, without creating the file.
func TestNoDatabaseYet(t *testing.T) {
	f := newFixture(t)
	x := f.exporter()
	missing := filepath.Join(f.dir, "later", "rotor.db")
	x.OpenState = func(ctx context.Context) (state.Store, error) {
		return sqlite.Open(ctx, missing, sqlite.Options{ReadOnly: true})
	}
	snap := x.Read(context.Background())
	if !snap.StateUp || len(snap.Credentials) != 6 || len(snap.Runs) != 0 {
		t.Fatalf("state up %v, %d credentials, %d runs, problems %v", snap.StateUp, len(snap.Credentials), len(snap.Runs), snap.Problems)
	}
	if n := testutil.CollectAndCount(snap, "rotor_credential_next_due_timestamp_seconds"); n != 0 {
		t.Errorf("%d due dates invented without history", n)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the scrape created %s: %v", missing, err)
	}
}

// header is the HELP and TYPE lines of a metric family, taken from an exposition: what is
// compared is the series and their values.
func header(exposition, name string) string {
	var out strings.Builder
	for _, l := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(l, "# HELP "+name+" ") || strings.HasPrefix(l, "# TYPE "+name+" ") {
			out.WriteString(l + "\n")
		}
	}
	return out.String()
}

// text is a collector's exposition.
func text(t *testing.T, s *metrics.Snapshot) string {
	t.Helper()
	var out bytes.Buffer
	if err := s.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func grep(text, what string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, what) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestRulesUseExportedSeries: every rotor_ series and every label the shipped alert rules
// name is one the exporter describes, so that renaming a series here cannot silently blind an
// alert there. (promtool test rules checks the rules' logic on series it is fed.)
func TestRulesUseExportedSeries(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "rotor.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *prometheus.Desc, 64)
	(&metrics.Snapshot{}).Describe(ch)
	close(ch)
	names := map[string]bool{}
	labels := map[string]bool{"instance": true, "job": true} // added by the scrape
	descRE := regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read %s", d)
		}
		names[m[1]] = true
		for _, l := range strings.Split(m[2], ",") {
			labels[strings.TrimSpace(l)] = true
		}
	}
	for _, m := range regexp.MustCompile(`\brotor_[a-z_]+`).FindAllString(string(rules), -1) {
		if !names[m] {
			t.Errorf("the rules use %s, which the exporter does not export", m)
		}
	}
	for _, m := range regexp.MustCompile(`\$labels\.([a-z_]+)|\b(?:on|group_left) \(([a-z_, ]+)\)|\{([a-z_]+)[=!]`).FindAllStringSubmatch(string(rules), -1) {
		for _, l := range strings.Split(m[1]+m[2]+m[3], ",") {
			if l = strings.TrimSpace(l); l != "" && !labels[l] {
				t.Errorf("the rules use label %q, which no exported series has", l)
			}
		}
	}
}
