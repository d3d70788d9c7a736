package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rotorhq/rotor/internal/state"
)

// timeLayout is the one way times are written: UTC, fixed width, nanoseconds.
// Fixed width makes text order equal time order, so ORDER BY needs no parsing.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// nullTime stores the zero time ("unknown") as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("malformed time %q in the database: %w", s.String, err)
	}
	return t, nil
}

const credentialColumns = "id, current_version, current_fingerprint, last_rotated, expires, revision, updated_at"

type scanner interface{ Scan(dest ...any) error }

func scanCredential(sc scanner) (state.CredentialState, error) {
	var (
		s                     state.CredentialState
		last, expires, update sql.NullString
	)
	if err := sc.Scan(&s.ID, &s.CurrentVersion, &s.CurrentFingerprint, &last, &expires, &s.Revision, &update); err != nil {
		return s, err
	}
	var err1, err2, err3 error
	s.LastRotated, err1 = parseTime(last)
	s.Expires, err2 = parseTime(expires)
	s.UpdatedAt, err3 = parseTime(update)
	return s, errors.Join(err1, err2, err3)
}

func (db *DB) CredentialState(ctx context.Context, id string) (state.CredentialState, error) {
	if db.absent {
		return state.CredentialState{}, fmt.Errorf("credential %q: %w", id, state.ErrNotFound)
	}
	s, err := scanCredential(db.r.QueryRowContext(ctx,
		"SELECT "+credentialColumns+" FROM credential_state WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return state.CredentialState{}, fmt.Errorf("credential %q: %w", id, state.ErrNotFound)
	}
	if err != nil {
		return state.CredentialState{}, db.wrap(fmt.Sprintf("reading credential %q", id), err)
	}
	return s, nil
}

// CredentialStates is one SELECT over the primary key, already in id order
// (BINARY collation is byte order, like Go's string comparison).
func (db *DB) CredentialStates(ctx context.Context) ([]state.CredentialState, error) {
	out := []state.CredentialState{}
	if db.absent {
		return out, nil
	}
	return queryAll(ctx, db, "listing credentials", scanCredential, "SELECT "+credentialColumns+" FROM credential_state ORDER BY id")
}

// queryAll runs a read query and scans every row with scan; errors name op.
func queryAll[T any](ctx context.Context, db *DB, op string, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	out := []T{} // never nil: an empty list, not "nothing"
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, db.wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}

// putCredential is the CAS: the WHERE clause carries the revision the caller read, and the
// number of rows it touched says who won.
func (db *DB) putCredential(ctx context.Context, tx *sql.Tx, s state.CredentialState, now time.Time) error {
	op := fmt.Sprintf("writing credential %q", s.ID)
	var res sql.Result
	var err error
	if s.Revision == 0 {
		res, err = db.exec(ctx, tx, qInsertCredentialState,
			s.ID, s.CurrentVersion, s.CurrentFingerprint, nullTime(s.LastRotated), nullTime(s.Expires), formatTime(now))
	} else {
		res, err = db.exec(ctx, tx, qUpdateCredentialState,
			s.CurrentVersion, s.CurrentFingerprint, nullTime(s.LastRotated), nullTime(s.Expires), formatTime(now),
			s.ID, s.Revision)
	}
	if err != nil {
		return db.wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return db.wrap(op, err)
	}
	if n != 1 {
		// Lost: say what is stored, read under the same lock, so the message is exact.
		// Nothing was written: the failed write is undone.
		var stored sql.NullInt64
		if err := db.queryRow(ctx, tx, qCredentialRevision, s.ID).Scan(&stored); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return db.wrap(op, err)
		}
		what := "absent"
		if stored.Valid {
			what = fmt.Sprintf("revision %d", stored.Int64)
		}
		return fmt.Errorf("credential %q: wrote with revision %d, stored is %s: %w", s.ID, s.Revision, what, state.ErrConflict)
	}
	return nil
}

// normalize returns t as it reads back from the database: UTC, no
// monotonic reading; zero stays zero.
func normalize(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

// appendRotation inserts r unless its run already recorded it: a retry is fine, a different
// outcome for the same run is not.
func (db *DB) appendRotation(ctx context.Context, tx *sql.Tx, r state.RotationRecord) error {
	op := fmt.Sprintf("recording a rotation of %q", r.CredentialID)
	res, err := db.exec(ctx, tx, qInsertRotation,
		r.CredentialID, r.RunID, r.FromVersion, r.ToVersion, r.ToFingerprint, formatTime(r.CompletedAt))
	if err != nil {
		return db.wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return db.wrap(op, err)
	}
	if n == 0 {
		prev, err := scanRotation(db.queryRow(ctx, tx, qRotationOfRun, r.RunID))
		if err != nil {
			return db.wrap(op, err)
		}
		if prev != normalizeRotation(r) {
			return fmt.Errorf("run %q already recorded a different rotation (of %q to version %q): %w",
				r.RunID, prev.CredentialID, prev.ToVersion, state.ErrConflict)
		}
	}
	return nil
}

func normalizeRotation(r state.RotationRecord) state.RotationRecord {
	r.CompletedAt = normalize(r.CompletedAt)
	return r
}

const rotationColumns = "credential_id, run_id, from_version, to_version, to_fingerprint, completed_at"

func scanRotation(sc scanner) (state.RotationRecord, error) {
	var (
		r  state.RotationRecord
		at sql.NullString
	)
	if err := sc.Scan(&r.CredentialID, &r.RunID, &r.FromVersion, &r.ToVersion, &r.ToFingerprint, &at); err != nil {
		return r, err
	}
	var err error
	r.CompletedAt, err = parseTime(at)
	return r, err
}

func (db *DB) Rotations(ctx context.Context, credentialID string, limit int) ([]state.RotationRecord, error) {
	out := []state.RotationRecord{}
	if db.absent {
		return out, nil
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	op := fmt.Sprintf("reading rotations of %q", credentialID)
	rows, err := db.r.QueryContext(ctx, "SELECT "+rotationColumns+` FROM rotation
		WHERE credential_id = ? ORDER BY completed_at DESC, seq DESC LIMIT ?`, credentialID, limit)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRotation(rows)
		if err != nil {
			return nil, db.wrap(op, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}
