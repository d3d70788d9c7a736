// Package p5 is the P5 benchmark of ../shared/design/TARGETS.md: the engine's overhead per
// durable step on SQLite with fsync, next to a bare SQLite insert loop in the same run.
//
//	bench/p5/run.sh                    # 80 rotations, about 1,100 durable steps; prints the table
//	ROTATIONS=200 bench/p5/run.sh      # more samples for the p99
//	go test ./bench/p5 -run '^$' -bench P5 -benchtime 80x -p5.report /dev/stdout
//
// Everything lives in the package's tests (harness_test.go, p5_test.go); this file only holds
// the description. TestMeasuredPath (part of go test ./...) checks in well under a second that
// the benchmark observes exactly the durable steps the run records.
//
// # What is measured
//
// rotor: full rotations driven through the real engine (engine.Engine.Rotate with Force, as
// `rotor rotate --now`): the real `file` store (age-encrypted versions, synced index), the
// `generated` authority, three consumers per credential, each with an `http` reload and an
// `http` check against a server on 127.0.0.1, no window and no soak, so one Rotate runs a
// rotation to the end (12 durable steps, 14 when there is a previous version to revoke). The
// state is a SQLite file opened with internal/state/sqlite.Open (WAL, synchronous=FULL, BEGIN
// IMMEDIATE) in a temporary folder ($TMPDIR). A durable step is Begin → save (intent) → effect
// → Finish → save (outcome); each save is one transaction that updates the run and appends
// hash-chained journal entries. When the next step is known as a step finishes, its Begin
// and intent go into that outcome save: such a "begun" step starts when the save returns and
// has no intent save of its own (the first step of a rotate call has one).
//
// The engine is observed only through its exported seams: the state.Store it is given
// (wrapped to timestamp every call), its Progress writer (the "→ step …" line is written
// right before the effect starts) and its Clock (the first read by the step function itself,
// engine.(*runState).do, after the effect is the `now` it passes to Finish; reads by the
// providers, which get the same clock through provider.Env, and by the checks' evidence code
// are told apart by their caller). Per durable step:
//
//	step       = from the engine's first clock read after the previous boundary (the drive
//	             loop's `now`) to the return of the outcome save
//	effect     = from the "→" progress line to that clock read in the step function: the
//	             provider calls, plus, for a check, its evidence entries and, for the record
//	             step, its credential-state and history writes
//	overhead   = step − effect: Next, Begin, Finish, the json.Marshal of the run, the journal
//	             seals, and the SQLite transaction with its fsync (two for a step that is
//	             not begun by its predecessor's outcome save)
//
// overhead is the figure of P5. Not in it, and reported on their own lines: the per-rotate
// calls (lock, finding and creating the run, unlock) and any save that is not a step boundary.
// The instrumentation (a timestamp per event, runtime.Callers per clock read) is charged to
// the overhead; it is a few microseconds per step.
//
// baseline: single-row INSERT transactions (BEGIN IMMEDIATE; INSERT a 256-byte row; COMMIT) on
// a second SQLite file in the same folder, through a connection with the settings sqlite.Open
// gives its writer (synchronous=FULL, WAL, busy_timeout, foreign_keys, trusted_schema off,
// defensive), checked at open. The inserts are interleaved with the rotations, two per step
// measured, so drift of the machine or the disk touches both alike.
package p5
