package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
)

// A run is abandoned before cutover by a person (rotor cancel RUN --reason): the request is
// journaled with who asked, as which OS account, and why; then two durable steps undo what the
// run made — the value it minted is disabled at the authority (provider.Discarder), then its
// pending version is removed from the store (provider.VersionDeleter) — and the run ends
// cancelled, which is not active: the credential may start a new run. The old version stays
// current throughout. Each step is intent, effect, outcome like every other: a cancel cut
// short is finished by the next rotate of the credential (or by cancel again). A provider
// that cannot undo says so in the step and the journal, never silently.

// Cancel abandons a run before cutover on call.Actor's request. After cutover (or an in-place
// enable) it is refused, naming rollback, and the refusal is journaled. On a run already being
// cancelled it finishes the cancel.
func (e *Engine) Cancel(ctx context.Context, call Call, runID, reason string) (Result, error) {
	rs, unlock, err := e.open(ctx, call, runID)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	now := e.now()
	switch {
	case rs.run.Cancel == nil:
		c := rotation.Cancellation{By: call.Actor, At: now, Reason: reason}
		if err := rotation.BeginCancel(&rs.run, c); err != nil {
			return Result{Run: rs.run}, rs.refuse(ctx, call, "cancel", "", err)
		}
		what := "nothing minted yet"
		if r := rs.run; r.New != nil {
			what = "pending version " + r.New.ID + " (" + r.New.Fingerprint + ")"
		}
		en := rs.entry(journal.KindCancel, "", "", fmt.Sprintf("%s cancelled the run before cutover (%s; the current version stays current): %s", call.Actor, what, reason))
		en.Actor, en.OSUser = call.Actor, call.OSUser
		if err := rs.save(ctx, en); err != nil {
			return Result{Run: rs.run}, err
		}
		e.crashPoint("cancel-requested")
	case rs.run.Halt != nil:
		rotation.Resume(&rs.run, now)
		if err := rs.save(ctx, rs.entry(journal.KindNote, "", "", "cancel resumed after a halt by "+call.Actor)); err != nil {
			return Result{Run: rs.run}, err
		}
	}
	return rs.drive(ctx, rotation.Options{Through: rotation.StageRevoke, Since: now})
}

// cancelled finds what a cancelled run minted — its New, or the version of the store that
// carries its idempotency key (a mint cut short stored it without the run knowing) — and the
// version current now (its Previous, or the store's current). found is false when the run
// minted nothing the store keeps.
func (rs *runState) cancelled(ctx context.Context) (mine provider.Version, current *provider.Version, found bool, err error) {
	r, c := &rs.run, rs.cred
	if rs.p.store == nil {
		return mine, nil, false, provider.Errorf(provider.Terminal, "cancel", "the %s store cannot be built: %s", c.Store.Type, strings.Join(rs.p.missing, "; "))
	}
	current = r.Previous
	if r.New != nil && current != nil {
		return *r.New, current, true, nil
	}
	vs, err := rs.p.store.Versions(ctx, provider.VersionsRequest{Credential: c.ID})
	if err != nil {
		return mine, nil, false, err
	}
	for i := range vs.Versions {
		v := vs.Versions[i]
		switch {
		case v.Key == r.ID && r.New == nil:
			mine, found = v, true
		case v.Stage == provider.StageCurrent && current == nil:
			current = &v
		}
	}
	if r.New != nil {
		mine, found = *r.New, true
	}
	return mine, current, found, nil
}

// discard disables at the authority the value a cancelled run minted (rotation.StepDiscard).
func (rs *runState) discard(ctx context.Context) (rotation.Outcome, []journal.Entry) {
	r, c := &rs.run, rs.cred
	v, current, found, err := rs.cancelled(ctx)
	if err != nil {
		return rotation.Outcome{Err: err}, nil
	}
	if !found {
		return rotation.Outcome{Detail: "nothing to disable: the run stored no value (no version carries its key)"}, nil
	}
	if rs.p.authority == nil {
		return rotation.Outcome{Err: provider.Errorf(provider.Terminal, "cancel", "the %s authority cannot be built: %s", c.Authority.Type, strings.Join(rs.p.missing, "; "))}, nil
	}
	d, ok := rs.p.authority.(provider.Discarder)
	if !ok {
		until := "until it expires"
		if !v.Expires.IsZero() {
			until = "until " + v.Expires.UTC().Format("2006-01-02T15:04:05Z")
		}
		note := fmt.Sprintf("not disabled: the %s authority cannot disable a value it minted, so %s stays valid there %s unless revoked by hand; it is removed from the store next, so no consumer reads it",
			c.Authority.Type, v.ID, until)
		return rotation.Outcome{Detail: note, Data: map[string]string{"skipped": v.ID}},
			[]journal.Entry{rs.entry(journal.KindNote, string(rotation.StepDiscard), "", note)}
	}
	resp, err := d.Discard(ctx, provider.DiscardRequest{Credential: c.ID, RunID: r.ID, Strategy: r.Strategy, Version: v, Current: current,
		Enabled: r.Step(rotation.StepEnable, "").Kind != ""})
	if err != nil {
		return rotation.Outcome{Err: err}, nil
	}
	return rotation.Outcome{Detail: resp.Detail, Data: map[string]string{"discarded": v.ID}}, nil
}

// removePending removes a cancelled run's pending version from the store
// (rotation.StepRemovePending). A store that cannot delete disables it; one that can do
// neither keeps it, never promoted, and the step says so.
func (rs *runState) removePending(ctx context.Context) (rotation.Outcome, []journal.Entry) {
	c := rs.cred
	v, current, found, err := rs.cancelled(ctx)
	if err != nil {
		return rotation.Outcome{Err: err}, nil
	}
	stays := "; the current version stays current"
	if current != nil {
		stays = "; " + current.ID + " stays current"
	}
	if !found {
		return rotation.Outcome{Detail: "nothing to remove: no version of the store carries the run's key" + stays}, nil
	}
	req := provider.ToggleRequest{Credential: c.ID, Version: v.ID}
	if d, ok := rs.p.store.(provider.VersionDeleter); ok {
		err := d.Delete(ctx, req)
		switch {
		case errors.Is(err, provider.ErrNotFound):
			return rotation.Outcome{Detail: v.ID + " is no longer in the store (removed already)" + stays, Data: map[string]string{"removed": v.ID}}, nil
		case err != nil:
			return rotation.Outcome{Err: err}, nil
		}
		return rotation.Outcome{Detail: fmt.Sprintf("removed pending version %s (%s) from the store%s", v.ID, v.Fingerprint, stays), Data: map[string]string{"removed": v.ID}}, nil
	}
	note := fmt.Sprintf("the %s store cannot delete a version on request: pending version %s stays in it, never promoted", c.Store.Type, v.ID)
	if t, ok := rs.p.store.(provider.VersionToggler); ok {
		if err := t.Disable(ctx, req); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return rotation.Outcome{Err: err}, nil
		}
		note += ", disabled so that no consumer reads it"
	} else {
		note += ": remove it by hand"
	}
	return rotation.Outcome{Detail: note + stays, Data: map[string]string{"kept": v.ID}},
		[]journal.Entry{rs.entry(journal.KindNote, string(rotation.StepRemovePending), "", note)}
}
