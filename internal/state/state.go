// Package state is rotor's memory between invocations: per credential, which
// version is current and when it was rotated, and the history of rotations;
// the runs in progress and done, each with its hash-chained journal; and the
// per-credential locks that keep two runs off one credential.
//
// It defines the Store contract and the types that cross it. Implementations
// live in subpackages (sqlite, the embedded default; postgres later, for
// several replicas) and must all pass the conformance suite in statetest, so
// that the engine and the CLI can rely on one behaviour whatever the backend.
//
// Nothing here ever holds a secret value. Versions are named by the store's
// version id and by a keyed fingerprint computed elsewhere (internal/secret);
// this package stores those strings as given and refuses obvious mistakes such
// as a PEM block passed where an id was expected.
package state

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store persists credential state, rotation history, runs, their journals
// and credential locks.
//
// A run, its journal entries, a credential's state and its history lines are
// all written by SaveRun, in one transaction per save; locks have Lock,
// StealLock and Unlock. There is no separate write for a credential's state
// or history: rotor changes them only as the outcome of a run, and the run
// that says so is saved with them.
//
// Contract, for every implementation:
//
//   - Not found: CredentialState and Run return an error satisfying
//     errors.Is(err, ErrNotFound) when the id is unknown. Listing methods
//     return an empty slice and a nil error when there is nothing to list.
//   - Compare-and-swap: a run and a credential state are written only if the
//     caller saw the latest record. Revision 0 means "I believe it does not
//     exist yet" and inserts; any other revision must equal the stored one.
//     On success the stored record has Revision incremented and UpdatedAt set
//     by the store's clock; on a lost race the error satisfies
//     errors.Is(err, ErrConflict) and nothing is written. The caller re-reads,
//     re-decides and retries (take the lock, then re-check).
//   - Concurrency: all methods are safe for concurrent use by goroutines, and
//     several processes (or replicas, for a server backend) may use the same
//     backing store at once; CAS is enforced by the backend, not in memory.
//   - Times: stored in UTC with nanosecond precision and returned in UTC, equal
//     (time.Equal) to what was written. The zero time means "unknown" and is
//     stored as the absence of a value.
//   - Ordering: CredentialStates is sorted by id in byte order (the order Go's
//     < gives strings), so every backend lists the same way.
//   - Read-only handles (a `rotor plan` that must write nothing) return an error
//     satisfying errors.Is(err, ErrReadOnly) from the write methods.
//   - The journal is written only together with its run, in the same
//     transaction: the run's new revision and the entries land together or
//     not at all, so "intent recorded" and "run says the step is in progress"
//     can never disagree after a crash.
//   - Journals are append-only: no method changes or removes an entry, and an
//     entry is accepted only if it continues the chain (see CheckChain). The
//     run keeps the Hash and Seq of its last entry (JournalHead, JournalLen),
//     which is what `rotor journal verify` compares the recomputed chain with.
//   - Locks: at most one holder per credential, across handles, processes and
//     replicas. A lock outlives its process (a crashed run keeps its
//     credential locked); StealLock is how a run takes over a lock whose
//     holder it has proven gone.
//   - Close releases the handle; calling it again is harmless.
type Store interface {
	// CredentialState returns the state of one credential, or ErrNotFound.
	CredentialState(ctx context.Context, id string) (CredentialState, error)

	// CredentialStates returns every known credential state, sorted by id, in
	// one round trip: `rotor plan` calls it once for the whole inventory.
	CredentialStates(ctx context.Context) ([]CredentialState, error)

	// Rotations returns up to limit records of credentialID, newest
	// CompletedAt first (ties: the later save first). limit <= 0 means all.
	// No command reads history yet; it stays because it is the only way to
	// read back what SaveRun's Rotation wrote, which the conformance suite
	// must check and `rotor serve` is to show.
	Rotations(ctx context.Context, credentialID string, limit int) ([]RotationRecord, error)

	// SaveRun writes the run s.Run, the journal entries s.Entries that
	// continue it, and what else s carries, in one transaction: all of it
	// lands or none does. It returns the run as stored: Revision, CreatedAt,
	// UpdatedAt, JournalHead and JournalLen set by the store (s.Run's own
	// values of them are ignored).
	//
	// s.Run.Revision 0 creates the run: Revision 1, CreatedAt = UpdatedAt
	// from the store's clock. s.Entries may be empty; if not, they start at
	// Seq 1 with PrevHash "" and chain (CheckChain), else ErrConflict. A run
	// with the same id is ErrConflict (its stored record and journal are
	// untouched): the caller re-reads it with Run, which is how a retried
	// creation finds the run it already made.
	//
	// Any other revision updates the run (Phase, Data) if it equals the
	// stored one, appending s.Entries, which must continue the stored
	// journal (entries[0].Seq == JournalLen+1, entries[0].PrevHash ==
	// JournalHead, then each chaining on the previous). A stale revision, an
	// absent run or a broken chain is ErrConflict. s.Run.Credential must be
	// the stored one (a run rotates one credential), else ErrInvalid.
	//
	// The writes s adds must concern s.Run's credential (and the rotation
	// record s.Run's id), else ErrInvalid:
	//   - s.Credential is the credential's new state, under the CAS above.
	//   - s.Rotation is the run's line of history. It is idempotent per
	//     run: the same record already stored for s.Run's id is a no-op (a
	//     save retried after a crash), a different one ErrConflict (a run
	//     rotates one credential once).
	//   - s.Unlock releases the credential's lock as Unlock does.
	//
	// A lost CAS on the run or on the credential state is ErrConflict and
	// nothing is written. It is how the engine records a step whose effect
	// is rotor's own state in the same synced write as the step's outcome.
	SaveRun(ctx context.Context, s RunSave) (RunRecord, error)

	// Run returns one run, or ErrNotFound.
	Run(ctx context.Context, id string) (RunRecord, error)

	// Runs returns the runs f selects, newest CreatedAt first (ties: the
	// later creation first). Runs(ctx, RunFilter{Credential: c, Phases:
	// open}) is how the engine finds a credential's unfinished run; the
	// store does not know which phases are terminal, the caller says.
	Runs(ctx context.Context, f RunFilter) ([]RunRecord, error)

	// Journal returns a run's entries in Seq order, Body byte for byte; an
	// empty slice (and a nil error) for an unknown run.
	Journal(ctx context.Context, runID string) ([]JournalEntry, error)

	// Lock takes the credential's lock for h if it is free, setting Since
	// from the store's clock. If h already holds it (same Host, PID and
	// RunID) it is a no-op that keeps the original Since. Otherwise it
	// returns a *LockedError naming the holder (errors.Is(err, ErrLocked)):
	// that is how a caller learns who holds a lock.
	Lock(ctx context.Context, credential string, h LockHolder) error

	// StealLock hands the lock to h only if it is still held by stale, all
	// four fields equal (pass the holder as a LockedError named it).
	// Otherwise, the lock free or held by anyone else, it is ErrConflict and
	// nothing changes: re-read and re-decide. After a successful steal Since
	// is the store's clock. A caller that does not know whether its steal
	// went through asks Lock(h): a no-op if it did.
	StealLock(ctx context.Context, credential string, stale, h LockHolder) error

	// Unlock releases the lock if h holds it (Host, PID, RunID; Since is not
	// compared) and is a no-op otherwise, so a retried or late Unlock can
	// never release someone else's lock.
	Unlock(ctx context.Context, credential string, h LockHolder) error

	// Close releases the store. It is safe to call more than once.
	Close() error
}

// CredentialState is what rotor remembers about one credential between runs.
type CredentialState struct {
	ID                 string    // the inventory id of the credential
	CurrentVersion     string    // the store's version id of the current value, never the value
	CurrentFingerprint string    // keyed fingerprint of the current value
	LastRotated        time.Time // when the current version became current; zero = never seen rotated
	Expires            time.Time // when the current version expires; zero = unknown
	Revision           int64     // CAS token: 0 = not stored yet; set by the store
	UpdatedAt          time.Time // set by the store on every successful put
}

// RotationRecord is one completed rotation: the history lines of plan and status.
type RotationRecord struct {
	CredentialID  string
	RunID         string // the run that did it (SaveRun writes history only with its run)
	FromVersion   string // version id replaced; empty for a first version
	ToVersion     string
	ToFingerprint string
	CompletedAt   time.Time
}

var (
	// ErrNotFound: the credential (or run) is unknown to the store.
	ErrNotFound = errors.New("not found in state")
	// ErrConflict: a compare-and-swap lost, the caller's view is stale. Re-read
	// and retry; nothing was written.
	ErrConflict = errors.New("state changed concurrently (stale revision)")
	// ErrReadOnly: a write on a handle opened read-only.
	ErrReadOnly = errors.New("state opened read-only")
	// ErrNoSpace: a write failed because the file system holding the state is
	// full. Nothing of that write was stored; reading still works.
	ErrNoSpace = errors.New("the file system holding it is full")
	// ErrMigrationPending: the database is older than this binary can read
	// without migrating it, and the handle may not migrate (read-only).
	ErrMigrationPending = errors.New("state database needs a schema migration")
)

// FormatKind says why a file was refused as a state database.
type FormatKind int

const (
	// NotDatabase: the file is not a database of the expected kind at all.
	NotDatabase FormatKind = iota + 1
	// ForeignDatabase: a database, but not rotor's.
	ForeignDatabase
	// Corrupt: rotor's database, damaged.
	Corrupt
	// NewerSchema: written by a newer rotor than this binary.
	NewerSchema
)

// FormatError refuses a state file that rotor must not read or write. Nothing
// has been written to it. The message names the file and says what to do.
type FormatError struct {
	Path   string     // the file (or database) refused
	Kind   FormatKind // why
	Detail string     // what was found, for the message (never data from rows)
	Err    error      // the underlying driver error, if any
}

func (e *FormatError) Error() string {
	var problem, hint string
	switch e.Kind {
	case NotDatabase:
		problem = "is not a rotor state database (not SQLite)"
		hint = "check --db; if the file is not needed, move it aside and rotor will start a new history"
	case ForeignDatabase:
		problem = "is a database of another application, not rotor's"
		hint = "point --db at rotor's own state file; rotor will not modify this one"
	case Corrupt:
		problem = "is corrupt"
		hint = "restore it from a backup; moving it aside starts an empty history (rotor then forgets past rotations)"
	case NewerSchema:
		problem = "was written by a newer rotor"
		hint = "upgrade rotor to the version that last wrote it; this binary will not touch it"
	default:
		problem = "was refused"
		hint = "check --db"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state database %s %s", e.Path, problem)
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%s)", e.Detail)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	fmt.Fprintf(&b, "; %s", hint)
	return b.String()
}

func (e *FormatError) Unwrap() error { return e.Err }
