package statetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/state"
)

// Seal is the suite's stand-in for the journal package's seal: SHA-256 over
// the previous hash, a separator and the body. The store never recomputes a
// hash (it only checks that Seq and PrevHash link up), so any sealing works;
// this one lets the suite build real chains and check them afterwards the
// way `rotor journal verify` does.
func Seal(prevHash string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Entries seals bodies as the entries that continue a journal of n entries
// ending in head (0 and "" for a new run), all of kind kind at time at.
func Entries(runID string, n int64, head string, at time.Time, kind string, bodies ...[]byte) []state.JournalEntry {
	out := make([]state.JournalEntry, 0, len(bodies))
	for _, b := range bodies {
		n++
		e := state.JournalEntry{RunID: runID, Seq: n, At: at, Kind: kind, Body: b, PrevHash: head, Hash: Seal(head, b)}
		out = append(out, e)
		head = e.Hash
	}
	return out
}

// Next seals bodies as the entries that continue run r's journal.
func Next(r state.RunRecord, at time.Time, kind string, bodies ...[]byte) []state.JournalEntry {
	return Entries(r.ID, r.JournalLen, r.JournalHead, at, kind, bodies...)
}

// Verify recomputes the chain of a run's journal from the bodies, as
// `rotor journal verify` does, and compares its end with the run's
// JournalHead and JournalLen: an entry edited, removed or inserted behind
// the store's back makes it fail.
func Verify(r state.RunRecord, entries []state.JournalEntry) error {
	prev := ""
	for i, e := range entries {
		switch {
		case e.RunID != r.ID:
			return fmt.Errorf("entry %d belongs to run %q, not %q", i+1, e.RunID, r.ID)
		case e.Seq != int64(i+1):
			return fmt.Errorf("entry %d has seq %d", i+1, e.Seq)
		case e.PrevHash != prev:
			return fmt.Errorf("entry %d points at %.12s…, the previous entry seals to %.12s…", i+1, e.PrevHash, prev)
		case Seal(prev, e.Body) != e.Hash:
			return fmt.Errorf("entry %d: body does not seal to its hash %.12s…", i+1, e.Hash)
		}
		prev = e.Hash
	}
	if int64(len(entries)) != r.JournalLen || prev != r.JournalHead {
		return fmt.Errorf("journal has %d entries ending in %.12s…, run %q says %d ending in %.12s…",
			len(entries), prev, r.ID, r.JournalLen, r.JournalHead)
	}
	return nil
}

// SaveState writes cs the only way the Store writes a credential state: with
// a run of that credential, here a new run named runID that carries nothing
// else, in phase "done" so that code looking for open runs passes it by. It
// is how a test gives a credential a state, or changes it behind the back of
// the code under test. runID must be new to the store, else ErrConflict.
func SaveState(ctx context.Context, s state.Store, runID string, cs state.CredentialState) error {
	_, err := s.SaveRun(ctx, state.RunSave{Run: newRun(runID, cs.ID, "done"), Credential: &cs})
	return err
}

// Holder reports who holds credential's lock, through Lock: a probe holder
// asks for it, and the *LockedError names the holder; if the probe got the
// lock instead, it was free and the probe releases it. The probe holds a
// free lock for a moment, so a test asks only when nothing races it.
func Holder(ctx context.Context, s state.Store, credential string) (state.LockHolder, bool, error) {
	probe := state.LockHolder{Host: "statetest-probe", PID: 1, RunID: "probe"}
	err := s.Lock(ctx, credential, probe)
	var le *state.LockedError
	switch {
	case errors.As(err, &le):
		return le.Holder, true, nil
	case err != nil:
		return state.LockHolder{}, false, err
	}
	return state.LockHolder{}, false, s.Unlock(ctx, credential, probe)
}

// runTests are the run, journal and lock subtests, appended to Run's list.
var runTests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"RunNotFound", testRunNotFound},
	{"RunCreateAndRead", testRunCreate},
	{"RunCreateExistingConflicts", testRunCreateExisting},
	{"RunCreateBrokenChainConflicts", testRunCreateBrokenChain},
	{"RunUpdateCAS", testRunUpdateCAS},
	{"RunUpdateBrokenChainWritesNothing", testRunUpdateBrokenChain},
	{"RunConcurrentUpdateOneWinnerPerRound", testRunConcurrentUpdate},
	{"RunConcurrentUpdateAcrossHandles", testRunConcurrentUpdateHandles},
	{"RunsFilterAndOrder", testRunsFilter},
	{"RunTimesRoundTrip", testRunTimes},
	{"JournalAppendOnly", testJournalAppendOnly},
	{"JournalLargeInOrder", testJournalLarge},
	{"RunInvalidRefused", testRunInvalid},
	{"RunReopenPersists", testRunReopen},
	{"RunCanceledContext", testRunCanceled},
	{"LockTakeHoldRelease", testLock},
	{"LockContentionAcrossHandles", testLockContention},
	{"StealLockCAS", testStealLock},
	{"StealLockConcurrentOneWinner", testStealConcurrent},
	{"LockInvalidRefused", testLockInvalid},
	{"SaveRunAllOrNothing", testSaveRun},
}

// testSaveRun: a run saved with a credential state, a rotation record and the release of its
// lock writes all of them or, when any part loses (a stale credential revision, a different
// rotation for the run, a stale run), none; writes that concern another credential or run are
// refused before anything is written.
func testSaveRun(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	const cred = "orders-db"
	h := state.LockHolder{Host: "h", PID: 7, RunID: "rotate"}
	if err := s.Lock(ctx, cred, h); err != nil {
		t.Fatal(err)
	}
	// Revision 0 creates, with the writes.
	r0 := newRun("r", cred, "planned")
	first := Entries("r", 0, "", base, "intent", doc(`{"intent":"readiness"}`))
	cs := state.CredentialState{ID: cred, CurrentVersion: "v1", CurrentFingerprint: "fp1", LastRotated: base}
	r1, err := s.SaveRun(ctx, state.RunSave{Run: r0, Entries: first, Credential: &cs})
	if err != nil || r1.Revision != 1 || r1.JournalLen != 1 {
		t.Fatalf("SaveRun creating = %s, %v", showRun(r1), err)
	}
	got, err := s.CredentialState(ctx, cred)
	if err != nil || got.CurrentVersion != "v1" || got.Revision != 1 {
		t.Fatalf("credential after create = %+v, %v", got, err)
	}

	// The run records its rotation in a save of its own, so that a different one conflicts.
	same := state.RotationRecord{CredentialID: cred, RunID: "r", ToVersion: "v9", ToFingerprint: "fp9", CompletedAt: base}
	if r1, err = s.SaveRun(ctx, state.RunSave{Run: r1, Rotation: &same}); err != nil || r1.Revision != 2 {
		t.Fatalf("SaveRun with the rotation = %s, %v", showRun(r1), err)
	}

	// Each losing part leaves everything as it was.
	rot := state.RotationRecord{CredentialID: cred, RunID: "r", FromVersion: "v1", ToVersion: "v2", ToFingerprint: "fp2", CompletedAt: base}
	stale := got // revision 1
	stale.Revision = 5
	done := r1
	done.Phase = "done"
	cases := []struct {
		name string
		sv   state.RunSave
	}{
		{"stale credential revision", state.RunSave{Run: done, Entries: Next(r1, base, "phase", doc(`{"done":1}`)), Credential: &stale, Unlock: &h}},
		{"a different rotation of the run", state.RunSave{Run: done, Entries: Next(r1, base, "phase", doc(`{"done":2}`)), Rotation: &rot, Unlock: &h}},
		{"stale run revision", state.RunSave{Run: state.RunRecord{ID: "r", Credential: cred, Phase: "done", Data: doc(`{}`), Revision: 9}, Credential: &got, Unlock: &h}},
	}
	for _, c := range cases {
		if _, err := s.SaveRun(ctx, c.sv); !errors.Is(err, state.ErrConflict) {
			t.Fatalf("%s: SaveRun error = %v, want ErrConflict", c.name, err)
		}
		sameRun(t, c.name+": run", getRun(t, s, "r"), r1)
		if now, _ := s.CredentialState(ctx, cred); now.Revision != 1 || now.CurrentVersion != "v1" {
			t.Fatalf("%s: credential changed to %+v", c.name, now)
		}
		if holder, ok, err := Holder(ctx, s, cred); err != nil || !ok || !holder.Same(h) {
			t.Fatalf("%s: lock is %v, %v, %v; want still held by %v", c.name, holder, ok, err, h)
		}
	}

	// Writes about another credential or run are invalid, whatever else is right.
	other := got
	other.ID = "billing-db"
	otherRot := rot
	otherRot.RunID = "r2"
	for name, sv := range map[string]state.RunSave{
		"state of another credential": {Run: done, Credential: &other},
		"rotation by another run":     {Run: done, Rotation: &otherRot},
		"invalid lock holder":         {Run: done, Unlock: &state.LockHolder{Host: "h"}},
	} {
		if _, err := s.SaveRun(ctx, sv); !errors.Is(err, state.ErrInvalid) {
			t.Fatalf("%s: SaveRun error = %v, want ErrInvalid", name, err)
		}
	}
	sameRun(t, "after invalid saves", getRun(t, s, "r"), r1)

	// All parts right: all land, the lock is free, and a repeat of the rotation is a no-op.
	next := got
	next.CurrentVersion, next.CurrentFingerprint = "v9", "fp9"
	r2, err := s.SaveRun(ctx, state.RunSave{Run: done, Entries: Next(r1, base, "phase", doc(`{"done":3}`)), Credential: &next, Rotation: &same, Unlock: &h})
	if err != nil || r2.Revision != 3 || r2.Phase != "done" {
		t.Fatalf("SaveRun = %s, %v", showRun(r2), err)
	}
	if now, _ := s.CredentialState(ctx, cred); now.Revision != 2 || now.CurrentVersion != "v9" {
		t.Fatalf("credential after save = %+v", now)
	}
	if holder, ok, err := Holder(ctx, s, cred); err != nil || ok {
		t.Fatalf("lock after save: %v, %v, %v; want free", holder, ok, err)
	}
	if hist, err := s.Rotations(ctx, cred, 0); err != nil || len(hist) != 1 {
		t.Fatalf("history = %+v, %v; want the one rotation", hist, err)
	}
	verify(t, s, "r")
}

func doc(s string) []byte { return []byte(s) }

func newRun(id, cred, phase string) state.RunRecord {
	return state.RunRecord{ID: id, Credential: cred, Phase: phase, Data: doc(fmt.Sprintf(`{"id":%q,"phase":%q}`, id, phase))}
}

func createRun(t *testing.T, s state.Store, r state.RunRecord, bodies ...string) state.RunRecord {
	t.Helper()
	var bs [][]byte
	for _, b := range bodies {
		bs = append(bs, doc(b))
	}
	got, err := save(context.Background(), s, r, Entries(r.ID, 0, "", base, "intent", bs...))
	if err != nil {
		t.Fatalf("creating run %q: %v", r.ID, err)
	}
	return got
}

// save is SaveRun of a run and its entries alone: how the suite creates
// (revision 0) and updates a run.
func save(ctx context.Context, s state.Store, r state.RunRecord, entries []state.JournalEntry) (state.RunRecord, error) {
	return s.SaveRun(ctx, state.RunSave{Run: r, Entries: entries})
}

func getRun(t *testing.T, s state.Store, id string) state.RunRecord {
	t.Helper()
	got, err := s.Run(context.Background(), id)
	if err != nil {
		t.Fatalf("Run(%q): %v", id, err)
	}
	return got
}

func journal(t *testing.T, s state.Store, id string) []state.JournalEntry {
	t.Helper()
	got, err := s.Journal(context.Background(), id)
	if err != nil {
		t.Fatalf("Journal(%q): %v", id, err)
	}
	return got
}

// sameRun compares two records field by field, times with Equal.
func sameRun(t *testing.T, what string, got, want state.RunRecord) {
	t.Helper()
	if got.ID != want.ID || got.Credential != want.Credential || got.Phase != want.Phase ||
		!bytes.Equal(got.Data, want.Data) || got.Revision != want.Revision ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) ||
		got.JournalHead != want.JournalHead || got.JournalLen != want.JournalLen {
		t.Errorf("%s:\n got %s\nwant %s", what, showRun(got), showRun(want))
	}
}

func showRun(r state.RunRecord) string {
	return fmt.Sprintf("{%s cred=%s phase=%s rev=%d created=%s updated=%s journal=%d/%.12s data=%s}",
		r.ID, r.Credential, r.Phase, r.Revision, r.CreatedAt.Format(time.RFC3339Nano), r.UpdatedAt.Format(time.RFC3339Nano),
		r.JournalLen, r.JournalHead, r.Data)
}

// sameEntries compares journals entry by entry, bodies byte for byte.
func sameEntries(t *testing.T, what string, got, want []state.JournalEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.RunID != w.RunID || g.Seq != w.Seq || !g.At.Equal(w.At) || g.Kind != w.Kind ||
			!bytes.Equal(g.Body, w.Body) || g.PrevHash != w.PrevHash || g.Hash != w.Hash {
			t.Fatalf("%s: entry %d\n got %+v\nwant %+v", what, i+1, g, w)
		}
		if g.At.Location() != time.UTC {
			t.Errorf("%s: entry %d time in %v, want UTC", what, i+1, g.At.Location())
		}
	}
}

func verify(t *testing.T, s state.Store, id string) {
	t.Helper()
	if err := Verify(getRun(t, s, id), journal(t, s, id)); err != nil {
		t.Fatalf("journal of %q does not verify: %v", id, err)
	}
}

func testRunNotFound(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	_, err := s.Run(ctx, "no-such-run")
	if !errors.Is(err, state.ErrNotFound) || !strings.Contains(err.Error(), "no-such-run") {
		t.Fatalf("Run(unknown) error = %v, want ErrNotFound naming the run", err)
	}
	if rs, err := s.Runs(ctx, state.RunFilter{}); err != nil || rs == nil || len(rs) != 0 {
		t.Errorf("Runs on an empty store = %#v, %v; want an empty slice", rs, err)
	}
	if es, err := s.Journal(ctx, "no-such-run"); err != nil || es == nil || len(es) != 0 {
		t.Errorf("Journal(unknown) = %#v, %v; want an empty slice", es, err)
	}
	if h, ok, err := Holder(ctx, s, "no-such-cred"); err != nil || ok || h != (state.LockHolder{}) {
		t.Errorf("Holder(unlocked) = %+v, %v, %v; want zero, false, nil", h, ok, err)
	}
}

func testRunCreate(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	in := newRun("run-1", "orders-db", "planned")
	// Bodies the store must keep exactly: not UTF-8, NUL, CRLF, empty.
	bodies := [][]byte{doc(`{"step":"plan"}`), {0x00, 0xff, 0xfe, '\r', '\n'}, {}}
	entries := Entries(in.ID, 0, "", base, "intent", bodies...)
	got, err := save(ctx, s, in, entries)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Revision, want.JournalLen, want.JournalHead = 1, 3, entries[2].Hash
	want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.CreatedAt
	sameRun(t, "create result", got, want)
	if got.CreatedAt.IsZero() || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want set by the store, in UTC", got.CreatedAt)
	}
	sameRun(t, "read after create", getRun(t, s, in.ID), want)
	sameEntries(t, "journal after create", journal(t, s, in.ID), entries)
	verify(t, s, in.ID)

	// No entries: a run with an empty journal.
	bare, err := save(ctx, s, newRun("run-2", "orders-db", "planned"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bare.JournalLen != 0 || bare.JournalHead != "" || bare.Revision != 1 {
		t.Errorf("run without entries stored as %s", showRun(bare))
	}
	if es := journal(t, s, "run-2"); len(es) != 0 {
		t.Errorf("run without entries has journal %v", es)
	}
}

func testRunCreateExisting(t *testing.T, open Opener) {
	s := handle(t, open)
	first := createRun(t, s, newRun("r", "c", "planned"), `{"n":1}`)
	before := journal(t, s, "r")
	again := newRun("r", "c", "preparing") // a retried creation, or a clash of ids
	_, err := save(context.Background(), s, again, Entries("r", 0, "", base, "intent", doc(`{"n":"other"}`)))
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("create of an existing id: error = %v, want ErrConflict", err)
	}
	sameRun(t, "after a refused create", getRun(t, s, "r"), first)
	sameEntries(t, "journal after a refused create", journal(t, s, "r"), before)
}

func testRunCreateBrokenChain(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	good := Entries("r", 0, "", base, "intent", doc(`{"a":1}`), doc(`{"a":2}`))
	for _, tc := range []struct {
		name    string
		entries []state.JournalEntry
		want    error
	}{
		{"starts-at-2", Entries("r", 1, "x", base, "intent", doc(`{}`)), state.ErrConflict},
		{"first-points-somewhere", func() []state.JournalEntry {
			es := slices.Clone(good)
			es[0].PrevHash = "feed"
			return es
		}(), state.ErrConflict},
		{"gap", func() []state.JournalEntry {
			es := slices.Clone(good)
			es[1].Seq = 3
			return es
		}(), state.ErrConflict},
		{"second-points-elsewhere", func() []state.JournalEntry {
			es := slices.Clone(good)
			es[1].PrevHash = Seal("", doc("another body"))
			return es
		}(), state.ErrConflict},
		{"seq-0", func() []state.JournalEntry { // not a chain problem: no entry has seq 0
			es := slices.Clone(good[:1])
			es[0].Seq = 0
			return es
		}(), state.ErrInvalid},
	} {
		_, err := save(ctx, s, newRun("r", "c", "planned"), tc.entries)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: create error = %v, want %v", tc.name, err, tc.want)
		}
		if _, err := s.Run(ctx, "r"); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("%s: a refused create stored the run (%v)", tc.name, err)
		}
		if es := journal(t, s, "r"); len(es) != 0 {
			t.Fatalf("%s: a refused create stored %d entries", tc.name, len(es))
		}
	}
	// The same run with the good chain is then accepted.
	if _, err := save(ctx, s, newRun("r", "c", "planned"), good); err != nil {
		t.Fatalf("create with a good chain after refusals: %v", err)
	}
	verify(t, s, "r")
}

func testRunUpdateCAS(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	r1 := createRun(t, s, newRun("r", "orders-db", "planned"), `{"intent":"prepare"}`)

	next := r1
	next.Phase, next.Data = "preparing", doc(`{"phase":"preparing","minted":"v2"}`)
	add := Next(r1, base.Add(time.Second), "outcome", doc(`{"outcome":"minted v2"}`), doc(`{"intent":"store pending"}`))
	r2, err := save(ctx, s, next, add)
	if err != nil {
		t.Fatal(err)
	}
	want := next
	want.Revision, want.JournalLen, want.JournalHead = 2, 3, add[1].Hash
	want.CreatedAt, want.UpdatedAt = r1.CreatedAt, r2.UpdatedAt
	sameRun(t, "update result", r2, want)
	if r2.UpdatedAt.Before(r1.UpdatedAt) || r2.UpdatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt %v after an update, was %v; want not earlier, in UTC", r2.UpdatedAt, r1.UpdatedAt)
	}
	sameRun(t, "read after update", getRun(t, s, "r"), want)
	verify(t, s, "r")

	// Without entries: a plain CAS update.
	r3 := r2
	r3.Phase = "prepared"
	r3, err = save(ctx, s, r3, nil)
	if err != nil || r3.Revision != 3 || r3.JournalLen != 3 || r3.JournalHead != r2.JournalHead {
		t.Fatalf("update without entries = %s, %v", showRun(r3), err)
	}

	// Stale and future revisions lose and write nothing, entries included.
	for _, rev := range []int64{1, 2, 4, 99} {
		stale := r3
		stale.Revision, stale.Phase = rev, "halted"
		stored := getRun(t, s, "r")
		_, err := save(ctx, s, stale, Next(stored, base, "intent", doc(`{"stale":true}`)))
		if !errors.Is(err, state.ErrConflict) {
			t.Fatalf("update with revision %d (stored 3): error = %v, want ErrConflict", rev, err)
		}
	}
	sameRun(t, "after stale updates", getRun(t, s, "r"), r3)
	verify(t, s, "r")

	// An absent run is a lost CAS too.
	ghost := newRun("ghost", "orders-db", "preparing")
	ghost.Revision = 1
	if _, err := save(ctx, s, ghost, nil); !errors.Is(err, state.ErrConflict) {
		t.Errorf("update of an absent run: error = %v, want ErrConflict", err)
	}
	if _, err := s.Run(ctx, "ghost"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("a failed update created a run: %v", err)
	}
}

func testRunUpdateBrokenChain(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	r := createRun(t, s, newRun("r", "c", "planned"), `{"i":1}`, `{"i":2}`)
	stored := journal(t, s, "r")
	good := Next(r, base, "intent", doc(`{"i":3}`), doc(`{"i":4}`))
	for _, tc := range []struct {
		name    string
		entries []state.JournalEntry
	}{
		{"restarts-at-1", Entries("r", 0, "", base, "intent", doc(`{"i":"again"}`))},
		{"rewrites-last", Entries("r", 1, stored[0].Hash, base, "intent", doc(`{"i":"2 rewritten"}`))},
		{"skips-one", Entries("r", 3, good[0].Hash, base, "intent", doc(`{"i":4}`))},
		{"points-at-older", Entries("r", 2, stored[0].Hash, base, "intent", doc(`{"i":3}`))[:1]},
		{"unsealed-prev", func() []state.JournalEntry {
			es := slices.Clone(good)
			es[0].PrevHash = ""
			return es
		}()},
		{"second-breaks", func() []state.JournalEntry {
			es := slices.Clone(good)
			es[1].PrevHash = stored[1].Hash
			return es
		}()},
		{"second-repeats-seq", func() []state.JournalEntry {
			es := slices.Clone(good)
			es[1].Seq = es[0].Seq
			return es
		}()},
	} {
		upd := r
		upd.Phase = "preparing"
		_, err := save(ctx, s, upd, tc.entries)
		if !errors.Is(err, state.ErrConflict) {
			t.Errorf("%s: update error = %v, want ErrConflict", tc.name, err)
		}
		sameRun(t, tc.name+": run after a refused update", getRun(t, s, "r"), r)
		sameEntries(t, tc.name+": journal after a refused update", journal(t, s, "r"), stored)
	}
	// The intact chain is still accepted afterwards.
	if _, err := save(ctx, s, r, good); err != nil {
		t.Fatalf("update with a good chain after refusals: %v", err)
	}
	verify(t, s, "r")
}

// runRounds races n writers for each revision of one run: all read the same
// record and journal end, all append their own entry, exactly one may win,
// and the journal grows by exactly the winner's entry.
func runRounds(t *testing.T, stores []state.Store, rounds int) {
	t.Helper()
	ctx := context.Background()
	createRun(t, stores[0], newRun("contended", "c", "r0"), `{"created":true}`)
	for round := range rounds {
		seen := getRun(t, stores[0], "contended")
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			mu       sync.Mutex
			winners  []string
			failures []error
		)
		for g, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := seen
				next.Phase = fmt.Sprintf("r%d-g%d", round+1, g)
				next.Data = doc(fmt.Sprintf(`{"writer":%q}`, next.Phase))
				entries := Next(seen, base, "outcome", doc(fmt.Sprintf(`{"by":%q}`, next.Phase)))
				<-start
				_, err := save(ctx, s, next, entries)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, next.Phase)
				case !errors.Is(err, state.ErrConflict):
					failures = append(failures, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		for _, err := range failures {
			t.Errorf("round %d: a losing writer got %v, want ErrConflict", round, err)
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d winners %v, want exactly 1", round, len(winners), winners)
		}
		after := getRun(t, stores[0], "contended")
		es := journal(t, stores[0], "contended")
		if after.Revision != seen.Revision+1 || after.Phase != winners[0] || after.JournalLen != seen.JournalLen+1 ||
			len(es) != int(after.JournalLen) || string(es[len(es)-1].Body) != fmt.Sprintf(`{"by":%q}`, winners[0]) {
			t.Fatalf("round %d: stored %s with %d entries, want revision %d and one more entry, by %s",
				round, showRun(after), len(es), seen.Revision+1, winners[0])
		}
	}
	verify(t, stores[0], "contended")
}

func testRunConcurrentUpdate(t *testing.T, open Opener) {
	s := handle(t, open)
	stores := make([]state.Store, 8)
	for i := range stores {
		stores[i] = s
	}
	runRounds(t, stores, 20)
}

func testRunConcurrentUpdateHandles(t *testing.T, open Opener) {
	stores := make([]state.Store, 4)
	for i := range stores {
		stores[i] = handle(t, open)
	}
	runRounds(t, stores, 10)
}

func testRunsFilter(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	// Created in this order; the store's clock does not go backwards, so
	// newest first is the reverse (ties, if the clock did not move, too).
	created := []struct{ id, cred, phase string }{
		{"a1", "cred-a", "done"},
		{"b1", "cred-b", "halted"},
		{"a2", "cred-a", "rolled-back"},
		{"b2", "cred-b", "verifying"},
		{"a3", "cred-a", "preparing"},
		{"c1", "cred-c", "done"},
	}
	for _, c := range created {
		createRun(t, s, newRun(c.id, c.cred, "planned"), `{"created":true}`)
		if c.phase != "planned" { // the phase the filter sees is the updated one
			r := getRun(t, s, c.id)
			r.Phase = c.phase
			if _, err := save(ctx, s, r, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	open3 := []string{"planned", "preparing", "prepared", "cutting-over", "verifying", "awaiting-approval", "revoking"}
	for _, tc := range []struct {
		f    state.RunFilter
		want []string
	}{
		{state.RunFilter{}, []string{"c1", "a3", "b2", "a2", "b1", "a1"}},
		{state.RunFilter{Limit: 2}, []string{"c1", "a3"}},
		{state.RunFilter{Limit: -1}, []string{"c1", "a3", "b2", "a2", "b1", "a1"}},
		{state.RunFilter{Credential: "cred-a"}, []string{"a3", "a2", "a1"}},
		{state.RunFilter{Credential: "cred-a", Limit: 1}, []string{"a3"}},
		{state.RunFilter{Credential: "cred-a", Phases: open3}, []string{"a3"}}, // the engine's active-run query
		{state.RunFilter{Credential: "cred-c", Phases: open3}, []string{}},
		{state.RunFilter{Phases: open3}, []string{"a3", "b2"}}, // what to resume at start-up
		{state.RunFilter{Phases: []string{"done"}}, []string{"c1", "a1"}},
		{state.RunFilter{Phases: []string{"done", "done", "halted"}}, []string{"c1", "b1", "a1"}},
		{state.RunFilter{Credential: "cred-b", Phases: []string{"halted", "verifying"}}, []string{"b2", "b1"}},
		{state.RunFilter{Credential: "unknown"}, []string{}},
		{state.RunFilter{Phases: []string{"no-such-phase"}}, []string{}},
	} {
		rs, err := s.Runs(ctx, tc.f)
		if err != nil {
			t.Fatalf("Runs(%+v): %v", tc.f, err)
		}
		got := []string{}
		for _, r := range rs {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Runs(%+v) = %v, want %v", tc.f, got, tc.want)
		}
		if rs == nil {
			t.Errorf("Runs(%+v) = nil, want an empty slice", tc.f)
		}
	}
	// Listed records are whole: the same as Run returns.
	rs, _ := s.Runs(ctx, state.RunFilter{Credential: "cred-b", Limit: 1})
	if len(rs) == 1 {
		sameRun(t, "Runs record", rs[0], getRun(t, s, "b2"))
	}
}

func testRunTimes(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	kolkata := time.FixedZone("IST", 5*3600+1800)
	ats := []time.Time{
		base,
		base.Add(1),
		time.Date(2026, 1, 2, 3, 4, 5, 6, kolkata),
		time.Now(), // local, with a monotonic reading
		time.Date(1600, 2, 29, 12, 0, 0, 7, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		state.MinTime,
	}
	r := createRun(t, s, newRun("times", "c", "planned"))
	var all []state.JournalEntry
	for i, at := range ats {
		es := Next(r, at, "intent", doc(fmt.Sprintf(`{"i":%d}`, i)))
		var err error
		if r, err = save(ctx, s, r, es); err != nil {
			t.Fatal(err)
		}
		all = append(all, es...)
	}
	got := journal(t, s, "times")
	sameEntries(t, "journal times", got, all) // At with Equal, in UTC
	read := getRun(t, s, "times")
	for _, p := range []struct {
		what      string
		got, want time.Time
	}{{"CreatedAt", read.CreatedAt, r.CreatedAt}, {"UpdatedAt", read.UpdatedAt, r.UpdatedAt}} {
		if !p.got.Equal(p.want) || p.got.Location() != time.UTC || p.got.IsZero() {
			t.Errorf("%s read back %v, the store returned %v; want equal, set, UTC", p.what, p.got, p.want)
		}
	}

	h := state.LockHolder{Host: "h", PID: 1, RunID: "times"}
	if err := s.Lock(ctx, "c", h); err != nil {
		t.Fatal(err)
	}
	held, ok, err := Holder(ctx, s, "c")
	if err != nil || !ok || held.Since.IsZero() || held.Since.Location() != time.UTC {
		t.Fatalf("holder = %+v, %v, %v; want Since set, in UTC", held, ok, err)
	}
	var le *state.LockedError
	if err := s.Lock(ctx, "c", state.LockHolder{Host: "h", PID: 2, RunID: "other"}); !errors.As(err, &le) ||
		!le.Holder.Since.Equal(held.Since) || le.Holder.Since.Location() != time.UTC {
		t.Errorf("LockedError = %v; want Since %v in UTC, as the probe was told", err, held.Since)
	}
}

// testJournalAppendOnly: through the Store, nothing can change or remove an
// entry. Raw edits of the backing store are each backend's own test.
func testJournalAppendOnly(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	r := createRun(t, s, newRun("r", "c", "planned"), `{"i":1}`, `{"i":2}`, `{"i":3}`)
	stored := journal(t, s, "r")

	// Re-creating the run with a fresh journal is refused.
	if _, err := save(ctx, s, newRun("r", "c", "planned"), Entries("r", 0, "", base, "intent", doc(`{"i":"new"}`))); !errors.Is(err, state.ErrConflict) {
		t.Errorf("create over a run with a journal: %v, want ErrConflict", err)
	}
	// Re-writing any stored entry, even with a valid chain from its parent, is refused.
	for i := range stored {
		prev := ""
		if i > 0 {
			prev = stored[i-1].Hash
		}
		rewrite := Entries("r", int64(i), prev, base, "intent", doc(fmt.Sprintf(`{"i":"%d rewritten"}`, i+1)))
		if _, err := save(ctx, s, r, rewrite); !errors.Is(err, state.ErrConflict) {
			t.Errorf("rewriting entry %d: %v, want ErrConflict", i+1, err)
		}
		// The same bytes again (a replay) are refused too: seq is taken.
		if _, err := save(ctx, s, r, stored[i:i+1]); !errors.Is(err, state.ErrConflict) {
			t.Errorf("replaying entry %d: %v, want ErrConflict", i+1, err)
		}
	}
	sameEntries(t, "journal after refused rewrites", journal(t, s, "r"), stored)
	sameRun(t, "run after refused rewrites", getRun(t, s, "r"), r)
	verify(t, s, "r")
}

// JournalLargeSize is the number of entries written by JournalLargeInOrder.
const JournalLargeSize = 10_000

func testJournalLarge(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	body := func(i int) []byte {
		return doc(fmt.Sprintf(`{"i":%d,"pad":%q}`, i, strings.Repeat("x", 200+i%97)))
	}
	r := createRun(t, s, newRun("big", "c", "planned"))
	var want []state.JournalEntry
	// Batches of uneven sizes, the first in the creation.
	for _, n := range []int{1, 999, 4000, 1, 5000 - 1} {
		bodies := make([][]byte, n)
		for i := range bodies {
			bodies[i] = body(len(want) + i)
		}
		es := Next(r, base.Add(time.Duration(len(want))*time.Millisecond), "step", bodies...)
		var err error
		if r, err = save(ctx, s, r, es); err != nil {
			t.Fatalf("update with %d entries: %v", n, err)
		}
		want = append(want, es...)
	}
	// Another run's journal interleaved must not leak into this one.
	createRun(t, s, newRun("small", "c2", "planned"), `{"other":true}`)
	if len(want) != JournalLargeSize || r.JournalLen != JournalLargeSize {
		t.Fatalf("built %d entries, run says %d; want %d", len(want), r.JournalLen, JournalLargeSize)
	}
	got := journal(t, s, "big")
	sameEntries(t, "large journal", got, want)
	if err := Verify(getRun(t, s, "big"), got); err != nil {
		t.Fatal(err)
	}
}

func testRunInvalid(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	const pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQ...\n-----END PRIVATE KEY-----\n"
	ok := newRun("r", "c", "planned")
	with := func(f func(*state.RunRecord)) state.RunRecord { r := ok; f(&r); return r }
	entry := func(f func(*state.JournalEntry)) []state.JournalEntry {
		es := Entries("r", 0, "", base, "intent", doc(`{"ok":true}`))
		f(&es[0])
		return es
	}
	for _, tc := range []struct {
		name    string
		r       state.RunRecord
		entries []state.JournalEntry
	}{
		{"empty-id", with(func(r *state.RunRecord) { r.ID = "" }), nil},
		{"empty-credential", with(func(r *state.RunRecord) { r.Credential = "" }), nil},
		{"empty-phase", with(func(r *state.RunRecord) { r.Phase = "" }), nil},
		{"control-in-id", with(func(r *state.RunRecord) { r.ID = "r\n" }), nil},
		{"long-credential", with(func(r *state.RunRecord) { r.Credential = strings.Repeat("c", state.MaxFieldLen+1) }), nil},
		{"empty-data", with(func(r *state.RunRecord) { r.Data = nil }), nil},
		{"data-not-json", with(func(r *state.RunRecord) { r.Data = doc("{phase: planned") }), nil},
		{"data-not-utf8", with(func(r *state.RunRecord) { r.Data = []byte("\"\xff\"") }), nil},
		{"data-with-pem", with(func(r *state.RunRecord) { r.Data = doc(fmt.Sprintf(`{"key":%q}`, pem)) }), nil},
		{"data-too-long", with(func(r *state.RunRecord) { r.Data = doc(`"` + strings.Repeat("x", state.MaxDocLen) + `"`) }), nil},
		{"negative-revision", with(func(r *state.RunRecord) { r.Revision = -1 }), nil},
		{"entry-of-another-run", ok, entry(func(e *state.JournalEntry) { e.RunID = "other" })},
		{"entry-without-kind", ok, entry(func(e *state.JournalEntry) { e.Kind = "" })},
		{"entry-without-hash", ok, entry(func(e *state.JournalEntry) { e.Hash = "" })},
		{"entry-without-time", ok, entry(func(e *state.JournalEntry) { e.At = time.Time{} })},
		{"entry-year-10000", ok, entry(func(e *state.JournalEntry) { e.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"entry-with-pem", ok, entry(func(e *state.JournalEntry) { e.Body = doc(pem) })},
		{"entry-too-long", ok, entry(func(e *state.JournalEntry) { e.Body = make([]byte, state.MaxDocLen+1) })},
		{"entry-hash-with-pem", ok, entry(func(e *state.JournalEntry) { e.Hash = pem })},
	} {
		_, err := save(ctx, s, tc.r, tc.entries)
		if !errors.Is(err, state.ErrInvalid) {
			t.Errorf("%s: create error = %v, want ErrInvalid", tc.name, err)
		}
		if err != nil && (strings.Contains(err.Error(), "MIIEvQ") || strings.Contains(err.Error(), "xxxxxxxx")) {
			t.Errorf("%s: error message repeats the content: %.200s", tc.name, err)
		}
	}
	if rs, _ := s.Runs(ctx, state.RunFilter{}); len(rs) != 0 {
		t.Fatalf("invalid runs were stored: %v", rs)
	}

	// Updates: a changed credential, a bad entry.
	stored := createRun(t, s, ok, `{"i":1}`)
	moved := stored
	moved.Credential = "another-cred"
	if _, err := save(ctx, s, moved, nil); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("update changing the credential: %v, want ErrInvalid", err)
	}
	bad := Next(stored, base, "intent", doc(pem))
	if _, err := save(ctx, s, stored, bad); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("update with a PEM entry: %v, want ErrInvalid", err)
	}
	sameRun(t, "after invalid updates", getRun(t, s, "r"), stored)
	if es := journal(t, s, "r"); len(es) != 1 {
		t.Errorf("invalid updates appended: %d entries, want 1", len(es))
	}
}

func testRunReopen(t *testing.T, open Opener) {
	ctx := context.Background()
	s1 := open(t)
	r := createRun(t, s1, newRun("keep", "c", "planned"), `{"i":1}`)
	r.Phase = "preparing"
	r, err := save(ctx, s1, r, Next(r, base, "intent", doc(`{"i":2}`)))
	if err != nil {
		t.Fatal(err)
	}
	h := state.LockHolder{Host: "h", PID: 7, RunID: "keep"}
	if err := s1.Lock(ctx, "c", h); err != nil {
		t.Fatal(err)
	}
	held, _, _ := Holder(ctx, s1, "c")
	entries := journal(t, s1, "keep")
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := handle(t, open)
	sameRun(t, "run after reopen", getRun(t, s2, "keep"), r)
	sameEntries(t, "journal after reopen", journal(t, s2, "keep"), entries)
	// A lock outlives the handle that took it: a crashed run keeps its credential.
	if got, ok, err := Holder(ctx, s2, "c"); err != nil || !ok || got != held {
		t.Errorf("lock after reopen = %+v, %v, %v; want %+v", got, ok, err, held)
	}
	// The CAS and the chain continue from what was stored.
	r.Phase = "prepared"
	if r2, err := save(ctx, s2, r, Next(r, base, "outcome", doc(`{"i":3}`))); err != nil || r2.Revision != 3 || r2.JournalLen != 3 {
		t.Errorf("update after reopen = %s, %v; want revision 3, 3 entries", showRun(r2), err)
	}
	verify(t, s2, "keep")
}

func testRunCanceled(t *testing.T, open Opener) {
	s := handle(t, open)
	r := createRun(t, s, newRun("r", "c", "planned"), `{"i":1}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	upd := r
	upd.Phase = "preparing"
	if _, err := save(ctx, s, upd, Next(r, base, "intent", doc(`{"i":2}`))); !errors.Is(err, context.Canceled) {
		t.Errorf("update with a canceled context: %v, want context.Canceled", err)
	}
	if _, err := save(ctx, s, newRun("r2", "c", "planned"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("create with a canceled context: %v, want context.Canceled", err)
	}
	if err := s.Lock(ctx, "c", state.LockHolder{Host: "h", PID: 1, RunID: "r"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with a canceled context: %v, want context.Canceled", err)
	}
	sameRun(t, "after a canceled update", getRun(t, s, "r"), r)
	if _, err := s.Run(context.Background(), "r2"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("a canceled create wrote: %v", err)
	}
	if _, ok, _ := Holder(context.Background(), s, "c"); ok {
		t.Error("a canceled Lock took the lock")
	}
}

func testLock(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	a := state.LockHolder{Host: "host-a", PID: 100, RunID: "run-a"}
	b := state.LockHolder{Host: "host-b", PID: 100, RunID: "run-b"}

	if err := s.Lock(ctx, "cred", a); err != nil {
		t.Fatalf("Lock of a free credential: %v", err)
	}
	held, ok, err := Holder(ctx, s, "cred")
	if err != nil || !ok || !held.Same(a) || held.Since.IsZero() {
		t.Fatalf("holder = %+v, %v, %v; want %+v with Since set", held, ok, err, a)
	}
	// Re-locking by the same holder (a resumed step) is a no-op, Since kept.
	again := a
	again.Since = base // ignored
	if err := s.Lock(ctx, "cred", again); err != nil {
		t.Fatalf("re-Lock by the holder: %v", err)
	}
	if h, _, _ := Holder(ctx, s, "cred"); h != held {
		t.Errorf("re-Lock changed the holder to %+v, was %+v", h, held)
	}
	// Anyone else is told who holds it. Same host and pid, another run, is
	// someone else: `rotor serve` runs many runs in one process.
	for _, other := range []state.LockHolder{b, {Host: "host-a", PID: 100, RunID: "run-x"}, {Host: "host-a", PID: 101, RunID: "run-a"}, {Host: "host-b", PID: 100, RunID: "run-a"}} {
		err := s.Lock(ctx, "cred", other)
		var le *state.LockedError
		if !errors.Is(err, state.ErrLocked) || !errors.As(err, &le) {
			t.Fatalf("Lock by %+v of a held credential: %v, want a *LockedError", other, err)
		}
		if le.Credential != "cred" || le.Holder != held {
			t.Errorf("LockedError names %q held by %+v, want %q held by %+v", le.Credential, le.Holder, "cred", held)
		}
		if msg := err.Error(); !strings.Contains(msg, "cred") || !strings.Contains(msg, "run-a") || !strings.Contains(msg, "host-a") {
			t.Errorf("LockedError message %q should name the credential, the run and the host", msg)
		}
	}
	// Locks are per credential.
	if err := s.Lock(ctx, "other-cred", b); err != nil {
		t.Fatalf("Lock of another credential: %v", err)
	}
	// Unlock by someone else is a no-op; by the holder it frees the lock.
	if err := s.Unlock(ctx, "cred", b); err != nil {
		t.Fatalf("Unlock by a non-holder: %v", err)
	}
	if h, ok, _ := Holder(ctx, s, "cred"); !ok || h != held {
		t.Fatalf("Unlock by a non-holder released the lock (holder now %+v, %v)", h, ok)
	}
	if err := s.Unlock(ctx, "cred", a); err != nil {
		t.Fatalf("Unlock by the holder: %v", err)
	}
	if h, ok, err := Holder(ctx, s, "cred"); ok || err != nil {
		t.Fatalf("after Unlock, holder = %+v, %v, %v; want free", h, ok, err)
	}
	if err := s.Unlock(ctx, "cred", a); err != nil {
		t.Errorf("Unlock of a free lock: %v, want a no-op", err)
	}
	if h, ok, _ := Holder(ctx, s, "other-cred"); !ok || !h.Same(b) {
		t.Errorf("unlocking one credential touched another: %+v, %v", h, ok)
	}
	// Free again: the next one takes it.
	if err := s.Lock(ctx, "cred", b); err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
}

// Several handles model several processes: exactly one Lock wins each round,
// the others are told who won.
func testLockContention(t *testing.T, open Opener) {
	ctx := context.Background()
	stores := make([]state.Store, 4)
	for i := range stores {
		stores[i] = handle(t, open)
	}
	const perStore = 3 // several goroutines per handle too
	for round := range 10 {
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			mu      sync.Mutex
			winners []state.LockHolder
			losers  []*state.LockedError
			errs    []error
		)
		for i, s := range stores {
			for j := range perStore {
				wg.Add(1)
				go func() {
					defer wg.Done()
					h := state.LockHolder{Host: fmt.Sprintf("host-%d", i), PID: 1000 + j, RunID: fmt.Sprintf("round-%d", round)}
					<-start
					err := s.Lock(ctx, "contended", h)
					mu.Lock()
					defer mu.Unlock()
					var le *state.LockedError
					switch {
					case err == nil:
						winners = append(winners, h)
					case errors.As(err, &le):
						losers = append(losers, le)
					default:
						errs = append(errs, err)
					}
				}()
			}
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			t.Errorf("round %d: Lock failed with %v, want nil or *LockedError", round, err)
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d holders %v, want exactly 1", round, len(winners), winners)
		}
		for _, le := range losers {
			if !le.Holder.Same(winners[0]) {
				t.Errorf("round %d: a loser was told %+v holds it, the winner is %+v", round, le.Holder, winners[0])
			}
		}
		for _, s := range stores { // every handle sees the same holder
			if h, ok, err := Holder(ctx, s, "contended"); err != nil || !ok || !h.Same(winners[0]) {
				t.Fatalf("round %d: holder = %+v, %v, %v; want %+v", round, h, ok, err, winners[0])
			}
		}
		if err := stores[round%len(stores)].Unlock(ctx, "contended", winners[0]); err != nil {
			t.Fatal(err)
		}
	}
}

func testStealLock(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	dead := state.LockHolder{Host: "host-a", PID: 100, RunID: "run-crashed"}
	resumer := state.LockHolder{Host: "host-a", PID: 200, RunID: "run-crashed"}
	late := state.LockHolder{Host: "host-b", PID: 300, RunID: "run-other"}

	// Nothing to steal from a free lock.
	if err := s.StealLock(ctx, "cred", dead, resumer); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("StealLock of a free lock: %v, want ErrConflict", err)
	}
	if _, ok, _ := Holder(ctx, s, "cred"); ok {
		t.Fatal("StealLock of a free lock took it")
	}
	if err := s.Lock(ctx, "cred", dead); err != nil {
		t.Fatal(err)
	}
	stale, _, _ := Holder(ctx, s, "cred")

	// Wrong expectations lose: another holder, or the right one with another Since.
	for _, wrong := range []state.LockHolder{
		late,
		{Host: stale.Host, PID: stale.PID, RunID: stale.RunID},                            // Since unknown
		{Host: stale.Host, PID: stale.PID, RunID: stale.RunID, Since: stale.Since.Add(1)}, // taken again since
		{Host: stale.Host, PID: stale.PID + 1, RunID: stale.RunID, Since: stale.Since},    // another process
	} {
		if err := s.StealLock(ctx, "cred", wrong, resumer); !errors.Is(err, state.ErrConflict) {
			t.Errorf("StealLock expecting %+v: %v, want ErrConflict", wrong, err)
		}
		if h, _, _ := Holder(ctx, s, "cred"); h != stale {
			t.Fatalf("a lost StealLock changed the holder to %+v", h)
		}
	}
	// The holder as read: the steal goes through, Since renewed.
	if err := s.StealLock(ctx, "cred", stale, resumer); err != nil {
		t.Fatalf("StealLock with the holder as read: %v", err)
	}
	now, ok, _ := Holder(ctx, s, "cred")
	if !ok || !now.Same(resumer) || now.Since.IsZero() {
		t.Fatalf("after StealLock, holder = %+v, %v; want %+v", now, ok, resumer)
	}
	// Stealing again with the old view loses: somebody already took over.
	err := s.StealLock(ctx, "cred", stale, late)
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("second StealLock with the same stale holder: %v, want ErrConflict", err)
	}
	if !strings.Contains(err.Error(), "pid 200") {
		t.Errorf("StealLock conflict %q should name the current holder", err)
	}
	// The thief is a normal holder: Lock is a no-op for it, others are locked out.
	if err := s.Lock(ctx, "cred", resumer); err != nil {
		t.Errorf("Lock by the new holder: %v, want a no-op", err)
	}
	if err := s.Lock(ctx, "cred", dead); !errors.Is(err, state.ErrLocked) {
		t.Errorf("Lock by the old holder after the steal: %v, want ErrLocked", err)
	}
	if err := s.Unlock(ctx, "cred", dead); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := Holder(ctx, s, "cred"); !h.Same(resumer) {
		t.Errorf("a late Unlock by the old holder released the new holder's lock: %+v", h)
	}
}

// Several processes find the same dead holder and race to take over: one wins.
func testStealConcurrent(t *testing.T, open Opener) {
	ctx := context.Background()
	stores := make([]state.Store, 4)
	for i := range stores {
		stores[i] = handle(t, open)
	}
	if err := stores[0].Lock(ctx, "cred", state.LockHolder{Host: "gone", PID: 1, RunID: "r0"}); err != nil {
		t.Fatal(err)
	}
	for round := range 10 {
		stale, ok, err := Holder(ctx, stores[0], "cred")
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			mu      sync.Mutex
			winners []state.LockHolder
		)
		for i, s := range stores {
			for j := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					h := state.LockHolder{Host: fmt.Sprintf("host-%d", i), PID: 10 + j, RunID: fmt.Sprintf("r%d", round+1)}
					<-start
					err := s.StealLock(ctx, "cred", stale, h)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						winners = append(winners, h)
					case !errors.Is(err, state.ErrConflict):
						t.Errorf("round %d: StealLock: %v, want nil or ErrConflict", round, err)
					}
				}()
			}
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d steals succeeded %v, want exactly 1", round, len(winners), winners)
		}
		if h, _, _ := Holder(ctx, stores[1], "cred"); !h.Same(winners[0]) {
			t.Fatalf("round %d: holder %+v, want the winner %+v", round, h, winners[0])
		}
	}
}

func testLockInvalid(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	ok := state.LockHolder{Host: "h", PID: 1, RunID: "r"}
	for _, tc := range []struct {
		cred string
		h    state.LockHolder
	}{
		{"", ok},
		{"c\n", ok},
		{"c", state.LockHolder{PID: 1, RunID: "r"}},
		{"c", state.LockHolder{Host: "h", RunID: "r"}},
		{"c", state.LockHolder{Host: "h", PID: -5, RunID: "r"}},
		{"c", state.LockHolder{Host: "h", PID: 1}},
		{"c", state.LockHolder{Host: strings.Repeat("h", state.MaxFieldLen+1), PID: 1, RunID: "r"}},
	} {
		if err := s.Lock(ctx, tc.cred, tc.h); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("Lock(%q, %+v) = %v, want ErrInvalid", tc.cred, tc.h, err)
		}
		if err := s.Unlock(ctx, tc.cred, tc.h); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("Unlock(%q, %+v) = %v, want ErrInvalid", tc.cred, tc.h, err)
		}
		if err := s.StealLock(ctx, tc.cred, ok, tc.h); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("StealLock(%q, _, %+v) = %v, want ErrInvalid", tc.cred, tc.h, err)
		}
	}
	if _, held, _ := Holder(ctx, s, "c"); held {
		t.Error("an invalid Lock took the lock")
	}
}
