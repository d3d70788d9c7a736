package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit.
//
// Every write is one synced transaction, and with synchronous=FULL a commit costs an fsync of
// the WAL — most of a write's time, and the same whether the transaction changed one row or
// forty. When several goroutines of one process write at once (rotor rotate --all --parallel
// N), their transactions would queue on the one writer connection and pay an fsync each. So
// writes are batched: the first writer to arrive leads, runs every write queued at that
// moment in one BEGIN IMMEDIATE … COMMIT, each inside its own SAVEPOINT, and hands the lead
// to the next waiting writer. A write that fails (a lost CAS, a refused lock) is rolled back
// to its savepoint and changes nothing; the others commit. No write returns before the
// commit that holds it is durable; if that commit fails, every write in it fails.
//
// Nothing changes for a lone writer: a batch of one is exactly the transaction it was.
// Writes from other processes still serialise on SQLite's file lock (busy_timeout).

// writeJob is one caller's transaction body and its result.
type writeJob struct {
	ctx  context.Context
	op   string
	fn   func(ctx context.Context, tx *sql.Tx) error
	err  error
	done chan struct{} // closed when err is final
	lead chan struct{} // signalled when this waiting job's goroutine must lead the next batch
}

// batcher queues writes; leading says a goroutine is running batches.
type batcher struct {
	mu      sync.Mutex
	queue   []*writeJob
	leading bool

	writes, commits atomic.Int64
	busy            atomic.Int64 // nanoseconds spent in batches
}

// WriteStats says how writes were committed: Writes calls, in Commits synced transactions,
// with the writer busy for Busy in all.
type WriteStats struct {
	Writes, Commits int64
	Busy            time.Duration
}

// WriteStats returns the counts since Open.
func (db *DB) WriteStats() WriteStats {
	return WriteStats{Writes: db.batch.writes.Load(), Commits: db.batch.commits.Load(), Busy: time.Duration(db.batch.busy.Load())}
}

// write runs fn in a write transaction, batched with concurrent writes (see above). fn's
// error is returned as it is (fn wraps its own); a failure of the transaction itself is
// wrapped with op. fn must not keep tx or ctx.
//
// fn runs with a context that is not cancelled: interrupting a statement would make SQLite
// roll back the whole transaction, other callers' writes included. A caller whose ctx is
// done before its turn gets ctx.Err() and nothing is written.
func (db *DB) write(ctx context.Context, op string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return db.wrap(op, err)
	}
	j := &writeJob{ctx: ctx, op: op, fn: fn, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	b := &db.batch
	b.mu.Lock()
	b.queue = append(b.queue, j)
	if b.leading {
		b.mu.Unlock()
		select {
		case <-j.done:
			return j.err
		case <-j.lead:
		}
	} else {
		b.leading = true
		b.mu.Unlock()
	}
	db.lead()
	<-j.done
	return j.err
}

// lead runs one batch: everything queued now. Then it passes the lead to the oldest waiting
// job, if any, so no goroutine runs batches for others indefinitely.
func (db *DB) lead() {
	b := &db.batch
	b.mu.Lock()
	jobs := b.queue
	b.queue = nil
	b.mu.Unlock()

	db.runBatch(jobs)

	b.mu.Lock()
	if len(b.queue) > 0 {
		b.queue[0].lead <- struct{}{}
	} else {
		b.leading = false
	}
	b.mu.Unlock()
	for _, j := range jobs {
		close(j.done)
	}
}

// runBatch commits jobs in one transaction, each in a savepoint, setting each job's err.
func (db *DB) runBatch(jobs []*writeJob) {
	ctx := context.Background()
	live := jobs[:0:0]
	for _, j := range jobs {
		if err := j.ctx.Err(); err != nil {
			j.err = db.wrap(j.op, err)
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	began := time.Now()
	defer func() {
		db.batch.writes.Add(int64(len(live)))
		db.batch.commits.Add(1)
		db.batch.busy.Add(int64(time.Since(began)))
	}()
	fail := func(op string, err error) {
		for _, j := range live {
			if j.err == nil {
				j.err = db.wrap(j.op+": "+op, err)
			}
		}
	}
	tx, err := db.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see the DSN)
	if err != nil {
		fail("beginning the transaction", err)
		return
	}
	if len(live) == 1 { // no savepoint needed: the transaction is the job's
		if live[0].err = live[0].fn(ctx, tx); live[0].err != nil {
			_ = tx.Rollback()
			return
		}
	} else {
		for _, j := range live {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
				_ = tx.Rollback()
				fail("opening a savepoint", err)
				return
			}
			if j.err = j.fn(ctx, tx); j.err != nil {
				if _, err := tx.ExecContext(ctx, "ROLLBACK TO w"); err != nil {
					// The transaction is in an unknown state: give up on all of it.
					_ = tx.Rollback()
					fail(fmt.Sprintf("undoing a failed write (%v)", j.err), err)
					return
				}
			}
			if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
				_ = tx.Rollback()
				fail("releasing a savepoint", err)
				return
			}
		}
	}
	if err := tx.Commit(); err != nil {
		fail("committing", err)
	}
}

// stmt returns tx's handle on a statement prepared once, at open (prepareWrites): on the one
// writer connection database/sql reuses the prepared statement, so SQL is parsed once, not
// per write (parsing was a tenth of a rotation's CPU). A query not in writeQueries is
// prepared for this transaction only: preparing on the pool here would wait for the one
// connection, which tx holds.
func (db *DB) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st, ok := db.stmts[query]; ok {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, query)
}

// prepareWrites prepares writeQueries on the writer, once, before any write. db.stmts is
// read-only afterwards, so stmt needs no lock.
func (db *DB) prepareWrites(ctx context.Context) error {
	db.stmts = make(map[string]*sql.Stmt, len(writeQueries))
	for _, q := range writeQueries {
		st, err := db.w.PrepareContext(ctx, q)
		if err != nil {
			return db.wrap("preparing statements", err)
		}
		db.stmts[q] = st
	}
	return nil
}

// exec runs a cached statement in tx.
func (db *DB) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := db.stmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// queryRow runs a cached single-row query in tx.
func (db *DB) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	st, err := db.stmt(ctx, tx, query)
	if err != nil {
		// sql.Row cannot be built with an error from outside; a query that fails to prepare
		// fails the same way unprepared.
		return tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// closeStmts closes the prepared statements (before the writer pool).
func (db *DB) closeStmts() {
	for _, st := range db.stmts {
		_ = st.Close()
	}
	db.stmts = nil
}

// The statements writes use, prepared once at open.
const (
	qInsertEntry = "INSERT INTO journal_entry (" + entryColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?)"
	qInsertRun   = "INSERT INTO run (" + runColumns + `) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`
	qRunRevision = "SELECT credential, revision FROM run WHERE id = ?"
	qRunEnd      = "SELECT credential, revision, created_at, journal_head, journal_len FROM run WHERE id = ?"
	qUpdateRun   = `UPDATE run
		SET phase = ?, data = ?, revision = revision + 1, updated_at = ?, journal_head = ?, journal_len = ?
		WHERE id = ? AND revision = ?`
	qInsertLock = "INSERT INTO credential_lock (credential, " + lockColumns + `)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (credential) DO NOTHING`
	qLockHolder = "SELECT " + lockColumns + " FROM credential_lock WHERE credential = ?"
	qStealLock  = `UPDATE credential_lock SET host = ?, pid = ?, run_id = ?, since = ?
		WHERE credential = ? AND host = ? AND pid = ? AND run_id = ? AND since = ?`
	qDeleteLock            = "DELETE FROM credential_lock WHERE credential = ? AND host = ? AND pid = ? AND run_id = ?"
	qInsertCredentialState = `INSERT INTO credential_state
		(id, current_version, current_fingerprint, last_rotated, expires, revision, updated_at)
		VALUES (?, ?, ?, ?, ?, 1, ?)
		ON CONFLICT (id) DO NOTHING`
	qUpdateCredentialState = `UPDATE credential_state
		SET current_version = ?, current_fingerprint = ?, last_rotated = ?, expires = ?,
		    revision = revision + 1, updated_at = ?
		WHERE id = ? AND revision = ?`
	qCredentialRevision = "SELECT revision FROM credential_state WHERE id = ?"
	qInsertRotation     = `INSERT INTO rotation
		(credential_id, run_id, from_version, to_version, to_fingerprint, completed_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`
	qRotationOfRun = "SELECT " + rotationColumns + " FROM rotation WHERE run_id = ?"
)

var writeQueries = []string{qInsertEntry, qInsertRun, qRunRevision, qRunEnd, qUpdateRun, qInsertLock, qLockHolder,
	qStealLock, qDeleteLock, qInsertCredentialState, qUpdateCredentialState, qCredentialRevision, qInsertRotation, qRotationOfRun}
