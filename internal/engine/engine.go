// Package engine runs rotations: it takes the lock of a credential, finds or starts its run,
// and performs what rotation.Next asks, one durable step at a time — the intent recorded
// before every external effect, the effect idempotent with the run id as its key, the outcome
// recorded after, each record appended to the run's hash-chained journal in the same
// transaction. A process killed anywhere resumes where it stopped, without a second mint or an
// early revoke.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/plan"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/state"
)

// Engine runs rotations of one inventory against one state store.
type Engine struct {
	Inv           *inventory.Inventory
	Registry      *provider.Registry
	State         state.Store
	Fingerprinter *secret.Fingerprinter
	Clock         func() time.Time
	Sleep         func(ctx context.Context, d time.Duration) error
	Rand          io.Reader
	Getenv        func(string) string
	Log           *slog.Logger
	BaseDir       string
	Host          string
	PID           int
	// CrashAt, for tests only, kills the process with SIGKILL at the named durable step
	// boundary (see crashPoint); "list" prints every boundary passed instead.
	CrashAt string

	// The providers' shared resources while an operation runs (see share).
	sharedMu    sync.Mutex
	shared      *provider.Shared
	sharedUsers int
}

// Call is what one invocation brings with it: who acts, where its progress goes, and how it
// may wait. It is passed to each call, never kept on the Engine, so that one long-lived
// engine (rotor serve's) serves several people and schedules at once.
type Call struct {
	// Actor is who is acting: the initiator of a new run, the approver, the owner signing off.
	// A CLI cannot prove it (--as is self-declared); OSUser, the account that ran the command,
	// is journaled beside it. rotor serve will authenticate its callers.
	Actor  string
	OSUser string
	// Progress receives one line per step as it happens (a terminal); nil discards them.
	Progress io.Writer
	// MaxWait lets a rotate wait in-process for a gate that clears by itself soon (a short
	// soak, a retry backoff) instead of returning "blocked".
	MaxWait time.Duration
	// Force starts a new run even when the credential is not due (rotate --now: after a
	// leak, or to rehearse). Without it, rotate resumes a run in progress or starts one only
	// when the plan says the credential is due.
	Force bool
}

// progress is where the call's step lines go.
func (c Call) progress() io.Writer {
	if c.Progress == nil {
		return io.Discard
	}
	return c.Progress
}

// Result is where a rotate stopped.
type Result struct {
	Run    rotation.Run
	Action rotation.Action
	// NotDue is set when rotate found no run in progress and the credential is not due:
	// nothing was started (Run is the last finished run, if any).
	NotDue *plan.Entry
	// NotStarted: a new run stopped at a gate before its first effect (a freeze, a window,
	// readiness) and was not stored — nothing happened, nothing lingers. Run is that run as
	// it stood (its id names nothing in the state); Action says what stopped it.
	NotStarted bool
}

// Blocked reports whether the run stopped at a gate (exit 3).
func (r Result) Blocked() bool {
	return r.Action.Kind == rotation.Wait || r.Action.Kind == rotation.Stopped
}

func errUnknownCredential(id string) error {
	return fmt.Errorf("no credential %q in the inventory", id)
}

// notDueError: no run is in progress and the credential is not due.
type notDueError struct{ entry plan.Entry }

func (e *notDueError) Error() string {
	return e.entry.Credential + " is not due: " + e.entry.DueReason
}

// dueEntry is the credential's plan line now, from its recorded state.
func (e *Engine) dueEntry(ctx context.Context, c *inventory.Credential) (plan.Entry, error) {
	cs, err := e.State.CredentialState(ctx, c.ID)
	known := err == nil
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return plan.Entry{}, err
	}
	h := plan.History{LastRotated: cs.LastRotated, Expires: cs.Expires, Version: cs.CurrentVersion}
	e.adviseRenewal(ctx, c, &h) // the CA's renewal window (ARI), when it offers one
	return plan.For(e.Inv, c, h, known, e.now()), nil
}

// notDue answers a rotate that had nothing to start, with the credential's last run.
func (e *Engine) notDue(ctx context.Context, c *inventory.Credential, entry plan.Entry) (Result, error) {
	res := Result{Action: rotation.Action{Kind: rotation.Finished}, NotDue: &entry}
	runs, err := e.State.Runs(ctx, state.RunFilter{Credential: c.ID, Limit: 1})
	if err != nil {
		return res, err
	}
	if len(runs) > 0 {
		if res.Run, err = rotation.DecodeRun(runs[0].ID, runs[0].Data); err != nil {
			return res, err
		}
	}
	return res, nil
}

// ErrLocked is returned when another rotor holds the credential's lock.
var ErrLocked = state.ErrLocked

// Rotate starts or resumes the run of a credential and drives it as far as its gates allow,
// up to the through stage.
func (e *Engine) Rotate(ctx context.Context, call Call, credential string, through rotation.Stage) (Result, error) {
	c, ok := e.Inv.Credential(credential)
	if !ok {
		return Result{}, errUnknownCredential(credential)
	}
	since := e.now()
	rec, first, holder, err := e.lockAndLoad(ctx, call, c)
	var nd *notDueError
	if errors.As(err, &nd) {
		if err := e.retire(ctx, call, c, since); err != nil { // deletions due of done runs (retire.go)
			return Result{}, err
		}
		return e.notDue(ctx, c, nd.entry)
	}
	if err != nil {
		return Result{}, err
	}
	shared, release := e.share()
	defer release()
	rs := &runState{e: e, call: call, cred: c, rec: rec, shared: shared, holder: &holder, held: first}
	defer rs.unlock(ctx)
	if err := rs.decode(); err != nil {
		return Result{}, err
	}
	if rs.run.Halt != nil {
		rotation.Resume(&rs.run, e.now())
		if err := rs.save(ctx, rs.entry(journal.KindNote, "", "", "resumed after a halt by "+call.Actor)); err != nil {
			return Result{}, err
		}
	}
	res, err := rs.drive(ctx, rotation.Options{Through: through, Since: e.now()})
	res.NotStarted = rs.unstored()
	if err == nil {
		err = e.retire(ctx, call, c, since) // deletions due, this run's revoke may have made one due (retire.go)
	}
	return res, err
}

// lockAndLoad takes the credential's lock and returns its active run, or, when there is none
// and the credential is due (or Force), a new run that is not stored yet with the journal
// entry that starts it (the run's first save stores both: see startRun); and the holder of
// the lock, which the caller releases (runState.unlock). On an error the lock is released.
func (e *Engine) lockAndLoad(ctx context.Context, call Call, c *inventory.Credential) (state.RunRecord, []journal.Entry, state.LockHolder, error) {
	// The run may not exist yet: the holder names the operation until it does.
	holder := state.LockHolder{Host: e.Host, PID: e.PID, RunID: "rotate", Since: e.now()}
	if err := e.lock(ctx, c.ID, holder); err != nil {
		return state.RunRecord{}, nil, holder, err
	}
	fail := func(err error) (state.RunRecord, []journal.Entry, state.LockHolder, error) {
		_ = e.State.Unlock(context.WithoutCancel(ctx), c.ID, holder)
		return state.RunRecord{}, nil, holder, err
	}
	rec, err := e.activeRun(ctx, c.ID)
	switch {
	case err == nil:
		return rec, nil, holder, nil
	case !errors.Is(err, state.ErrNotFound):
		return fail(err)
	}
	if !call.Force {
		// Start a run only when the credential is due: a rotate repeated after a crash that
		// came just after a run finished must not mint a second value.
		if entry, err := e.dueEntry(ctx, c); err != nil || entry.Status == plan.StatusOK {
			if err == nil {
				err = &notDueError{entry}
			}
			return fail(err)
		}
	}
	rec, first, err := e.startRun(call, c)
	if err != nil {
		return fail(err)
	}
	return rec, []journal.Entry{first}, holder, nil
}

// lock takes the credential's lock. A lock left by a process of this host that no longer
// exists (a crash, or a rotor that failed to release it: the disk was full) is taken over;
// when the takeover fails, the error says why, and that the holder is gone — it is never
// described as another rotor at work. A holder that is alive, or on another host (rotor
// cannot tell whether it runs), is reported, and nothing waits silently.
func (e *Engine) lock(ctx context.Context, cred string, h state.LockHolder) error {
	for attempt := 1; ; attempt++ {
		err := e.State.Lock(ctx, cred, h)
		var le *state.LockedError
		if !errors.As(err, &le) {
			return err
		}
		if le.Holder.Host != e.Host || processAlive(le.Holder.PID) {
			return fmt.Errorf("credential %s is being rotated by another rotor (host %s, pid %d, since %s): %w",
				cred, le.Holder.Host, le.Holder.PID, le.Holder.Since.Format(time.RFC3339), ErrLocked)
		}
		err = e.State.StealLock(ctx, cred, le.Holder, h)
		if err == nil {
			return nil
		}
		if errors.Is(err, state.ErrConflict) && attempt < 3 {
			continue // released or taken over meanwhile: look again
		}
		return &staleLockError{cred: cred, holder: le.Holder, err: err}
	}
}

// ErrStaleLock is in the chain of the error of a command that found its credential locked by
// a rotor of this host that is no longer running, and could not take the lock over.
var ErrStaleLock = errors.New("locked by a rotor that is no longer running")

type staleLockError struct {
	cred   string
	holder state.LockHolder
	err    error
}

func (e *staleLockError) Error() string {
	return fmt.Sprintf("credential %s is locked by rotor pid %d of this host (since %s), which is no longer running; taking its lock over failed: %v",
		e.cred, e.holder.PID, e.holder.Since.Format(time.RFC3339), e.err)
}

func (e *staleLockError) Unwrap() []error { return []error{e.err, ErrStaleLock} }

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// activeRun is the credential's run that is not done, newest first.
func (e *Engine) activeRun(ctx context.Context, cred string) (state.RunRecord, error) {
	runs, err := e.State.Runs(ctx, state.RunFilter{Credential: cred, Phases: activePhases, Limit: 1})
	if err != nil {
		return state.RunRecord{}, err
	}
	if len(runs) == 0 {
		return state.RunRecord{}, state.ErrNotFound
	}
	return runs[0], nil
}

var activePhases = rotation.ActivePhases()

// startRun makes a new run and the entry that starts its journal, and stores neither: the
// run's first save does, with the intent of its first step with an effect (mint) and what
// came before it (readiness, which only looks), in one transaction. Until then nothing outside
// the lock says the run exists, and nothing needs to: a crash before that save leaves no
// effect to reconcile, only a lock whose process is gone, which the next rotate takes over;
// and a run stopped before it — by a freeze, a window or readiness — is never stored at all
// (runState.save): the rotate says why, and nothing lingers.
func (e *Engine) startRun(call Call, c *inventory.Credential) (state.RunRecord, journal.Entry, error) {
	actor := call.Actor
	now := e.now()
	id, err := newRunID(e.Rand, now)
	if err != nil {
		return state.RunRecord{}, journal.Entry{}, err
	}
	r := rotation.Run{ID: id, Credential: c.ID, Strategy: c.Authority.Strategy, Critical: c.Critical,
		Phase: rotation.Planned, StartedBy: actor, StartedAt: now, UpdatedAt: now, Steps: []rotation.Step{}}
	for _, k := range c.Consumers {
		r.Consumers = append(r.Consumers, rotation.ConsumerState{ID: k.ID})
	}
	data, err := json.Marshal(r)
	if err != nil {
		return state.RunRecord{}, journal.Entry{}, err
	}
	first := journal.Entry{RunID: id, At: now, Actor: call.Actor, OSUser: call.OSUser, Kind: journal.KindRunStarted, Phase: string(r.Phase),
		Summary: fmt.Sprintf("run started by %s: rotate %s (%s, strategy %s)", call.Actor, c.ID, critical(c.Critical), r.Strategy)}
	return state.RunRecord{ID: id, Credential: c.ID, Phase: string(r.Phase), Data: data}, first, nil
}

func critical(b bool) string {
	if b {
		return "critical"
	}
	return "not critical"
}

// newRunID is sortable by time and unique: r20261125T221502-3fa9c1.
func newRunID(r io.Reader, now time.Time) (string, error) {
	b := make([]byte, 3)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("run id: %w", err)
	}
	return "r" + now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b), nil
}

func (e *Engine) now() time.Time { return e.Clock() }

// crashPoint is a durable step boundary. Tests list the boundaries and kill rotor at each one
// (SIGKILL: no deferred function runs, exactly as in a power cut).
func (e *Engine) crashPoint(name string) {
	switch e.CrashAt {
	case "":
		return
	case "list":
		fmt.Fprintln(os.Stderr, "crash-point "+name)
	case name:
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

// Defaults fills what a caller left empty.
func (e *Engine) Defaults() {
	if e.Clock == nil {
		e.Clock = time.Now
	}
	if e.Rand == nil {
		e.Rand = rand.Reader
	}
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
	if e.Log == nil {
		e.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if e.Sleep == nil {
		e.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	if e.Host == "" {
		e.Host, _ = os.Hostname()
	}
	if e.PID == 0 {
		e.PID = os.Getpid()
	}
}
