package engine

import (
	"context"
	"fmt"

	"github.com/rotorhq/rotor/internal/impact"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/state"
)

// Verify checks a run's journal chain against the run's head.
func (v View) Verify(ctx context.Context, runID string) (journal.Head, int, error) {
	st, err := v.Status(ctx, runID)
	if err != nil {
		return journal.Head{}, 0, err
	}
	stored, err := v.stored(ctx, runID)
	if err != nil {
		return journal.Head{}, 0, err
	}
	head := journal.Head{Hash: st.Record.JournalHead, Len: st.Record.JournalLen}
	return head, len(stored), journal.Verify(runID, stored, head)
}

func (v View) stored(ctx context.Context, runID string) ([]journal.Stored, error) {
	return storedJournal(ctx, v.State, runID)
}

// storedJournal reads a run's journal as stored, for journal.Verify.
func storedJournal(ctx context.Context, st interface {
	Journal(ctx context.Context, runID string) ([]state.JournalEntry, error)
}, runID string) ([]journal.Stored, error) {
	rows, err := st.Journal(ctx, runID)
	if err != nil {
		return nil, err
	}
	out := make([]journal.Stored, len(rows))
	for i, r := range rows {
		out[i] = journal.Stored{Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash, Body: r.Body}
	}
	return out, nil
}

// Ticket assembles a run's change ticket: the header from the run and the inventory, the
// verified journal entries.
func (v View) Ticket(ctx context.Context, runID string) (journal.Ticket, error) {
	st, err := v.Status(ctx, runID)
	if err != nil {
		return journal.Ticket{}, err
	}
	r := st.Run
	stored, err := v.stored(ctx, runID)
	if err != nil {
		return journal.Ticket{}, err
	}
	t := journal.Ticket{RunID: r.ID, Credential: r.Credential, Critical: r.Critical, Strategy: r.Strategy,
		Phase: string(r.Phase), Outcome: outcome(r), StartedBy: r.StartedBy, StartedAt: r.StartedAt, UpdatedAt: r.UpdatedAt,
		Head:      journal.Head{Hash: st.Record.JournalHead, Len: st.Record.JournalLen},
		Consumers: []journal.Consumer{}, Approvals: []journal.Decision{}, Exceptions: []journal.Exception{}, FollowUps: []journal.FollowUp{}}
	if err := journal.Verify(runID, stored, t.Head); err != nil {
		t.VerifyProblem = err.Error()
	} else {
		t.Verified = true
	}
	for _, s := range stored {
		if en, err := journal.Decode(s.Body); err == nil {
			t.Entries = append(t.Entries, en)
		}
	}
	if r.Previous != nil {
		t.Previous = &journal.VersionRef{ID: r.Previous.ID, Fingerprint: r.Previous.Fingerprint}
	}
	if r.New != nil {
		t.New = &journal.VersionRef{ID: r.New.ID, Fingerprint: r.New.Fingerprint}
	}
	c, inInventory := v.credential(r.Credential)
	if inInventory {
		t.Description, t.Owner = c.Description, c.Owner
		if r.Phase == rotation.Done && c.Rotate.Every.Set {
			due := r.CutoverAt.Add(c.Rotate.Every.Duration)
			t.NextDue = &due
		}
	}
	for _, cs := range r.Consumers {
		tc := journal.Consumer{ID: cs.ID, ProvenAt: cs.ProvenAt, ProvenBy: cs.ProvenBy, Proof: cs.FollowUp, Status: consumerStatus(cs)}
		if inInventory {
			for _, k := range c.Consumers {
				if k.ID == cs.ID {
					pt := impact.ProofTiming(k)
					tc.Kind, tc.Risk = k.Kind, fmt.Sprintf("%s: %s", pt.Risk, pt.Why)
					if tc.Proof == "" && len(k.Checks) > 0 {
						tc.Proof = fmt.Sprintf("checks %v after its reload", k.Checks)
					}
				}
			}
		}
		t.Consumers = append(t.Consumers, tc)
		if cs.FollowUp != "" {
			state := "open"
			if cs.Proven {
				state = "done"
			}
			t.FollowUps = append(t.FollowUps, journal.FollowUp{Consumer: cs.ID, What: cs.FollowUp, Due: cs.ProofAfter, State: state})
		}
	}
	for _, d := range r.Approvals {
		k := journal.KindApproval
		if !d.Approve {
			k = journal.KindRejection
		}
		t.Approvals = append(t.Approvals, journal.Decision{Kind: k, By: d.By, At: d.At, Reason: d.Reason})
	}
	for _, s := range r.Signoffs {
		t.Approvals = append(t.Approvals, journal.Decision{Kind: journal.KindSignoff, By: s.By, At: s.At, Consumer: s.Consumer, Reason: s.Reason})
	}
	for _, ex := range r.Exceptions {
		state := ex.State
		if state == "overdue" {
			state = "expired"
		}
		t.Exceptions = append(t.Exceptions, journal.Exception{Consumers: ex.Consumers, Owner: ex.Owner, Reason: ex.Reason,
			Opened: ex.Opened, Expires: ex.Expires, Closed: ex.Closed, State: state})
	}
	return t, nil
}

func outcome(r rotation.Run) string {
	switch r.Phase {
	case rotation.Done, rotation.Halted, rotation.RolledBack, rotation.Cancelled:
		return string(r.Phase)
	}
	return "in progress"
}

func consumerStatus(cs rotation.ConsumerState) string {
	switch {
	case cs.PinnedTo != "":
		return "rolled-back"
	case cs.Proven && len(cs.ProvenBy) > 7 && cs.ProvenBy[:7] == "signoff":
		return "signed-off"
	case cs.Proven:
		return "proven"
	}
	return "waiting"
}
