package p1

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/sqlite"
	"github.com/rotorhq/rotor/internal/store/file"
	"github.com/rotorhq/rotor/internal/testenv"
)

// consumers of every credential: three services reading the login with their own age
// identity, reloaded by a command and proven by a real login as the new role.
var consumers = []string{"orders-api", "orders-worker", "orders-report"}

// adminEnv names the admin connection string for the inventory's pg-admin identity. The
// engine's Getenv answers it; the process environment is not touched.
const adminEnv = "ROTOR_BENCH_P1_PG_ADMIN"

// fixture is one server with 2n role pairs (n for rotor, n for the bare loop, alike in
// every grant), an inventory of n credentials in a temporary folder, and the real engine
// over a SQLite state file next to it.
type fixture struct {
	pg       *testenv.PostgreSQL
	dir      string
	eng      *engine.Engine
	db       *sqlite.DB
	saves    *countingStore
	parallel int
	creds    []string    // credential ids, c0001…
	rotor    [][2]string // role pair of each credential
	bare     [][2]string // role pairs of the bare loop
	bareCur  []int       // which role of each bare pair is in use (-1: none yet)
	round    int         // rotor rounds done (the warm-up included)
}

// pair names a role pair: prefix + c0001_a / c0001_b.
func pair(prefix, kind string, i int) [2]string {
	base := fmt.Sprintf("%s%s%04d", prefix, kind, i+1)
	return [2]string{base + "_a", base + "_b"}
}

// newFixture creates the roles and writes the inventory. prefix keeps the roles of a test on
// a shared server apart from others'.
func newFixture(tb testing.TB, pg *testenv.PostgreSQL, n, parallel int, prefix string) *fixture {
	tb.Helper()
	ctx := context.Background()
	f := &fixture{pg: pg, dir: tb.TempDir(), parallel: parallel}
	for i := range n {
		f.creds = append(f.creds, fmt.Sprintf("%sc%04d", prefix, i+1))
		f.rotor = append(f.rotor, pair(prefix, "c", i))
		f.bare = append(f.bare, pair(prefix, "b", i))
		f.bareCur = append(f.bareCur, -1)
	}
	if err := f.createRoles(ctx, prefix); err != nil {
		tb.Fatal(err)
	}
	if prefix != "" { // a shared server outlives the test: leave nothing behind
		tb.Cleanup(func() {
			if err := f.dropRoles(context.Background(), prefix); err != nil {
				tb.Logf("dropping the roles of %s*: %v", prefix, err)
			}
		})
	}
	invDir := filepath.Join(f.dir, "inventory")
	inv, err := f.writeInventory(invDir)
	if err != nil {
		tb.Fatal(err)
	}
	f.db, err = sqlite.Open(ctx, filepath.Join(f.dir, "state", "rotor.db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.db.Close() })
	fp, _, err := secret.LoadOrCreateKey(filepath.Join(f.dir, "state", "rotor.key"), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	dsn := pg.AdminDSN()
	f.saves = &countingStore{Store: f.db, db: f.db}
	// Force: rotate --now, as after a leak. No MaxWait: nothing in this inventory waits.
	f.eng = &engine.Engine{Inv: inv, Registry: builtin.New(), State: f.saves, Fingerprinter: fp,
		Getenv: func(k string) string {
			if k == adminEnv {
				return dsn
			}
			return ""
		},
		BaseDir: invDir}
	f.eng.Defaults()
	return f
}

// createRoles makes each pair NOLOGIN with the same grants, for rotor's pairs and the bare
// loop's alike: membership in a group role that may read a shared table, and SELECT on the
// pair's own table (a service's). Connecting is PUBLIC's default right. Thousands of roles
// cannot each be granted a right on one object: its ACL must fit in one catalog row.
func (f *fixture) createRoles(ctx context.Context, prefix string) error {
	conn, err := pgx.Connect(ctx, f.pg.AdminDSN())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	shared := pgx.Identifier{prefix + "p1_orders"}.Sanitize()
	group := pgx.Identifier{prefix + "p1_reader"}.Sanitize()
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (id int);\nCREATE ROLE %s NOLOGIN;\nGRANT SELECT ON %s TO %s;\n", shared, group, shared, group)
	for _, pairs := range [][][2]string{f.rotor, f.bare} {
		for _, p := range pairs {
			table := pgx.Identifier{strings.TrimSuffix(p[0], "_a") + "_t"}.Sanitize()
			fmt.Fprintf(&b, "CREATE TABLE %s (id int);\n", table)
			for _, r := range p {
				id := pgx.Identifier{r}.Sanitize()
				fmt.Fprintf(&b, "CREATE ROLE %s NOLOGIN IN ROLE %s;\nGRANT SELECT ON %s TO %s;\n", id, group, table, id)
			}
		}
	}
	_, err = conn.Exec(ctx, b.String())
	return err
}

// dropRoles drops what createRoles made.
func (f *fixture) dropRoles(ctx context.Context, prefix string) error {
	conn, err := pgx.Connect(ctx, f.pg.AdminDSN())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var b strings.Builder
	fmt.Fprintf(&b, "DROP TABLE %s;\n", pgx.Identifier{prefix + "p1_orders"}.Sanitize())
	var roles []string
	for _, pairs := range [][][2]string{f.rotor, f.bare} {
		for _, p := range pairs {
			fmt.Fprintf(&b, "DROP TABLE %s;\n", pgx.Identifier{strings.TrimSuffix(p[0], "_a") + "_t"}.Sanitize())
			roles = append(roles, pgx.Identifier{p[0]}.Sanitize(), pgx.Identifier{p[1]}.Sanitize())
		}
	}
	fmt.Fprintf(&b, "DROP ROLE %s;\nDROP ROLE %s;\n", strings.Join(roles, ", "), pgx.Identifier{prefix + "p1_reader"}.Sanitize())
	_, err = conn.Exec(ctx, b.String())
	return err
}

// writeInventory writes the inventory and loads it as rotor does.
func (f *fixture) writeInventory(dir string) (*inventory.Inventory, error) {
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("teams:\n  team-orders: {contact: orders@example.test}\n\nidentities:\n")
	for _, id := range append([]string{"rotor"}, consumers...) {
		k, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, err
		}
		file := "keys/" + id + ".key"
		if err := os.WriteFile(filepath.Join(dir, file), []byte(k.String()+"\n"), 0o600); err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "  %s: {type: age, recipient: %s, identity_file: %s}\n", id, k.Recipient(), file)
	}
	fmt.Fprintf(&b, "  pg-admin: {type: postgres-dsn, dsn_env: %s}\n", adminEnv)
	fmt.Fprintf(&b, "\nchecks:\n  db-login: {type: postgres-login, host: %s, port: %d, database: %s, sslmode: disable, query: \"SELECT 1\"}\n",
		f.pg.Host, f.pg.Port, f.pg.Database)
	b.WriteString("\ncredentials:\n")
	for i, id := range f.creds {
		fmt.Fprintf(&b, `  %s:
    kind: password
    owner: team-orders
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: postgres, strategy: overlap, roles: [%s, %s], admin: pg-admin, parallel: %d}
    rotate: {every: 30d}
    consumers:
`, id, f.rotor[i][0], f.rotor[i][1], f.parallel)
		for _, c := range consumers {
			fmt.Fprintf(&b, "      %s:\n        kind: service\n        identity: %s\n        reads: at-start\n", c, c)
			b.WriteString("        reload: {type: exec, command: [\"true\"]}\n        checks: [db-login]\n")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "rotor.yaml"), []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	return inventory.Load(dir, inventory.Options{Catalog: builtin.New(), Now: time.Now()})
}

// countingStore counts rotor's durable writes and the journal entries in them. The SQLite
// store batches concurrent writes into shared synced transactions (group commit); its own
// WriteStats count those transactions and the time its writer spent in them.
type countingStore struct {
	state.Store
	db           *sqlite.DB
	txs, entries atomic.Int64 // writes, and journal entries in them
	runTxs       atomic.Int64 // of which SaveRun: a run and its journal (and what goes with it)
}

func (s *countingStore) write(entries int, fn func() error) error {
	err := fn()
	s.txs.Add(1)
	s.entries.Add(int64(entries))
	return err
}

func (s *countingStore) busyTime() time.Duration { return s.db.WriteStats().Busy }
func (s *countingStore) commits() int64          { return s.db.WriteStats().Commits }

func (s *countingStore) SaveRun(ctx context.Context, sv state.RunSave) (out state.RunRecord, err error) {
	s.runTxs.Add(1)
	err = s.write(len(sv.Entries), func() error { out, err = s.Store.SaveRun(ctx, sv); return err })
	return out, err
}

func (s *countingStore) Lock(ctx context.Context, credential string, h state.LockHolder) error {
	return s.write(0, func() error { return s.Store.Lock(ctx, credential, h) })
}

func (s *countingStore) StealLock(ctx context.Context, credential string, stale, h state.LockHolder) error {
	return s.write(0, func() error { return s.Store.StealLock(ctx, credential, stale, h) })
}

func (s *countingStore) Unlock(ctx context.Context, credential string, h state.LockHolder) error {
	return s.write(0, func() error { return s.Store.Unlock(ctx, credential, h) })
}

// rotorRound rotates every credential through revoke, parallel at a time, as `rotor rotate
// --all --now --parallel N` does, and checks the result.
func (f *fixture) rotorRound(ctx context.Context) (roundResult, error) {
	tx0, en0, run0, busy0, c0 := f.saves.txs.Load(), f.saves.entries.Load(), f.saves.runTxs.Load(), f.saves.busyTime(), f.saves.commits()
	s0, err := f.sessions(ctx)
	if err != nil {
		return roundResult{}, err
	}
	cpu0 := f.cpu()
	began := time.Now()
	out := f.eng.RotateMany(ctx, engine.Call{Actor: "bench@example.com", Force: true}, f.creds, rotation.StageRevoke, f.parallel)
	wall := time.Since(began)
	cpu := f.cpu().sub(cpu0)
	f.round++
	res := roundResult{wall: wall, n: len(f.creds), txs: f.saves.txs.Load() - tx0, entries: f.saves.entries.Load() - en0,
		runTxs: f.saves.runTxs.Load() - run0, writerBusy: f.saves.busyTime() - busy0, commits: f.saves.commits() - c0, stepTime: map[string]time.Duration{}, cpu: cpu}
	if s1, err := f.sessions(ctx); err == nil {
		res.sessions = s1 - s0
	}
	if err := f.checkRotor(ctx, out, &res); err != nil {
		return res, err
	}
	return res, nil
}

// checkRotor proves the round did what it claims: every run done through revoke (from the
// second round: with a previous version, so every phase ran), its journal chain verified
// against the run's head, every pair flipped at the server, and, for a sample, the current
// value read from the store as a consumer logs in as the current role while the previous
// role is refused.
func (f *fixture) checkRotor(ctx context.Context, out []engine.Outcome, res *roundResult) error {
	var errs []error
	for i, o := range out {
		if len(errs) >= 5 {
			errs = append(errs, errors.New("…"))
			break
		}
		r := o.Result.Run
		switch {
		case o.Err != nil:
			errs = append(errs, fmt.Errorf("%s: %v", o.Credential, o.Err))
			continue
		case r.Phase != rotation.Done || o.Result.Action.Kind != rotation.Finished:
			errs = append(errs, fmt.Errorf("%s: run %s stopped in %s (action %v, gate %+v)", o.Credential, r.ID, r.Phase, o.Result.Action.Kind, o.Result.Action.Gate))
			continue
		case r.New == nil || r.New.AuthorityRef != f.rotor[i][(f.round-1)%2]:
			errs = append(errs, fmt.Errorf("%s: run %s made a value for %v, want role %s", o.Credential, r.ID, r.New, f.rotor[i][(f.round-1)%2]))
			continue
		}
		want := []rotation.StepKind{rotation.StepReadiness, rotation.StepMint, rotation.StepEnable, rotation.StepReadAccess,
			rotation.StepPromote, rotation.StepReload, rotation.StepCheck, rotation.StepRecord}
		if f.round > 1 {
			want = append(want, rotation.StepResidualUse, rotation.StepRevoke)
		}
		done := map[rotation.StepKind]int{}
		for _, s := range r.Steps {
			if s.Status != rotation.OK {
				errs = append(errs, fmt.Errorf("%s: step %s is %s", o.Credential, s.Name(), s.Status))
				break
			}
			done[s.Kind]++
			res.steps++
			res.stepTime[string(s.Kind)] += s.FinishedAt.Sub(s.StartedAt)
		}
		for _, k := range want {
			if done[k] == 0 {
				errs = append(errs, fmt.Errorf("%s: run %s has no %s step", o.Credential, r.ID, k))
			}
		}
		if done[rotation.StepReload] != len(consumers) || done[rotation.StepCheck] != len(consumers) {
			errs = append(errs, fmt.Errorf("%s: run %s reloaded %d and checked %d consumers, want %d", o.Credential, r.ID,
				done[rotation.StepReload], done[rotation.StepCheck], len(consumers)))
		}
		if _, n, err := f.eng.View().Verify(ctx, r.ID); err != nil {
			errs = append(errs, fmt.Errorf("%s: journal of run %s: %v", o.Credential, r.ID, err))
		} else {
			res.verified++
			res.journal += n
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	cur := (f.round - 1) % 2
	if err := f.checkFlipped(ctx, f.rotor, func(int) int { return cur }, f.round > 1); err != nil {
		return err
	}
	return f.checkSample(ctx)
}

// checkSample logs in, for up to 10 credentials spread over the inventory, with the value
// a consumer reads from the store, as the role the store names, and expects the other role
// refused.
func (f *fixture) checkSample(ctx context.Context) error {
	step := max(1, len(f.creds)/10)
	keys := filepath.Join(f.dir, "inventory", "keys")
	for i := 0; i < len(f.creds); i += step {
		rd, err := file.OpenReader(filepath.Join(f.dir, "store"), f.creds[i], filepath.Join(keys, consumers[len(consumers)-1]+".key"))
		if err != nil {
			return err
		}
		vv, err := rd.Use(consumers[len(consumers)-1])
		if err != nil {
			return fmt.Errorf("%s: read as a consumer: %w", f.creds[i], err)
		}
		pw := vv.Value.Reveal()
		vv.Value.Wipe()
		err = f.login(ctx, vv.AuthorityRef, string(pw))
		if err != nil {
			return fmt.Errorf("%s: the current value does not log in as %s: %w", f.creds[i], vv.AuthorityRef, err)
		}
		other := f.rotor[i][0]
		if other == vv.AuthorityRef {
			other = f.rotor[i][1]
		}
		if f.round > 1 {
			if err := f.login(ctx, other, string(pw)); err == nil || testenv.SQLState(err) != "28000" && testenv.SQLState(err) != testenv.InvalidPassword {
				return fmt.Errorf("%s: the previous role %s was not refused after revoke: %v", f.creds[i], other, err)
			}
		}
		clear(pw)
	}
	return nil
}

// checkFlipped reads rolcanlogin of every pair: the role in use (cur) may log in; the other
// may not once a revoke ran.
func (f *fixture) checkFlipped(ctx context.Context, pairs [][2]string, cur func(i int) int, revoked bool) error {
	conn, err := pgx.Connect(ctx, f.pg.AdminDSN())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var names []string
	for _, p := range pairs {
		names = append(names, p[0], p[1])
	}
	rows, err := conn.Query(ctx, "SELECT rolname, rolcanlogin, coalesce(rolpassword LIKE 'SCRAM-SHA-256$%', false) FROM pg_authid WHERE rolname = ANY($1)", names)
	if err != nil {
		return err
	}
	login, scram := map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var n string
		var l, s bool
		if err := rows.Scan(&n, &l, &s); err != nil {
			return err
		}
		login[n], scram[n] = l, s
	}
	if err := rows.Err(); err != nil {
		return err
	}
	bad := 0
	var first string
	for i, p := range pairs {
		on, off := p[cur(i)], p[1-cur(i)]
		if !login[on] || !scram[on] || revoked && login[off] {
			if bad == 0 {
				first = fmt.Sprintf("%s login=%v scram=%v, %s login=%v", on, login[on], scram[on], off, login[off])
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d role pairs not flipped as expected (first: %s)", bad, len(pairs), first)
	}
	return nil
}

// login connects as role with password and runs SELECT 1, as the bare loop's clients and
// rotor's postgres-login check do.
func (f *fixture) login(ctx context.Context, role, password string) error {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=disable application_name=p1-bare connect_timeout=10",
		f.pg.Host, f.pg.Port, f.pg.Database, role))
	if err != nil {
		return err
	}
	cfg.Password = password
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT 1")
	return err
}

// sessions is the number of sessions the server has established to the database so far
// (pg_stat_database.sessions): the difference over a round is its logins.
func (f *fixture) sessions(ctx context.Context) (int64, error) {
	conn, err := pgx.Connect(ctx, f.pg.AdminDSN())
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	// Each backend reports its session when it ends; force a fresh snapshot.
	if _, err := conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		return 0, err
	}
	err = conn.QueryRow(ctx, "SELECT sessions FROM pg_stat_database WHERE datname = current_database()").Scan(&n)
	return n, err
}

// bareRound is what a script written in a hurry after a leak would do, with workers
// goroutines each holding one admin connection: for every pair, ALTER ROLE the role not in
// use WITH LOGIN PASSWORD '<new>' (in plain text: the server hashes it, and would log it),
// three logins as that role with the new password running SELECT 1, and ALTER ROLE of the
// previous one NOLOGIN. Nothing is stored, nothing is journaled, nothing is reloaded.
func (f *fixture) bareRound(ctx context.Context, workers int) (roundResult, error) {
	s0, err := f.sessions(ctx)
	if err != nil {
		return roundResult{}, err
	}
	cpu0 := f.cpu()
	began := time.Now()
	next := atomic.Int64{}
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			admin, err := pgx.Connect(ctx, f.pg.AdminDSN())
			if err != nil {
				fail(err)
				return
			}
			defer admin.Close(ctx)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(f.bare) {
					return
				}
				if err := f.bareOne(ctx, admin, i); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	res := roundResult{wall: time.Since(began), n: len(f.bare), cpu: f.cpu().sub(cpu0)}
	if firstErr != nil {
		return res, firstErr
	}
	if s1, err := f.sessions(ctx); err == nil {
		res.sessions = s1 - s0
	}
	return res, f.checkFlipped(ctx, f.bare, func(i int) int { return f.bareCur[i] }, true)
}

func (f *fixture) bareOne(ctx context.Context, admin *pgx.Conn, i int) error {
	prev := f.bareCur[i]
	alt := 0
	if prev == 0 {
		alt = 1
	}
	role := f.bare[i][alt]
	pw := rand.Text()
	if _, err := admin.Exec(ctx, "ALTER ROLE "+pgx.Identifier{role}.Sanitize()+" WITH LOGIN PASSWORD '"+pw+"'"); err != nil {
		return fmt.Errorf("alter role %s: %w", role, err)
	}
	for range consumers {
		if err := f.login(ctx, role, pw); err != nil {
			return fmt.Errorf("login as %s: %w", role, err)
		}
	}
	if prev >= 0 {
		if _, err := admin.Exec(ctx, "ALTER ROLE "+pgx.Identifier{f.bare[i][prev]}.Sanitize()+" NOLOGIN"); err != nil {
			return fmt.Errorf("alter role %s NOLOGIN: %w", f.bare[i][prev], err)
		}
	}
	f.bareCur[i] = alt // each i belongs to one worker
	return nil
}

// roundResult is one timed round.
type roundResult struct {
	wall     time.Duration
	n        int
	sessions int64    // logins the server saw
	cpu      cpuTimes // CPU used during the round
	// rotor only
	txs, entries int64         // durable writes and journal entries written
	commits      int64         // synced SQLite transactions that held the writes (group commit)
	runTxs       int64         // of the transactions, those that save a run and its journal
	writerBusy   time.Duration // time the state's one writer spent in them
	steps        int           // durable steps completed
	verified     int           // journals verified
	journal      int           // entries in the verified journals
	stepTime     map[string]time.Duration
}

func (r roundResult) rate() float64 { return float64(r.n) / r.wall.Seconds() }

func medianWall(rs []roundResult) time.Duration {
	ws := make([]time.Duration, len(rs))
	for i, r := range rs {
		ws[i] = r.wall
	}
	slices.Sort(ws)
	if len(ws)%2 == 1 {
		return ws[len(ws)/2]
	}
	return (ws[len(ws)/2-1] + ws[len(ws)/2]) / 2
}

// cpuTimes is the CPU time used so far by this process (rotor's engine, or the bare loop's
// clients), by its children that ended (the exec reloads), and by the PostgreSQL server (the
// postmaster and its backends that ended: every login's backend ends within the round).
type cpuTimes struct {
	self, children, server time.Duration
	serverKnown            bool
}

func (f *fixture) cpu() cpuTimes {
	var c cpuTimes
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		c.children = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c.server, c.serverKnown = f.serverCPU()
	return c
}

// serverCPU reads the postmaster's CPU time and that of its ended children from /proc (Linux,
// a server started by testenv).
func (f *fixture) serverCPU() (time.Duration, bool) {
	if f.pg.DataDir == "" {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(f.pg.DataDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	pid, _, _ := strings.Cut(string(b), "\n")
	st, err := os.ReadFile("/proc/" + strings.TrimSpace(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command (which may hold spaces) in ")": state is field 3; utime,
	// stime, cutime and cstime are fields 14 to 17, in clock ticks (USER_HZ, 100 on Linux).
	_, rest, ok := strings.Cut(string(st), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 15 {
		return 0, false
	}
	var ticks int64
	for _, v := range fields[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, true
}

func (c cpuTimes) sub(d cpuTimes) cpuTimes {
	return cpuTimes{self: c.self - d.self, children: c.children - d.children, server: c.server - d.server, serverKnown: c.serverKnown && d.serverKnown}
}
