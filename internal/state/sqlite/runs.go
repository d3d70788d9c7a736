package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/state"
)

// runsVersion is the schema version that created run, journal_entry and
// credential_lock (0002_runs.sql). A read-only handle on an older file
// (allowed: minReadVersion is 1) has none of them, and reads as "no runs,
// no locks" rather than failing on a missing table.
const runsVersion = 2

// noRuns reports a handle with no run tables to read.
func (db *DB) noRuns() bool { return db.absent || db.version < runsVersion }

const runColumns = "id, credential, phase, data, revision, created_at, updated_at, journal_head, journal_len"

func scanRun(sc scanner) (state.RunRecord, error) {
	var (
		r               state.RunRecord
		data            string
		created, update sql.NullString
	)
	if err := sc.Scan(&r.ID, &r.Credential, &r.Phase, &data, &r.Revision, &created, &update, &r.JournalHead, &r.JournalLen); err != nil {
		return r, err
	}
	r.Data = []byte(data)
	var err1, err2 error
	r.CreatedAt, err1 = parseTime(created)
	r.UpdatedAt, err2 = parseTime(update)
	return r, errors.Join(err1, err2)
}

const entryColumns = "run_id, seq, at, kind, body, prev_hash, hash"

func scanEntry(sc scanner) (state.JournalEntry, error) {
	var (
		e  state.JournalEntry
		at sql.NullString
	)
	if err := sc.Scan(&e.RunID, &e.Seq, &at, &e.Kind, &e.Body, &e.PrevHash, &e.Hash); err != nil {
		return e, err
	}
	var err error
	e.At, err = parseTime(at)
	return e, err
}

// appendEntries inserts entries already checked by state.CheckRunWrite and
// state.CheckChain. One prepared statement: a 10k-entry batch parses once.
// The chain trigger re-checks each row in SQL.
func (db *DB) appendEntries(ctx context.Context, tx *sql.Tx, entries []state.JournalEntry) error {
	if len(entries) == 0 {
		return nil
	}
	st, err := db.stmt(ctx, tx, qInsertEntry)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, e := range entries {
		body := e.Body
		if body == nil {
			body = []byte{} // the driver binds a nil slice as NULL
		}
		if _, err := st.ExecContext(ctx, e.RunID, e.Seq, formatTime(e.At), e.Kind, body, e.PrevHash, e.Hash); err != nil {
			return err
		}
	}
	return nil
}

// journalEnd is where entries leave the journal: (len, head) after them.
func journalEnd(len0 int64, head0 string, entries []state.JournalEntry) (int64, string) {
	if len(entries) == 0 {
		return len0, head0
	}
	last := entries[len(entries)-1]
	return last.Seq, last.Hash
}

// SaveRun writes the run and everything s adds in one BEGIN IMMEDIATE transaction (one write
// job of the batch: its savepoint undoes all of it when any part fails).
func (db *DB) SaveRun(ctx context.Context, s state.RunSave) (_ state.RunRecord, err error) {
	r := s.Run
	op := fmt.Sprintf("updating run %q", r.ID)
	if r.Revision == 0 {
		op = fmt.Sprintf("creating run %q", r.ID)
	}
	if db.ro {
		return state.RunRecord{}, fmt.Errorf("state database %s: %s: %w", db.path, op, state.ErrReadOnly)
	}
	if err := s.Check(); err != nil {
		return state.RunRecord{}, err
	}
	if r.Revision == 0 {
		if err := state.CheckChain(r.ID, 0, "", s.Entries); err != nil {
			return state.RunRecord{}, err
		}
	}
	now := db.clock()
	out := r
	err = db.write(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if r.Revision == 0 {
			out, err = db.createRun(ctx, tx, op, r, s.Entries, now)
		} else {
			out, err = db.updateRun(ctx, tx, op, r, s.Entries, now)
		}
		if err != nil {
			return err
		}
		if c := s.Credential; c != nil {
			if err := db.putCredential(ctx, tx, *c, now); err != nil {
				return err
			}
		}
		if h := s.Rotation; h != nil {
			if err := db.appendRotation(ctx, tx, *h); err != nil {
				return err
			}
		}
		if h := s.Unlock; h != nil {
			return db.unlock(ctx, tx, r.Credential, *h)
		}
		return nil
	})
	if err != nil {
		return state.RunRecord{}, err
	}
	return out, nil
}

// createRun inserts the run and its first entries; ON CONFLICT DO NOTHING and the rows
// affected say whether the id was free.
func (db *DB) createRun(ctx context.Context, tx *sql.Tx, op string, r state.RunRecord, entries []state.JournalEntry, now time.Time) (state.RunRecord, error) {
	n, head := journalEnd(0, "", entries)
	res, err := db.exec(ctx, tx, qInsertRun, r.ID, r.Credential, r.Phase, string(r.Data), formatTime(now), formatTime(now), head, n)
	if err != nil {
		return state.RunRecord{}, db.wrap(op, err)
	}
	if k, err := res.RowsAffected(); err != nil {
		return state.RunRecord{}, db.wrap(op, err)
	} else if k != 1 {
		var cred string
		var rev int64
		if err := db.queryRow(ctx, tx, qRunRevision, r.ID).Scan(&cred, &rev); err != nil {
			return state.RunRecord{}, db.wrap(op, err)
		}
		return state.RunRecord{}, fmt.Errorf("run %q already exists (credential %q, revision %d); nothing written: %w", r.ID, cred, rev, state.ErrConflict)
	}
	if err := db.appendEntries(ctx, tx, entries); err != nil {
		return state.RunRecord{}, db.wrap(op+": appending its journal", err)
	}
	out := r
	out.Revision = 1
	out.CreatedAt = normalize(now)
	out.UpdatedAt = out.CreatedAt
	out.JournalLen, out.JournalHead = n, head
	return out, nil
}

// updateRun reads the stored revision and journal end under the write lock (BEGIN
// IMMEDIATE: no other writer, in this process or another, can slip in between), checks them,
// then writes with the revision in the WHERE clause as well, so the CAS holds in SQL and not
// only in this function.
func (db *DB) updateRun(ctx context.Context, tx *sql.Tx, op string, r state.RunRecord, entries []state.JournalEntry, now time.Time) (state.RunRecord, error) {
	var (
		cred, head string
		rev, n     int64
		created    sql.NullString
	)
	err := db.queryRow(ctx, tx, qRunEnd, r.ID).Scan(&cred, &rev, &created, &head, &n)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return state.RunRecord{}, fmt.Errorf("run %q: wrote with revision %d, stored is absent; nothing written: %w", r.ID, r.Revision, state.ErrConflict)
	case err != nil:
		return state.RunRecord{}, db.wrap(op, err)
	case cred != r.Credential:
		return state.RunRecord{}, fmt.Errorf("run %q rotates credential %q, not %q: a run's credential cannot change: %w", r.ID, cred, r.Credential, state.ErrInvalid)
	case rev != r.Revision:
		return state.RunRecord{}, fmt.Errorf("run %q: wrote with revision %d, stored is revision %d; nothing written: %w", r.ID, r.Revision, rev, state.ErrConflict)
	}
	if err := state.CheckChain(r.ID, n, head, entries); err != nil {
		return state.RunRecord{}, err
	}
	createdAt, err := parseTime(created)
	if err != nil {
		return state.RunRecord{}, db.wrap(op, err)
	}
	newLen, newHead := journalEnd(n, head, entries)
	res, err := db.exec(ctx, tx, qUpdateRun, r.Phase, string(r.Data), formatTime(now), newHead, newLen, r.ID, r.Revision)
	if err != nil {
		return state.RunRecord{}, db.wrap(op, err)
	}
	if k, err := res.RowsAffected(); err != nil {
		return state.RunRecord{}, db.wrap(op, err)
	} else if k != 1 { // cannot happen under the write lock; the CAS says so anyway
		return state.RunRecord{}, fmt.Errorf("run %q: revision %d changed under the write lock; nothing written: %w", r.ID, r.Revision, state.ErrConflict)
	}
	if err := db.appendEntries(ctx, tx, entries); err != nil {
		return state.RunRecord{}, db.wrap(op+": appending to its journal", err)
	}
	out := r
	out.Revision = r.Revision + 1
	out.CreatedAt = createdAt
	out.UpdatedAt = normalize(now)
	out.JournalLen, out.JournalHead = newLen, newHead
	return out, nil
}

func (db *DB) Run(ctx context.Context, id string) (state.RunRecord, error) {
	if db.noRuns() {
		return state.RunRecord{}, fmt.Errorf("run %q: %w", id, state.ErrNotFound)
	}
	r, err := scanRun(db.r.QueryRowContext(ctx, "SELECT "+runColumns+" FROM run WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return state.RunRecord{}, fmt.Errorf("run %q: %w", id, state.ErrNotFound)
	}
	if err != nil {
		return state.RunRecord{}, db.wrap(fmt.Sprintf("reading run %q", id), err)
	}
	return r, nil
}

// runsQuery builds the SELECT for f. The phase list is spelled out as
// placeholders (never as text) so every value stays a bound parameter.
func runsQuery(f state.RunFilter) (string, []any) {
	var (
		where []string
		args  []any
	)
	if f.Credential != "" {
		where = append(where, "credential = ?")
		args = append(args, f.Credential)
	}
	if len(f.Phases) > 0 {
		where = append(where, "phase IN (?"+strings.Repeat(", ?", len(f.Phases)-1)+")")
		for _, p := range f.Phases {
			args = append(args, p)
		}
	}
	q := "SELECT " + runColumns + " FROM run"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	return q + " ORDER BY created_at DESC, seq DESC LIMIT ?", append(args, limit)
}

func (db *DB) Runs(ctx context.Context, f state.RunFilter) ([]state.RunRecord, error) {
	out := []state.RunRecord{}
	if db.noRuns() {
		return out, nil
	}
	q, args := runsQuery(f)
	return queryAll(ctx, db, "listing runs", scanRun, q, args...)
}

func (db *DB) Journal(ctx context.Context, runID string) ([]state.JournalEntry, error) {
	out := []state.JournalEntry{}
	if db.noRuns() {
		return out, nil
	}
	op := fmt.Sprintf("reading the journal of run %q", runID)
	rows, err := db.r.QueryContext(ctx, "SELECT "+entryColumns+" FROM journal_entry WHERE run_id = ? ORDER BY seq", runID)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, db.wrap(op, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}

const lockColumns = "host, pid, run_id, since"

func scanHolder(sc scanner) (state.LockHolder, error) {
	var (
		h     state.LockHolder
		since sql.NullString
	)
	if err := sc.Scan(&h.Host, &h.PID, &h.RunID, &since); err != nil {
		return h, err
	}
	var err error
	h.Since, err = parseTime(since)
	return h, err
}

func (db *DB) Lock(ctx context.Context, credential string, h state.LockHolder) error {
	op := fmt.Sprintf("locking credential %q", credential)
	if db.ro {
		return fmt.Errorf("state database %s: %s: %w", db.path, op, state.ErrReadOnly)
	}
	if err := state.CheckLock(credential, h); err != nil {
		return err
	}
	now := db.clock()
	return db.write(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, qInsertLock, credential, h.Host, h.PID, h.RunID, formatTime(now))
		if err != nil {
			return db.wrap(op, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return db.wrap(op, err)
		} else if n == 1 {
			return nil
		}
		cur, err := scanHolder(db.queryRow(ctx, tx, qLockHolder, credential))
		if err != nil {
			return db.wrap(op, err)
		}
		if cur.Same(h) {
			return nil // already ours; committing an empty transaction changes nothing
		}
		return &state.LockedError{Credential: credential, Holder: cur}
	})
}

// StealLock is a CAS on all four fields of the holder: the WHERE clause
// carries the holder the caller saw, Since included, so a lock released and
// taken again in between is not stolen by mistake.
func (db *DB) StealLock(ctx context.Context, credential string, stale, h state.LockHolder) error {
	op := fmt.Sprintf("taking over the lock of credential %q", credential)
	if db.ro {
		return fmt.Errorf("state database %s: %s: %w", db.path, op, state.ErrReadOnly)
	}
	if err := errors.Join(state.CheckLock(credential, stale), state.CheckLock(credential, h)); err != nil {
		return err
	}
	now := db.clock()
	return db.write(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, qStealLock,
			h.Host, h.PID, h.RunID, formatTime(now),
			credential, stale.Host, stale.PID, stale.RunID, formatTime(stale.Since))
		if err != nil {
			return db.wrap(op, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return db.wrap(op, err)
		} else if n == 1 {
			return nil
		}
		cur, err := scanHolder(db.queryRow(ctx, tx, qLockHolder, credential))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("credential %q: the lock %s expected to take over is free now; nothing changed: %w", credential, stale, state.ErrConflict)
		case err != nil:
			return db.wrap(op, err)
		}
		return fmt.Errorf("credential %q: the lock is held by %s, not %s as expected; nothing changed: %w", credential, cur, stale, state.ErrConflict)
	})
}

func (db *DB) Unlock(ctx context.Context, credential string, h state.LockHolder) error {
	op := fmt.Sprintf("unlocking credential %q", credential)
	if db.ro {
		return fmt.Errorf("state database %s: %s: %w", db.path, op, state.ErrReadOnly)
	}
	if err := state.CheckLock(credential, h); err != nil {
		return err
	}
	return db.write(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		return db.unlock(ctx, tx, credential, h)
	})
}

// unlock deletes the lock row if h holds it.
func (db *DB) unlock(ctx context.Context, tx *sql.Tx, credential string, h state.LockHolder) error {
	if _, err := db.exec(ctx, tx, qDeleteLock, credential, h.Host, h.PID, h.RunID); err != nil {
		return db.wrap(fmt.Sprintf("unlocking credential %q", credential), err)
	}
	return nil
}
