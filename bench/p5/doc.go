// Package p5 is the P5 benchmark of ../shared/design/TARGETS.md: the engine's overhead per
// durable step on SQLite with fsync, next to a bare SQLite insert loop in the same run.
//
//	bench/p5/run.sh                          # about 800 durable steps, prints the table
//	go test ./bench/p5 -run '^$' -bench P5 -benchtime 60x -p5.report /dev/stdout
//
// Everything lives in the package's tests (harness_test.go, p5_test.go); this file only holds
// the description.
//
// # What is measured
//
// rotor: full rotations driven through the real engine (engine.Engine.Rotate, the same wiring
// as `rotor rotate`): the real `file` store (age-encrypted versions, synced index), the
// `generated` authority, three consumers per credential with `http` reloads to a server on
// 127.0.0.1, the state in a SQLite file opened with internal/state/sqlite.Open (WAL,
// synchronous=FULL, BEGIN IMMEDIATE) in a temporary folder on the same disk as the baseline.
// A durable step is Begin → save (intent) → effect → Finish → save (outcome); each save is one
// transaction that updates the run and appends a hash-chained journal entry.
//
// The engine is observed only through its exported seams: the state.Store it is given
// (wrapped to timestamp every call), its Progress writer (the "→ step …" line is written
// right before the effect starts) and its Clock (a read from engine code, told apart from the
// providers' reads by the caller's package, is the first thing the engine does after the
// effect returns). Per durable step:
//
//	step       = from the engine's first clock read after the previous boundary to the return
//	             of the outcome save
//	effect     = from the "→" progress line to the engine's first clock read after it (the
//	             provider calls; for the record step, also its credential-state writes)
//	overhead   = step − effect: Next, Begin, Finish, two json.Marshal of the run, two journal
//	             seals, and the two SQLite transactions with their fsync
//
// Not in a step, and reported on their own lines: per-rotate costs (lock, finding or creating
// the run, unlock) and the saves that are not step boundaries (a blocking gate recorded, a
// sign-off, the final "done" phase).
//
// baseline: single-row INSERT transactions (BEGIN IMMEDIATE; INSERT; COMMIT) on a second
// SQLite file in the same folder, opened with the connection settings sqlite.Open uses
// (synchronous=FULL, WAL, busy_timeout, foreign_keys, trusted_schema off, defensive). The
// inserts are interleaved with the rotations, one insert per save measured, so drift of the
// machine or the disk touches both alike.
package p5
