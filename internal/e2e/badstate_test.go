package e2e

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestBadStateIsRefusedClearly: a journal edited behind rotor's back (its append-only
// triggers dropped first, as an intruder would), a journal cut short, a run id that does not
// exist and a file that is not a rotor database each give a clear error and change nothing.
func TestBadStateIsRefusedClearly(t *testing.T) {
	p := newPlatform(t, platformOpts{})
	r := p.rotor(t, "rotate", credential, "--as", "alice")
	wantCode(t, r, 0, "rotation")
	run := runOf(t, r)
	wantCode(t, p.rotor(t, "journal", "verify", run), 0, "journal verify before tampering")

	dbPath := filepath.Join(p.dir, "state", "rotor.db")
	tamper := func(stmts ...string) {
		t.Helper()
		db, err := sql.Open("sqlite", "file:"+dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger'`)
		if err != nil {
			t.Fatal(err)
		}
		var triggers []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			triggers = append(triggers, n)
		}
		rows.Close()
		for _, n := range triggers {
			stmts = append([]string{"DROP TRIGGER " + n}, stmts...)
		}
		for _, s := range stmts {
			if _, err := db.Exec(s, run); err != nil && !strings.HasPrefix(s, "DROP") {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	clean, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}

	tamper(`UPDATE journal_entry SET body = CAST(replace(CAST(body AS TEXT), 'readiness', 'READINESS') AS BLOB) WHERE run_id = ? AND seq = 3`)
	r = p.rotor(t, "journal", "verify", run)
	if r.code != 1 || !contains(r.stderr, "entry 3", "changed") {
		t.Fatalf("an edited entry must be named:\n%s", r)
	}
	r = p.rotor(t, "journal", run, "--format", "md")
	if !strings.Contains(r.stdout, "NOT verified") {
		t.Fatalf("the ticket of a broken chain must say so:\n%s", r.stdout)
	}

	for _, f := range []string{"rotor.db-wal", "rotor.db-shm"} {
		os.Remove(filepath.Join(p.dir, "state", f))
	}
	if err := os.WriteFile(dbPath, clean, 0o600); err != nil {
		t.Fatal(err)
	}
	tamper(`DELETE FROM journal_entry WHERE run_id = ? AND seq = (SELECT max(seq) FROM journal_entry WHERE run_id = ?1)`)
	r = p.rotor(t, "journal", "verify", run)
	if r.code != 1 || !strings.Contains(r.stderr, "truncated") {
		t.Fatalf("a deleted last entry must be found:\n%s", r)
	}

	r = p.rotor(t, "status", "r20990101T000000-abcdef")
	if r.code != 2 || !strings.Contains(r.stderr, "no such run") {
		t.Fatalf("an unknown run id:\n%s", r)
	}

	garbage := filepath.Join(p.dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("this is not a database\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = p.rotor(t, "rotate", credential, "--now", "--as", "alice", "--db", garbage)
	if r.code != 1 || !strings.Contains(r.stderr, "not a rotor state database") {
		t.Fatalf("a foreign database file:\n%s", r)
	}
	if b, _ := os.ReadFile(garbage); string(b) != "this is not a database\n" {
		t.Fatal("rotor changed a file that is not its database")
	}
	if got := len(p.index(t).Versions); got != 1 {
		t.Fatalf("a refused rotate minted: %d versions", got)
	}
}
