package engine

import (
	"context"
	"encoding/json"
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
func (e *Engine) open(ctx context.Context, runID string) (*runState, func(), error) {
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
	rs := &runState{e: e, cred: c, shared: shared, holder: &holder}
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

// Decide records an approval (or a rejection) of a run's revocation by e.Actor.
func (e *Engine) Decide(ctx context.Context, runID string, approve bool, reason string) (rotation.Run, error) {
	rs, unlock, err := e.open(ctx, runID)
	if err != nil {
		return rotation.Run{}, err
	}
	defer unlock()
	defer rs.flushNotifications(ctx) // sends what the run owes, under the lock
	d := rotation.Decision{By: e.Actor, At: e.now(), Approve: approve, Reason: reason}
	if err := rotation.Decide(&rs.run, d, impact.Approvers(e.Inv, rs.cred)); err != nil {
		return rs.run, err
	}
	kind, what := journal.KindApproval, "approved revocation"
	if !approve {
		kind, what = journal.KindRejection, "rejected revocation: "+reason
	}
	en := rs.entry(kind, "", "", e.Actor+" "+what+evidenceSoFar(&rs.run))
	en.Actor = e.Actor
	return rs.run, rs.save(ctx, en)
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
func (e *Engine) SignOff(ctx context.Context, runID, consumer, reason string) (rotation.Run, error) {
	rs, unlock, err := e.open(ctx, runID)
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
	if t, ok := e.Inv.Team(team); ok && len(t.Approvers) > 0 && !slices.Contains(t.Approvers, e.Actor) {
		return rs.run, fmt.Errorf("%s may not sign off %s: team %s's approvers are %s", e.Actor, consumer, team, strings.Join(t.Approvers, ", "))
	}
	s := rotation.Signoff{Consumer: consumer, By: e.Actor, At: e.now(), Reason: reason}
	if err := rotation.SignOff(&rs.run, s); err != nil {
		return rs.run, err
	}
	en := rs.entry(journal.KindSignoff, "", consumer, fmt.Sprintf("%s signed off %s without its proof: %s", e.Actor, consumer, reason))
	en.Actor = e.Actor
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
func (e *Engine) Rollback(ctx context.Context, runID string, req RollbackRequest) (Result, error) {
	rs, unlock, err := e.open(ctx, runID)
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
	ex := rotation.Exception{Consumers: consumers, Owner: req.Owner, Reason: req.Reason, OpenedBy: e.Actor, Expires: now.Add(req.Expires)}
	if err := rotation.BeginRollback(&rs.run, ex, known, now); err != nil {
		return Result{Run: rs.run}, err
	}
	en := rs.entry(journal.KindRollback, "rollback", "", fmt.Sprintf("%s rolled back %s to %s%s: %s", e.Actor, strings.Join(consumers, ", "), rs.run.Previous.ID, note, req.Reason))
	en.Actor = e.Actor
	op := rs.entry(journal.KindExceptionOpened, "", "", fmt.Sprintf("exception opened for %s, owner %s, expires %s", strings.Join(consumers, ", "), req.Owner, ex.Expires.Format(time.RFC3339)))
	op.Actor = e.Actor
	op.Data, _ = journal.MarshalData(ex)
	if err := rs.save(ctx, en, op); err != nil {
		return Result{Run: rs.run}, err
	}
	e.crashPoint("rollback-requested")
	return rs.drive(ctx, rotation.Options{Through: rotation.StageRevoke, Since: now})
}

// Status is a run with what it waits for now (computed, not stored).
type Status struct {
	Run    rotation.Run
	Record state.RunRecord
	Next   rotation.Action
}

// Status loads a run and says what it would do next. It changes nothing.
func (e *Engine) Status(ctx context.Context, runID string) (Status, error) {
	rec, err := e.State.Run(ctx, runID)
	if errors.Is(err, state.ErrNotFound) {
		return Status{}, fmt.Errorf("%w: %s (rotor runs lists them)", ErrUnknownRun, runID)
	}
	if err != nil {
		return Status{}, err
	}
	var later []state.RunRecord
	if owesDelete(rec) { // its deletion may wait for the run after it: find that one
		if later, err = e.State.Runs(ctx, state.RunFilter{Credential: rec.Credential}); err != nil {
			return Status{}, err
		}
	}
	return e.status(rec, successor(later, rec))
}

// owesDelete reports, from its record alone, whether a run may still owe the deletion of the
// version it retired: it is done and has not deleted it.
func owesDelete(rec state.RunRecord) bool {
	if rec.Phase != string(rotation.Done) {
		return false
	}
	var r rotation.Run
	if json.Unmarshal(rec.Data, &r) != nil || r.Previous == nil {
		return false
	}
	return r.Step(rotation.StepDelete, "").Status != rotation.OK
}

// successor is the run of rec's credential that came right after it, among recs (newest
// first), or nil.
func successor(recs []state.RunRecord, rec state.RunRecord) *rotation.Run {
	var next *state.RunRecord
	for i := range recs {
		switch {
		case recs[i].ID == rec.ID:
			if next == nil {
				return nil
			}
			var r rotation.Run
			if json.Unmarshal(next.Data, &r) != nil {
				return nil
			}
			return &r
		case recs[i].Credential == rec.Credential:
			next = &recs[i]
		}
	}
	return nil
}

func (e *Engine) status(rec state.RunRecord, succ *rotation.Run) (Status, error) {
	var r rotation.Run
	if err := json.Unmarshal(rec.Data, &r); err != nil {
		return Status{}, fmt.Errorf("run %s does not decode: %v", rec.ID, err)
	}
	st := Status{Run: r, Record: rec}
	if c, ok := e.Inv.Credential(rec.Credential); ok {
		p := e.build(c, nil)
		st.Next = rotation.Next(&r, e.spec(c, p), e.now(), rotation.Options{Through: rotation.StageRevoke, Successor: succ})
	}
	return st, nil
}

// Runs lists runs, newest first; credential "" lists all.
func (e *Engine) Runs(ctx context.Context, credential string, limit int) ([]Status, error) {
	recs, err := e.State.Runs(ctx, state.RunFilter{Credential: credential, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(recs))
	for _, rec := range recs {
		var succ *rotation.Run
		if owesDelete(rec) {
			succ = successor(recs, rec)
		}
		st, err := e.status(rec, succ)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}
