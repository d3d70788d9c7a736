package state

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalid: the record cannot be stored as given (a programming error in
// the caller, not a condition to retry).
var ErrInvalid = errors.New("invalid state record")

// MaxFieldLen bounds ids, version ids and fingerprints. Real ones are far
// shorter (a cloud version resource name is under 300 bytes); the bound makes
// a secret value or a certificate passed by mistake fail loudly instead of
// landing in the database.
const MaxFieldLen = 1024

// MinTime and MaxTime bound the times a store must accept: every instant of
// years 1 to 9999 UTC, which includes the X.509 "no expiry" date
// 9999-12-31T23:59:59Z.
var (
	MinTime = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC) // the zero time itself means "unknown"
	MaxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// Validate reports whether s can be stored. Implementations call it before
// writing so every backend refuses the same things.
func (s CredentialState) Validate() error {
	if s.Revision < 0 {
		return fmt.Errorf("credential %q: negative revision %d: %w", s.ID, s.Revision, ErrInvalid)
	}
	return errors.Join(
		checkID("credential id", s.ID),
		checkField(s.ID, "current version", s.CurrentVersion),
		checkField(s.ID, "current fingerprint", s.CurrentFingerprint),
		checkTime(s.ID, "last rotated", s.LastRotated),
		checkTime(s.ID, "expires", s.Expires),
	)
}

// Validate reports whether r can be stored.
func (r RotationRecord) Validate() error {
	var errs []error
	errs = append(errs,
		checkID("rotation credential id", r.CredentialID),
		checkField(r.CredentialID, "run id", r.RunID),
		checkField(r.CredentialID, "from version", r.FromVersion),
		checkField(r.CredentialID, "to version", r.ToVersion),
		checkField(r.CredentialID, "to fingerprint", r.ToFingerprint),
		checkTime(r.CredentialID, "completed at", r.CompletedAt),
	)
	if r.ToVersion == "" {
		errs = append(errs, fmt.Errorf("rotation of %q: empty to version: %w", r.CredentialID, ErrInvalid))
	}
	if r.CompletedAt.IsZero() {
		errs = append(errs, fmt.Errorf("rotation of %q: zero completion time: %w", r.CredentialID, ErrInvalid))
	}
	return errors.Join(errs...)
}

func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("empty %s: %w", what, ErrInvalid)
	}
	return checkField(id, what, id)
}

// checkField never puts the field's content in the error: if it is a secret
// pasted by mistake, the message must not carry it further.
func checkField(cred, what, v string) error {
	switch {
	case len(v) > MaxFieldLen:
		return fmt.Errorf("credential %.64q: %s is %d bytes, longer than %d: is it a value rather than an id? %w",
			cred, what, len(v), MaxFieldLen, ErrInvalid)
	case strings.Contains(v, "-----BEGIN"):
		return fmt.Errorf("credential %.64q: %s holds a PEM block; store ids and fingerprints, never values: %w",
			cred, what, ErrInvalid)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("credential %.64q: %s contains control characters: %w", cred, what, ErrInvalid)
	}
	return nil
}

func checkTime(cred, what string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if t.Before(MinTime) || t.After(MaxTime) {
		return fmt.Errorf("credential %q: %s %s is outside years 1-9999: %w", cred, what, t.UTC().Format(time.RFC3339Nano), ErrInvalid)
	}
	return nil
}
