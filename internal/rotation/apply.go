package rotation

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// MaxAttempts is how many times a step failing with a retryable error is tried before the run
// halts in a safe state.
const MaxAttempts = 5

// Backoff is the delay before attempt n+1 of a step (n >= 1): 2 s, 4 s, 8 s… capped at 5 min.
func Backoff(n int) time.Duration {
	d := 2 * time.Second << min(n-1, 8)
	return min(d, 5*time.Minute)
}

// Begin records the intent of a step before its effect, and moves the run into the step's
// phase. It returns the step as recorded.
func Begin(r *Run, a Action, now time.Time) Step {
	if a.Phase != "" {
		r.Phase = a.Phase
	}
	st := r.step(a.Step, a.Consumer)
	if st == nil {
		r.Steps = append(r.Steps, Step{Kind: a.Step, Consumer: a.Consumer, NothingChanged: true})
		st = &r.Steps[len(r.Steps)-1]
	} else if st.Status != Failed {
		// Cut short (an intent: a crash during the effect) or done before: the step may have
		// acted.
		st.NothingChanged = false
	}
	st.Status = Intent
	st.Attempt++
	st.StartedAt = now
	st.FinishedAt = time.Time{}
	st.Detail, st.Verdict, st.Data, st.ErrorKind = "", "", nil, ""
	r.RetryAt, r.RetryStep = time.Time{}, ""
	r.UpdatedAt = now
	return *st
}

// Outcome is what a step's effect produced.
type Outcome struct {
	// Verdict of a step that gathers evidence; effect steps leave it empty (pass).
	Verdict provider.Verdict
	Detail  string
	Data    map[string]string
	// Gate is the gate the step feeds, shown by status while it does not pass.
	Gate *GateResult
	// New and Previous are set by the mint step.
	New, Previous *provider.Version
	// Readers, set by mint and reseal, names the readers New is now written for in the
	// store (Spec.Readers then; empty when unknown).
	Readers string
	// Err is the effect's error, classified with provider.KindOf.
	Err error
}

// Finish records a step's outcome. A retryable error is retried later with backoff until
// MaxAttempts; any other error halts the run in a safe state, saying what to do next.
func Finish(r *Run, kind StepKind, consumer string, out Outcome, s Spec, now time.Time) {
	st := r.step(kind, consumer)
	if st == nil {
		panic("rotation: Finish of a step that was not begun: " + StepName(kind, consumer))
	}
	st.FinishedAt = now
	st.Detail = out.Detail
	st.Data = out.Data
	r.UpdatedAt = now
	if out.Err != nil {
		finishFailed(r, st, kind, out.Err, now)
		return
	}
	verdict := out.Verdict
	if verdict == "" {
		verdict = provider.Pass
	}
	st.Verdict = verdict
	if out.Gate != nil {
		g := *out.Gate
		g.At = now
		r.SetGate(g)
	}
	if verdict != provider.Pass {
		st.Status = Failed
		return
	}
	st.Status = OK
	switch kind {
	case StepMint:
		r.New, r.Previous, r.Readers = out.New, out.Previous, out.Readers
	case StepReadAccess, StepEnable:
		// Prepared once read access is proven and, for overlap, the authority enabled the
		// new value after it (an in-place enable belongs to cutover).
		if r.Phase == Preparing && r.prepared(s) {
			r.Phase = Prepared
		}
	case StepReseal:
		r.Readers = out.Readers
		// Read access is proven again, on the version as it is now written: the failure
		// before the reseal no longer says anything, and it must not stop the new attempt.
		if ra := r.step(StepReadAccess, ""); ra != nil && ra.Status != OK {
			ra.FinishedAt, ra.Verdict = time.Time{}, provider.Unknown
			ra.Detail = "to be proven again: the pending version was written again for the current readers"
		}
	case StepPromote:
		r.CutoverAt = now
		setFollowUps(r, s, now)
	case StepCheck, StepProof:
		cs := r.ensureConsumer(consumer)
		cs.Proven, cs.ProvenAt, cs.ProvenBy = true, now, "check "+out.Detail
	case StepRecord:
		r.Phase = Done
	case StepExceptionExpiry:
		closeException(r, out.Detail, now)
	}
}

// FinishExceptionOverdue records that an expired exception could not be re-revoked.
func FinishExceptionOverdue(r *Run, reason string, now time.Time) {
	if ex := r.OpenException(); ex != nil {
		ex.State = "overdue"
		ex.Note = reason
	}
	Finish(r, StepExceptionExpiry, "", Outcome{Verdict: provider.Fail, Detail: reason,
		Gate: &GateResult{Gate: "exception", Verdict: provider.Fail, Reason: "exception overdue", Message: reason,
			Unblock: "fix the consumers still on the previous version, then run rotor rotate again"}}, Spec{}, now)
}

func (r *Run) ensureConsumer(id string) *ConsumerState {
	if cs := r.Consumer(id); cs != nil {
		return cs
	}
	r.Consumers = append(r.Consumers, ConsumerState{ID: id})
	return &r.Consumers[len(r.Consumers)-1]
}

// haltAdvice says what is safe after the step halted with an error of kind k: what state
// the run leaves things in, from what the step's attempts can have done (a step whose every
// attempt failed before it could act changed nothing, and says so instead of asking a person
// to check), and what to do.
func haltAdvice(r *Run, st *Step, kind provider.ErrorKind) string {
	k, resume := st.Kind, "rotor rotate "+r.Credential
	safe := "The previous value is still valid; nothing was revoked."
	switch {
	case r.done(StepRevoke, ""):
		safe = "The previous value is already revoked."
	case k == StepRevoke && st.NothingChanged:
		safe = "Nothing was changed: no attempt of revoke got as far as acting, so the previous value is still valid and nothing was revoked."
	case k == StepRevoke:
		// The step that failed may have had part of its effect (revoked at the authority,
		// then failed to disable in the store): never call that state untouched.
		safe = "The revoke may have taken effect part way: the previous value may already be revoked at the authority or disabled in the store; check both."
	case r.Strategy == "in-place" && r.done(StepEnable, ""):
		safe = "The new value is active at the authority (in-place): consumers not yet reloaded may fail; roll back or finish the cutover."
	case r.Strategy == "in-place" && k == StepEnable && st.NothingChanged:
		safe = "Nothing was changed: no attempt of the in-place enable got as far as the authority, so the previous value is still the valid one and consumers keep working."
	case r.Strategy == "in-place" && k == StepEnable:
		safe = "The in-place enable may have taken effect: the authority may already hold the new value and refuse the previous one; check it, then roll back or finish the cutover."
	case st.NothingChanged && !k.Local():
		safe = "Nothing was changed: no attempt of " + st.Name() + " got as far as acting. The previous value is still valid; nothing was revoked."
	case r.Cancel != nil:
		safe = "The run is being cancelled: the previous value is still current and valid."
	}
	switch kind {
	case provider.Denied:
		return safe + " Grant the permission the error names, then run " + resume + " again to resume."
	case provider.NeedsHuman:
		return safe + " Do what the error asks, then run " + resume + " again to resume."
	case provider.Retryable:
		if st.NothingChanged {
			return safe + " Retry once what the error names is reachable again: " + resume + " resumes from " + string(k) + "."
		}
		if strings.Contains(safe, "check") {
			return safe + " Then run " + resume + " again to resume from " + string(k) + " (the step is idempotent)."
		}
		return safe + " Check whether it took effect, then run " + resume + " again to resume from " + string(k) + " (the step is idempotent)."
	}
	return safe + " Fix the cause, then run " + resume + " again to resume from " + string(k) + "."
}

// Failure describes a step's last attempt that failed with an error, for a person: which
// attempt (of how many, when it is retried), the kind of error, whether it can have changed
// anything, the error itself, and when the next attempt is due. "" when the step's last
// attempt did not fail with an error. rotate's progress, status, the retry gate and the
// journal all say it in these words.
func (r *Run) Failure(st Step) string {
	if st.Status != Failed || st.ErrorKind == "" {
		return ""
	}
	n := fmt.Sprintf("attempt %d", st.Attempt)
	if st.ErrorKind == provider.Retryable.String() && st.Kind != StepDelete {
		n += fmt.Sprintf(" of %d", MaxAttempts)
	}
	what := st.ErrorKind
	switch {
	case st.Kind.Local():
	case st.NothingChanged:
		what += ", nothing changed"
	default:
		what += ", may have changed something"
	}
	s := fmt.Sprintf("%s failed (%s): %s", n, what, st.Detail)
	if r.RetryStep == st.Name() && !r.RetryAt.IsZero() {
		s += fmt.Sprintf("; attempt %d is due at %s", st.Attempt+1, r.RetryAt.Format(time.RFC3339))
	} else if r.Halt != nil && r.Halt.Step == st.Name() {
		s += "; halted"
	}
	return s
}

// cancelHint is the way out that a halt before cutover offers beside resuming: abandoning
// the run ("" when the run cannot be cancelled, or is being cancelled).
func cancelHint(r *Run) string {
	if r.Cancel != nil || Cancellable(r) != nil {
		return ""
	}
	return " Or abandon the run: rotor cancel " + r.ID + " --reason TEXT."
}

// Resume clears a halt so that the next call of Next retries the halted step.
func Resume(r *Run, now time.Time) {
	if r.Halt == nil {
		return
	}
	name := r.Halt.Step
	r.Halt = nil
	for i := range r.Steps {
		if r.Steps[i].Name() == name {
			r.Steps[i].Attempt = 0
			r.Phase = phaseOf(r, r.Steps[i].Kind)
		}
	}
	r.UpdatedAt = now
}

// Errors of the human gates.
var (
	ErrFourEyes    = errors.New("four-eyes rule: whoever started the run cannot approve it")
	ErrNotApprover = errors.New("not an approver of this credential")
	ErrWrongPhase  = errors.New("not possible in the run's current phase")
)

// SameActor reports whether two actor names name the same person: names compare in one
// canonical form (surrounding space dropped, case folded), so `--as ALICE` is alice, and the
// four-eyes rule cannot be sidestepped by spelling.
func SameActor(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// Decide records an approval or a rejection. approvers is who may approve or reject; when it is
// empty nobody may approve (a critical credential's revocation then cannot happen, which is
// what the inventory says) and anyone may reject. Names compare with SameActor.
func Decide(r *Run, d Decision, approvers []string) error {
	if r.Phase == Done || r.Phase == Halted || r.Phase == RolledBack || r.CutoverAt.IsZero() {
		return fmt.Errorf("%w: %s (approval comes after cutover, before revoke)", ErrWrongPhase, r.Phase)
	}
	if r.done(StepRevoke, "") {
		return fmt.Errorf("%w: the previous version is already revoked", ErrWrongPhase)
	}
	if d.Approve && SameActor(d.By, r.StartedBy) {
		return ErrFourEyes
	}
	if len(approvers) == 0 {
		if d.Approve {
			return fmt.Errorf("%w: the inventory names nobody who may approve it (add approvers to its team or to the credential)", ErrNotApprover)
		}
	} else if !slices.ContainsFunc(approvers, func(a string) bool { return SameActor(a, d.By) }) {
		return fmt.Errorf("%w: %s may approve", ErrNotApprover, strings.Join(approvers, ", "))
	}
	r.Approvals = append(r.Approvals, d)
	r.UpdatedAt = d.At
	return nil
}

// SignOff records an owner's acceptance of a consumer without its proof.
func SignOff(r *Run, s Signoff) error {
	if r.CutoverAt.IsZero() || r.Phase == Done {
		return fmt.Errorf("%w: %s (sign-offs come after cutover, before revoke)", ErrWrongPhase, r.Phase)
	}
	cs := r.Consumer(s.Consumer)
	if cs == nil {
		return fmt.Errorf("no consumer %q in run %s", s.Consumer, r.ID)
	}
	if cs.Proven {
		return fmt.Errorf("consumer %s is already proven (%s)", s.Consumer, cs.ProvenBy)
	}
	if strings.TrimSpace(s.Reason) == "" {
		return errors.New("a sign-off needs a reason")
	}
	cs.Proven, cs.ProvenAt, cs.ProvenBy = true, s.At, "signoff by "+s.By+": "+s.Reason
	r.Signoffs = append(r.Signoffs, s)
	r.UpdatedAt = s.At
	return nil
}

// BeginRollback validates a rollback request and records the exception it opens; the engine
// then performs the rollback step. Only consumers of the run may be named, and only between
// cutover and revoke.
func BeginRollback(r *Run, ex Exception, known []string, now time.Time) error {
	if r.CutoverAt.IsZero() && !r.started(StepPromote) {
		return fmt.Errorf("%w: nothing to roll back before cutover (the previous version is still current)", ErrWrongPhase)
	}
	if r.started(StepRevoke) {
		return fmt.Errorf("%w: revocation has started; rotate again instead", ErrWrongPhase)
	}
	if r.Previous == nil {
		return fmt.Errorf("%w: a first rotation has no previous version", ErrWrongPhase)
	}
	if r.OpenException() != nil {
		return fmt.Errorf("%w: an exception is already open", ErrWrongPhase)
	}
	if len(ex.Consumers) == 0 {
		return errors.New("name the failing consumers with --consumers")
	}
	for _, c := range ex.Consumers {
		if !slices.Contains(known, c) {
			return fmt.Errorf("no consumer %q of %s (consumers: %s)", c, r.Credential, strings.Join(known, ", "))
		}
	}
	if ex.Owner == "" || strings.TrimSpace(ex.Reason) == "" {
		return errors.New("a rollback needs an owner and a reason")
	}
	if !ex.Expires.After(now) {
		return errors.New("the exception must expire in the future")
	}
	ex.Opened, ex.State = now, "open"
	r.Exceptions = append(r.Exceptions, ex)
	r.Halt = nil
	r.Phase = RolledBack
	// One rollback step per run, like every step: a second rollback (after the first
	// exception closed) performs it again rather than adding a twin that never finishes.
	// Its intent is recorded with the request; the engine begins it (Begin counts the
	// attempt), so the first rollback is attempt 1, not 2.
	if st := r.step(StepRollback, ""); st != nil {
		*st = Step{Kind: StepRollback, Status: Intent, StartedAt: now}
	} else {
		r.Steps = append(r.Steps, Step{Kind: StepRollback, Status: Intent, StartedAt: now})
	}
	r.UpdatedAt = now
	return nil
}

// FinishRollback records the rollback step's outcome: the named consumers are pinned to the
// previous version.
func FinishRollback(r *Run, pinned []string, detail string, err error, now time.Time) {
	st := r.step(StepRollback, "")
	st.FinishedAt, st.Detail = now, detail
	if err != nil {
		st.Status, st.Verdict, st.Detail = Failed, provider.Unknown, err.Error()
		r.Halt = &Halt{Step: st.Name(), Reason: err.Error(), Kind: provider.KindOf(err).String(), At: now,
			Next: "The rollback did not complete: run rotor rotate again to retry it (it is idempotent), or restore by hand."}
		return
	}
	st.Status, st.Verdict = OK, provider.Pass
	for _, c := range pinned {
		cs := r.ensureConsumer(c)
		cs.PinnedTo, cs.Proven, cs.ProvenBy = r.Previous.ID, false, ""
	}
	// The re-verification at expiry must run again.
	for i := range r.Steps {
		if r.Steps[i].Kind == StepExceptionExpiry {
			r.Steps[i].Status = Failed
		}
	}
	r.UpdatedAt = now
}

// Cancellable says why the run cannot be cancelled now (nil when it can): only before
// cutover, while the previous value is still current for every consumer. After cutover the
// way back is a rollback, which restores the previous value for the consumers named.
func Cancellable(r *Run) error {
	switch {
	case r.Phase == Done:
		return fmt.Errorf("%w: run %s is done", ErrWrongPhase, r.ID)
	case r.Phase == Cancelled:
		return fmt.Errorf("%w: run %s is already cancelled", ErrWrongPhase, r.ID)
	case r.started(StepPromote) || !r.CutoverAt.IsZero() || r.Phase == RolledBack:
		cur := "the new version"
		if r.New != nil {
			cur = r.New.ID
		}
		return fmt.Errorf("%w: run %s is past cutover (%s is current): a cancel would take away what consumers now use; "+
			"roll the failing consumers back instead (rotor rollback %s --consumers A,B --owner WHO --expires 4h --reason TEXT), or let the run finish",
			ErrWrongPhase, r.ID, cur, r.ID)
	case r.Strategy == "in-place" && r.started(StepEnable):
		return fmt.Errorf("%w: run %s has begun its in-place enable: the authority may already refuse the previous value; "+
			"finish the cutover (rotor rotate %s) or roll back (rotor rollback %s --consumers A,B --owner WHO --expires 4h --reason TEXT)",
			ErrWrongPhase, r.ID, r.Credential, r.ID)
	}
	return nil
}

// BeginCancel records a person's request to abandon the run before cutover; the engine then
// performs the cancel steps (see nextCancel). A step cut short (found in intent) is not
// performed again: the run is abandoned, and what that step may have made is undone by the
// cancel steps, which find what the run minted by its idempotency key.
func BeginCancel(r *Run, c Cancellation) error {
	if strings.TrimSpace(c.Reason) == "" {
		return errors.New("a cancel needs a reason")
	}
	if r.Cancel != nil {
		return fmt.Errorf("%w: run %s is already being cancelled (by %s: %s)", ErrWrongPhase, r.ID, r.Cancel.By, r.Cancel.Reason)
	}
	if err := Cancellable(r); err != nil {
		return err
	}
	cc := c
	r.Cancel = &cc
	r.Halt, r.RetryAt = nil, time.Time{}
	r.Phase = Cancelling
	for i := range r.Steps {
		if st := &r.Steps[i]; st.Status == Intent {
			st.Status, st.Verdict, st.FinishedAt = Failed, provider.Unknown, c.At
			st.Detail = "cut short, and not performed again: the run was cancelled"
		}
	}
	r.UpdatedAt = c.At
	return nil
}

// finishFailed records a step whose effect returned err: retried with backoff while it is
// retryable (a deletion owed by a done run never halts it), else the run halts in a safe state
// with advice that follows from what the attempts can have done.
func finishFailed(r *Run, st *Step, kind StepKind, err error, now time.Time) {
	st.Status = Failed
	st.Verdict = provider.Unknown
	st.Detail = err.Error()
	k := provider.KindOf(err)
	st.ErrorKind = k.String()
	st.NothingChanged = st.NothingChanged && !provider.MayHaveChanged(err)
	if kind == StepDelete {
		// The deletion is owed by a done run: its rotation is complete, and a store that
		// cannot delete now neither halts it nor blocks the next run. The failure shows in
		// status and the journal, and a later rotate tries again (nextDelete).
		if k == provider.Retryable {
			r.RetryAt, r.RetryStep = now.Add(Backoff(st.Attempt)), st.Name()
		}
		return
	}
	if k == provider.Retryable && st.Attempt < MaxAttempts {
		r.RetryAt, r.RetryStep = now.Add(Backoff(st.Attempt)), st.Name()
		return
	}
	r.Halt = &Halt{Step: st.Name(), Reason: err.Error(), Kind: k.String(), At: now, Next: haltAdvice(r, st, k) + cancelHint(r)}
	r.Phase = Halted
}

// setFollowUps gives every delayed consumer, at promote, when its proof can come and what
// gives it: a check at or after its proof time, or only an owner's sign-off.
func setFollowUps(r *Run, s Spec, now time.Time) {
	for _, c := range s.Consumers {
		cs := r.ensureConsumer(c.ID)
		if !c.Delayed {
			continue
		}
		if c.ProofAt != nil {
			if at, ok := c.ProofAt(now); ok {
				cs.ProofAfter = at
				cs.FollowUp = fmt.Sprintf("a passing check of %s at or after %s", c.ID, at.Format(time.RFC3339))
				continue
			}
		}
		if c.SignOffOnly {
			cs.FollowUp = fmt.Sprintf("an owner's sign-off of %s: %s", c.ID, c.Why)
			continue
		}
		cs.FollowUp = fmt.Sprintf("a passing check of %s, or an owner's sign-off (it runs on demand or outside the platform)", c.ID)
	}
}

// closeException closes an exception whose consumers' checks passed on the new version at its
// expiry (their proof), and has the credential-wide evidence gathered again.
func closeException(r *Run, detail string, now time.Time) {
	if ex := r.OpenException(); ex != nil {
		ex.State, ex.Closed = "closed", now
		ex.Note = "expired; consumers switched to the new version and their checks passed"
		// Their checks on the new version, at expiry, are their proof: the rollback
		// unproved them, and verify does not check an immediate consumer again.
		for _, c := range ex.Consumers {
			cs := r.ensureConsumer(c)
			cs.PinnedTo = ""
			cs.Proven, cs.ProvenAt, cs.ProvenBy = true, now, "check at exception expiry: "+detail
		}
	}
	// The credential-wide evidence is gathered again over the time since the exception
	// closed: before it, the rolled-back consumers used the previous version on purpose.
	for i := range r.Steps {
		if k := r.Steps[i].Kind; k == StepSignals || k == StepResidualUse {
			r.Steps[i].Status, r.Steps[i].Verdict = Failed, provider.Unknown
			r.Steps[i].Detail = "to be gathered again after the exception closed"
		}
	}
	r.Phase = Verifying
}
