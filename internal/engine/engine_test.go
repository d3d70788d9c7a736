package engine_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/sqlite"
	"github.com/rotorhq/rotor/internal/state/statetest"
	"github.com/rotorhq/rotor/internal/testenv"
)

// The engine tests run real rotations in-process: the real file store (age-encrypted files),
// the generated authority, an http reload against a real HTTP server on 127.0.0.1 whose answer
// the test controls (the consumer's admin endpoint), and the state in a real SQLite file. Only
// time is fake: the engine's clock and sleep move a shared instant, so backoffs and soaks take
// no wall time.

// fixture is one platform: an inventory in a temp folder, a state database, a reload server.
type fixture struct {
	t      *testing.T
	dir    string
	inv    *inventory.Inventory
	db     *sqlite.DB
	fp     *secret.Fingerprinter
	mu     sync.Mutex
	now    time.Time
	status atomic.Int32 // what the reload endpoint answers
	calls  atomic.Int32
}

func newFixture(t *testing.T, extra string, top ...string) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), now: time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)}
	f.status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		w.WriteHeader(int(f.status.Load()))
	}))
	t.Cleanup(srv.Close)
	inv := filepath.Join(f.dir, "inventory")
	rec := testenv.AgeKeys(t, inv, "rotor", "api")
	yaml := fmt.Sprintf(`identities:
  rotor: {type: age, recipient: %s, identity_file: keys/rotor.key}
  api: {type: age, recipient: %s, identity_file: keys/api.key}
checks:
  api-ok: {type: exec, command: ["sh", "-c", "if [ -e slow-check ]; then touch check-started; sleep 10; fi"]}
credentials:
  api-key:
    owner: team-a
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: generated, strategy: overlap}
    rotate: {every: 30d}
%s    consumers:
      api:
        kind: service
        identity: api
        reads: at-start
        accepts: true
        reload: {type: http, url: %q}
        checks: [api-ok]
teams:
  team-a: {contact: a@example.test, approvers: [alice, bob, carol]}
%s`, rec["rotor"], rec["api"], extra, srv.URL+"/admin/reload", strings.Join(top, ""))
	if err := os.WriteFile(filepath.Join(inv, "rotor.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	f.inv, err = inventory.Load(inv, inventory.Options{Catalog: testRegistry(), Now: f.now})
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}
	f.db, err = sqlite.Open(context.Background(), filepath.Join(f.dir, "rotor.db"), sqlite.Options{Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	f.fp, _, err = secret.LoadOrCreateKey(filepath.Join(f.dir, "rotor.key"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return f
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

// call is a command's invocation by actor: rotate --now --wait 1h.
func (f *fixture) call(actor string) engine.Call {
	return engine.Call{Actor: actor, MaxWait: time.Hour, Force: true}
}

// engine is a fresh engine per invocation, as each `rotor` command is.
func (f *fixture) engine(actor string) *engine.Engine {
	e := &engine.Engine{Inv: f.inv, Registry: testRegistry(), State: f.db, Fingerprinter: f.fp, Clock: f.clock,
		Sleep:   func(ctx context.Context, d time.Duration) error { f.advance(d); return nil },
		BaseDir: filepath.Join(f.dir, "inventory")}
	e.Defaults()
	return e
}

func (f *fixture) rotate(actor string) engine.Result {
	f.t.Helper()
	res, err := f.engine(actor).Rotate(context.Background(), f.call(actor), "api-key", rotation.StageRevoke)
	if err != nil {
		f.t.Fatalf("rotate: %v", err)
	}
	return res
}

// rotateDone rotates through revoke with e and fails the test unless the run is done.
func (f *fixture) rotateDone(e *engine.Engine) engine.Result {
	f.t.Helper()
	res, err := e.Rotate(context.Background(), f.call("alice"), "api-key", rotation.StageRevoke)
	if err != nil || res.Run.Phase != rotation.Done {
		f.t.Fatalf("rotate: phase %s, %v", res.Run.Phase, err)
	}
	return res
}

// journalOf decodes a run's journal and checks its chain.
func (f *fixture) journalOf(run string) []journal.Entry {
	f.t.Helper()
	tk, err := f.engine("auditor").View().Ticket(context.Background(), run)
	if err != nil {
		f.t.Fatal(err)
	}
	if !tk.Verified {
		f.t.Fatalf("journal of %s does not verify: %s", run, tk.VerifyProblem)
	}
	return tk.Entries
}

func count(entries []journal.Entry, kind journal.Kind, step string) int {
	n := 0
	for _, e := range entries {
		if e.Kind == kind && e.Step == step {
			n++
		}
	}
	return n
}

// TestCancelDuringCheckKeepsTheReload: the operation is cancelled (Ctrl-C) while a check —
// an observation, run with the reload's outcome still held — is running. The reload's outcome
// is saved anyway, so the next rotate does not reload again: it checks and finishes.
func TestCancelDuringCheckKeepsTheReload(t *testing.T) {
	f := newFixture(t, "")
	if res := f.rotate("alice"); res.Run.Phase != rotation.Done {
		t.Fatalf("first rotation: %s %+v", res.Run.Phase, res.Action.Gate)
	}
	inv := filepath.Join(f.dir, "inventory")
	if err := os.WriteFile(filepath.Join(inv, "slow-check"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f.calls.Store(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for range 1000 {
			if _, err := os.Stat(filepath.Join(inv, "check-started")); err == nil {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	res, err := f.engine("alice").Rotate(ctx, f.call("alice"), "api-key", rotation.StageRevoke)
	if err == nil && res.Run.Phase == rotation.Done {
		t.Fatal("the rotation finished although it was cancelled during its check")
	}
	if f.calls.Load() != 1 {
		t.Fatalf("reload called %d times before the cancel, want 1", f.calls.Load())
	}
	run := res.Run.ID
	if got := count(f.journalOf(run), journal.KindStepDone, "reload"); got != 1 {
		t.Fatalf("the journal has %d reload outcomes after the cancel, want 1 (saved despite the cancel)", got)
	}

	os.Remove(filepath.Join(inv, "slow-check"))
	res = f.rotate("alice")
	if res.Run.ID != run || res.Run.Phase != rotation.Done {
		t.Fatalf("resume: run %s phase %s %+v", res.Run.ID, res.Run.Phase, res.Action.Gate)
	}
	// One more call in all: the accepting consumer's reload after revoke, not a second reload.
	entries := f.journalOf(run)
	if got, done := f.calls.Load(), count(entries, journal.KindStepDone, "reload"); got != 2 || done != 1 {
		t.Errorf("%d reload calls in all and %d reload outcomes, want 2 (reload, reload-accepting) and 1: the reload's outcome was lost", got, done)
	}
	// The check was cut short: not recorded, performed again (its second start).
	if started, done := count(entries, journal.KindStepStarted, "check"), count(entries, journal.KindStepDone, "check"); started != 2 || done != 1 {
		t.Errorf("check started %d times and done %d, want 2 and 1", started, done)
	}
}

// TestRetryableFailureHaltsSafely: a reload endpoint answering 503 is retried by policy with
// backoff (persisted attempt counts), then the run halts in a safe state — the previous value
// still valid, nothing revoked — saying what to do; once the endpoint recovers, the next
// rotate resumes the halted step and finishes.
func TestRetryableFailureHaltsSafely(t *testing.T) {
	f := newFixture(t, "")
	if res := f.rotate("alice"); res.Run.Phase != rotation.Done {
		t.Fatalf("first rotation: %s %+v", res.Run.Phase, res.Action.Gate)
	}
	f.status.Store(503)
	f.calls.Store(0)
	start := f.clock()
	res := f.rotate("alice")
	r := res.Run
	if r.Phase != rotation.Halted || r.Halt == nil || res.Action.Kind != rotation.Stopped {
		t.Fatalf("want halted, got %s %+v", r.Phase, res.Action)
	}
	if got := f.calls.Load(); got != rotation.MaxAttempts {
		t.Errorf("reload called %d times, want %d (MaxAttempts)", got, rotation.MaxAttempts)
	}
	if st := r.Step(rotation.StepReload, "api"); st.Attempt != rotation.MaxAttempts || st.Status != rotation.Failed {
		t.Errorf("reload step %+v", st)
	}
	var backoff time.Duration
	for n := 1; n < rotation.MaxAttempts; n++ {
		backoff += rotation.Backoff(n)
	}
	if waited := f.clock().Sub(start); waited < backoff {
		t.Errorf("waited %s in all, want at least the backoffs %s", waited, backoff)
	}
	if !strings.Contains(r.Halt.Next, "previous value is still valid") || !strings.Contains(r.Halt.Reason, "503") {
		t.Errorf("halt %+v", r.Halt)
	}
	if r.Step(rotation.StepRevoke, "").Kind != "" {
		t.Fatal("a halted run revoked")
	}
	if got := count(f.journalOf(r.ID), journal.KindStepStarted, "reload"); got != rotation.MaxAttempts {
		t.Errorf("journal has %d reload attempts, want %d", got, rotation.MaxAttempts)
	}

	f.status.Store(200)
	res = f.rotate("alice")
	if res.Run.ID != r.ID || res.Run.Phase != rotation.Done {
		t.Fatalf("resume: run %s phase %s %+v", res.Run.ID, res.Run.Phase, res.Action.Gate)
	}
	if st := res.Run.Step(rotation.StepReload, "api"); st.Status != rotation.OK || st.Attempt != 1 {
		t.Errorf("after resume the reload step is %+v (attempts restart after a halt)", st)
	}
}

// TestDeniedHaltsAtOnce: permission denied is not retried.
func TestDeniedHaltsAtOnce(t *testing.T) {
	f := newFixture(t, "")
	f.rotate("alice")
	f.status.Store(403)
	f.calls.Store(0)
	res := f.rotate("alice")
	if res.Run.Phase != rotation.Halted || res.Run.Halt.Kind != "denied" {
		t.Fatalf("want halted (denied), got %s %+v", res.Run.Phase, res.Run.Halt)
	}
	if got := f.calls.Load(); got != 1 {
		t.Errorf("a denied reload was called %d times", got)
	}
	if !strings.Contains(res.Run.Halt.Next, "Grant the permission") {
		t.Errorf("halt advice %q", res.Run.Halt.Next)
	}
}

// TestUnknownRunAndLock: a run id that does not exist is a clear error and changes nothing;
// a second rotor on the same credential is refused while the first holds the lock.
func TestUnknownRunAndLock(t *testing.T) {
	f := newFixture(t, "")
	_, err := f.engine("bob").Decide(context.Background(), f.call("bob"), "r20990101T000000-000000", true, "")
	if err == nil || !strings.Contains(err.Error(), "no such run") {
		t.Fatalf("Decide on an unknown run: %v", err)
	}
	runs, err := f.db.Runs(context.Background(), state.RunFilter{})
	if err != nil || len(runs) != 0 {
		t.Fatalf("runs after a refused decision: %v %v", runs, err)
	}

	other := state.LockHolder{Host: "another-host", PID: 4242, RunID: "rotate", Since: f.clock()}
	if err := f.db.Lock(context.Background(), "api-key", other); err != nil {
		t.Fatal(err)
	}
	_, err = f.engine("alice").Rotate(context.Background(), f.call("alice"), "api-key", rotation.StageRevoke)
	if err == nil || !strings.Contains(err.Error(), "another-host") {
		t.Fatalf("rotate under another rotor's lock: %v", err)
	}
	if runs, _ := f.db.Runs(context.Background(), state.RunFilter{}); len(runs) != 0 {
		t.Fatalf("a refused rotate created %d runs", len(runs))
	}
}

// TestWindowBlocksOutsideAndFinishesInside: outside its cutover window a run prepares and
// stops with the next opening (exit 3, nothing cut over); inside the window it goes on.
func TestWindowBlocksOutsideAndFinishesInside(t *testing.T) {
	f := newFixture(t, "    windows: {cutover: nightly}\n",
		"windows:\n  nightly: {cron: \"0 22 * * *\", duration: 2h, timezone: UTC}\n")
	res := f.rotate("alice")
	if !res.Blocked() || res.Action.Gate.Gate != "window" || res.Run.Phase != rotation.Prepared {
		t.Fatalf("want blocked at window after prepare, got %s %+v", res.Run.Phase, res.Action.Gate)
	}
	if want := time.Date(2026, 3, 10, 22, 0, 0, 0, time.UTC); !res.Action.Gate.Until.Equal(want) {
		t.Errorf("until %s, want %s", res.Action.Gate.Until, want)
	}
	if res.Run.Step(rotation.StepPromote, "").Kind != "" {
		t.Fatal("promoted outside the window")
	}
	f.advance(8 * time.Hour)
	if res = f.rotate("alice"); res.Run.Phase != rotation.Done {
		t.Fatalf("inside the window: %s %+v", res.Run.Phase, res.Action.Gate)
	}
}

// savesStore is the fixture's state store, counting the unlocks the engine makes outside a
// run's save, and keeping what each save carried besides the run. (A credential state or a
// history line can only be written by a save: the Store has no other write for them.)
type savesStore struct {
	state.Store
	mu      sync.Mutex
	unlocks int
	carried []state.RunSave
}

func (s *savesStore) SaveRun(ctx context.Context, sv state.RunSave) (state.RunRecord, error) {
	s.mu.Lock()
	s.carried = append(s.carried, sv)
	s.mu.Unlock()
	return s.Store.SaveRun(ctx, sv)
}

func (s *savesStore) Unlock(ctx context.Context, c string, h state.LockHolder) error {
	s.mu.Lock()
	s.unlocks++
	s.mu.Unlock()
	return s.Store.Unlock(ctx, c, h)
}

// TestDoneSaveRecordsAndUnlocks: the save that makes a run done carries the credential's new
// state, its history line and the release of the lock, in one transaction; nothing of it is
// written on its own. A run that stops short of done releases its lock on its own.
func TestDoneSaveRecordsAndUnlocks(t *testing.T) {
	f := newFixture(t, "")
	s := &savesStore{Store: f.db}
	e := f.engine("alice")
	e.State = s
	res := f.rotateDone(e)
	if s.unlocks != 0 {
		t.Fatalf("%d unlocks on their own; want the release in the done save", s.unlocks)
	}
	last := s.carried[len(s.carried)-1]
	if last.Run.Phase != string(rotation.Done) || last.Credential == nil || last.Rotation == nil || last.Unlock == nil {
		t.Fatalf("the last save (phase %s) carried credential %v, rotation %v, unlock %v; want all three", last.Run.Phase, last.Credential, last.Rotation, last.Unlock)
	}
	for _, sv := range s.carried[:len(s.carried)-1] {
		if sv.Credential != nil || sv.Rotation != nil || sv.Unlock != nil {
			t.Fatalf("a save before the last (phase %s) carried writes of the done save", sv.Run.Phase)
		}
	}
	ctx := context.Background()
	cs, err := f.db.CredentialState(ctx, "api-key")
	if err != nil || cs.CurrentVersion != res.Run.New.ID {
		t.Fatalf("credential state %+v, %v; want current %s", cs, err, res.Run.New.ID)
	}
	if hist, err := f.db.Rotations(ctx, "api-key", 0); err != nil || len(hist) != 1 || hist[0].RunID != res.Run.ID {
		t.Fatalf("history %+v, %v; want this run's rotation", hist, err)
	}
	if h, held, err := statetest.Holder(ctx, f.db, "api-key"); err != nil || held {
		t.Fatalf("lock after a done run: %v, %v, %v; want free", h, held, err)
	}

	// Stopped at prepare: not done, so the lock goes on its own.
	res, err = e.Rotate(ctx, f.call("alice"), "api-key", rotation.StagePrepare)
	if err != nil || res.Run.Phase == rotation.Done {
		t.Fatalf("rotate through prepare: phase %s, %v", res.Run.Phase, err)
	}
	if h, held, err := statetest.Holder(ctx, f.db, "api-key"); err != nil || held || s.unlocks != 1 {
		t.Fatalf("lock after a paused run: %v, %v, %v, %d unlocks; want free, by one unlock", h, held, err, s.unlocks)
	}
}

// TestLockOfADeadRotorIsTakenOver: a rotor killed before its run's first save leaves no run,
// only its lock (the run is stored by its first save). The next rotate on the same host takes
// a lock whose process is gone and rotates; a lock whose process lives is reported, and
// nothing is started.
func TestLockOfADeadRotorIsTakenOver(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	e := f.engine("alice")

	live := state.LockHolder{Host: e.Host, PID: os.Getppid(), RunID: "rotate", Since: f.clock()}
	if err := f.db.Lock(ctx, "api-key", live); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Rotate(ctx, f.call("alice"), "api-key", rotation.StageRevoke); !errors.Is(err, engine.ErrLocked) {
		t.Fatalf("rotate under a live rotor's lock: %v, want ErrLocked", err)
	}
	if runs, _ := f.db.Runs(ctx, state.RunFilter{}); len(runs) != 0 {
		t.Fatalf("a refused rotate started %d runs", len(runs))
	}
	if err := f.db.Unlock(ctx, "api-key", live); err != nil {
		t.Fatal(err)
	}

	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := state.LockHolder{Host: e.Host, PID: gone.Process.Pid, RunID: "rotate", Since: f.clock()}
	if err := f.db.Lock(ctx, "api-key", dead); err != nil {
		t.Fatal(err)
	}
	f.rotateDone(e)
	if h, held, err := statetest.Holder(ctx, f.db, "api-key"); err != nil || held {
		t.Fatalf("lock after the run: %v, %v, %v; want free", h, held, err)
	}
}

// raceStore changes the credential's state behind the engine's back right before the first
// save that writes it, as another writer (a run of its own) would between record's read and
// its save.
type raceStore struct {
	state.Store
	raced int
}

func (s *raceStore) SaveRun(ctx context.Context, sv state.RunSave) (state.RunRecord, error) {
	if sv.Credential != nil && s.raced == 0 {
		s.raced++
		cur, err := s.Store.CredentialState(ctx, sv.Credential.ID)
		if err != nil {
			return state.RunRecord{}, err
		}
		cur.CurrentFingerprint = "raced"
		if err := statetest.SaveState(ctx, s.Store, "racer", cur); err != nil {
			return state.RunRecord{}, err
		}
	}
	return s.Store.SaveRun(ctx, sv)
}

// TestRecordMendsALostCredentialCAS: when the credential's state changed between record's read
// and the save that writes it, the save loses its CAS and nothing of it lands; the engine reads
// the state again and saves once more, and the run ends done with the state naming its version.
func TestRecordMendsALostCredentialCAS(t *testing.T) {
	f := newFixture(t, "")
	f.rotate("alice") // a first rotation: the credential has a state to race on
	s := &raceStore{Store: f.db}
	e := f.engine("alice")
	e.State = s
	res := f.rotateDone(e)
	if s.raced != 1 {
		t.Fatalf("raced %d times, want once", s.raced)
	}
	cs, err := f.db.CredentialState(context.Background(), "api-key")
	if err != nil || cs.CurrentVersion != res.Run.New.ID || cs.CurrentFingerprint != res.Run.New.Fingerprint {
		t.Fatalf("credential state %+v, %v; want this run's version %s", cs, err, res.Run.New.ID)
	}
	f.journalOf(res.Run.ID) // the chain still verifies
}
