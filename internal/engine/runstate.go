package engine

import (
	"context"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/state"
)

// runState is one run being driven: its stored record, its decoded lifecycle, and the
// providers of its credential.
type runState struct {
	e *Engine
	// call is the invocation driving the run: who acts, where progress goes, how long it may
	// wait in-process.
	call  Call
	cred  *inventory.Credential
	rec   state.RunRecord
	run   rotation.Run
	p     *providers
	spec  rotation.Spec
	scrub scrubber
	// shared is the operation's provider.Shared, given to the providers it builds.
	shared *provider.Shared
	// out holds the notifications of this operation (see notify.go).
	out *outbox
	// held are journal entries not saved yet: a new run's first (its first save creates it,
	// see startRun) and those of local steps performed since the last save (see do). The
	// next save writes them first; drive saves them before it returns.
	held []journal.Entry
	// values are the versions' values this drive has minted or read, by version id: a
	// version's value never changes, so a later step of the same drive uses them instead of
	// reading and decrypting the store again. Wiped when the drive ends; a resumed run starts
	// without them and reads the store.
	values map[string]secret.Value
	// with is what the next save writes besides the run and its journal, in its transaction
	// (only its Credential and Rotation: record's writes); the save fills in the rest.
	with state.RunSave
	// holder holds the credential's lock for this operation; nil once released (the save
	// that makes the run done releases it).
	holder *state.LockHolder
}

// unlock releases the credential's lock unless a save already did.
func (rs *runState) unlock(ctx context.Context) {
	if rs.holder != nil {
		_ = rs.e.State.Unlock(context.WithoutCancel(ctx), rs.cred.ID, *rs.holder)
		rs.holder = nil
	}
}

// keep remembers a copy of a version's value for the rest of the drive.
func (rs *runState) keep(id string, v secret.Value) {
	if id == "" || v.IsZero() {
		return
	}
	if rs.values == nil {
		rs.values = map[string]secret.Value{}
	}
	if _, ok := rs.values[id]; !ok {
		rs.values[id] = v.Clone()
	}
}

// kept returns a copy of a version's value if the drive holds it; the caller wipes it.
func (rs *runState) kept(id string) (secret.Value, bool) {
	v, ok := rs.values[id]
	if !ok {
		return secret.Value{}, false
	}
	return v.Clone(), true
}

// forget wipes the values the drive holds.
func (rs *runState) forget() {
	for id, v := range rs.values {
		v.Wipe()
		delete(rs.values, id)
	}
}

func (rs *runState) decode() error {
	var err error
	if rs.run, err = rotation.DecodeRun(rs.rec.ID, rs.rec.Data); err != nil {
		return err
	}
	rs.p = rs.e.build(rs.cred, rs.shared)
	rs.spec = specOf(rs.e.Inv, rs.e.Registry, rs.cred)
	return nil
}

// entry builds a journal entry of this run, by the executor.
func (rs *runState) entry(kind journal.Kind, step, consumer, summary string) journal.Entry {
	return journal.Entry{RunID: rs.run.ID, At: rs.e.now(), Actor: journal.Executor, Kind: kind,
		Phase: string(rs.run.Phase), Step: step, Consumer: consumer, Summary: rs.scrub.text(summary)}
}
