// Package secret holds secret values for rotor: passwords, API keys, client
// secrets, HMAC keys, private keys. It is the only place in rotor where a
// secret value lives in memory as data.
//
// The rule: no secret value ever leaves its type; [Value.Reveal] is the only
// door. Every other way a Value can be observed — fmt verbs, encoding/json,
// encoding/xml, YAML, slog, templates, error messages, panics — shows
// [Redacted]. A Value refuses to be decoded from text or gob, and refuses to
// be encoded with gob or written to a database through database/sql, so it
// cannot be stored or read back by accident.
//
// Outside its type a value is known only by a keyed fingerprint
// ([Fingerprinter.Fingerprint]): an HMAC-SHA256 under an install key that
// lives in a file beside the database and never inside it, so that a copy of
// the database (or the journal) does not let anyone test guesses of a
// value offline.
//
// New values come from a [Generator] (unbiased, with injected randomness) or
// [RandomBytes].
package secret
