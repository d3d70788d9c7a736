// Package sqlite is rotor's embedded state store: one SQLite file, opened
// with the pure-Go driver modernc.org/sqlite (no cgo), so that a single
// binary keeps its history on a laptop, in CI or on one server.
//
// The file is rotor's and nobody else's: it carries a fixed application_id,
// its schema comes from numbered migrations embedded in the binary, and Open
// refuses (with *state.FormatError, writing nothing) any file that is not a
// SQLite database, belongs to another application, is corrupt, or was
// written by a newer rotor. Writes are durable when they return: WAL journal,
// synchronous=FULL, every write in a BEGIN IMMEDIATE transaction, CAS in SQL.
// Several processes may use the same file; SQLite's file locks serialise
// their writes and busy_timeout makes them wait rather than fail.
//
// A read-only handle (ReadOnly: true) never creates, migrates or writes the
// file: it is what `rotor plan` uses. See Open for what it does when the file
// does not exist yet.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rotorhq/rotor/internal/state"
)

// ApplicationID marks a SQLite file as rotor's ("rotr" in ASCII), in the
// database header where `file(1)` and the sqlite3 shell can see it.
const ApplicationID = 0x726f7472

// busyTimeout is how long a write waits for another process's write
// transaction before failing with SQLITE_BUSY. Rotor's transactions are a
// few statements long; 10s only runs out if another process is stuck.
const busyTimeout = 10 * time.Second

// Options tune Open.
type Options struct {
	// ReadOnly opens without creating, migrating or writing anything.
	ReadOnly bool
	// Clock stamps UpdatedAt and migration times. Nil means time.Now; tests
	// and the engine pass their own.
	Clock func() time.Time
}

// DB is a state.Store backed by one SQLite file.
type DB struct {
	path    string
	clock   func() time.Time
	ro      bool
	roMode  string  // a read-only handle's way around a -shm it cannot create: "" (none needed), readonly_shm or immutable
	absent  bool    // read-only open of a file that does not exist (or is empty)
	version int     // schema version the handle reads: the file's at a read-only open, LatestVersion after migrating
	w       *sql.DB // writer: one connection, so in-process writers queue in Go (ctx-aware) instead of polling the file lock
	r       *sql.DB // readers: mode=ro connections; WAL lets them read while a write is in progress

	batch batcher              // group commit of concurrent writes (write.go)
	stmts map[string]*sql.Stmt // writeQueries prepared on w; read-only after open

	closeOnce sync.Once
	closeErr  error
}

var _ state.Store = (*DB)(nil)

// Open opens the state file at path.
//
// Read-write (the default): creates the parent directory (0700) and the file
// (0600) when missing, refuses a file that is not rotor's (see the package
// comment), runs PRAGMA quick_check on an existing file, switches it to WAL
// and applies pending migrations.
//
// ReadOnly: opens with mode=ro and writes nothing, ever. When the file does
// not exist (or is empty) it does not create it and returns a DB for which
// Absent reports true, that lists no credential states, rotations or runs,
// holds no locks, and answers CredentialState and Run with
// state.ErrNotFound: "no history yet", which is exactly what `rotor plan`
// needs on a first run. A file with a newer schema is refused
// (*state.FormatError). A file with pending migrations is read if its schema
// is at least minReadVersion (migrations that only add tables do not block
// reading), and the tables it does not have yet read as empty (a 0001 file:
// no runs, no locks); otherwise Open returns an error satisfying
// errors.Is(err, state.ErrMigrationPending) that says to run a write command
// first.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("state: empty SQLite path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	db := &DB{path: abs, clock: opts.Clock, ro: opts.ReadOnly}
	if db.clock == nil {
		db.clock = time.Now
	}
	if opts.ReadOnly {
		return db.openReadOnly(ctx)
	}
	return db.openReadWrite(ctx)
}

// Path is the absolute path of the file.
func (db *DB) Path() string { return db.path }

// Absent reports a read-only handle on a file that does not exist yet: no
// history. The CLI can say so instead of printing empty tables.
func (db *DB) Absent() bool { return db.absent }

func (db *DB) openReadOnly(ctx context.Context) (*DB, error) {
	fi, err := os.Stat(db.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		db.absent = true
		return db, nil
	case err != nil:
		return nil, fmt.Errorf("state database %s: %w", db.path, err)
	case fi.IsDir():
		return nil, &state.FormatError{Path: db.path, Kind: state.NotDatabase, Detail: "it is a directory"}
	case fi.Size() == 0:
		db.absent = true
		return db, nil
	}
	if err := db.openReaders(); err != nil {
		return nil, err
	}
	in, err := db.inspect(ctx)
	if err != nil && sharedMemoryTrouble(err) {
		// A WAL-mode file (a writer has it open, or died with writes in the -wal) is read
		// through its -shm, which SQLite creates and grows beside it — impossible when the
		// folder is read-only or its file system full. Reading does not need it: see
		// withoutSharedMemory.
		db.r.Close()
		db.r = nil
		if db.roMode = db.withoutSharedMemory(); db.roMode != "" {
			if rerr := db.openReaders(); rerr != nil {
				return nil, rerr
			}
			in, err = db.inspect(ctx)
		}
	}
	if err != nil {
		if db.r != nil {
			db.r.Close()
		}
		if sharedMemoryTrouble(err) {
			return nil, fmt.Errorf("state database %s cannot be read: %s-wal holds writes not yet in the file, and %s-shm, which SQLite needs to read them, is missing and cannot be created in %s (the folder is read-only or its file system is full); free space there or make it writable, then retry: %w",
				db.path, filepath.Base(db.path), filepath.Base(db.path), filepath.Dir(db.path), err)
		}
		return nil, err
	}
	switch {
	case in.empty:
		db.absent = true
		db.r.Close()
		db.r = nil
	case in.version < minReadVersion:
		db.r.Close()
		return nil, fmt.Errorf("state database %s has schema version %d, this rotor reads %d or later: run a command that writes state (it migrates the file) and retry: %w",
			db.path, in.version, minReadVersion, state.ErrMigrationPending)
	}
	db.version = in.version
	return db, nil
}

func (db *DB) openReadWrite(ctx context.Context) (_ *DB, err error) {
	if err := os.MkdirAll(filepath.Dir(db.path), 0o700); err != nil {
		return nil, fmt.Errorf("state database %s: creating its directory: %w", db.path, err)
	}
	// Create the file ourselves so it is 0600 whatever the umask; SQLite
	// gives the -wal and -shm files the mode of the database file. The file
	// descriptor is closed before SQLite opens the file, so the close cannot
	// drop SQLite's POSIX locks.
	if f, err := os.OpenFile(db.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("state database %s: creating it: %w", db.path, err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("state database %s: creating it: %w", db.path, err)
	}
	if fi, err := os.Stat(db.path); err != nil {
		return nil, fmt.Errorf("state database %s: %w", db.path, err)
	} else if fi.IsDir() {
		return nil, &state.FormatError{Path: db.path, Kind: state.NotDatabase, Detail: "it is a directory"}
	}
	if err := db.openReaders(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	// Judge the file through a read-only connection first: a refused file
	// has not been touched by a single write.
	in, err := db.inspect(ctx)
	if err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", db.dsn(false))
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", db.path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	db.w = w
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		switch code(err) {
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_IOERR:
			return nil, fmt.Errorf("state database %s: cannot write (it and its directory %s must be writable: rotor creates %s-wal beside it while writing; read-only commands such as plan still work): %w",
				db.path, filepath.Dir(db.path), filepath.Base(db.path), err)
		}
		return nil, db.wrap("switching to WAL", err)
	}
	if mode != "wal" {
		return nil, fmt.Errorf("state database %s: the file system refused WAL mode (journal_mode is %q); put the state on a local disk", db.path, mode)
	}
	if in.version < LatestVersion() {
		if err := db.migrate(ctx); err != nil {
			return nil, err
		}
	}
	db.version = LatestVersion()
	if err := db.prepareWrites(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

func (db *DB) openReaders() error {
	r, err := sql.Open("sqlite", db.dsn(true))
	if err != nil {
		return fmt.Errorf("state database %s: %w", db.path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	db.r = r
	return nil
}

// dsn builds the driver URI. busy_timeout comes first (the driver orders it
// so); the rest are per-connection settings that write nothing to the file,
// so they are safe on a file still being judged. journal_mode=WAL, the one
// persistent setting, is set explicitly once the file is known to be rotor's.
func (db *DB) dsn(readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "trusted_schema(OFF)")
	q.Set("_defensive", "1") // no writable_schema & co. on rotor's connections
	if readOnly {
		q.Set("mode", "ro")
		if db.roMode != "" {
			q.Set(db.roMode, "1")
		}
	} else {
		q.Add("_pragma", "foreign_keys(ON)")
		q.Add("_pragma", "synchronous(FULL)") // fsync the WAL on every commit: a returned write survives power loss
		q.Set("_txlock", "immediate")         // every transaction takes the write lock up front: no SQLITE_BUSY_SNAPSHOT mid-way
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(db.path), RawQuery: q.Encode()}
	if u.Path[0] != '/' { // Windows: file:///C:/...
		u.Path = "/" + u.Path
	}
	return u.String()
}

// sharedMemoryTrouble reports an error of a read-only open that a -shm which cannot be
// created or grown explains: SQLite could not open it (CANTOPEN, READONLY), or could not
// extend it (IOERR_SHMSIZE and its kin, FULL).
func sharedMemoryTrouble(err error) bool {
	switch code(err) {
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
		return true
	}
	return false
}

// withoutSharedMemory is how a read-only handle reads a WAL-mode file whose -shm it cannot
// create or grow, or "" when it cannot. With a -shm present (a writer died and left it, or
// the failed attempt created it before the disk refused to grow it): readonly_shm, with
// which SQLite opens the -shm read-only and, when no live writer vouches for it, reads the
// -wal into private memory instead. Without a -shm but with no -wal or an empty one: the file
// holds every write, and immutable reads it alone, taking no lock; no writer can be at work
// without a -shm. A -wal holding writes and no -shm: nothing can read them without creating
// one.
func (db *DB) withoutSharedMemory() string {
	if _, err := os.Stat(db.path + "-shm"); err == nil {
		return "readonly_shm"
	}
	if fi, err := os.Stat(db.path + "-wal"); errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0 {
		return "immutable"
	}
	return ""
}

type inspection struct {
	empty   bool // no tables and no marker: a new file
	version int  // schema version recorded in schema_migrations
}

// inspect decides whether the file is rotor's, on a read-only connection,
// in one read transaction: the header, the schema and the migration record
// are read from the same snapshot, even while another process is creating
// or migrating the file.
func (db *DB) inspect(ctx context.Context) (inspection, error) {
	conn, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return inspection{}, db.wrap("opening", err)
	}
	defer conn.Rollback()

	var appID int64
	if err := conn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return inspection{}, db.wrap("reading the header", err)
	}
	var tables []string
	rows, err := conn.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
	if err != nil {
		return inspection{}, db.wrap("reading the schema", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return inspection{}, db.wrap("reading the schema", err)
		}
		tables = append(tables, n)
	}
	if err := rows.Err(); err != nil {
		return inspection{}, db.wrap("reading the schema", err)
	}
	rows.Close()

	switch {
	case appID == 0 && len(tables) == 0:
		return inspection{empty: true}, nil
	case appID == 0:
		return inspection{}, &state.FormatError{Path: db.path, Kind: state.ForeignDatabase,
			Detail: fmt.Sprintf("%d tables, no rotor application_id", len(tables))}
	case appID != ApplicationID:
		return inspection{}, &state.FormatError{Path: db.path, Kind: state.ForeignDatabase,
			Detail: fmt.Sprintf("application_id %#08x", appID)}
	}

	// Rotor's file: check its structure before trusting it. quick_check
	// walks every page (O(size), measured in the package tests) but skips the
	// index-versus-table comparison of integrity_check, the costly part.
	var verdict string
	if err := conn.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&verdict); err != nil {
		return inspection{}, db.wrap("checking integrity", err)
	}
	if verdict != "ok" {
		return inspection{}, &state.FormatError{Path: db.path, Kind: state.Corrupt, Detail: "quick_check: " + verdict}
	}

	var v sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		if code(err) == sqlite3.SQLITE_ERROR { // no such table: marked rotor's, yet no migration record
			return inspection{}, &state.FormatError{Path: db.path, Kind: state.Corrupt, Detail: "rotor marker without schema_migrations", Err: err}
		}
		return inspection{}, db.wrap("reading the schema version", err)
	}
	if latest := LatestVersion(); int(v.Int64) > latest {
		return inspection{}, &state.FormatError{Path: db.path, Kind: state.NewerSchema,
			Detail: fmt.Sprintf("schema version %d, this rotor knows up to %d", v.Int64, latest)}
	}
	return inspection{version: int(v.Int64)}, nil
}

// Close releases both connection pools; the last connection to close
// checkpoints the WAL into the main file. Safe to call more than once.
//
// When no other connection has the file open, Close also switches it back
// from WAL to a rollback journal. A quiescent rotor database is then one
// self-contained file: a read-only open (`rotor plan`) creates no -wal/-shm
// side files, works from a read-only directory, snapshot or backup, and a
// copy of the file is the whole state. While another process has it open the
// switch fails at once (SQLITE_BUSY, no waiting) and the file stays in WAL
// mode; that process's own Close finishes the job.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		if db.r != nil {
			errs = append(errs, db.r.Close())
		}
		if db.w != nil {
			db.closeStmts()
			errs = append(errs, db.leaveWAL())
			errs = append(errs, db.w.Close())
		}
		db.closeErr = errors.Join(errs...)
	})
	return db.closeErr
}

// leaveWAL switches the file to a rollback journal if this is the last
// connection to it. Busy waiting is off for the attempt: another open
// connection is the normal case with two rotors, not a reason to wait.
func (db *DB) leaveWAL() error {
	ctx := context.Background()
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return nil // the pool is unusable; Close reports what matters
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA journal_mode = DELETE"); err != nil &&
		code(err) != sqlite3.SQLITE_BUSY && code(err) != sqlite3.SQLITE_LOCKED {
		return db.wrap("leaving WAL mode", err)
	}
	return nil
}

// code is the primary SQLite result code of err, or 0.
func code(err error) int {
	var e *msqlite.Error
	if errors.As(err, &e) {
		return e.Code() & 0xff
	}
	return 0
}

// wrap names the file and the operation, and turns SQLite's "not a
// database" and "corrupt" into the FormatError the CLI explains.
func (db *DB) wrap(op string, err error) error {
	switch code(err) {
	case sqlite3.SQLITE_NOTADB:
		return &state.FormatError{Path: db.path, Kind: state.NotDatabase, Err: err}
	case sqlite3.SQLITE_CORRUPT:
		return &state.FormatError{Path: db.path, Kind: state.Corrupt, Detail: op, Err: err}
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("state database %s: %s: %w: %w", db.path, op, err, state.ErrNoSpace)
	}
	return fmt.Errorf("state database %s: %s: %w", db.path, op, err)
}
