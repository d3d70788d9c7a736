package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// RunRecord is one run as stored. The store does not interpret Data: the
// lifecycle is the engine's, persisted as its JSON document of the run (ids,
// fingerprints, steps, evidence; never a value). Credential and Phase are
// copied out of that document so that the store can answer "which run of this
// credential is still open" without parsing it.
type RunRecord struct {
	ID         string // the run id, chosen by the engine
	Credential string // the inventory id of the credential it rotates; fixed at creation
	Phase      string // the run's current phase, as the engine names it
	Data       []byte // the engine's JSON of the run: valid JSON, at most MaxDocLen bytes

	Revision    int64     // CAS token: 0 = not stored yet; set by the store
	CreatedAt   time.Time // set by the store when the run is created
	UpdatedAt   time.Time // set by the store on every successful write
	JournalHead string    // Hash of the last journal entry, "" before any; set by the store
	JournalLen  int64     // number of journal entries (the Seq of the last one); set by the store
}

// RunFilter selects runs for Runs.
type RunFilter struct {
	Credential string   // only runs of this credential; "" = every credential
	Phases     []string // only runs in one of these phases; empty = every phase
	Limit      int      // at most this many, newest first; <= 0 = all
}

// JournalEntry is one sealed entry of a run's journal. The journal package
// computes Hash over (PrevHash, Body) and decides what Body holds; the store
// checks only that the entries form a chain (Seq and PrevHash follow the
// previous entry), never recomputes a hash, and returns Body byte for byte.
type JournalEntry struct {
	RunID    string    // the run it belongs to
	Seq      int64     // 1 for the first entry of a run, then +1 without gaps
	At       time.Time // when the recorded thing happened, by the engine's clock
	Kind     string    // what the entry records (intent, outcome, check, approval, …), the journal's word
	Body     []byte    // the sealed content, kept exactly; at most MaxDocLen bytes
	PrevHash string    // Hash of entry Seq-1; "" for Seq 1
	Hash     string    // the seal of this entry; never empty
}

// LockHolder names who holds a credential's lock: a process (Host, PID)
// working on a run. Two holders are the same holder when Host, PID and RunID
// are equal; Since is when the lock was taken, set by the store.
type LockHolder struct {
	Host  string
	PID   int
	RunID string
	Since time.Time
}

// Same reports whether h and o are the same holder (Since aside).
func (h LockHolder) Same(o LockHolder) bool {
	return h.Host == o.Host && h.PID == o.PID && h.RunID == o.RunID
}

func (h LockHolder) String() string {
	s := fmt.Sprintf("run %q (pid %d on %s", h.RunID, h.PID, h.Host)
	if !h.Since.IsZero() {
		s += " since " + h.Since.UTC().Format(time.RFC3339Nano)
	}
	return s + ")"
}

// ErrLocked: the credential's lock is held by another holder. The error is a
// *LockedError that names it.
var ErrLocked = errors.New("credential is locked by another run")

// LockedError is what Lock returns when someone else holds the lock.
// errors.Is(err, ErrLocked) is true for it.
type LockedError struct {
	Credential string
	Holder     LockHolder
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("credential %q is locked by %s", e.Credential, e.Holder)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// MaxDocLen bounds a run's Data and a journal entry's Body. Both hold ids,
// fingerprints, verdicts and short messages; a megabyte is far beyond a real
// run and stops a runaway document (or a dumped value) at the door.
const MaxDocLen = 1 << 20

// Validate reports whether r can be stored: ids, phase and document. The
// store-set fields (CreatedAt, UpdatedAt, JournalHead, JournalLen) are not
// looked at.
func (r RunRecord) Validate() error {
	var errs []error
	if r.Revision < 0 {
		errs = append(errs, fmt.Errorf("%s: negative revision %d: %w", runSubject(r.ID), r.Revision, ErrInvalid))
	}
	run := runSubject(r.ID)
	errs = append(errs,
		field(run, "run id", r.ID, true),
		field(run, "credential", r.Credential, true),
		field(run, "phase", r.Phase, true),
		doc(run, "data", r.Data),
	)
	if len(r.Data) <= MaxDocLen {
		if !json.Valid(r.Data) {
			errs = append(errs, fmt.Errorf("%s: data is not valid JSON: %w", runSubject(r.ID), ErrInvalid))
		} else if !utf8.Valid(r.Data) { // stored as text, readable with the sqlite3 shell's JSON functions
			errs = append(errs, fmt.Errorf("%s: data is not valid UTF-8: %w", runSubject(r.ID), ErrInvalid))
		}
	}
	return errors.Join(errs...)
}

// Validate reports whether e can be stored, on its own; CheckRunWrite also
// checks that it belongs to the run written with it, and CheckChain that it
// continues the chain.
func (e JournalEntry) Validate() error {
	run := runSubject(e.RunID)
	what := fmt.Sprintf("journal entry %d", e.Seq)
	errs := []error{
		field(run, what+" run id", e.RunID, true),
		field(run, what+" kind", e.Kind, true),
		field(run, what+" prev hash", e.PrevHash, false),
		field(run, what+" hash", e.Hash, true),
		doc(run, what+" body", e.Body),
	}
	if e.Seq <= 0 {
		errs = append(errs, fmt.Errorf("%s: %s: seq must be positive: %w", run, what, ErrInvalid))
	}
	switch {
	case e.At.IsZero():
		errs = append(errs, fmt.Errorf("%s: %s: zero time: %w", run, what, ErrInvalid))
	case e.At.Before(MinTime) || e.At.After(MaxTime):
		errs = append(errs, fmt.Errorf("%s: %s: time %s is outside years 1-9999: %w",
			run, what, e.At.UTC().Format(time.RFC3339Nano), ErrInvalid))
	}
	return errors.Join(errs...)
}

// CheckRunWrite validates a run and the journal entries written with it:
// every field, and every entry's RunID equal to r.ID. RunSave.Check calls it;
// its errors satisfy errors.Is(err, ErrInvalid).
func CheckRunWrite(r RunRecord, entries []JournalEntry) error {
	errs := []error{r.Validate()}
	for i, e := range entries {
		errs = append(errs, e.Validate())
		if e.RunID != r.ID {
			errs = append(errs, fmt.Errorf("%s: journal entry %d of %d belongs to run %.64q: %w",
				runSubject(r.ID), i+1, len(entries), e.RunID, ErrInvalid))
		}
	}
	return errors.Join(errs...)
}

// CheckChain reports whether entries continue a journal whose last entry is
// number storedLen with hash storedHead (0 and "" for an empty journal):
// entries[0] must be number storedLen+1 and point at storedHead, and each
// next entry must be the next number and point at the previous one's Hash.
// A break satisfies errors.Is(err, ErrConflict): the caller's view of the
// journal is stale (or its journal code is wrong); nothing may be written.
func CheckChain(runID string, storedLen int64, storedHead string, entries []JournalEntry) error {
	seq, prev := storedLen, storedHead
	for i, e := range entries {
		if e.Seq != seq+1 || e.PrevHash != prev {
			return fmt.Errorf("run %q: journal entry %d of %d (seq %d, prev hash %s) does not continue the journal (it ends at seq %d, hash %s); nothing written: %w",
				runID, i+1, len(entries), e.Seq, shortHash(e.PrevHash), seq, shortHash(prev), ErrConflict)
		}
		seq, prev = e.Seq, e.Hash
	}
	return nil
}

// RunSave is one save of a run (SaveRun): the run and the journal entries
// that continue it, and what else must land in the same transaction.
type RunSave struct {
	Run     RunRecord
	Entries []JournalEntry
	// Credential, when set, is the new state of Run.Credential (its ID),
	// written under compare-and-swap on its Revision; its UpdatedAt is
	// ignored, the store sets it.
	Credential *CredentialState
	// Rotation, when set, is Run's line of history: of Run.Credential, by
	// Run.ID, idempotent per run (see Store.SaveRun).
	Rotation *RotationRecord
	// Unlock, when set, releases Run.Credential's lock as Unlock does: a
	// no-op unless this holder holds it.
	Unlock *LockHolder
}

// Check validates everything s writes, and that the added writes concern
// its run: what implementations call before SaveRun writes anything. Its
// errors satisfy errors.Is(err, ErrInvalid).
func (s RunSave) Check() error {
	r := s.Run
	errs := []error{CheckRunWrite(r, s.Entries)}
	if c := s.Credential; c != nil {
		errs = append(errs, c.Validate())
		if c.ID != r.Credential {
			errs = append(errs, fmt.Errorf("%s: saved with the state of credential %.64q, not its own %.64q: %w", runSubject(r.ID), c.ID, r.Credential, ErrInvalid))
		}
	}
	if h := s.Rotation; h != nil {
		errs = append(errs, h.Validate())
		if h.CredentialID != r.Credential || h.RunID != r.ID {
			errs = append(errs, fmt.Errorf("%s: saved with a rotation of credential %.64q by run %.64q, not its own: %w", runSubject(r.ID), h.CredentialID, h.RunID, ErrInvalid))
		}
	}
	if h := s.Unlock; h != nil {
		errs = append(errs, CheckLock(r.Credential, *h))
	}
	return errors.Join(errs...)
}

// CheckLock validates the arguments of Lock, StealLock and Unlock.
func CheckLock(credential string, h LockHolder) error {
	lock := fmt.Sprintf("lock of credential %.64q", credential)
	errs := []error{
		field(lock, "credential id", credential, true),
		field(lock, "holder host", h.Host, true),
		field(lock, "holder run id", h.RunID, true),
	}
	if h.PID <= 0 {
		errs = append(errs, fmt.Errorf("%s: holder pid %d must be positive: %w", lock, h.PID, ErrInvalid))
	}
	return errors.Join(errs...)
}

func shortHash(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

func runSubject(id string) string { return fmt.Sprintf("run %.64q", id) }

// field is checkField for runs, journal entries and locks: the message names
// the subject (a run, a lock), never the field's content.
func field(subject, what, v string, required bool) error {
	switch {
	case required && v == "":
		return fmt.Errorf("%s: empty %s: %w", subject, what, ErrInvalid)
	case len(v) > MaxFieldLen:
		return fmt.Errorf("%s: %s is %d bytes, longer than %d: is it a value rather than an id? %w",
			subject, what, len(v), MaxFieldLen, ErrInvalid)
	case strings.Contains(v, "-----BEGIN"):
		return fmt.Errorf("%s: %s holds a PEM block; store ids and fingerprints, never values: %w", subject, what, ErrInvalid)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%s: %s contains control characters: %w", subject, what, ErrInvalid)
	}
	return nil
}

// doc bounds a document and refuses a PEM block in it: a certificate or key
// pasted into a run or a journal entry is a value, and the journal is forever.
func doc(subject, what string, b []byte) error {
	switch {
	case len(b) > MaxDocLen:
		return fmt.Errorf("%s: %s is %d bytes, longer than %d: %w", subject, what, len(b), MaxDocLen, ErrInvalid)
	case bytes.Contains(b, []byte("-----BEGIN")):
		return fmt.Errorf("%s: %s holds a PEM block; store ids and fingerprints, never values: %w", subject, what, ErrInvalid)
	}
	return nil
}
