// Package journal is the append-only, hash-chained record of a rotation run,
// and its export as a change ticket.
//
// Every step, gate verdict, check result (with its numbers), approval,
// rejection, sign-off, exception and rollback becomes one [Entry]: who did it
// (a person, or "rotor" for the executor), when, and what — version ids and
// keyed fingerprints, never a value. [Seal] turns an entry into the canonical
// bytes the state store keeps and chains it to the one before with SHA-256;
// [Verify] walks the stored chain against the run's head and names the first
// entry that was edited, removed, reordered, taken from another run or cut
// off. [Write] renders a [Ticket] as markdown, HTML or JSON for a reviewer.
//
// The package is pure: it reads no clock and does no I/O except writing an
// export to the io.Writer it is given. The engine appends entries in the
// same transaction as each run update, so the run's head (hash and length)
// and the chain can only move together.
//
// What the chain proves: that the entries are the ones whose head the run
// record holds, in that order, unchanged. It does not prove anything against
// someone who can rewrite both the entries and the run record; for that, the
// head hash printed in an exported ticket (archived outside rotor's
// database) is the anchor.
package journal
