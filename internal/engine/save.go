package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/state"
)

// A run's durability: every save writes the run, the journal entries it has held and the new
// ones, sealed onto its hash chain, and whatever the save carries (the credential's state and
// history, the lock's release) in one transaction.

// save persists the run and appends entries to its journal, in one transaction, after the
// held entries and with the notifications the entries owe (see notify.go).
func (rs *runState) save(ctx context.Context, entries ...journal.Entry) error {
	if rs.unstored() && !rs.run.HasEffect() {
		// Nothing has happened yet: a run stopped before its first effect (a freeze, a
		// window, readiness) is not stored, and leaves nothing behind to linger (startRun).
		rs.held = append(rs.held, entries...)
		return nil
	}
	data, err := json.Marshal(rs.run)
	if err != nil {
		return err
	}
	rec := rs.rec
	rec.Phase, rec.Data = string(rs.run.Phase), data
	held, with := rs.held, rs.with
	if rs.run.Phase.Terminal() && !rotation.Phase(rs.rec.Phase).Terminal() {
		// The save that makes the run done (or cancelled) also releases the credential's
		// lock: nothing of the run is left to do, and the release then costs no synced write
		// of its own.
		// Notifications journaled after it append to a done run's journal, which no other
		// run writes.
		with.Unlock = rs.holder
	}
	// Saved or not, what was held is done with: after a failed save the run in memory is
	// ahead of the store, and nothing more of it is saved.
	rs.held, rs.with = nil, state.RunSave{}
	if err := rs.commit(ctx, rec, append(held[:len(held):len(held)], entries...), with); err != nil {
		return err
	}
	if with.Unlock != nil {
		rs.holder = nil
	}
	return nil
}

// commit seals entries, and the notifications they owe (see notify.go), onto the run's
// journal and stores them with rec, and what with adds, in one transaction; rs.rec is then
// what was stored.
func (rs *runState) commit(ctx context.Context, rec state.RunRecord, entries []journal.Entry, with state.RunSave) error {
	owed, done := rs.owedNotes()
	entries = append(entries[:len(entries):len(entries)], owed...)
	head := journal.Head{Hash: rs.rec.JournalHead, Len: rs.rec.JournalLen}
	sealed := make([]state.JournalEntry, 0, len(entries))
	for _, en := range entries {
		en.RunID = rs.run.ID
		s, err := seal(head, en)
		if err != nil {
			done(false)
			return err
		}
		head = journal.Head{Hash: s.Hash, Len: s.Seq}
		sealed = append(sealed, s)
	}
	with.Run, with.Entries = rec, sealed
	stored, err := rs.saveRun(ctx, with)
	done(err == nil)
	if err != nil {
		return fmt.Errorf("saving run %s: %w", rs.run.ID, err)
	}
	rs.rec = stored
	return nil
}

// saveRun is state.Store.SaveRun. A credential state lost to a concurrent write (its CAS) is
// read again and the save retried: the state names this run's versions whatever revision it
// had.
func (rs *runState) saveRun(ctx context.Context, sv state.RunSave) (state.RunRecord, error) {
	for attempt := 1; ; attempt++ {
		stored, err := rs.e.State.SaveRun(ctx, sv)
		if sv.Credential == nil || !errors.Is(err, state.ErrConflict) || attempt == 5 {
			return stored, err
		}
		cur, rerr := rs.e.State.CredentialState(ctx, sv.Credential.ID)
		switch {
		case errors.Is(rerr, state.ErrNotFound):
			cur.Revision = 0
		case rerr != nil:
			return stored, err
		}
		if cur.Revision == sv.Credential.Revision {
			return stored, err // the run's own revision lost: not the credential's to mend
		}
		c := *sv.Credential
		c.Revision = cur.Revision
		sv.Credential = &c
	}
}

// crashPoint is a durable step boundary of the run (Engine.crashPoint) once the run is stored:
// before its first save, a crash leaves nothing of it.
func (rs *runState) crashPoint(name string) {
	if !rs.unstored() {
		rs.e.crashPoint(name)
	}
}

// unstored reports whether the run has not been saved yet (a new run, before its first save).
func (rs *runState) unstored() bool { return rs.rec.Revision == 0 }

// flush saves the run if local steps have changed it since the last save.
func (rs *runState) flush(ctx context.Context) error {
	if len(rs.held) == 0 {
		return nil
	}
	return rs.save(ctx)
}

// seal chains an entry onto head and returns it as the store keeps it.
func seal(head journal.Head, en journal.Entry) (state.JournalEntry, error) {
	s, body, err := journal.Seal(head, en)
	if err != nil {
		return state.JournalEntry{}, err
	}
	return state.JournalEntry{RunID: s.RunID, Seq: s.Seq, At: s.At, Kind: string(s.Kind), Body: body, PrevHash: s.PrevHash, Hash: s.Hash}, nil
}
