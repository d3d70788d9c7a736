// Package statetest is the conformance suite for state.Store. Every
// implementation (SQLite now, PostgreSQL later) runs the same tests against
// its real backend, so the engine can rely on one behaviour whatever --db
// says. Nothing here is a fake: it only drives the Store interface.
//
// Credential state and rotations are tested in statetest.go; runs, journals
// and locks in runs.go, which also exports the helpers a backend's own tests
// need to build and check journals (Seal, Entries, Next, Verify), to give a
// credential a state (SaveState) and to see who holds a lock (Holder).
package statetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/state"
)

// Opener returns a Store for the test t.
//
// Every call with the same t returns a new, independent handle onto the same
// backing store (the same file, the same database): that is how the suite
// closes and reopens to check persistence, and opens several handles to race
// them. Calls with different t get backing stores that start empty and do not
// see each other. The suite closes every handle it opens; an Opener may also
// register its own cleanup, since Close must be safe to call twice.
type Opener func(t *testing.T) state.Store

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"NotFound", testNotFound},
		{"InsertUpdateCAS", testInsertUpdate},
		{"StaleRevisionConflicts", testStaleRevision},
		{"InsertExistingConflicts", testInsertExisting},
		{"UpdateAbsentConflicts", testUpdateAbsent},
		{"ConcurrentCASOneWinnerPerRound", testConcurrentCAS},
		{"ConcurrentCASAcrossHandles", testConcurrentCASHandles},
		{"TimesRoundTrip", testTimes},
		{"OrderingByteOrder", testOrdering},
		{"RotationsNewestFirstWithLimit", testRotations},
		{"RotationIdempotentPerRun", testRotationIdempotent},
		{"InvalidRecordsRefused", testInvalid},
		{"LargeBatch", testLargeBatch},
		{"ReopenPersists", testReopen},
		{"CloseTwice", testCloseTwice},
		{"CanceledContext", testCanceled},
	}
	tests = append(tests, runTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// handle opens a handle and closes it when the test ends.
func handle(t *testing.T, open Opener) state.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// base is a fixed instant with nanoseconds, so no test depends on the clock.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// put writes cs with SaveState and returns it as stored. The run that carries
// it is named after the revision it writes, new on every successful put; a
// test that expects a put to fail calls SaveState with a run id of its own, so
// that it fails on the credential's CAS and not on a run id already taken.
func put(t *testing.T, s state.Store, cs state.CredentialState) state.CredentialState {
	t.Helper()
	if err := SaveState(context.Background(), s, fmt.Sprintf("put-%s-%d", cs.ID, cs.Revision+1), cs); err != nil {
		t.Fatalf("saving the state of %q (rev %d): %v", cs.ID, cs.Revision, err)
	}
	return get(t, s, cs.ID)
}

// noRuns fails t if any of the runs ids is stored: a save that lost wrote its run neither.
func noRuns(t *testing.T, s state.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := s.Run(context.Background(), id); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("run %q of a refused save: %v, want ErrNotFound", id, err)
		}
	}
}

// rotate records r by saving a new run, r.RunID, that carries it.
func rotate(t *testing.T, s state.Store, r state.RotationRecord) {
	t.Helper()
	if _, err := s.SaveRun(context.Background(), state.RunSave{Run: newRun(r.RunID, r.CredentialID, "done"), Rotation: &r}); err != nil {
		t.Fatalf("saving run %q with its rotation: %v", r.RunID, err)
	}
}

func get(t *testing.T, s state.Store, id string) state.CredentialState {
	t.Helper()
	got, err := s.CredentialState(context.Background(), id)
	if err != nil {
		t.Fatalf("CredentialState(%q): %v", id, err)
	}
	return got
}

// sameState compares everything but UpdatedAt (set by the store's clock).
func sameState(t *testing.T, what string, got, want state.CredentialState) {
	t.Helper()
	if got.ID != want.ID || got.CurrentVersion != want.CurrentVersion ||
		got.CurrentFingerprint != want.CurrentFingerprint || got.Revision != want.Revision ||
		!got.LastRotated.Equal(want.LastRotated) || !got.Expires.Equal(want.Expires) ||
		got.LastRotated.IsZero() != want.LastRotated.IsZero() || got.Expires.IsZero() != want.Expires.IsZero() {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testNotFound(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	_, err := s.CredentialState(ctx, "nope")
	if !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("CredentialState(unknown) error = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "nope") {
		t.Errorf("not-found error %q does not name the credential", err)
	}
	all, err := s.CredentialStates(ctx)
	if err != nil || len(all) != 0 {
		t.Fatalf("CredentialStates on empty store = %v, %v; want empty, nil", all, err)
	}
	rs, err := s.Rotations(ctx, "nope", 10)
	if err != nil || len(rs) != 0 {
		t.Fatalf("Rotations(unknown) = %v, %v; want empty, nil", rs, err)
	}
}

func testInsertUpdate(t *testing.T, open Opener) {
	s := handle(t, open)
	in := state.CredentialState{ID: "orders-db", CurrentVersion: "v1", CurrentFingerprint: "fp1", LastRotated: base, Expires: base.Add(90 * 24 * time.Hour)}
	got := put(t, s, in)
	want := in
	want.Revision = 1
	sameState(t, "read after insert", got, want)
	if got.UpdatedAt.IsZero() || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("insert: UpdatedAt = %v, want set by the store, in UTC", got.UpdatedAt)
	}

	upd := got
	upd.CurrentVersion, upd.CurrentFingerprint, upd.LastRotated = "v2", "fp2", base.Add(time.Hour)
	upd.Expires = time.Time{}   // back to unknown
	upd.UpdatedAt = time.Time{} // ignored: the store sets it
	got2 := put(t, s, upd)
	want2 := upd
	want2.Revision = 2
	sameState(t, "read after update", got2, want2)
	if got2.UpdatedAt.Before(got.UpdatedAt) {
		t.Errorf("UpdatedAt %v after an update, was %v; want not earlier", got2.UpdatedAt, got.UpdatedAt)
	}
}

func testStaleRevision(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	first := put(t, s, state.CredentialState{ID: "a", CurrentVersion: "v1"})
	second := first
	second.CurrentVersion = "v2"
	second = put(t, s, second)

	stale := first // revision 1, stored is 2
	stale.CurrentVersion = "v-stale"
	if err := SaveState(ctx, s, "stale", stale); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("save with a stale revision: error = %v, want ErrConflict", err)
	}
	future := second
	future.Revision = 7
	if err := SaveState(ctx, s, "future", future); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("save with a revision from the future: error = %v, want ErrConflict", err)
	}
	sameState(t, "after conflicts", get(t, s, "a"), second)
	noRuns(t, s, "stale", "future")
}

func testInsertExisting(t *testing.T, open Opener) {
	s := handle(t, open)
	put(t, s, state.CredentialState{ID: "a", CurrentVersion: "v1"})
	err := SaveState(context.Background(), s, "again", state.CredentialState{ID: "a", CurrentVersion: "other"})
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("insert (revision 0) over an existing record: error = %v, want ErrConflict", err)
	}
	if g := get(t, s, "a"); g.CurrentVersion != "v1" || g.Revision != 1 {
		t.Errorf("record changed by a failed insert: %+v", g)
	}
	noRuns(t, s, "again")
}

func testUpdateAbsent(t *testing.T, open Opener) {
	s := handle(t, open)
	err := SaveState(context.Background(), s, "ghost-update", state.CredentialState{ID: "ghost", Revision: 1})
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("update of an absent record: error = %v, want ErrConflict", err)
	}
	if _, err := s.CredentialState(context.Background(), "ghost"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("failed update created a record: %v", err)
	}
	noRuns(t, s, "ghost-update")
}

// casRounds races n writers for each revision: all read the same record, all
// try to write it, and exactly one may win.
func casRounds(t *testing.T, stores []state.Store, rounds int) {
	t.Helper()
	ctx := context.Background()
	id := "contended"
	put(t, stores[0], state.CredentialState{ID: id, CurrentVersion: "start"})
	for round := range rounds {
		seen := get(t, stores[0], id)
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
				next.CurrentVersion = fmt.Sprintf("r%d-g%d", round, g)
				<-start
				err := SaveState(ctx, s, next.CurrentVersion, next)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, next.CurrentVersion)
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
		after := get(t, stores[0], id)
		if after.Revision != seen.Revision+1 || after.CurrentVersion != winners[0] {
			t.Fatalf("round %d: stored %+v, want revision %d written by %s", round, after, seen.Revision+1, winners[0])
		}
	}
	// The losers' runs are not stored: the first put's and one a round.
	if rs, err := stores[0].Runs(ctx, state.RunFilter{Credential: id}); err != nil || len(rs) != rounds+1 {
		t.Fatalf("%d runs of %s (%v), want %d: a losing save stored its run", len(rs), id, err, rounds+1)
	}
}

func testConcurrentCAS(t *testing.T, open Opener) {
	s := handle(t, open)
	stores := make([]state.Store, 8)
	for i := range stores {
		stores[i] = s
	}
	casRounds(t, stores, 20)
}

// Several handles model several processes or replicas: the CAS must hold in
// the backend, not in one handle's memory.
func testConcurrentCASHandles(t *testing.T, open Opener) {
	stores := make([]state.Store, 4)
	for i := range stores {
		stores[i] = handle(t, open)
	}
	casRounds(t, stores, 10)
}

func testTimes(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	kolkata := time.FixedZone("IST", 5*3600+1800)
	newYork := time.FixedZone("EST", -5*3600)
	cases := []struct {
		name          string
		last, expires time.Time
	}{
		{"nanoseconds-utc", base, base.Add(1)},
		{"half-hour-zone", time.Date(2026, 1, 2, 3, 4, 5, 6, kolkata), time.Date(2027, 1, 2, 3, 4, 5, 999999999, newYork)},
		{"local-with-monotonic", time.Now(), time.Now().Add(time.Hour)},
		{"x509-no-expiry", time.Date(1970, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"before-1678", time.Date(1600, 2, 29, 12, 0, 0, 7, time.UTC), time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC)},
		{"unknown", time.Time{}, time.Time{}},
	}
	for _, c := range cases {
		in := state.CredentialState{ID: "t-" + c.name, LastRotated: c.last, Expires: c.expires}
		sv := state.RunSave{Run: newRun("run-"+c.name, in.ID, "done"), Credential: &in}
		if !c.last.IsZero() {
			sv.Rotation = &state.RotationRecord{CredentialID: in.ID, RunID: sv.Run.ID, ToVersion: "v", CompletedAt: c.last}
		}
		if _, err := s.SaveRun(ctx, sv); err != nil {
			t.Fatalf("%s: SaveRun: %v", c.name, err)
		}
		got := get(t, s, in.ID)
		for _, p := range []struct {
			what      string
			got, want time.Time
		}{{"LastRotated", got.LastRotated, c.last}, {"Expires", got.Expires, c.expires}} {
			if !p.got.Equal(p.want) || p.got.IsZero() != p.want.IsZero() {
				t.Errorf("%s %s = %v, want %v", c.name, p.what, p.got, p.want)
			}
			if !p.got.IsZero() && p.got.Location() != time.UTC {
				t.Errorf("%s %s in %v, want UTC", c.name, p.what, p.got.Location())
			}
		}
		if got.UpdatedAt.IsZero() || got.UpdatedAt.Location() != time.UTC {
			t.Errorf("%s UpdatedAt = %v; want set, UTC", c.name, got.UpdatedAt)
		}
		if sv.Rotation == nil {
			continue
		}
		rs, err := s.Rotations(ctx, in.ID, 1)
		if err != nil || len(rs) != 1 || !rs[0].CompletedAt.Equal(c.last) || rs[0].CompletedAt.Location() != time.UTC {
			t.Errorf("%s rotation time read back as %v (err %v), want %v in UTC", c.name, rs, err, c.last)
		}
	}
}

func testOrdering(t *testing.T, open Opener) {
	s := handle(t, open)
	ids := []string{"b", "a", "B", "a-b", "a_b", "ä", "a/b", "Z", "aa", "0", "10", "9", "é", "e"}
	for _, id := range ids {
		put(t, s, state.CredentialState{ID: id})
	}
	all, err := s.CredentialStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cs := range all {
		got = append(got, cs.ID)
	}
	want := slices.Clone(ids)
	slices.Sort(want) // byte order
	if !slices.Equal(got, want) {
		t.Errorf("CredentialStates order\n got %q\nwant %q (byte order)", got, want)
	}
}

func testRotations(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	// Saved out of time order, with a tie, and interleaved with another credential.
	rotate(t, s, state.RotationRecord{CredentialID: "c", RunID: "r2", FromVersion: "v1", ToVersion: "v2", ToFingerprint: "f2", CompletedAt: base.Add(2 * time.Hour)})
	rotate(t, s, state.RotationRecord{CredentialID: "c", RunID: "r1", FromVersion: "", ToVersion: "v1", ToFingerprint: "f1", CompletedAt: base.Add(1 * time.Hour)})
	rotate(t, s, state.RotationRecord{CredentialID: "other", RunID: "o1", ToVersion: "x", CompletedAt: base.Add(10 * time.Hour)})
	rotate(t, s, state.RotationRecord{CredentialID: "c", RunID: "r3", FromVersion: "v2", ToVersion: "v3", ToFingerprint: "f3", CompletedAt: base.Add(3 * time.Hour)})
	rotate(t, s, state.RotationRecord{CredentialID: "c", RunID: "r4", FromVersion: "v3", ToVersion: "v4", ToFingerprint: "f4", CompletedAt: base.Add(3 * time.Hour)}) // tie with r3, saved later
	rotate(t, s, state.RotationRecord{CredentialID: "c", RunID: "r3b", FromVersion: "v2", ToVersion: "v3b", CompletedAt: base.Add(3*time.Hour - 1)})                  // one nanosecond older

	runs := func(rs []state.RotationRecord) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.RunID)
		}
		return out
	}
	for _, tc := range []struct {
		limit int
		want  []string
	}{
		{0, []string{"r4", "r3", "r3b", "r2", "r1"}},
		{-1, []string{"r4", "r3", "r3b", "r2", "r1"}},
		{2, []string{"r4", "r3"}},
		{100, []string{"r4", "r3", "r3b", "r2", "r1"}},
	} {
		rs, err := s.Rotations(ctx, "c", tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := runs(rs); !slices.Equal(got, tc.want) {
			t.Errorf("Rotations(limit %d) = %v, want %v", tc.limit, got, tc.want)
		}
	}
	rs, _ := s.Rotations(ctx, "c", 1)
	want := state.RotationRecord{CredentialID: "c", RunID: "r4", FromVersion: "v3", ToVersion: "v4", ToFingerprint: "f4", CompletedAt: base.Add(3 * time.Hour)}
	if len(rs) != 1 || rs[0] != want {
		t.Errorf("Rotations(c, 1) = %+v, want [%+v]", rs, want)
	}
}

// testRotationIdempotent: a run's rotation saved again with the run (a save retried after a
// crash) is a no-op; a different one for the same run is a conflict that writes nothing.
func testRotationIdempotent(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	r := state.RotationRecord{CredentialID: "c", RunID: "run-1", FromVersion: "v1", ToVersion: "v2", ToFingerprint: "f2", CompletedAt: base}
	run, err := s.SaveRun(ctx, state.RunSave{Run: newRun("run-1", "c", "done"), Rotation: &r})
	if err != nil {
		t.Fatal(err)
	}
	again := r
	again.CompletedAt = base.In(time.FixedZone("X", 3600)) // same instant, other zone
	for i, rr := range []state.RotationRecord{r, r, again} {
		if run, err = s.SaveRun(ctx, state.RunSave{Run: run, Rotation: &rr}); err != nil {
			t.Fatalf("saving the same rotation again (attempt %d): %v", i, err)
		}
	}
	rs, err := s.Rotations(ctx, "c", 0)
	if err != nil || len(rs) != 1 || rs[0] != r {
		t.Fatalf("after retries Rotations = %+v, %v; want [%+v]", rs, err, r)
	}
	diff := r
	diff.ToVersion = "v9"
	moved := run
	moved.Phase = "moved-on"
	if _, err := s.SaveRun(ctx, state.RunSave{Run: moved, Rotation: &diff}); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("same run, different rotation: error = %v, want ErrConflict", err)
	}
	sameRun(t, "run after a conflicting rotation", getRun(t, s, "run-1"), run)
	// Another run records its own rotation of the same credential.
	rotate(t, s, state.RotationRecord{CredentialID: "c", RunID: "run-2", FromVersion: "v2", ToVersion: "v3", CompletedAt: base.Add(time.Hour)})
	if rs, _ := s.Rotations(ctx, "c", 0); len(rs) != 2 {
		t.Errorf("got %d records, want 2 (one per run)", len(rs))
	}
}

func testInvalid(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	const pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQ...\n-----END PRIVATE KEY-----\n"
	for i, cs := range []state.CredentialState{
		{},
		{ID: "x", Revision: -1},
		{ID: "x", CurrentVersion: pem},
		{ID: "x", CurrentFingerprint: strings.Repeat("f", state.MaxFieldLen+1)},
		{ID: "x", Expires: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		err := SaveState(ctx, s, fmt.Sprintf("invalid-%d", i), cs)
		if !errors.Is(err, state.ErrInvalid) {
			t.Errorf("saving state %.40q…: error = %v, want ErrInvalid", fmt.Sprint(cs), err)
		}
		if err != nil && strings.Contains(err.Error(), "MIIEvQ") {
			t.Errorf("error message repeats the value: %v", err)
		}
	}
	for i, r := range []state.RotationRecord{
		{ToVersion: "v", CompletedAt: base},
		{CredentialID: "c", CompletedAt: base},
		{CredentialID: "c", ToVersion: "v"},
		{CredentialID: "c", ToVersion: "v", ToFingerprint: pem, CompletedAt: base},
	} {
		r.RunID = fmt.Sprintf("invalid-rotation-%d", i)
		sv := state.RunSave{Run: newRun(r.RunID, "c", "done"), Rotation: &r}
		if _, err := s.SaveRun(ctx, sv); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("saving rotation %+v: error = %v, want ErrInvalid", r, err)
		}
	}
	if all, _ := s.CredentialStates(ctx); len(all) != 0 {
		t.Errorf("invalid records were stored: %v", all)
	}
	if rs, _ := s.Runs(ctx, state.RunFilter{}); len(rs) != 0 {
		t.Errorf("runs of invalid saves were stored: %v", rs)
	}
}

// LargeBatchSize is the number of states written by the LargeBatch test.
const LargeBatchSize = 10_000

func testLargeBatch(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx := context.Background()
	var (
		wg   sync.WaitGroup
		errs = make(chan error, LargeBatchSize)
		sem  = make(chan struct{}, 16)
	)
	for i := range LargeBatchSize {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := SaveState(ctx, s, fmt.Sprintf("run-%05d", i), state.CredentialState{
				ID: fmt.Sprintf("cred-%05d", i), CurrentVersion: fmt.Sprint(i), LastRotated: base.Add(time.Duration(i)),
			})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("SaveState: %v", err)
	}
	all, err := s.CredentialStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != LargeBatchSize {
		t.Fatalf("CredentialStates returned %d, want %d", len(all), LargeBatchSize)
	}
	for i, cs := range all {
		if want := fmt.Sprintf("cred-%05d", i); cs.ID != want || cs.CurrentVersion != fmt.Sprint(i) ||
			!cs.LastRotated.Equal(base.Add(time.Duration(i))) || cs.Revision != 1 {
			t.Fatalf("entry %d = %+v, want id %s version %d", i, cs, want, i)
		}
	}
}

func testReopen(t *testing.T, open Opener) {
	ctx := context.Background()
	s1 := open(t)
	cs := state.CredentialState{ID: "keep", CurrentVersion: "v1", CurrentFingerprint: "f1", LastRotated: base, Expires: base.Add(time.Hour)}
	rec := state.RotationRecord{CredentialID: "keep", RunID: "r1", ToVersion: "v1", ToFingerprint: "f1", CompletedAt: base}
	if _, err := s1.SaveRun(ctx, state.RunSave{Run: newRun("r1", "keep", "done"), Credential: &cs, Rotation: &rec}); err != nil {
		t.Fatal(err)
	}
	stored := get(t, s1, "keep")
	if err := s1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2 := handle(t, open)
	got := get(t, s2, "keep")
	sameState(t, "after reopen", got, stored)
	if !got.UpdatedAt.Equal(stored.UpdatedAt) {
		t.Errorf("UpdatedAt after reopen = %v, want %v", got.UpdatedAt, stored.UpdatedAt)
	}
	rs, err := s2.Rotations(ctx, "keep", 0)
	if err != nil || len(rs) != 1 || rs[0] != rec {
		t.Errorf("rotations after reopen = %+v, %v; want [%+v]", rs, err, rec)
	}
	// The CAS continues from the stored revision.
	next := got
	next.CurrentVersion = "v2"
	if r := put(t, s2, next); r.Revision != 2 {
		t.Errorf("revision after reopen and update = %d, want 2", r.Revision)
	}
}

func testCloseTwice(t *testing.T, open Opener) {
	s := open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func testCanceled(t *testing.T, open Opener) {
	s := handle(t, open)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := SaveState(ctx, s, "canceled", state.CredentialState{ID: "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("saving a state with a canceled context: %v, want context.Canceled", err)
	}
	if _, err := s.CredentialState(context.Background(), "x"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("a canceled save wrote: %v", err)
	}
}
