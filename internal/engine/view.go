package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/state"
)

// View answers the read commands — status, runs, journal, journal verify — and the metrics
// scrape from the state alone. It takes no lock, writes nothing, builds no provider and sends
// no notification, so reading never changes what it reads, and a read-only database handle
// is all it needs. What a run waits for is rotation.Next on the stored run, judged with the
// same spec the engine drives it with.
type View struct {
	// Inv is the inventory the runs are judged against; nil lists runs without what they
	// wait for (an inventory that does not load must not hide the state).
	Inv      *inventory.Inventory
	Registry *provider.Registry
	State    Reader
	Clock    func() time.Time
}

// Reader is the part of a state store that a View reads.
type Reader interface {
	Run(ctx context.Context, id string) (state.RunRecord, error)
	Runs(ctx context.Context, f state.RunFilter) ([]state.RunRecord, error)
	Journal(ctx context.Context, runID string) ([]state.JournalEntry, error)
}

// View is the engine's read-only view of its own state.
func (e *Engine) View() View {
	return View{Inv: e.Inv, Registry: e.Registry, State: e.State, Clock: e.Clock}
}

// Status is a run with what it waits for now (computed, not stored).
type Status struct {
	Run    rotation.Run
	Record state.RunRecord
	// Next is what the run would do now; zero when its credential is not in the inventory.
	Next rotation.Action
}

// Status loads a run and says what it would do next.
func (v View) Status(ctx context.Context, runID string) (Status, error) {
	rec, err := v.State.Run(ctx, runID)
	if errors.Is(err, state.ErrNotFound) {
		return Status{}, fmt.Errorf("%w: %s (rotor runs lists them)", ErrUnknownRun, runID)
	}
	if err != nil {
		return Status{}, err
	}
	var later []state.RunRecord
	if owesDelete(rec) { // its deletion may wait for the run after it: find that one
		if later, err = v.State.Runs(ctx, state.RunFilter{Credential: rec.Credential}); err != nil {
			return Status{}, err
		}
	}
	return v.status(rec, successor(later, rec))
}

// Runs lists the runs f selects, newest first, each with what it waits for.
func (v View) Runs(ctx context.Context, f state.RunFilter) ([]Status, error) {
	recs, err := v.State.Runs(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(recs))
	for _, rec := range recs {
		var succ *rotation.Run
		if owesDelete(rec) {
			succ = successor(recs, rec)
		}
		st, err := v.status(rec, succ)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func (v View) status(rec state.RunRecord, succ *rotation.Run) (Status, error) {
	r, err := rotation.DecodeRun(rec.ID, rec.Data)
	if err != nil {
		return Status{}, err
	}
	st := Status{Run: r, Record: rec}
	if c, ok := v.credential(rec.Credential); ok && v.Registry != nil {
		st.Next = rotation.Next(&r, specOf(v.Inv, v.Registry, c), v.Clock(), rotation.Options{Through: rotation.StageRevoke, Successor: succ})
	}
	return st, nil
}

// owesDelete reports, from its record alone, whether a run may still owe the deletion of the
// version it retired: it is done and has not deleted it.
func owesDelete(rec state.RunRecord) bool {
	if rec.Phase != string(rotation.Done) {
		return false
	}
	r, err := rotation.DecodeRun(rec.ID, rec.Data)
	if err != nil || r.Previous == nil {
		return false
	}
	return r.Step(rotation.StepDelete, "").Status != rotation.OK
}

// successor is the run of rec's credential that came right after it, among recs (newest
// first), or nil. A cancelled run does not count: it made and kept nothing.
func successor(recs []state.RunRecord, rec state.RunRecord) *rotation.Run {
	var next *state.RunRecord
	for i := range recs {
		switch {
		case recs[i].ID == rec.ID:
			if next == nil {
				return nil
			}
			r, err := rotation.DecodeRun(next.ID, next.Data)
			if err != nil {
				return nil
			}
			return &r
		case recs[i].Credential == rec.Credential && recs[i].Phase != string(rotation.Cancelled):
			next = &recs[i]
		}
	}
	return nil
}

func (v View) credential(id string) (*inventory.Credential, bool) {
	if v.Inv == nil {
		return nil, false
	}
	return v.Inv.Credential(id)
}
