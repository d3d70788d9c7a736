package rotation

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/schedule"
)

// Spec is what the inventory says about the credential, in the terms Next needs.
type Spec struct {
	Strategy string
	Critical bool
	// Approvers may approve a critical credential's revocation (resolved from its teams),
	// never the run's initiator: with none other, the approval gate is blocked, named.
	Approvers []string
	Soak      time.Duration
	Windows   map[Stage]*schedule.Window // nil entry: any time outside freezes
	Freezes   []schedule.Freeze
	Consumers []ConsumerSpec
	// Signals are the credential-wide checks watched after cutover and at the end of the soak.
	Signals []string
	// Usage are who is asked, before revoke, whether the previous version is still in use, in
	// the order the residual-use step asks them: UsageAuthority when the authority can say,
	// UsageStore when the store can (a vault-kv store reading its audit log), then
	// UsageCheck(id) for each check of the credential or of a consumer that can (a tls
	// check names the endpoints still serving the previous certificate). Empty: nobody can
	// say, and there is no residual-use gate.
	Usage []string
	// Toggle: the store can disable the previous version at revoke.
	Toggle bool
	// EndSessions: the authority is configured to end the previous version's sessions at
	// revoke, once a person approves it after residual use found them.
	EndSessions bool
	// DeleteAfter is how long after its revoke the version a run retired is deleted from the
	// store (inventory delete_after). Zero is the default policy: at the next rotation's
	// revoke, so that one previous version always stays, disabled, for a restore by hand.
	DeleteAfter time.Duration
	// Readers names the identities a new version is written for now (the executor and every
	// consumer, as the inventory declares them): when it differs from the run's Readers and
	// read-access failed, the pending version is written again for them (StepReseal) — if the
	// store can (Reseal) — rather than left for readers it was not written for.
	Readers string
	Reseal  bool
}

// The residual-use sources of Spec.Usage.
const (
	UsageAuthority = "authority"
	UsageStore     = "store"
)

// UsageCheck names a check as a residual-use source.
func UsageCheck(id string) string { return "check:" + id }

// ConsumerSpec is one consumer, in declared order.
type ConsumerSpec struct {
	ID          string
	HasIdentity bool
	HasReload   bool
	Accepts     bool
	Checks      []string
	// Delayed consumers are proven later than cutover; ProofAt gives when (false: only a
	// person can prove it).
	Delayed bool
	ProofAt func(cutover time.Time) (time.Time, bool) `json:"-"`
	// SignOffOnly: nothing observable shows that the consumer switched (it keeps what it read
	// at start until restarted by hand, or an outside party holds it), so its checks prove
	// nothing and revoke waits for an owner's sign-off; Why says so in words.
	SignOffOnly bool
	Why         string
}

// ActionKind is what Next asks for.
type ActionKind int

// The actions.
const (
	DoStep   ActionKind = iota + 1 // perform a durable step
	Wait                           // blocked at a gate; Until says when it may clear by itself
	Pause                          // the --through stage is reached
	Finished                       // the run is done
	Stopped                        // halted: a person must act
)

// Action is Next's answer.
type Action struct {
	Kind     ActionKind
	Step     StepKind
	Consumer string
	Phase    Phase // the phase the step belongs to
	Gate     GateResult
}

// Options are per-invocation inputs.
type Options struct {
	Through Stage
	// Since is when this invocation started: a step that already ran in this invocation and
	// did not pass is not run again in a loop; the run waits (exit 3) instead.
	Since time.Time
	// Successor is the credential's run after this one, when there is one: a fact the engine
	// reads from its state for a done run, whose deletion of the version it retired waits (by
	// default) for the successor's revoke and never takes a version the successor needs.
	Successor *Run

	now time.Time // set by Next
}

// Next returns what to do with the run now. It is pure.
func Next(r *Run, s Spec, now time.Time, o Options) Action {
	o.now = now
	if o.Through == "" {
		o.Through = StageRevoke
	}
	if r.Phase == Done {
		return nextDelete(r, s, now, o)
	}
	if r.Cancel != nil {
		return nextCancel(r, now)
	}
	if r.Halt != nil {
		msg := r.Halt.Reason
		if st := r.stepNamed(r.Halt.Step); st != nil && r.Failure(*st) != "" {
			msg = st.Name() + ": " + r.Failure(*st)
		}
		return Action{Kind: Stopped, Gate: GateResult{Gate: "halted", Verdict: provider.Fail, Reason: r.Halt.Reason, Message: msg, Unblock: r.Halt.Next, At: r.Halt.At}}
	}
	// A step recorded as intent was cut short (a crash): its effect is idempotent, redo it.
	for _, st := range r.Steps {
		if st.Status == Intent {
			return Action{Kind: DoStep, Step: st.Kind, Consumer: st.Consumer, Phase: phaseOf(r, st.Kind)}
		}
	}
	if now.Before(r.RetryAt) {
		return r.retryWait(now)
	}
	if r.Phase == RolledBack {
		return nextRolledBack(r, now, o)
	}

	if a, decided := nextPrepare(r, s, now, o); decided {
		return a
	}
	if a, decided := nextCutover(r, s, now, o); decided {
		return a
	}
	if a, decided := nextVerify(r, s, now, o); decided {
		return a
	}
	return nextRevoke(r, s, now)
}

// retryWait waits for the next attempt of the step that failed with a retryable error,
// saying which step, what the error was, and when.
func (r *Run) retryWait(now time.Time) Action {
	msg := "a step failed with a retryable error; it is retried with backoff"
	a := wait("retry", msg, "wait, or run rotor rotate again after "+r.RetryAt.Format(time.RFC3339), r.RetryAt, now)
	if st := r.stepNamed(r.RetryStep); st != nil && r.Failure(*st) != "" {
		a.Step, a.Consumer = st.Kind, st.Consumer
		a.Gate.Message = st.Name() + ": " + r.Failure(*st)
	}
	return a
}

// stepNamed is the step of that StepName, or nil.
func (r *Run) stepNamed(name string) *Step {
	if name == "" {
		return nil
	}
	k, consumer, _ := strings.Cut(name, ":")
	return r.step(StepKind(k), consumer)
}

func step(k StepKind, consumer string, p Phase) Action {
	return Action{Kind: DoStep, Step: k, Consumer: consumer, Phase: p}
}

func wait(gate, msg, unblock string, until, now time.Time) Action {
	return Action{Kind: Wait, Gate: GateResult{Gate: gate, Verdict: provider.Unknown, Reason: gate, Message: msg, Unblock: unblock, Until: until, At: now}}
}

// stepOnce runs a step that produces a verdict, unless it already ran in this invocation
// without passing: then the run waits at the gate the step feeds (exit 3), instead of
// hammering a failing check in a loop. Evidence that said when it will be complete (a log
// window not yet full) is gathered again once that time has come.
func (r *Run) stepOnce(k StepKind, consumer string, p Phase, o Options, gate, why string) Action {
	st := r.step(k, consumer)
	g := r.gate(gate)
	ready := !g.Until.IsZero() && !o.now.Before(g.Until) && g.At.Before(g.Until)
	if st != nil && st.Status != OK && !st.FinishedAt.Before(o.Since) && !o.Since.IsZero() && !ready {
		if g.Gate == "" {
			g = GateResult{Gate: gate, Verdict: st.Verdict, Reason: why, Message: st.Detail}
		}
		if g.Unblock == "" {
			g.Unblock = "fix what the message says, then run rotor rotate again"
		}
		return Action{Kind: Wait, Phase: p, Gate: g}
	}
	return step(k, consumer, p)
}

func (r *Run) gate(name string) GateResult {
	for _, g := range r.Gates {
		if g.Gate == name {
			return g
		}
	}
	return GateResult{}
}

func (r *Run) started(k StepKind) bool { return r.step(k, "") != nil }

func (r *Run) prepared(s Spec) bool {
	return r.done(StepReadiness, "") && r.done(StepMint, "") && (s.Strategy != "overlap" || r.done(StepEnable, "")) && r.done(StepReadAccess, "")
}

func (r *Run) cutOver(s Spec) bool {
	if !r.done(StepPromote, "") {
		return false
	}
	for _, c := range s.Consumers {
		if c.HasReload && !r.done(StepReload, c.ID) {
			return false
		}
		if len(c.Checks) > 0 && !c.Delayed && !r.done(StepCheck, c.ID) {
			return false
		}
	}
	return true
}

func (r *Run) afterVerify(s Spec) Phase {
	if s.Critical && r.Previous != nil {
		if _, ok := r.Approved(); !ok {
			return AwaitingApproval
		}
	}
	return Revoking
}

// verifyGates are the soak, the credential-wide signals, every consumer's proof and the
// residual use of the previous version. Missing evidence blocks.
func (r *Run) verifyGates(s Spec, now time.Time, o Options) (Action, bool) {
	if r.started(StepRevoke) {
		return Action{}, true // revocation began: finish it
	}
	soakEnd := r.CutoverAt.Add(s.Soak)
	if len(s.Signals) > 0 {
		st := r.step(StepSignals, "")
		fresh := st != nil && !st.FinishedAt.Before(soakEnd)
		if st == nil || (st.Status == OK && !fresh && !now.Before(soakEnd)) {
			return step(StepSignals, "", Verifying), false
		}
		if st.Status != OK {
			return r.stepOnce(StepSignals, "", Verifying, o, "signals", "an error signal is over its threshold, or has no data"), false
		}
	}
	if now.Before(soakEnd) {
		return Action{Kind: Wait, Phase: Verifying, Gate: GateResult{Gate: "soak", Verdict: provider.Unknown, Reason: "soaking",
			Message: fmt.Sprintf("watching signals until %s (soak %s after cutover)", soakEnd.Format(time.RFC3339), s.Soak),
			Unblock: "wait; run rotor rotate again after " + soakEnd.Format(time.RFC3339), Until: soakEnd, At: now}}, false
	}
	// Every consumer must be proven: by its check after its proof time, or by a sign-off.
	var waiting []string
	var until time.Time
	for _, c := range s.Consumers {
		cs := r.Consumer(c.ID)
		if cs != nil && cs.Proven {
			continue
		}
		if !c.Delayed {
			if len(c.Checks) == 0 {
				waiting = append(waiting, c.ID+" (no check: needs rotor signoff)")
			}
			continue // its immediate check gates cutover
		}
		at := time.Time{}
		if cs != nil {
			at = cs.ProofAfter
		}
		switch {
		case c.SignOffOnly:
			waiting = append(waiting, c.ID+" (needs rotor signoff: "+c.Why+")")
		case len(c.Checks) == 0:
			waiting = append(waiting, c.ID+" (delayed, no check: needs rotor signoff)")
		case !at.IsZero() && now.Before(at):
			waiting = append(waiting, c.ID+" (proof after "+at.Format(time.RFC3339)+")")
			if until.IsZero() || at.Before(until) {
				until = at
			}
		default:
			a := r.stepOnce(StepProof, c.ID, Verifying, o, "proof:"+c.ID, "the delayed consumer's check did not pass after its proof time")
			if a.Kind == DoStep {
				return a, false
			}
			waiting = append(waiting, c.ID+" ("+a.Gate.Message+")")
		}
	}
	if len(waiting) > 0 {
		return Action{Kind: Wait, Phase: Verifying, Gate: GateResult{Gate: "follow-ups", Verdict: provider.Unknown,
			Reason: "consumers not proven yet", Message: "waiting for proof of " + strings.Join(waiting, ", "),
			Unblock: "their checks passing after their proof time, or rotor signoff " + r.ID + " CONSUMER --as OWNER --reason TEXT",
			Until:   until, At: now}}, false
	}
	if r.Previous != nil && len(s.Usage) > 0 {
		st := r.step(StepResidualUse, "")
		if st == nil || st.Status != OK {
			if s.EndSessions && r.EndSessionsApproved() {
				return Action{}, true // revoke ends the sessions residual use found
			}
			a := r.stepOnce(StepResidualUse, "", Verifying, o, "residual-use", "the previous version is still in use, or its use is unknown")
			if a.Kind == Wait && s.EndSessions && st != nil && st.Verdict == provider.Fail {
				a.Gate.Unblock = "move the users named to the new version and run rotor rotate again; or, since the authority may end " +
					"sessions (terminate_sessions), rotor approve " + r.ID + " --as WHO to have revoke end them"
			}
			return a, false
		}
	}
	return Action{}, true
}

// EndSessionsApproved reports whether a person approved, after residual use last found the
// previous version's sessions still open, that revoke end them: an approval (not by the
// initiator) given after that finding, on an authority configured to end sessions.
func (r *Run) EndSessionsApproved() bool {
	st := r.step(StepResidualUse, "")
	if st == nil || st.Status == OK || st.Verdict != provider.Fail {
		return false // unknown use is never overridden: nobody can approve what nobody saw
	}
	// Ending sessions cures only what the authority found. Any other source that did not
	// pass (an endpoint still serving the previous certificate, a check that could not tell)
	// still blocks: its Data holds each source's verdict.
	for src, v := range st.Data {
		if src != UsageAuthority && v != string(provider.Pass) {
			return false
		}
	}
	d, ok := r.Approved()
	return ok && !d.At.Before(st.FinishedAt)
}

// windowGate passes when the stage may run now: inside its window (if any) and outside
// freezes. A stage already under way is finished even if its window closed: stopping half
// way through a cutover is the riskier choice.
func windowGate(s Spec, stage Stage, now time.Time, underway bool) (Action, bool) {
	if underway {
		return Action{}, true
	}
	if f, frozen := schedule.ActiveFreeze(s.Freezes, now); frozen {
		return Action{Kind: Wait, Gate: GateResult{Gate: "freeze", Verdict: provider.Fail, Reason: "freeze: " + f.Reason,
			Message: fmt.Sprintf("%s is frozen until %s (%s)", stage, f.To.Format(time.RFC3339), f.Reason),
			Unblock: "wait for the freeze to end", Until: f.To, At: now}}, false
	}
	w := s.Windows[stage]
	if w == nil {
		return Action{}, true
	}
	if _, open := w.OpenAt(now); open {
		return Action{}, true
	}
	op, ok := schedule.NextOpening(*w, s.Freezes, now, now.Add(2*366*24*time.Hour))
	g := GateResult{Gate: "window", Verdict: provider.Fail, Reason: "outside window " + w.Name,
		Message: fmt.Sprintf("%s runs only in window %s", stage, w.Name), At: now}
	if ok {
		g.Until = op.Start
		g.Unblock = "run rotor rotate again in the window, from " + op.Start.Format(time.RFC3339)
	} else {
		g.Unblock = "window " + w.Name + " does not open within two years: change the inventory"
	}
	return Action{Kind: Wait, Gate: g}, false
}

func phaseOf(r *Run, k StepKind) Phase {
	switch k {
	case StepReadiness, StepMint, StepReadAccess, StepReseal:
		return Preparing
	case StepDiscard, StepRemovePending:
		return Cancelling
	case StepEnable:
		if r.Strategy == "overlap" {
			return Preparing
		}
		return CuttingOver
	case StepPromote, StepReload, StepCheck:
		return CuttingOver
	case StepSignals, StepProof, StepResidualUse:
		return Verifying
	case StepRevoke, StepReloadAccepting, StepRecord:
		return Revoking
	case StepRollback, StepExceptionExpiry:
		return RolledBack
	case StepDelete:
		return Done
	}
	return r.Phase
}

// nextDelete is what a done run still owes: the deletion of the version it retired (its
// Previous, disabled at its revoke) from the store — DOMAIN's "disable, and only later
// delete". Never before that revoke, never the version the run made current, nor the
// successor's new or previous version (its rollback needs the latter), nor a version a
// rollback pinned a consumer to. When: DeleteAfter after the revoke, or, by default, once
// the successor has revoked, so one previous version always stays.
//
// A deletion that is not due is Finished with a "delete" gate that says when (status shows
// it; the run is done either way and nothing of it blocks). Who performs it is the engine's
// affair: any rotate of the credential, under the credential's lock.
func nextDelete(r *Run, s Spec, now time.Time, o Options) Action {
	done := Action{Kind: Finished}
	st := r.step(StepDelete, "")
	if r.Previous == nil || !r.done(StepRevoke, "") || (st != nil && st.Status == OK) {
		return done // a first rotation retired nothing; a deletion done is done
	}
	old := r.Previous.ID
	pending := func(v provider.Verdict, msg, unblock string, until time.Time) Action {
		done.Gate = GateResult{Gate: "delete", Verdict: v, Reason: "previous version kept", Message: msg, Unblock: unblock, Until: until, At: now}
		return done
	}
	if why := keeps(old, r, o.Successor); why != "" {
		return pending(provider.Unknown, fmt.Sprintf("%s is not deleted: %s", old, why), "", time.Time{})
	}
	if st == nil || st.Status != Intent { // a deletion begun is finished (its effect is idempotent)
		revoked := r.Step(StepRevoke, "").FinishedAt
		switch {
		case s.DeleteAfter > 0 && now.Before(revoked.Add(s.DeleteAfter)):
			due := revoked.Add(s.DeleteAfter)
			return pending(provider.Unknown, fmt.Sprintf("%s (disabled at revoke) is deleted from the store after %s (delete_after %s)", old, due.Format(time.RFC3339), schedule.FormatDuration(s.DeleteAfter)),
				"any rotor rotate "+r.Credential+" from "+due.Format(time.RFC3339)+" deletes it", due)
		case s.DeleteAfter == 0 && (o.Successor == nil || !o.Successor.done(StepRevoke, "")):
			return pending(provider.Unknown, fmt.Sprintf("%s (disabled at revoke) is deleted from the store at the next rotation's revoke: until then it is the one previous version kept", old),
				"the next rotation of "+r.Credential+" deletes it once it has revoked", time.Time{})
		case now.Before(r.RetryAt):
			msg := "deleting " + old + " failed with a retryable error; it is tried again after " + r.RetryAt.Format(time.RFC3339)
			if st != nil && r.Failure(*st) != "" {
				msg = "deleting " + old + ": " + r.Failure(*st)
			}
			return pending(provider.Unknown, msg, "", r.RetryAt)
		case st != nil && st.Status == Failed && !o.Since.IsZero() && !st.FinishedAt.Before(o.Since):
			return pending(provider.Fail, "deleting "+old+" failed: "+st.Detail, "fix what the message says; the next rotor rotate "+r.Credential+" tries again", time.Time{})
		}
	}
	return step(StepDelete, "", Done)
}

// keeps says why version id must stay in the store ("" if nothing keeps it): it is the version
// the run made current, or one the successor made, keeps for its rollback, or pinned a
// consumer to.
func keeps(id string, r *Run, succ *Run) string {
	if r.New != nil && r.New.ID == id {
		return "it is the version this run made current"
	}
	if succ == nil {
		return ""
	}
	switch {
	case succ.New != nil && succ.New.ID == id:
		return "it is the new version of the next run, " + succ.ID
	case succ.Previous != nil && succ.Previous.ID == id:
		return "the next run, " + succ.ID + ", keeps it as its previous version (its rollback restores it)"
	}
	for _, c := range succ.Consumers {
		if c.PinnedTo == id {
			return "consumer " + c.ID + " is pinned to it by a rollback of " + succ.ID
		}
	}
	return ""
}

// nextCancel drives a cancelled run to its end: the value it minted is disabled at the
// authority, then its pending version is removed from the store — in that order, so that a
// value the authority still accepts is never one that nobody holds — and the run is over
// (Finished: the engine marks it cancelled). Each step is idempotent: one found in intent
// after a crash is simply performed again. A step that failed halts the run (a person must
// act; the next rotate retries it); a retryable failure waits for its backoff.
func nextCancel(r *Run, now time.Time) Action {
	if r.Phase == Cancelled {
		return Action{Kind: Finished}
	}
	if r.Halt != nil {
		return Action{Kind: Stopped, Gate: GateResult{Gate: "halted", Verdict: provider.Fail, Reason: r.Halt.Reason, Message: r.Halt.Reason, Unblock: r.Halt.Next, At: r.Halt.At}}
	}
	if now.Before(r.RetryAt) {
		return wait("retry", "a cancel step failed with a retryable error; it is retried with backoff", "wait, or run rotor rotate again after "+r.RetryAt.Format(time.RFC3339), r.RetryAt, now)
	}
	for _, k := range []StepKind{StepDiscard, StepRemovePending} {
		if !r.done(k, "") {
			return step(k, "", Cancelling)
		}
	}
	return Action{Kind: Finished}
}

// nextRolledBack: the exception holds until it expires; then rotor tries to re-revoke.
func nextRolledBack(r *Run, now time.Time, o Options) Action {
	ex := r.OpenException()
	if ex == nil {
		return Action{Kind: Stopped, Gate: GateResult{Gate: "rolled-back", Verdict: provider.Fail, Message: "rolled back with no open exception", At: now}}
	}
	// A rollback that failed (and was resumed) is performed again: until it is done the
	// named consumers are not back on the previous version.
	if st := r.step(StepRollback, ""); st != nil && st.Status != OK {
		return step(StepRollback, "", RolledBack)
	}
	if now.Before(ex.Expires) {
		return Action{Kind: Wait, Phase: RolledBack, Gate: GateResult{Gate: "exception", Verdict: provider.Unknown, Reason: "exception open",
			Message: fmt.Sprintf("previous version re-enabled for %s until %s (owner %s: %s)", strings.Join(ex.Consumers, ", "), ex.Expires.Format(time.RFC3339), ex.Owner, ex.Reason),
			Unblock: "fix those consumers; at expiry rotor switches them to the new version and re-revokes if their checks pass", Until: ex.Expires, At: now}}
	}
	return r.stepOnce(StepExceptionExpiry, "", RolledBack, o, "exception", "the exception expired and the evidence does not allow re-revoking")
}

// listOr joins names, or says none.
func listOr(names []string, none string) string {
	if len(names) == 0 {
		return none
	}
	return strings.Join(names, ", ")
}

// The phases of Next, in order. Each returns the action and true when it decides the run's
// next move, or false when its phase is complete and the next phase decides.

// nextPrepare: readiness, mint, read access (resealed for changed readers), and for overlap
// the enable — inside the prepare window.
func nextPrepare(r *Run, s Spec, now time.Time, o Options) (Action, bool) {
	if !r.done(StepMint, "") || !r.prepared(s) {
		if a, ok := windowGate(s, StagePrepare, now, r.started(StepMint)); !ok {
			return a, true
		}
		switch {
		case !r.done(StepReadiness, ""):
			return r.stepOnce(StepReadiness, "", Preparing, o, "readiness", "the executor or a consumer identity lacks access"), true
		case !r.done(StepMint, ""):
			return step(StepMint, "", Preparing), true
		case !r.done(StepReadAccess, ""):
			// Read-access reads the pending version from the store: it needs nothing of the
			// authority, which is told of the new value (enable) only once every consumer
			// reads it. Readers that changed since the version was written get it written
			// again for them first; then read-access is proven again.
			if ra := r.step(StepReadAccess, ""); ra != nil && ra.Status == Failed && s.Reseal && s.Readers != "" && r.Readers != s.Readers {
				return step(StepReseal, "", Preparing), true
			}
			return r.stepOnce(StepReadAccess, "", Preparing, o, "read-access", "a consumer identity cannot read the new version"), true
		case s.Strategy == "overlap" && !r.done(StepEnable, ""):
			return step(StepEnable, "", Preparing), true
		}
	}
	if o.Through == StagePrepare && !r.started(StepPromote) {
		return Action{Kind: Pause, Phase: Prepared}, true
	}
	return Action{}, false
}

// nextCutover: for in-place the enable, then promote, the consumers' reloads in declared
// order and their immediate checks — inside the cutover window.
func nextCutover(r *Run, s Spec, now time.Time, o Options) (Action, bool) {
	if !r.done(StepPromote, "") || !r.cutOver(s) {
		if a, ok := windowGate(s, StageCutover, now, r.started(StepPromote) || r.started(StepEnable) && s.Strategy == "in-place"); !ok {
			return a, true
		}
		if s.Strategy == "in-place" && !r.done(StepEnable, "") {
			return step(StepEnable, "", CuttingOver), true
		}
		if !r.done(StepPromote, "") {
			return step(StepPromote, "", CuttingOver), true
		}
		for _, c := range s.Consumers {
			if c.HasReload && !r.done(StepReload, c.ID) {
				return step(StepReload, c.ID, CuttingOver), true
			}
		}
		for _, c := range s.Consumers {
			if len(c.Checks) > 0 && !c.Delayed && !r.done(StepCheck, c.ID) {
				return r.stepOnce(StepCheck, c.ID, CuttingOver, o, "check:"+c.ID, "the consumer's checks did not pass after its reload"), true
			}
		}
	}
	if o.Through == StageCutover {
		return Action{Kind: Pause, Phase: Verifying}, true
	}
	return Action{}, false
}

// nextVerify: the soak, signals, delayed consumers' proofs and residual use (verifyGates).
func nextVerify(r *Run, s Spec, now time.Time, o Options) (Action, bool) {
	if a, ok := r.verifyGates(s, now, o); !ok {
		return a, true
	}
	if o.Through == StageVerify {
		return Action{Kind: Pause, Phase: r.afterVerify(s)}, true
	}
	return Action{}, false
}

// nextRevoke: the approval (any rejection stops it; a critical credential needs an approver
// other than the initiator), the revoke window, revoke, the accepting consumers' reloads, and
// record.
func nextRevoke(r *Run, s Spec, now time.Time) Action {
	if r.Previous != nil && !r.started(StepRevoke) {
		if a, ok := approvalGate(r, s, now); !ok {
			return a
		}
		if a, ok := windowGate(s, StageRevoke, now, false); !ok {
			return a
		}
	}
	if r.Previous != nil && !r.done(StepRevoke, "") {
		return step(StepRevoke, "", Revoking)
	}
	if r.Previous != nil {
		for _, c := range s.Consumers {
			if c.Accepts && !r.done(StepReloadAccepting, c.ID) {
				return step(StepReloadAccepting, c.ID, Revoking)
			}
		}
	}
	if !r.done(StepRecord, "") {
		return step(StepRecord, "", Revoking)
	}
	return Action{Kind: Finished}
}

// approvalGate holds revocation for a person: a rejection of any credential blocks it (fail);
// a critical credential waits for an approval not by the initiator (unknown), and is blocked
// (fail) when nobody but the initiator may give one.
func approvalGate(r *Run, s Spec, now time.Time) (Action, bool) {
	if d, rejected := r.Rejected(); rejected {
		return Action{Kind: Wait, Phase: AwaitingApproval, Gate: GateResult{Gate: "approval", Verdict: provider.Fail,
			Reason: "rejected", Message: fmt.Sprintf("revocation rejected by %s: %s", d.By, d.Reason),
			Unblock: "a new approval (rotor approve), or a rollback (rotor rollback)", At: now}}, false
	}
	if !s.Critical {
		return Action{}, true
	}
	if _, ok := r.Approved(); ok {
		return Action{}, true
	}
	if !slices.ContainsFunc(s.Approvers, func(a string) bool { return !SameActor(a, r.StartedBy) }) {
		return Action{Kind: Wait, Phase: AwaitingApproval, Gate: GateResult{Gate: "approval", Verdict: provider.Fail,
			Reason: "no possible approver", Message: fmt.Sprintf("a critical credential needs an approval not from %s, and the inventory names nobody else who may give it (approvers: %s)", r.StartedBy, listOr(s.Approvers, "none")),
			Unblock: "add an approver other than " + r.StartedBy + " to the credential's team (or its approvers), then rotor approve " + r.ID + " --as WHO", At: now}}, false
	}
	return Action{Kind: Wait, Phase: AwaitingApproval, Gate: GateResult{Gate: "approval", Verdict: provider.Unknown,
		Reason: "awaiting approval", Message: "a critical credential needs an approval before revocation, not from " + r.StartedBy,
		Unblock: "rotor approve " + r.ID + " --as WHO (an approver other than the initiator)", At: now}}, false
}
