package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/impact"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/state"
)

// ErrUnknownRun is returned for a run id the state store does not have.
var ErrUnknownRun = errors.New("no such run")

// open locks the credential of a run and loads it, for the commands that change a run.
func (e *Engine) open(ctx context.Context, call Call, runID string) (*runState, func(), error) {
	rec, err := e.State.Run(ctx, runID)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: %s (rotor runs lists them)", ErrUnknownRun, runID)
	}
	if err != nil {
		return nil, nil, err
	}
	c, ok := e.Inv.Credential(rec.Credential)
	if !ok {
		return nil, nil, fmt.Errorf("run %s rotates %s, which is no longer in the inventory", runID, rec.Credential)
	}
	holder := state.LockHolder{Host: e.Host, PID: e.PID, RunID: runID, Since: e.now()}
	if err := e.lock(ctx, c.ID, holder); err != nil {
		return nil, nil, err
	}
	shared, release := e.share()
	rs := &runState{e: e, call: call, cred: c, shared: shared, holder: &holder}
	unlock := func() {
		release()
		rs.unlock(ctx)
	}
	if rs.rec, err = e.State.Run(ctx, runID); err != nil { // re-read under the lock
		unlock()
		return nil, nil, err
	}
	if err := rs.decode(); err != nil {
		unlock()
		return nil, nil, err
	}
	return rs, unlock, nil
}

// Decide records an approval (or a rejection) of a run's revocation by call.Actor.
func (e *Engine) Decide(ctx context.Context, call Call, runID string, approve bool, reason string) (rotation.Run, error) {
	rs, unlock, err := e.open(ctx, call, runID)
	if err != nil {
		return rotation.Run{}, err
	}
	defer unlock()
	defer rs.flushNotifications(ctx) // sends what the run owes, under the lock
	d := rotation.Decision{By: call.Actor, At: e.now(), Approve: approve, Reason: reason}
	verb := "approval"
	if !approve {
		verb = "rejection"
	}
	if approve {
		// An approval vouches for the evidence the journal records: on a journal that does
		// not verify, it would vouch for what someone may have edited.
		if err := rs.verifyJournal(ctx); err != nil {
			return rs.run, rs.refuse(ctx, call, verb, "", fmt.Errorf("%w: %v", ErrJournalBroken, err))
		}
	}
	if err := rotation.Decide(&rs.run, d, impact.Approvers(e.Inv, rs.cred)); err != nil {
		return rs.run, rs.refuse(ctx, call, verb, "", err)
	}
	kind, what := journal.KindApproval, "approved revocation"
	if !approve {
		kind, what = journal.KindRejection, "rejected revocation: "+reason
	}
	en := rs.entry(kind, "", "", call.Actor+" "+what+evidenceSoFar(&rs.run))
	en.Actor, en.OSUser = call.Actor, call.OSUser
	return rs.run, rs.save(ctx, en)
}

// ErrJournalBroken: the run's journal does not verify; nothing that vouches for it or cannot
// be undone is done.
var ErrJournalBroken = errors.New("the run's journal does not verify")

// refuse journals a person's refused approval, rejection or sign-off — who asked, as which OS
// account, and why it was refused — and returns err. A refusal is part of the record: a
// sidestep tried and stopped is what an auditor most wants to see.
func (rs *runState) refuse(ctx context.Context, call Call, what, consumer string, err error) error {
	en := rs.entry(journal.KindNote, "", consumer, fmt.Sprintf("%s by %s refused: %v", what, call.Actor, err))
	en.Actor, en.OSUser = call.Actor, call.OSUser
	if serr := rs.save(ctx, en); serr != nil {
		return errors.Join(err, fmt.Errorf("journaling the refusal: %w", serr))
	}
	return err
}

// verifyJournal checks the run's stored journal against the head its record keeps: every
// entry unchanged, in order, none missing. It is asked before anything irreversible (revoke,
// delete, ending sessions) and before an approval is accepted.
func (rs *runState) verifyJournal(ctx context.Context) error {
	stored, err := storedJournal(ctx, rs.e.State, rs.run.ID)
	if err != nil {
		return err
	}
	return journal.Verify(rs.run.ID, stored, journal.Head{Hash: rs.rec.JournalHead, Len: rs.rec.JournalLen})
}

// evidenceSoFar is what an approver saw: the gates and proofs gathered until now.
func evidenceSoFar(r *rotation.Run) string {
	var parts []string
	for _, c := range r.Consumers {
		if c.Proven {
			parts = append(parts, c.ID+" proven ("+c.ProvenBy+")")
		} else {
			parts = append(parts, c.ID+" not proven")
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " — evidence so far: " + strings.Join(parts, "; ")
}

// SignOff records an owner's acceptance of a delayed consumer without its proof. The owner
// must be an approver of the consumer's team (or of the credential's owner).
func (e *Engine) SignOff(ctx context.Context, call Call, runID, consumer, reason string) (rotation.Run, error) {
	rs, unlock, err := e.open(ctx, call, runID)
	if err != nil {
		return rotation.Run{}, err
	}
	defer unlock()
	defer rs.flushNotifications(ctx) // sends what the run owes, under the lock
	team := rs.cred.Owner
	for _, k := range rs.cred.Consumers {
		if k.ID == consumer && k.Owner != "" {
			team = k.Owner
		}
	}
	if t, ok := e.Inv.Team(team); ok && len(t.Approvers) > 0 && !slices.ContainsFunc(t.Approvers, func(a string) bool { return rotation.SameActor(a, call.Actor) }) {
		return rs.run, rs.refuse(ctx, call, "sign-off", consumer, fmt.Errorf("%w: %s may not sign off %s: team %s's approvers are %s", rotation.ErrNotApprover, call.Actor, consumer, team, strings.Join(t.Approvers, ", ")))
	}
	s := rotation.Signoff{Consumer: consumer, By: call.Actor, At: e.now(), Reason: reason}
	if err := rotation.SignOff(&rs.run, s); err != nil {
		return rs.run, rs.refuse(ctx, call, "sign-off", consumer, err)
	}
	en := rs.entry(journal.KindSignoff, "", consumer, fmt.Sprintf("%s signed off %s without its proof: %s", call.Actor, consumer, reason))
	en.Actor, en.OSUser = call.Actor, call.OSUser
	return rs.run, rs.save(ctx, en)
}

// RollbackRequest is a bounded rollback.
type RollbackRequest struct {
	Consumers []string
	Owner     string
	Expires   time.Duration
	Reason    string
}

// Rollback opens an exception and performs the rollback step.
func (e *Engine) Rollback(ctx context.Context, call Call, runID string, req RollbackRequest) (Result, error) {
	rs, unlock, err := e.open(ctx, call, runID)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	var known []string
	for _, k := range rs.cred.Consumers {
		known = append(known, k.ID)
	}
	consumers := req.Consumers
	note := ""
	if rs.run.Strategy == "in-place" && len(consumers) < len(known) {
		// Only one value can be valid: going back is for everyone.
		consumers, note = known, " (in-place strategy: only one value can be valid, so every consumer goes back)"
	}
	now := e.now()
	ex := rotation.Exception{Consumers: consumers, Owner: req.Owner, Reason: req.Reason, OpenedBy: call.Actor, Expires: now.Add(req.Expires)}
	if err := rotation.BeginRollback(&rs.run, ex, known, now); err != nil {
		return Result{Run: rs.run}, err
	}
	en := rs.entry(journal.KindRollback, "rollback", "", fmt.Sprintf("%s rolled back %s to %s%s: %s", call.Actor, strings.Join(consumers, ", "), rs.run.Previous.ID, note, req.Reason))
	en.Actor, en.OSUser = call.Actor, call.OSUser
	// The exception as the run holds it: opened, state and all (BeginRollback fills them).
	opened := *rs.run.OpenException()
	op := rs.entry(journal.KindExceptionOpened, "", "", fmt.Sprintf("exception opened for %s, owner %s, expires %s", strings.Join(consumers, ", "), req.Owner, opened.Expires.Format(time.RFC3339)))
	op.Actor, op.OSUser = call.Actor, call.OSUser
	op.Data, _ = journal.MarshalData(opened)
	if err := rs.save(ctx, en, op); err != nil {
		return Result{Run: rs.run}, err
	}
	e.crashPoint("rollback-requested")
	return rs.drive(ctx, rotation.Options{Through: rotation.StageRevoke, Since: now})
}
