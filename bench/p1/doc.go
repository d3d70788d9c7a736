// Package p1 is the P1 benchmark of ../shared/design/TARGETS.md, "rotate everything after a
// leak": 1,000 PostgreSQL credentials × 3 consumers rotated through every phase by rotor's
// engine, next to a bare loop doing only the same ALTER ROLEs and logins, in the same run,
// against the same real server.
//
//	bench/p1/run.sh                      # 1,000 credentials, N=4, 3 timed rounds a side; prints the table
//	CREDS=200 ROUNDS=1 bench/p1/run.sh   # a quick look
//	go test ./bench/p1 -run '^$' -bench P1 -benchtime 1x -p1.creds 1000 -p1.parallel 4 -p1.rounds 3
//
// Everything lives in the package's tests (harness_test.go, p1_test.go); this file only holds
// the description. TestScenario (part of go test ./...) runs the same scenario on 10
// credentials in a few seconds, with every check the benchmark makes.
//
// # Setup
//
// One PostgreSQL cluster started by internal/testenv (initdb, scram-sha-256 for every login,
// fsync off: the same server serves both sides). 2 × 1,000 role pairs, NOLOGIN, alike in
// every grant: membership in a group role that may read a shared table, and SELECT on the
// pair's own table (granting thousands of roles a right on one object is impossible: its ACL
// must fit in one catalog row). Pairs c0001_a/c0001_b… are rotor's, b0001_a/b0001_b… the bare
// loop's.
//
// rotor: an inventory of 1,000 credentials written to a temporary folder: the `file` store
// (age; one executor identity and three consumer identities shared by every credential), the
// `postgres` authority with strategy overlap (alternating roles) and `parallel: N`, its admin
// connection from an identity of type postgres-dsn, and three consumers, each reloaded by an
// `exec` reload (`true`) and proven by a `postgres-login` check (a real login as the new role
// with the value read from the store as that consumer, then SELECT 1). Not critical: no
// approval; no soak; no windows. The engine runs in-process over a SQLite state file (WAL,
// synchronous=FULL, as sqlite.Open opens it) in $TMPDIR, and a round is
// Engine.RotateMany(all, revoke, N) with Force, which is `rotor rotate --all --now --parallel N`.
//
// bare loop: N goroutines, each holding one admin connection; for each pair, ALTER ROLE the
// role not in use WITH LOGIN PASSWORD '<new>' (in plain text, as a hurried script would: the
// server hashes it — and would log it), three logins as that role with the new password, each
// running SELECT 1, and ALTER ROLE of the previous role NOLOGIN. Nothing is stored, journaled
// or reloaded; nothing survives a crash.
//
// # What is timed
//
// First one untimed round of each side, so every credential has a previous version: each
// timed rotor rotation then runs every step (readiness, mint, enable, read-access, promote, 3
// reloads, 3 checks, residual-use, revoke, record: 14 durable steps, the intent of each step
// with an effect recorded before its effect and every outcome after — an outcome and the next
// step's intent in one transaction, a local step (readiness, read-access, a check, residual
// use, record) saved with the step after it, record's writes and the lock's release in the
// save that ends the run, the run itself created by its first save; concurrent runs'
// transactions share commits: 8 run saves and 1 lock a rotation). Then the timed rounds, alternating which side goes first, and one
// round of the bare loop with one worker, for reference. Reported: each side's median wall
// time and rotations per second, their ratio (the target is ≥ 0.7), the logins the server saw
// per rotation (pg_stat_database.sessions), the durable steps and synced transactions, and
// how busy the state's one writer was.
//
// # What is checked
//
// After every rotor round: every run done through revoke with every step present and done,
// each run's journal verified against its head (engine.Verify), every role pair flipped at
// the server (the new role LOGIN with a SCRAM verifier, the previous one NOLOGIN) and, for a
// sample, the value a consumer reads from the store logs in as the role the store names while
// the previous role is refused. After every bare round: every login succeeded and every pair
// flipped. A fast wrong result fails the benchmark.
package p1
