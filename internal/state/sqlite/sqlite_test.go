package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the raw driver, to build foreign and damaged files

	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/sqlite"
	"github.com/rotorhq/rotor/internal/state/statetest"
)

var epoch = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// tickClock is a deterministic, concurrency-safe clock: each reading is one
// millisecond after the previous one.
func tickClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return epoch.Add(time.Duration(n.Add(1)) * time.Millisecond) }
}

func openRW(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{Clock: tickClock()})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return db
}

func TestConformance(t *testing.T) {
	var (
		mu    sync.Mutex
		paths = map[*testing.T]string{}
	)
	statetest.Run(t, func(t *testing.T) state.Store {
		mu.Lock()
		p, ok := paths[t]
		if !ok {
			p = filepath.Join(t.TempDir(), "state", "rotor.db")
			paths[t] = p
		}
		mu.Unlock()
		return openRW(t, p)
	})
}

// fileSnapshot is everything a refused open must leave alone: the names in
// the directory and the bytes of each file.
func fileSnapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	snap := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		snap[e.Name()] = b
	}
	return snap
}

func sameSnapshot(t *testing.T, before, after map[string][]byte) {
	t.Helper()
	for name, b := range after {
		if a, ok := before[name]; !ok {
			t.Errorf("open created %s", name)
		} else if !bytes.Equal(a, b) {
			t.Errorf("open modified %s", name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			t.Errorf("open removed %s", name)
		}
	}
}

// rawExec runs SQL on a file with the bare driver, as another program would.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// populated makes a closed rotor database with n credentials and n rotations.
func populated(t testing.TB, path string, n int) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{Clock: tickClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// One transaction through the raw driver: fast to build, same schema.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		ts := epoch.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000000000Z")
		if _, err := tx.Exec(`INSERT INTO credential_state VALUES (?, ?, ?, ?, NULL, 1, ?)`,
			fmt.Sprintf("cred-%06d", i), "v"+strconv.Itoa(i), "fp-"+strings.Repeat("x", 40), ts, ts); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO rotation (credential_id, run_id, from_version, to_version, to_fingerprint, completed_at) VALUES (?, ?, '', ?, ?, ?)`,
			fmt.Sprintf("cred-%06d", i), fmt.Sprintf("run-%06d", i), "v"+strconv.Itoa(i), "fp-"+strings.Repeat("x", 40), ts); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
		kind  state.FormatKind
		words string // what the message must say
	}{
		{"garbage", func(t *testing.T, p string) {
			os.WriteFile(p, bytes.Repeat([]byte("not a database, just text\n"), 200), 0o600)
		}, state.NotDatabase, "not SQLite"},
		{"short-garbage", func(t *testing.T, p string) {
			os.WriteFile(p, []byte("hello"), 0o600)
		}, state.NotDatabase, "not SQLite"},
		{"truncated", func(t *testing.T, p string) {
			populated(t, p, 3000)
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, state.Corrupt, "corrupt"},
		{"overwritten-page", func(t *testing.T, p string) {
			populated(t, p, 3000)
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 4096), 4096*5); err != nil {
				t.Fatal(err)
			}
		}, state.Corrupt, "corrupt"},
		{"foreign-application-id", func(t *testing.T, p string) {
			rawExec(t, p, "PRAGMA application_id = 1234", "CREATE TABLE credential_state (id TEXT)")
		}, state.ForeignDatabase, "another application"},
		{"foreign-application-id-no-tables", func(t *testing.T, p string) {
			rawExec(t, p, "PRAGMA application_id = 1234")
		}, state.ForeignDatabase, "another application"},
		{"tables-without-marker", func(t *testing.T, p string) {
			rawExec(t, p, "CREATE TABLE users (name TEXT)", "INSERT INTO users VALUES ('alice')")
		}, state.ForeignDatabase, "another application"},
		{"newer-schema", func(t *testing.T, p string) {
			populated(t, p, 1)
			rawExec(t, p, fmt.Sprintf("INSERT INTO schema_migrations VALUES (%d, '9999_future.sql', '2030-01-01T00:00:00.000000000Z')", sqlite.LatestVersion()+1))
		}, state.NewerSchema, "newer rotor"},
		{"marker-without-migrations", func(t *testing.T, p string) {
			populated(t, p, 1)
			rawExec(t, p, "DROP TABLE schema_migrations")
		}, state.Corrupt, "corrupt"},
	}
	for _, tc := range tests {
		for _, ro := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/readonly=%v", tc.name, ro), func(t *testing.T) {
				dir := t.TempDir()
				p := filepath.Join(dir, "rotor.db")
				tc.setup(t, p)
				before := fileSnapshot(t, dir)

				db, err := sqlite.Open(ctx, p, sqlite.Options{ReadOnly: ro, Clock: tickClock()})
				if err == nil {
					db.Close()
					t.Fatalf("Open accepted the file")
				}
				var fe *state.FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("error %v (%T) is not a *state.FormatError", err, err)
				}
				if fe.Kind != tc.kind {
					t.Errorf("kind = %d, want %d (%v)", fe.Kind, tc.kind, err)
				}
				msg := err.Error()
				if !strings.Contains(msg, p) || !strings.Contains(msg, tc.words) || !strings.Contains(msg, "; ") {
					t.Errorf("message %q should name %s, say %q and what to do", msg, p, tc.words)
				}
				sameSnapshot(t, before, fileSnapshot(t, dir))
			})
		}
	}
}

func TestOpenDirectoryAsFile(t *testing.T) {
	dir := t.TempDir()
	for _, ro := range []bool{false, true} {
		_, err := sqlite.Open(context.Background(), dir, sqlite.Options{ReadOnly: ro})
		var fe *state.FormatError
		if !errors.As(err, &fe) || fe.Kind != state.NotDatabase {
			t.Errorf("Open(directory, readonly=%v) = %v, want FormatError NotDatabase", ro, err)
		}
	}
}

func TestReadOnlyMissingCreatesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "not", "yet", "rotor.db")
	db, err := sqlite.Open(ctx, p, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open of a missing file: %v", err)
	}
	defer db.Close()
	if !db.Absent() {
		t.Error("Absent() = false for a missing file")
	}
	if all, err := db.CredentialStates(ctx); err != nil || len(all) != 0 {
		t.Errorf("CredentialStates = %v, %v; want empty", all, err)
	}
	if _, err := db.CredentialState(ctx, "x"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("CredentialState = %v, want ErrNotFound", err)
	}
	if rs, err := db.Rotations(ctx, "x", 5); err != nil || len(rs) != 0 {
		t.Errorf("Rotations = %v, %v; want empty", rs, err)
	}
	if err := statetest.SaveState(ctx, db, "r", state.CredentialState{ID: "x"}); !errors.Is(err, state.ErrReadOnly) {
		t.Errorf("SaveRun = %v, want ErrReadOnly", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("read-only open created %v", entries)
	}
}

func TestReadOnlyEmptyFileIsAbsent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rotor.db")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), p, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.Absent() {
		t.Error("Absent() = false for an empty file")
	}
	sameSnapshot(t, map[string][]byte{"rotor.db": {}}, fileSnapshot(t, dir))
}

func TestReadOnlyReadsAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "rotor.db")
	rw := openRW(t, p)
	if err := statetest.SaveState(ctx, rw, "r1", state.CredentialState{ID: "a", CurrentVersion: "v1"}); err != nil {
		t.Fatal(err)
	}
	rw.Close()
	before := fileSnapshot(t, dir)

	db, err := sqlite.Open(ctx, p, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if db.Absent() {
		t.Error("Absent() = true for an existing database")
	}
	if s, err := db.CredentialState(ctx, "a"); err != nil || s.CurrentVersion != "v1" {
		t.Errorf("CredentialState = %+v, %v", s, err)
	}
	if err := statetest.SaveState(ctx, db, "r2", state.CredentialState{ID: "b"}); !errors.Is(err, state.ErrReadOnly) {
		t.Errorf("SaveRun = %v, want ErrReadOnly", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, before, fileSnapshot(t, dir))
}

func TestReadOnlyMigrationPending(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rotor.db")
	populated(t, p, 1)
	rawExec(t, p, "DELETE FROM schema_migrations") // rotor's, at schema version 0
	_, err := sqlite.Open(context.Background(), p, sqlite.Options{ReadOnly: true})
	if !errors.Is(err, state.ErrMigrationPending) || !strings.Contains(err.Error(), "run a command that writes") {
		t.Fatalf("read-only Open of a version-0 database = %v, want ErrMigrationPending with advice", err)
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "state")
	p := filepath.Join(dir, "rotor.db")
	db := openRW(t, p)
	defer db.Close()
	if err := statetest.SaveState(context.Background(), db, "r", state.CredentialState{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		mode fs.FileMode
	}{{dir, 0o700 | fs.ModeDir}, {filepath.Dir(dir), 0o700 | fs.ModeDir}, {p, 0o600}, {p + "-wal", 0o600}, {p + "-shm", 0o600}} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tc.mode {
			t.Errorf("%s mode = %v, want %v", tc.path, fi.Mode(), tc.mode)
		}
	}
}

func TestMigrationsIdempotentAcrossReopen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rotor.db")
	for i := range 3 {
		db, err := sqlite.Open(context.Background(), p, sqlite.Options{Clock: func() time.Time { return epoch.Add(time.Duration(i) * time.Hour) }})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		db.Close()
	}
	raw, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var v int
		var name, at string
		rows.Scan(&v, &name, &at)
		got = append(got, fmt.Sprintf("%d %s %s", v, name, at))
	}
	want := []string{"1 0001_credentials.sql 2026-05-01T09:00:00.000000000Z", "2 0002_runs.sql 2026-05-01T09:00:00.000000000Z"}
	if !slices.Equal(got, want) {
		t.Errorf("schema_migrations = %q, want %q (applied once, by the first open)", got, want)
	}
	var appID int
	raw.QueryRow("PRAGMA application_id").Scan(&appID)
	if appID != sqlite.ApplicationID {
		t.Errorf("application_id %#x, want %#x", appID, sqlite.ApplicationID)
	}
}

// While a writer has the file open it is in WAL mode; the last Close turns
// it back into one self-contained file, unless another process still has it.
func TestJournalModeWhileOpenAndAfterClose(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rotor.db")
	mode := func() string {
		t.Helper()
		raw, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		var m string
		if err := raw.QueryRow("PRAGMA journal_mode").Scan(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := openRW(t, p)
	b := openRW(t, p)
	if m := mode(); m != "wal" {
		t.Errorf("journal_mode while open = %q, want wal", m)
	}
	start := time.Now()
	a.Close() // b still has it open: stays WAL, and Close does not wait
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close waited %v while another handle was open", d)
	}
	if m := mode(); m != "wal" {
		t.Errorf("journal_mode with one handle left = %q, want wal", m)
	}
	b.Close()
	if m := mode(); m != "delete" {
		t.Errorf("journal_mode after the last Close = %q, want delete", m)
	}
	for _, side := range []string{p + "-wal", p + "-shm"} {
		if _, err := os.Stat(side); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left behind after the last Close (%v)", side, err)
		}
	}
}
