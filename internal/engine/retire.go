package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/state"
)

// A run disables the version it replaces at its revoke and is then done; the deletion of that
// version from the store comes later (DOMAIN: "disable, and only later delete it") and is
// still the done run's step, recorded in its journal: rotation.Next says when, from the run,
// the credential's delete_after and the run that came after it. Nothing waits for it: every
// rotate of the credential, whether it drives a run or finds nothing due, performs the
// deletions that are due, under the credential's lock, each as a durable step (intent, effect,
// outcome). By default that is the next rotation's revoke, so one previous version always
// stays in the store, disabled.

// retire performs the deletions the credential's done runs owe now, oldest first; since is
// when the operation began (rotation.Options.Since). A first look without the lock finds
// whether any is due, so the usual rotate pays one read for it; then the lock is taken (or
// kept, when the rotate still holds it: the same holder) and everything is read again under
// it. A credential locked by another rotor is left for a later rotate.
func (e *Engine) retire(ctx context.Context, call Call, c *inventory.Credential, since time.Time) error {
	due, err := e.owing(ctx, c, since)
	if err != nil || len(due) == 0 {
		return err
	}
	holder := state.LockHolder{Host: e.Host, PID: e.PID, RunID: "rotate", Since: e.now()}
	if err := e.lock(ctx, c.ID, holder); err != nil {
		if errors.Is(err, ErrLocked) {
			fmt.Fprintf(call.progress(), "  … delete: %s is locked by another rotor; a later rotate deletes what is due\n", c.ID)
			return nil
		}
		return err
	}
	defer func() { _ = e.State.Unlock(context.WithoutCancel(ctx), c.ID, holder) }()
	if due, err = e.owing(ctx, c, since); err != nil {
		return err
	}
	shared, release := e.share()
	defer release()
	for _, d := range due {
		rs := &runState{e: e, call: call, cred: c, rec: d.rec, shared: shared, holder: &holder}
		if err := rs.decode(); err != nil {
			return err
		}
		o := rotation.Options{Since: since, Successor: d.successor}
		a := rotation.Next(&rs.run, rs.spec, e.now(), o)
		if a.Kind != rotation.DoStep || a.Step != rotation.StepDelete {
			continue
		}
		fmt.Fprintf(call.progress(), "  run %s retired %s at its revoke:\n", rs.run.ID, rs.run.Previous.ID)
		if _, err := rs.do(ctx, a, o, false); err != nil {
			return err
		}
		if rs.run.Step(rotation.StepDelete, "").Status != rotation.OK {
			return nil // never a newer version deleted before an older one: the next rotate tries again
		}
	}
	return nil
}

// owed is a done run that owes its deletion now, with the run after it.
type owed struct {
	rec       state.RunRecord
	successor *rotation.Run
}

// owingPage is how many of a credential's latest runs retire reads first. Deletions fall due
// in the order of the runs (a later revoke, or the same delay after a later revoke), and
// retire performs them oldest first and stops at a failure, so the done run whose deletion is
// settled ends the search: everything older is settled too. Only when a page holds none is
// the whole history read (the first rotate after an upgrade, or a long trail of failures).
const owingPage = 8

// owing lists, oldest first, the credential's done runs whose deletion rotation.Next asks for
// now.
func (e *Engine) owing(ctx context.Context, c *inventory.Credential, since time.Time) ([]owed, error) {
	recs, err := e.State.Runs(ctx, state.RunFilter{Credential: c.ID, Limit: owingPage})
	if err != nil {
		return nil, err
	}
	runs, settled, err := decodeUntilSettled(recs)
	if err != nil {
		return nil, err
	}
	if !settled && len(recs) == owingPage {
		if recs, err = e.State.Runs(ctx, state.RunFilter{Credential: c.ID}); err != nil {
			return nil, err
		}
		if runs, _, err = decodeUntilSettled(recs); err != nil {
			return nil, err
		}
	}
	spec := specOf(e.Inv, e.Registry, c)
	var out []owed
	for i := len(runs) - 1; i >= 0; i-- {
		r := &runs[i]
		if r.Phase != rotation.Done {
			continue
		}
		var succ *rotation.Run // the run after it; a cancelled one made and kept nothing
		for j := i - 1; j >= 0 && succ == nil; j-- {
			if runs[j].Phase != rotation.Cancelled {
				succ = &runs[j]
			}
		}
		a := rotation.Next(r, spec, e.now(), rotation.Options{Since: since, Successor: succ})
		if a.Kind == rotation.DoStep && a.Step == rotation.StepDelete {
			out = append(out, owed{rec: recs[i], successor: succ})
		}
	}
	return out, nil
}

// decodeUntilSettled decodes runs, newest first, up to and including the first done run that
// owes no deletion any more (deleted, or a first rotation that retired nothing); settled
// reports whether one was found.
func decodeUntilSettled(recs []state.RunRecord) (runs []rotation.Run, settled bool, err error) {
	for _, rec := range recs {
		r, err := rotation.DecodeRun(rec.ID, rec.Data)
		if err != nil {
			return nil, false, err
		}
		runs = append(runs, r)
		if r.Phase == rotation.Done && (r.Previous == nil || r.Step(rotation.StepDelete, "").Status == rotation.OK) {
			return runs, true, nil
		}
	}
	return runs, false, nil
}
