package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/sqlite"
)

// BenchmarkSaveRunCredentialState is one save per iteration of a run with
// its credential's new state, both through their CAS, fsync on
// (synchronous=FULL): the cost the engine pays per durable state change.
func BenchmarkSaveRunCredentialState(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "rotor.db"), sqlite.Options{Clock: tickClock()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	cur := state.CredentialState{ID: "bench", CurrentVersion: "v0", LastRotated: epoch}
	run, err := db.SaveRun(ctx, state.RunSave{Run: state.RunRecord{ID: "bench-run", Credential: "bench", Phase: "p", Data: []byte(`{}`)}, Credential: &cur})
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		cur.Revision, cur.CurrentVersion = cur.Revision+1, fmt.Sprint("v", i)
		if run, err = db.SaveRun(ctx, state.RunSave{Run: run, Credential: &cur}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareInsert is the floor under BenchmarkSaveRunCredentialState: one
// autocommit INSERT per iteration on the same driver, journal and pragmas
// (WAL, synchronous=FULL, busy_timeout), without rotor's transaction, CAS and
// validation.
func BenchmarkBareInsert(b *testing.B) {
	p := filepath.Join(b.TempDir(), "bare.db")
	raw, err := sql.Open("sqlite", "file:"+p+"?_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)&_pragma=journal_mode(WAL)")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.Exec("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL) STRICT, WITHOUT ROWID"); err != nil {
		b.Fatal(err)
	}
	var mode string
	if err := raw.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		b.Fatalf("journal_mode %q, %v", mode, err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := raw.Exec("INSERT INTO t (k, v) VALUES (?, ?)", fmt.Sprint("k", i), "v"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenExisting measures a read-write Open (with PRAGMA quick_check)
// and Close of a database holding 100k credentials and 100k rotations, the
// size of a large inventory after a year. ReportMetric adds the file size.
func BenchmarkOpenExisting(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			p := filepath.Join(b.TempDir(), "rotor.db")
			populated(b, p, n)
			for b.Loop() {
				db, err := sqlite.Open(context.Background(), p, sqlite.Options{})
				if err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
		})
	}
}

// BenchmarkQuickCheck isolates PRAGMA quick_check on the same databases.
func BenchmarkQuickCheck(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			p := filepath.Join(b.TempDir(), "rotor.db")
			populated(b, p, n)
			raw, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			for b.Loop() {
				var v string
				if err := raw.QueryRow("PRAGMA quick_check(1)").Scan(&v); err != nil || v != "ok" {
					b.Fatal(v, err)
				}
			}
		})
	}
}

// BenchmarkCredentialStates is `rotor plan`'s one read of 100k states.
func BenchmarkCredentialStates(b *testing.B) {
	p := filepath.Join(b.TempDir(), "rotor.db")
	populated(b, p, 100_000)
	db, err := sqlite.Open(context.Background(), p, sqlite.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for b.Loop() {
		all, err := db.CredentialStates(context.Background())
		if err != nil || len(all) != 100_000 {
			b.Fatal(len(all), err)
		}
	}
}
