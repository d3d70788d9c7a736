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
// IMMEDIATE) in a temporary folder ($TMPDIR). A durable step is Begin → intent → effect →
// Finish → outcome; a save is one transaction that updates the run and appends hash-chained
// journal entries. The engine keeps the saves its safety property needs — the intent of a
// step with an effect is durable before that effect — and merges the others:
//
//   - When the next step is known as a step finishes, its intent goes into that step's
//     outcome save: the next step is "begun" and starts when the save returns.
//   - A local step (rotation.StepKind.Local: the observations readiness, read-access, check,
//     signals, proof, residual-use, and record, whose writes go with its outcome) has no save
//     of its own: its intent, and the outcome of the step before it, are held in memory and
//     saved with its outcome and the next step's intent. Local steps may chain (three
//     checks, then the revoke's intent, in one save).
//   - The "done" phase goes into the last step's outcome save, with record's writes and the
//     release of the credential's lock; a new run is created by its first save.
//
// So a step has 0, 1 or 2 synced transactions of its own: an own intent save (a step with an
// effect that is the first of its drive; none in this bench) and an outcome save, unless its
// outcome is held.
//
// The engine is observed only through its exported seams: the state.Store it is given
// (wrapped to timestamp every call), its Progress writer (the "→ step …" line, with the
// step's name, is written right before the effect starts; the verdict after the outcome is
// saved, or built when it is held) and its Clock (the first read by the step function itself,
// engine.(*runState).do, after the effect is the `now` it passes to Finish; reads by the
// providers, which get the same clock through provider.Env, and by the checks' evidence code
// are told apart by their caller). The steps of one drive are cut into contiguous intervals:
//
//	start      = the return of the save holding the step's intent when it is begun; the
//	             start of its effect when the step before it has its outcome held; else the
//	             engine's first clock read after the previous boundary (the drive loop's `now`)
//	end        = the return of the save holding its outcome, or, when the outcome is held,
//	             the start of the next step's effect
//	effect     = from the "→" progress line to that clock read in the step function: the
//	             provider calls, plus, for a check, its evidence entries and, for the record
//	             step, its credential-state and history writes
//	overhead   = (end − start) − effect: Next, Begin, Finish, the json.Marshal of the run, the
//	             journal seals, and the saves within the step
//
// A save that persists several steps (held intents and outcomes) is charged, whole, to the
// last step it closes: it is the boundary that ends that step, it happens on that step's
// path (after its effect, before the next one), and so the intervals stay contiguous, each
// instant of a drive belongs to exactly one step, and the sum of the overheads is the
// engine's whole time outside the effects. Splitting it among the steps it persists would
// make the intervals overlap and fix per-step figures that no step ever waits for. The
// price: the per-step distribution is a mix of steps with no save (a held outcome costs
// CPU only, no fsync) and steps with one; the median of P5 is the median of that
// mix, which is what the engine costs a step now. The report says how many steps had 0, 1
// and 2 synced transactions and their medians, and the mean overhead per step, which is the
// same whichever step a shared save is charged to.
//
// The harness fails (TestMeasuredPath, and the benchmark) on any event sequence it does not
// expect, in particular when the effect of a step that is not local starts before
// the save holding its intent has returned, or when the saves do not hold exactly the held
// intents and outcomes, in order.
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
