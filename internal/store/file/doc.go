// Package file is the `file` store: a credential's versions kept as files in a directory,
// encrypted with age (https://age-encryption.org) to the identities allowed to read them.
//
// There is no server to ask "may this consumer read the new version?": the answer is whether
// the consumer's age identity decrypts it. So Read really decrypts with the identity file of
// the identity it reads as, and a consumer whose recipient was left out gets an error of kind
// Denied, exactly as a missing policy would at a vault.
//
// # Layout
//
// For a store configured with `dir: D` and a credential (or `name:`) N:
//
//	D/N/                                    0700
//	  index.json                            0600  the versions' metadata, never a value
//	  .lock                                 0600  flock(2) target, held around every change of the index
//	  versions/                             0700
//	    v0007-3f2a9c1b.5d1c0e9a7b3f2a64.age 0600  one version's value, age-encrypted to one reader
//	    v0007-3f2a9c1b.c2b8f4016e9d7a35.age 0600  the same value for the next reader, …
//
// Each reader of a version has its own file, encrypted to its recipient alone, named by its
// reader key: the first 16 hex digits of the SHA-256 of the recipient (age1…, as age encodes
// it). A reader finds its file from its own private key, and decrypting it is one X25519
// unwrap; with one file for every reader, age tries the key against each reader's stanza in
// turn, and a failed try costs as much as the good one. The files are plain age files:
// `age -d -i key versions/<id>.<reader key>.age` reads one.
//
// Versions written before per-reader files are one file, versions/v0007-3f2a9c1b.age,
// encrypted to every reader. Such a file is read as before, and takes precedence when it
// exists (a store restored from an old backup reads as the backup says); the sweep and Delete
// handle both layouts, and a store can hold both. An identity that has no file of a version
// (and is not in its single file) gets an error of kind Denied.
//
// index.json records, per version: its id, sequence number, creation time, stage (pending,
// current, previous or retired), whether it is enabled or deleted, the idempotency key it was
// written with, the authority's name for it, its expiry, its keyed fingerprint, and the
// readers it was encrypted to (identity id and age recipient, both public). It also records
// pins: consumer → version id. Keeping pins and stages in the one file means every change is a
// single atomic rename: a reader never sees a pin to a version the index does not have.
//
// Version ids look like v0007-3f2a9c1b: a sequence number (so they sort, up to v9999, and say
// how many rotations the credential has seen) and four random bytes (so a version id from one
// store directory is never mistaken for another's). They are public: services log them as
// the "key id" of the value they accepted.
//
// # Durability and concurrency
//
// Every change takes an exclusive flock on .lock, reads the index, changes it, and writes
// it back through a temporary file that is synced, renamed over index.json, and followed by a
// sync of the directory. A crash or a failed write at any point leaves either the old index or
// the new one, never a mix. A Put writes the version's files and the index together: all
// written and synced side by side, then renamed — the index last, so a crash of the process
// never leaves the index naming a missing file — then both folders synced side by side (two
// waits on the disk, not four). A power loss between the renames and the folders' syncs may
// keep the index's rename and lose a file's; Put had not returned, so the engine retries it,
// and the retry (same key) writes the missing files again from the same value, which the
// version's keyed fingerprint proves. A ciphertext the index does not name (a Put that crashed
// before its index write, a Delete that crashed after marking the version deleted) is removed
// by the next Put or Delete. Readers take no lock: they read whichever index.json the last
// rename left.
//
// Consumers read with [OpenReader], which honours pins and can list every enabled version
// (the accepting side of an overlap rotation validates against all of them).
package file
