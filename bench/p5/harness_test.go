package p5

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/sqlite"
)

// consumers of every benchmark credential: three services that read the value with their own
// age identity, are reloaded through their admin endpoint and proven by a health check; the
// first one validates callers' keys (accepts), so a rotation with a previous version reloads
// it again after the revoke.
var consumers = []string{"search-service", "storefront", "billing-worker"}

// fixture is an inventory of n credentials on the file store and the generated authority,
// the real engine over a SQLite state file, and the baseline's database, all in one
// temporary folder.
type fixture struct {
	dir   string
	eng   *engine.Engine
	db    *sqlite.DB
	rec   *recorder
	bare  *bare
	creds []string
}

func newFixture(tb testing.TB, n int) *fixture {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	// The consumers' admin endpoint ("reloaded") and health endpoint ("ok").
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	tb.Cleanup(srv.Close)

	cat := builtin.New()
	for _, k := range []provider.Kind{provider.KindReload, provider.KindCheck} {
		if !cat.Implemented(k, "http") {
			tb.Fatalf("this build has no http %s: the bench's consumers need it", k)
		}
	}
	f := &fixture{dir: dir}
	invDir := filepath.Join(dir, "inventory")
	inv, err := writeInventory(invDir, n, srv.URL)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range inv.Credentials {
		f.creds = append(f.creds, c.ID)
	}
	f.db, err = sqlite.Open(ctx, filepath.Join(dir, "state", "rotor.db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.db.Close() })
	key := make([]byte, secret.KeySize)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	fp, err := secret.NewFingerprinter(key)
	if err != nil {
		tb.Fatal(err)
	}
	f.rec = newRecorder()
	// Force: rotate --now. A credential rotated a moment ago is not due again, and the bench
	// rotates each one many times.
	f.eng = &engine.Engine{Inv: inv, Registry: cat, State: timedStore{f.db, f.rec}, Fingerprinter: fp,
		Clock: f.rec.Now, BaseDir: invDir}
	f.eng.Defaults()
	if f.bare, err = openBare(ctx, filepath.Join(dir, "state", "bare.db")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.bare.db.Close() })
	return f
}

// writeInventory writes an inventory of n credentials and loads it as rotor does.
func writeInventory(dir string, n int, srvURL string) (*inventory.Inventory, error) {
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("teams:\n  team-bench: {contact: \"#bench\"}\n\nidentities:\n")
	for _, id := range append([]string{"rotor-exec"}, consumers...) {
		k, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, err
		}
		file := "keys/" + id + ".key"
		if err := os.WriteFile(filepath.Join(dir, file), []byte(k.String()+"\n"), 0o600); err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "  %s: {type: age, recipient: %s, identity_file: %s}\n", id, k.Recipient(), file)
	}
	b.WriteString("\nchecks:\n")
	for _, c := range consumers {
		fmt.Fprintf(&b, "  %s-health: {type: http, url: %q, timeout: 5s}\n", c, srvURL+"/healthz?consumer="+c)
	}
	b.WriteString("\ncredentials:\n")
	for i := range n {
		fmt.Fprintf(&b, `  bench-key-%03d:
    kind: api-key
    owner: team-bench
    store: {type: file, dir: store, identity: rotor-exec}
    authority: {type: generated, strategy: overlap, length: 40, alphabet: url-safe, prefix: "bench_"}
    rotate: {every: 30d}
    consumers:
`, i+1)
		for j, c := range consumers {
			fmt.Fprintf(&b, "      %s:\n        kind: service\n        identity: %s\n        reads: on-change\n", c, c)
			fmt.Fprintf(&b, "        reload: {type: http, url: %q, timeout: 5s}\n", srvURL+"/admin/reload-secrets?consumer="+c)
			fmt.Fprintf(&b, "        checks: [%s-health]\n", c)
			if j == 0 {
				b.WriteString("        accepts: true\n")
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "rotor.yaml"), []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	return inventory.Load(dir, inventory.Options{Catalog: builtin.New(), Now: time.Now()})
}

// rotate performs one complete rotation of cred in one Engine.Rotate, as `rotor rotate --now`
// does: no window, no soak, every consumer proven by its check, so nothing blocks.
func (f *fixture) rotate(ctx context.Context, cred string) (rotation.Run, error) {
	res, err := f.eng.Rotate(ctx, engine.Call{Actor: "bench@example.com", Progress: progress{f.rec}, Force: true}, cred, rotation.StageRevoke)
	if err != nil {
		return res.Run, fmt.Errorf("%s: %w", cred, err)
	}
	if res.Run.Phase != rotation.Done {
		return res.Run, fmt.Errorf("%s: run %s stopped in phase %s at gate %q: %s", cred, res.Run.ID, res.Run.Phase, res.Action.Gate.Gate, res.Action.Gate.Message)
	}
	return res.Run, nil
}

// --- the engine's seams, timestamped ---

type evKind uint8

const (
	evClock    evKind = iota + 1 // engine code read its clock
	evCall                       // a state.Store method was called
	evReturn                     // ... and returned
	evEffect                     // Progress "  → step …": the effect of step (op) starts right after
	evProgress                   // any other Progress write (a step's verdict)
)

type event struct {
	kind    evKind
	at      time.Time
	op      string               // evCall, evReturn: the state.Store method; evClock: the engine function; evEffect: the step
	entries []state.JournalEntry // evCall of SaveRun
	dataLen int                  // evCall of SaveRun: bytes of the run's JSON
	err     error                // evReturn
}

// recorder keeps the events of one engine, in order. The engine calls it from one goroutine;
// the lock is there in case a provider reads the clock from another.
type recorder struct {
	mu      sync.Mutex
	events  []event
	callers map[[8]uintptr]string // clock call sites: the engine function that read, or ""
}

func newRecorder() *recorder {
	return &recorder{events: make([]event, 0, 1<<14), callers: map[[8]uintptr]string{}}
}

func (r *recorder) add(e event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// mark is where the next rotation's events start.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func (r *recorder) since(i int) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events[i:])
}

const (
	enginePrefix = "github.com/rotorhq/rotor/internal/engine."
	selfPrefix   = "github.com/rotorhq/rotor/bench/p5."
	engineNow    = enginePrefix + "(*Engine).now"
	// stepFunc is the engine function that performs a durable step; its first clock read
	// after the effect is `now := e.now()`, for Finish.
	stepFunc = enginePrefix + "(*runState).do"
)

// Now is the engine's Clock, which it also hands to the providers (provider.Env.Now). The
// time is taken first; finding the caller (runtime.Callers, resolved once per call site)
// comes after, so its cost is charged to whatever follows the read.
func (r *recorder) Now() time.Time {
	now := time.Now()
	var pcs [8]uintptr
	runtime.Callers(2, pcs[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	fn, ok := r.callers[pcs]
	if !ok {
		fn = engineCaller(pcs[:])
		r.callers[pcs] = fn
	}
	if fn != "" {
		r.events = append(r.events, event{kind: evClock, at: now, op: fn})
	}
	return now
}

// engineCaller is the engine function that read the clock (through its now method), or ""
// when the first caller outside this package is not engine code (a provider, which reads the
// same clock through provider.Env).
func engineCaller(pcs []uintptr) string {
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		switch {
		case strings.HasPrefix(f.Function, selfPrefix), f.Function == engineNow:
		case strings.HasPrefix(f.Function, enginePrefix):
			return f.Function
		default:
			return ""
		}
		if !more {
			return ""
		}
	}
}

// progress is the engine's Progress writer. The engine writes "  → name …" right before a
// step's effect and " verdict\n" after its outcome is saved, or, when the outcome is held
// (the next step is local), after its outcome is built.
type progress struct{ r *recorder }

var arrow = []byte("→")

func (p progress) Write(b []byte) (int, error) {
	now := time.Now()
	ev := event{kind: evProgress, at: now}
	if _, name, ok := bytes.Cut(b, arrow); ok {
		ev.kind = evEffect
		ev.op = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(name)), "…"))
	}
	p.r.add(ev)
	return len(b), nil
}

// timedStore is the state store the engine is given: the SQLite store, with every call the
// engine makes timestamped on the way in and on the way out.
type timedStore struct {
	state.Store
	r *recorder
}

func (s timedStore) call(op string, entries []state.JournalEntry, dataLen int) {
	s.r.add(event{kind: evCall, op: op, entries: entries, dataLen: dataLen, at: time.Now()})
}

func (s timedStore) ret(op string, err error) {
	now := time.Now()
	s.r.add(event{kind: evReturn, op: op, err: err, at: now})
}

// SaveRun is how the engine creates a run, saves it and everything that goes with a save:
// the one synced transaction of a save, whatever it carries.
func (s timedStore) SaveRun(ctx context.Context, sv state.RunSave) (state.RunRecord, error) {
	s.call("SaveRun", sv.Entries, len(sv.Run.Data))
	out, err := s.Store.SaveRun(ctx, sv)
	s.ret("SaveRun", err)
	return out, err
}

func (s timedStore) Run(ctx context.Context, id string) (state.RunRecord, error) {
	s.call("Run", nil, 0)
	out, err := s.Store.Run(ctx, id)
	s.ret("Run", err)
	return out, err
}

func (s timedStore) Runs(ctx context.Context, f state.RunFilter) ([]state.RunRecord, error) {
	s.call("Runs", nil, 0)
	out, err := s.Store.Runs(ctx, f)
	s.ret("Runs", err)
	return out, err
}

func (s timedStore) Lock(ctx context.Context, credential string, h state.LockHolder) error {
	s.call("Lock", nil, 0)
	err := s.Store.Lock(ctx, credential, h)
	s.ret("Lock", err)
	return err
}

func (s timedStore) Unlock(ctx context.Context, credential string, h state.LockHolder) error {
	s.call("Unlock", nil, 0)
	err := s.Store.Unlock(ctx, credential, h)
	s.ret("Unlock", err)
	return err
}

func (s timedStore) CredentialState(ctx context.Context, id string) (state.CredentialState, error) {
	s.call("CredentialState", nil, 0)
	out, err := s.Store.CredentialState(ctx, id)
	s.ret("CredentialState", err)
	return out, err
}

// --- from events to durable steps ---

// intentSave says which save holds a step's intent.
type intentSave uint8

const (
	// intentOwn: a save of its own, between the step's start and its effect.
	intentOwn intentSave = iota + 1
	// intentBegun: the previous step's outcome save, whose return is the step's start.
	intentBegun
	// intentHeld: held in memory by the engine and saved after the effect, with the step's
	// outcome or a later one. Only a local step (rotation.StepKind.Local) may do this.
	intentHeld
)

// step is one durable step as observed. Its boundaries, start and end, are contiguous with
// those of the steps around it in one drive: the end of a step whose outcome is saved is the
// return of that save (the next step, begun by it, starts there); the end of a step whose
// outcome is held is the start of the next step's effect (the next step starts there too).
type step struct {
	name        string // the step as the journal names it: mint, reload:storefront, …
	kind        rotation.StepKind
	start, end  time.Time
	intent      intentSave
	intentCall  time.Time // the save that holds the intent: before the effect unless intentHeld
	intentRet   time.Time
	effectStart time.Time
	effectEnd   time.Time
	// outcomeHeld: the outcome was not saved within the step; it went with the next step's
	// save (outcomeCall, outcomeRet are then after end, and charged to a later step).
	outcomeHeld bool
	outcomeCall time.Time
	outcomeRet  time.Time
	runBytes    int // the run's JSON written by the save that holds the outcome
}

func (s step) wall() time.Duration     { return s.end.Sub(s.start) }
func (s step) effect() time.Duration   { return s.effectEnd.Sub(s.effectStart) }
func (s step) overhead() time.Duration { return s.wall() - s.effect() }

// saves is the number of synced transactions within the step's boundaries: 0, 1 or 2.
func (s step) saves() int {
	n := 0
	if s.intent == intentOwn {
		n++
	}
	if !s.outcomeHeld {
		n++
	}
	return n
}

// intentSave is the time of the step's own intent save, 0 when it has none.
func (s step) intentSave() time.Duration {
	if s.intent != intentOwn {
		return 0
	}
	return s.intentRet.Sub(s.intentCall)
}

// outcomeSave is the time of the save that ends the step, 0 when its outcome is held.
func (s step) outcomeSave() time.Duration {
	if s.outcomeHeld {
		return 0
	}
	return s.outcomeRet.Sub(s.outcomeCall)
}

func (s step) cpu() time.Duration { return s.overhead() - s.intentSave() - s.outcomeSave() }

// observed is what a sequence of events shows.
type observed struct {
	steps []step
	// stepSaves is the number of saves holding step entries (intents, outcomes): each is
	// within exactly one step's boundaries, so it equals the sum of the steps' saves.
	stepSaves int
	// other holds the store calls that are not part of a durable step, by label: the
	// per-rotate calls (Lock, Runs, Unlock) and the saves that are not step
	// boundaries (a gate recorded, a sign-off, a phase).
	other map[string][]time.Duration
}

func firstKind(entries []state.JournalEntry) string {
	if len(entries) == 0 {
		return ""
	}
	return entries[0].Kind
}

// mark is a step entry of a save: an intent (step-started) or an outcome (step-done,
// step-failed).
type mark struct {
	outcome bool
	name    string
	kind    rotation.StepKind
}

// marks are the step entries of a save, in order; other entries (evidence, notes, phases,
// notifications) are left out.
func marks(entries []state.JournalEntry) ([]mark, error) {
	var ms []mark
	for _, en := range entries {
		var outcome bool
		switch journal.Kind(en.Kind) {
		case journal.KindStepStarted:
		case journal.KindStepDone, journal.KindStepFailed:
			outcome = true
		default:
			continue
		}
		e, err := journal.Decode(en.Body)
		if err != nil {
			return nil, fmt.Errorf("has a %s entry that does not decode: %w", en.Kind, err)
		}
		k := rotation.StepKind(e.Step)
		ms = append(ms, mark{outcome: outcome, name: rotation.StepName(k, e.Consumer), kind: k})
	}
	return ms, nil
}

// label names a store call outside the durable steps.
func label(ev event) string {
	if ev.op == "SaveRun" {
		return "SaveRun (" + firstKind(ev.entries) + ")"
	}
	return ev.op
}

// observe cuts events into durable steps. It fails on any sequence it does not expect, so a
// change in how the engine drives a step shows up as an error, never as a silently wrong
// figure. It fails in particular when the effect of a step that is not local starts
// before a save holding its intent has returned: the engine's safety property.
//
// A step starts in one of three ways: with an intent save of its own (from idle), begun by
// the previous step's outcome save, or with its intent held (a local step: from idle, or
// right after the previous step's effect when that step's outcome is held too). It ends with
// the save of its outcome, or, when its outcome is held, where the next step's effect starts.
// The save that finally persists held steps closes them all and is charged to the last one.
func observe(events []event) (observed, error) {
	const (
		idle        = iota
		intent      // intent save called
		intentSaved // it returned; the "→" line comes next
		effect      // the effect runs: until the engine reads its clock
		afterEffect // Finish, marshal, seal; until the outcome save is called or the verdict of a held outcome
		outcome     // outcome save called
		begunNext   // the outcome save returned holding the next step's intent: its effect comes next
		heldNext    // the outcome is held: the next step's effect comes next, with its intent held
	)
	out := observed{other: map[string][]time.Duration{}}
	st := idle
	var (
		cur       step
		open      []step // steps whose outcome is held, ended, waiting for the save that persists them
		next      mark   // the step whose intent the outcome save being made holds
		hasNext   bool
		start     time.Time
		haveStart bool
		pending   *event // a call outside a step, waiting for its return
	)
	bad := func(i int, ev event, what string) error {
		return fmt.Errorf("event %d (kind %d, op %q) %s (step %q)", i, ev.kind, ev.op, what, cur.name)
	}
	// heldEffect starts a step whose intent is held: only a local step may.
	heldEffect := func(i int, ev event, at time.Time) error {
		cur = step{name: ev.op, kind: rotation.StepKindOf(ev.op), start: at, intent: intentHeld, effectStart: ev.at}
		if !cur.kind.Local() {
			return bad(i, ev, "starts the effect of a step that is not local before a save holding its intent returned")
		}
		return nil
	}
	for i, ev := range events {
		switch st {
		case idle:
			switch ev.kind {
			case evClock:
				if !haveStart {
					start, haveStart = ev.at, true
				}
			case evProgress:
				haveStart = false
			case evEffect:
				if !haveStart || pending != nil {
					return out, bad(i, ev, "starts an effect with no engine clock read before it, or inside a store call")
				}
				if err := heldEffect(i, ev, start); err != nil {
					return out, err
				}
				st = effect
			case evReturn:
				if pending == nil || pending.op != ev.op {
					return out, bad(i, ev, "returns a call that was not made")
				}
				if ev.err != nil && !errors.Is(ev.err, state.ErrNotFound) {
					return out, bad(i, ev, "failed: "+ev.err.Error())
				}
				l := label(*pending)
				out.other[l] = append(out.other[l], ev.at.Sub(pending.at))
				pending, haveStart = nil, false
			case evCall:
				if ev.op == "SaveRun" {
					ms, err := marks(ev.entries)
					if err != nil {
						return out, bad(i, ev, err.Error())
					}
					if len(ms) > 0 {
						if len(ms) != 1 || ms[0].outcome || firstKind(ev.entries) != string(journal.KindStepStarted) {
							return out, bad(i, ev, fmt.Sprintf("saves step entries %v outside a step", ms))
						}
						if !haveStart {
							return out, bad(i, ev, "is an intent save with no engine clock read before it")
						}
						cur = step{name: ms[0].name, kind: ms[0].kind, start: start, intent: intentOwn, intentCall: ev.at}
						out.stepSaves++
						st = intent
						continue
					}
				}
				e := ev
				pending = &e
			}
		case intent:
			if ev.kind != evReturn || ev.op != "SaveRun" || ev.err != nil {
				return out, bad(i, ev, "comes where the intent save should return")
			}
			cur.intentRet, st = ev.at, intentSaved
		case intentSaved:
			if ev.kind != evEffect || ev.op != cur.name {
				return out, bad(i, ev, "comes between the intent save and the effect")
			}
			cur.effectStart, st = ev.at, effect
		case effect:
			// The providers' work, the check step's evidence entries, the record step's own
			// state calls: all effect, until the step function reads the clock for Finish.
			switch {
			case ev.kind == evClock && ev.op == stepFunc:
				cur.effectEnd, st = ev.at, afterEffect
			case ev.kind == evCall && ev.op == "SaveRun", ev.kind == evEffect, ev.kind == evProgress:
				return out, bad(i, ev, "comes before the engine read its clock after the effect")
			}
		case afterEffect:
			switch {
			case ev.kind == evClock:
			case ev.kind == evProgress:
				// The verdict before any save: the outcome is held.
				cur.outcomeHeld, st = true, heldNext
			case ev.kind == evCall && ev.op == "SaveRun":
				ms, err := marks(ev.entries)
				if err != nil {
					return out, bad(i, ev, err.Error())
				}
				// What the save must hold: the held intents and outcomes of the open steps
				// and of this one, in order, then at most the next step's intent.
				var want []mark
				for _, s := range append(slices.Clip(open), cur) {
					if s.intent == intentHeld {
						want = append(want, mark{name: s.name, kind: s.kind})
					}
					want = append(want, mark{outcome: true, name: s.name, kind: s.kind})
				}
				hasNext = len(ms) == len(want)+1 && !ms[len(want)].outcome
				if hasNext {
					next = ms[len(want)]
					ms = ms[:len(want)]
				}
				if !slices.Equal(ms, want) {
					return out, bad(i, ev, fmt.Sprintf("saves step entries %v where %v (and the next intent) were held", ms, want))
				}
				cur.outcomeCall, cur.runBytes, st = ev.at, ev.dataLen, outcome
				out.stepSaves++
			default:
				return out, bad(i, ev, "comes between the effect and the outcome save")
			}
		case heldNext:
			// The drive loop's clock read, then the "→" line of the next step.
			switch ev.kind {
			case evClock:
			case evEffect:
				cur.end = ev.at
				open = append(open, cur)
				if err := heldEffect(i, ev, ev.at); err != nil {
					return out, err
				}
				st = effect
			default:
				return out, bad(i, ev, "comes between a held outcome and the next step's effect")
			}
		case outcome:
			if ev.kind != evReturn || ev.op != "SaveRun" || ev.err != nil {
				return out, bad(i, ev, "comes where the outcome save should return")
			}
			cur.end = ev.at
			for _, s := range append(slices.Clip(open), cur) {
				s.outcomeCall, s.outcomeRet, s.runBytes = cur.outcomeCall, ev.at, cur.runBytes
				if s.intent == intentHeld {
					s.intentCall, s.intentRet = cur.outcomeCall, ev.at
				}
				out.steps = append(out.steps, s)
			}
			call := cur.outcomeCall
			st, haveStart, cur, open = idle, false, step{}, nil
			if hasNext {
				cur = step{name: next.name, kind: next.kind, start: ev.at, intent: intentBegun, intentCall: call, intentRet: ev.at}
				st, hasNext = begunNext, false
			}
		case begunNext:
			// The verdict line, the crash hook, the drive loop's clock read, then the "→" line.
			switch {
			case ev.kind == evClock, ev.kind == evProgress:
			case ev.kind == evEffect && ev.op == cur.name:
				cur.effectStart, st = ev.at, effect
			default:
				return out, bad(i, ev, "comes between a saved intent and its effect")
			}
		}
	}
	if st != idle || pending != nil || len(open) > 0 {
		return out, errors.New("events end inside a step or a store call, or with steps not saved")
	}
	return out, nil
}

// --- the baseline ---

// bare is a SQLite file with one table, opened with the connection settings sqlite.Open
// gives its writer (see its dsn): the floor under one durable write.
type bare struct {
	db      *sql.DB
	payload []byte
	n       int
}

func openBare(ctx context.Context, path string) (*bare, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "trusted_schema(OFF)")
	q.Set("_defensive", "1")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String()) // the driver sqlite.Open registers (modernc.org/sqlite)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	b := &bare{db: db, payload: bytes.Repeat([]byte("p"), 256)}
	var mode string
	var sync int
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil || mode != "wal" {
		db.Close()
		return nil, fmt.Errorf("baseline %s: journal_mode %q: %v", path, mode, err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		db.Close()
		return nil, fmt.Errorf("baseline %s: synchronous %d (want 2, FULL): %v", path, sync, err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE bare (id INTEGER PRIMARY KEY, at TEXT NOT NULL, body BLOB NOT NULL) STRICT"); err != nil {
		db.Close()
		return nil, fmt.Errorf("baseline %s: %w", path, err)
	}
	return b, nil
}

// insert is one transaction, BEGIN IMMEDIATE; INSERT one row of 256 bytes; COMMIT, timed.
func (b *bare) insert(ctx context.Context) (time.Duration, error) {
	b.n++
	at := time.Now()
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO bare (id, at, body) VALUES (?, ?, ?)", b.n, "2026-11-25T19:00:00Z", b.payload); err != nil {
		tx.Rollback()
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return time.Since(at), nil
}
