package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/rotorhq/rotor/internal/state"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one numbered, embedded schema change.
type migration struct {
	version int
	name    string // file name, recorded for the operator
	sql     string
}

// minReadVersion is the oldest schema a read-only handle can read without a
// migration: the version at which credential_state and rotation took the
// shape the queries in this package expect. A later migration that changes
// those tables must raise it; one that only adds tables (runs, steps,
// journal) must not, so that `rotor plan` keeps working right after an
// upgrade, before any write command has migrated the file.
const minReadVersion = 1

// migrations returns the embedded migrations in order. File names are
// NNNN_name.sql, numbered from 1 without gaps; anything else is a build
// mistake and panics in tests long before a release.
func migrations() []migration {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		panic(err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(e.Name(), ".sql") {
			panic(fmt.Sprintf("state/sqlite: migration file %q is not named NNNN_name.sql", e.Name()))
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			panic(fmt.Sprintf("state/sqlite: migrations must be numbered 1..N without gaps; %s is number %d", m.name, i+1))
		}
	}
	return ms
}

// LatestVersion is the schema version this binary writes.
func LatestVersion() int { return len(migrations()) }

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at TEXT    NOT NULL
) STRICT`

// migrate applies the pending migrations, each in its own BEGIN IMMEDIATE
// transaction. The version is re-read under the write lock, so two processes
// opening the same new file at once apply each migration exactly once (take
// the lock, then re-check). The first migration also stamps the file with
// rotor's application_id, in the same transaction, so a file is either not
// rotor's yet or rotor's with a schema, never in between.
func (db *DB) migrate(ctx context.Context) error {
	for _, m := range migrations() {
		if err := db.applyOne(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) applyOne(ctx context.Context, m migration) (err error) {
	tx, err := db.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see the DSN
	if err != nil {
		return db.wrap("starting migration "+m.name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var appID int64
	if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return db.wrap("migration "+m.name, err)
	}
	if appID != 0 && appID != ApplicationID {
		return &state.FormatError{Path: db.path, Kind: state.ForeignDatabase,
			Detail: fmt.Sprintf("application_id %#08x appeared while opening", appID)}
	}
	if _, err := tx.ExecContext(ctx, createSchemaMigrations); err != nil {
		return db.wrap("migration "+m.name, err)
	}
	var cur sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&cur); err != nil {
		return db.wrap("migration "+m.name, err)
	}
	latest := LatestVersion()
	if int(cur.Int64) > latest {
		return &state.FormatError{Path: db.path, Kind: state.NewerSchema,
			Detail: fmt.Sprintf("schema version %d, this rotor knows up to %d", cur.Int64, latest)}
	}
	if int(cur.Int64) >= m.version {
		return tx.Rollback() // another process applied it first
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return db.wrap("applying migration "+m.name, err)
	}
	if _, err := tx.ExecContext(ctx,
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.version, m.name, formatTime(db.clock())); err != nil {
		return db.wrap("recording migration "+m.name, err)
	}
	if appID == 0 {
		// PRAGMA takes no parameters; the value is a constant of this package.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID)); err != nil {
			return db.wrap("stamping application_id", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return db.wrap("committing migration "+m.name, err)
	}
	return nil
}
