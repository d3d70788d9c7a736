package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/testenv"
)

// Prepare's way out (issue 12, items 4 to 6): readiness refuses what would fail at mint, a
// stop before the first effect stores nothing, and a pending version whose readers changed is
// written again for them rather than left unreadable.

// edit rewrites the fixture's inventory file with fn and loads it again, as an operator
// fixing the inventory between two commands would.
func (f *fixture) edit(fn func(yaml string) string) {
	f.t.Helper()
	path := filepath.Join(f.dir, "inventory", "rotor.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(fn(string(b))), 0o600); err != nil {
		f.t.Fatal(err)
	}
	if f.inv, err = inventory.Load(filepath.Dir(path), inventory.Options{Catalog: testRegistry(), Now: f.clock()}); err != nil {
		f.t.Fatalf("inventory after the edit: %v", err)
	}
}

// newKey replaces the private key of identity id (keys/ID.key) with a fresh one and returns
// the recipient of the new key; the inventory still names the old recipient.
func (f *fixture) newKey(id string) string {
	f.t.Helper()
	dir := f.t.TempDir()
	rec := testenv.AgeKeys(f.t, dir, id)[id]
	b, err := os.ReadFile(filepath.Join(dir, "keys", id+".key"))
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "inventory", "keys", id+".key"), b, 0o600); err != nil {
		f.t.Fatal(err)
	}
	return rec
}

// recipient is the recipient the inventory declares for identity id.
func (f *fixture) recipient(id string) string {
	f.t.Helper()
	i, ok := f.inv.Identity(id)
	if !ok {
		f.t.Fatalf("no identity %s", id)
	}
	b, _ := json.Marshal(i.Config)
	var c struct{ Recipient string }
	_ = json.Unmarshal(b, &c)
	return c.Recipient
}

// versions is the file store's index: every version it has a record of.
func (f *fixture) versions() []struct{ ID, Key string } {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "store", "api-key", "index.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	var ix struct{ Versions []struct{ ID, Key string } }
	if err := json.Unmarshal(b, &ix); err != nil {
		f.t.Fatal(err)
	}
	return ix.Versions
}

// runs is every run the state stores.
func (f *fixture) runs() []state.RunRecord {
	f.t.Helper()
	recs, err := f.db.Runs(context.Background(), state.RunFilter{})
	if err != nil {
		f.t.Fatal(err)
	}
	return recs
}

// TestReadinessChecksIdentitiesFitTheStore (issue 12, item 5): an identity the store cannot
// act as stops the run at readiness — naming the identity and the store — before anything is
// minted, instead of passing readiness and failing at mint or at read-access.
func TestReadinessChecksIdentitiesFitTheStore(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(f *fixture)
		want  []string
	}{
		{"age key file of another recipient", func(f *fixture) { f.newKey("api") },
			[]string{"identity api", "file store", "recipient"}},
		{"os-user identity on the file store", func(f *fixture) {
			f.edit(func(y string) string {
				return strings.Replace(y, "  api: {type: age, recipient: "+f.recipient("api")+", identity_file: keys/api.key}", "  api: {type: os-user, user: root}", 1)
			})
		}, []string{"identity api", "os-user", "file store"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, "")
			c.spoil(f)
			res := f.rotate("alice")
			g := res.Action.Gate
			if !res.Blocked() || !res.NotStarted || g.Gate != "readiness" {
				t.Fatalf("want blocked at readiness, got %s at %s: %s", res.Run.Phase, g.Gate, g.Message)
			}
			for _, w := range c.want {
				if !strings.Contains(g.Message, w) {
					t.Errorf("the readiness message does not name %q: %s", w, g.Message)
				}
			}
			if vs := f.versions(); len(vs) != 0 {
				t.Errorf("a run stopped at readiness minted %d versions", len(vs))
			}
			if recs := f.runs(); len(recs) != 0 {
				t.Errorf("a run stopped at readiness was stored (%s, %s): nothing happened, nothing may linger", recs[0].ID, recs[0].Phase)
			}
		})
	}
}

// TestGateBeforeFirstEffectStoresNothing (issue 12, item 6): a rotate stopped by a freeze
// before its first effect is blocked (exit 3), says why, and stores no run: runs shows
// nothing lingering, and once the freeze is over a run starts as if nothing had been tried.
func TestGateBeforeFirstEffectStoresNothing(t *testing.T) {
	f := newFixture(t, "", "freezes:\n  - {from: 2026-03-01, to: 2026-03-15, reason: quarter close}\n")
	for range 2 {
		res := f.rotate("alice")
		if !res.Blocked() || !res.NotStarted || res.Action.Gate.Gate != "freeze" || !strings.Contains(res.Action.Gate.Message, "quarter close") {
			t.Fatalf("want blocked at the freeze, got %s %+v", res.Run.Phase, res.Action.Gate)
		}
	}
	if recs := f.runs(); len(recs) != 0 {
		t.Fatalf("a rotate stopped by a freeze stored %d run(s), the first in %s", len(recs), recs[0].Phase)
	}
	sts, err := f.engine("auditor").View().Runs(context.Background(), state.RunFilter{})
	if err != nil || len(sts) != 0 {
		t.Fatalf("runs lists %d run(s) after two frozen rotates (%v)", len(sts), err)
	}
	f.advance(6 * 24 * time.Hour) // past the freeze
	if res := f.rotate("alice"); res.Run.Phase != rotation.Done {
		t.Fatalf("after the freeze: %s %+v", res.Run.Phase, res.Action.Gate)
	}
	if recs := f.runs(); len(recs) != 1 {
		t.Fatalf("%d runs stored after one rotation, want 1", len(recs))
	}
}

// cancelAt cancels a context as soon as a progress line names a step: the operation is
// interrupted (Ctrl-C) as that step begins.
type cancelAt struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	step   string
	cancel context.CancelFunc
}

func (c *cancelAt) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), "→ "+c.step+" ") {
		c.cancel()
	}
	return len(p), nil
}

// TestReadAccessRewritesThePendingVersionForNewReaders (issue 12, item 4): a run stopped
// before read-access is proven, whose consumer then gets a new key (the inventory names its
// new recipient), is not stuck at read-access forever: the pending version is written again
// for the current readers — the same version, no second mint — and the run finishes.
func TestReadAccessRewritesThePendingVersionForNewReaders(t *testing.T) {
	f := newFixture(t, "")
	f.rotateDone(f.engine("alice"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	call := f.call("alice")
	call.Progress = &cancelAt{step: "read-access", cancel: cancel}
	res, err := f.engine("alice").Rotate(ctx, call, "api-key", rotation.StageRevoke)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("rotate interrupted at read-access: %v (phase %s)", err, res.Run.Phase)
	}
	run := res.Run.ID

	old := f.recipient("api")
	rec := f.newKey("api")
	f.edit(func(y string) string { return strings.Replace(y, old, rec, 1) })

	res = f.rotate("alice")
	if res.Run.ID != run || res.Run.Phase != rotation.Done {
		t.Fatalf("after the new key: run %s (want %s) %s, blocked at %s: %s", res.Run.ID, run, res.Run.Phase, res.Action.Gate.Gate, res.Action.Gate.Message)
	}
	minted := 0
	for _, v := range f.versions() {
		if v.Key == run {
			minted++
		}
	}
	if minted != 1 {
		t.Fatalf("%d versions carry the run's key, want 1: no second mint", minted)
	}
	entries := f.journalOf(run)
	if count(entries, journal.KindStepDone, "reseal") != 1 {
		t.Errorf("the journal does not record the pending version written again for the new readers")
	}
}
