package engine_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/rotation"
)

// tamper edits a stored journal entry behind rotor's back, as an intruder would: the
// append-only triggers dropped first, then a failing check turned into a pass.
func (f *fixture) tamper(run string, seq int) {
	f.t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, "rotor.db"))
	if err != nil {
		f.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger'`)
	if err != nil {
		f.t.Fatal(err)
	}
	var triggers []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		triggers = append(triggers, n)
	}
	rows.Close()
	for _, n := range triggers {
		if _, err := db.Exec("DROP TRIGGER " + n); err != nil {
			f.t.Fatal(err)
		}
	}
	res, err := db.Exec(`UPDATE journal_entry SET body = CAST(replace(CAST(body AS TEXT), 'readiness', 'READINESS') AS BLOB) WHERE run_id = ? AND seq = ?`, run, seq)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		f.t.Fatalf("tampering with entry %d: %v (%d rows)", seq, err, n)
	}
}

// TestBrokenJournalStopsRevoke (issue 12, harm 2): a run whose journal no longer verifies
// goes on to nothing irreversible. The revoke halts, naming the edited entry, and the previous
// version stays enabled; an approval is refused, and the refusal is journaled with who asked
// and the OS account they asked from.
func TestBrokenJournalStopsRevoke(t *testing.T) {
	t.Run("revoke", func(t *testing.T) {
		f := newFixture(t, "    soak: 1h\n")
		f.rotate("alice") // a first rotation: a previous version from now on
		call := f.call("alice")
		call.MaxWait = 0
		res, err := f.engine("alice").Rotate(context.Background(), call, "api-key", rotation.StageRevoke)
		if err != nil || res.Action.Gate.Gate != "soak" {
			t.Fatalf("second rotation: %v, stopped at %+v; want the soak", err, res.Action.Gate)
		}
		run := res.Run.ID
		f.tamper(run, 3)
		f.advance(2 * time.Hour)
		res, err = f.engine("alice").Rotate(context.Background(), f.call("alice"), "api-key", rotation.StageRevoke)
		if err != nil {
			t.Fatal(err)
		}
		if h := res.Run.Halt; h == nil || !strings.Contains(h.Reason, "journal does not verify") || !strings.Contains(h.Reason, "entry 3") || h.Step != "revoke" {
			t.Fatalf("halt %+v, want one at revoke naming entry 3", res.Run.Halt)
		}
		if res.Run.Step(rotation.StepRevoke, "").Status == rotation.OK {
			t.Fatal("the previous version was revoked on a broken journal")
		}
		if enabled, _, _ := f.stored(res.Run.Previous.ID); !enabled {
			t.Fatal("the previous version was disabled in the store")
		}
		// Resumed, it halts again: nothing irreversible until the journal verifies.
		res, err = f.engine("alice").Rotate(context.Background(), f.call("alice"), "api-key", rotation.StageRevoke)
		if err != nil || res.Run.Halt == nil || res.Run.Phase == rotation.Done {
			t.Fatalf("resumed: %v, phase %s, halt %+v", err, res.Run.Phase, res.Run.Halt)
		}
	})
	t.Run("approval", func(t *testing.T) {
		f := newFixture(t, "    critical: true\n")
		f.rotate("alice") // a first rotation revokes nothing: no approval
		res := f.rotate("alice")
		if res.Action.Gate.Gate != "approval" {
			t.Fatalf("second rotation stopped at %+v, want the approval gate", res.Action.Gate)
		}
		run := res.Run.ID
		f.tamper(run, 3)
		call := f.call("bob")
		call.OSUser = "ops-jump-host"
		_, err := f.engine("bob").Decide(context.Background(), call, run, true, "")
		if !errors.Is(err, engine.ErrJournalBroken) || !strings.Contains(err.Error(), "entry 3") {
			t.Fatalf("approve on a broken journal: %v, want ErrJournalBroken naming entry 3", err)
		}
		// Who tried is in the record, beside the account the host vouches for; so is a
		// four-eyes sidestep by spelling.
		_, err = f.engine("alice").Decide(context.Background(), engine.Call{Actor: "ALICE", OSUser: "alice-laptop"}, run, false, "wait")
		if err != nil {
			t.Fatalf("a rejection stays possible: %v", err)
		}
		rows, err := f.db.Journal(context.Background(), run)
		if err != nil {
			t.Fatal(err)
		}
		var notes []journal.Entry
		for _, r := range rows {
			if en, err := journal.Decode(r.Body); err == nil {
				notes = append(notes, en)
			}
		}
		var refused *journal.Entry
		for i := range notes {
			if strings.Contains(notes[i].Summary, "approval by bob refused") {
				refused = &notes[i]
			}
		}
		if refused == nil || refused.OSUser != "ops-jump-host" || refused.Actor != "bob" || !strings.Contains(refused.Summary, "entry 3") {
			t.Fatalf("the refused approval is not journaled with its account: %+v", refused)
		}
	})
}
