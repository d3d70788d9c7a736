package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/internal/testenv"
)

// The PostgreSQL scenarios of issue 4 run rotor against a real cluster that checks passwords
// (scram-sha-256, started by internal/testenv), with real client processes (pgclient, pgx)
// reading their login from rotor's file store with their own identities.

// pgPlatform is a platform whose credential is a PostgreSQL login.
type pgPlatform struct {
	*platform
	pg  *testenv.PostgreSQL
	env []string // the admin DSN, as rotor reads it
}

type pgOpts struct {
	inPlace  bool   // one role changed in place; otherwise two alternating roles
	roles    string // role name prefix (unique per test on a shared server)
	job      bool   // add the nightly job "settlement", proven at its next run
	critical bool
	noPool   bool // api reloads with `true`: no pool process to run
}

const pgCredential = "orders-db"

// newPGPlatform writes the inventory: "api" is a service holding a pool of connections
// (pgclient, reloaded by SIGHUP, which reconnects), checked by a real login as its identity;
// "settlement" a job (every minute) proven by a login after its next run.
func newPGPlatform(t *testing.T, pg *testenv.PostgreSQL, o pgOpts) *pgPlatform {
	t.Helper()
	p := &pgPlatform{platform: &platform{dir: t.TempDir()}, pg: pg, env: []string{"ROTOR_TEST_PG_ADMIN=" + pg.AdminDSN()}}
	inv := filepath.Join(p.dir, "inventory")
	rec := map[string]string{}
	for _, id := range []string{"rotor", "api", "settlement"} {
		rec[id] = ageKey(t, filepath.Join(inv, "keys", id+".key"))
	}
	authority := fmt.Sprintf("{type: postgres, strategy: overlap, roles: [%s_a, %s_b], admin: pg-admin}", o.roles, o.roles)
	if o.inPlace {
		authority = fmt.Sprintf("{type: postgres, strategy: in-place, role: %s, admin: pg-admin}", o.roles)
	}
	reload := "{type: signal, pid_file: ../api.pid}"
	if o.noPool {
		reload = `{type: exec, command: ["true"]}`
	}
	var b strings.Builder
	fmt.Fprintf(&b, `teams:
  team-payments: {contact: payments@example.test, approvers: [bob]}
identities:
  rotor: {type: age, recipient: %s, identity_file: keys/rotor.key}
  api: {type: age, recipient: %s, identity_file: keys/api.key}
  settlement: {type: age, recipient: %s, identity_file: keys/settlement.key}
  pg-admin: {type: postgres-dsn, dsn_env: ROTOR_TEST_PG_ADMIN}
checks:
  db-login: {type: postgres-login, host: 127.0.0.1, port: %d, database: postgres, sslmode: disable, query: "SELECT count(*) FROM orders"}
credentials:
  %s:
    description: Orders service database login
    kind: password
    owner: team-payments
    critical: %v
    store: {type: file, dir: ../store, identity: rotor}
    authority: %s
    rotate: {every: 30d}
    consumers:
      api:
        kind: service
        identity: api
        reads: at-start
        reload: %s
        checks: [db-login]
`, rec["rotor"], rec["api"], rec["settlement"], pg.Port, pgCredential, o.critical, authority, reload)
	if o.job {
		b.WriteString(`      settlement:
        kind: job
        schedule: "* * * * *"
        identity: settlement
        reads: at-start
        checks: [db-login]
`)
	}
	writeFile(t, filepath.Join(inv, "rotor.yaml"), b.String())
	return p
}

func (p *pgPlatform) rotor(t *testing.T, args ...string) result {
	t.Helper()
	return p.rotorEnv(t, p.env, args...)
}

func (p *pgPlatform) crash(t *testing.T, point string, args ...string) result {
	t.Helper()
	return p.rotorEnv(t, append([]string{"ROTOR_TEST_CRASH_AT=" + point}, p.env...), args...)
}

// client starts pgclient reading as identity (and consumer, for pins).
func (p *pgPlatform) client(t *testing.T, app, identity, consumer string, extra ...string) *process {
	t.Helper()
	args := []string{"-dir", filepath.Join(p.dir, "store"), "-name", pgCredential,
		"-identity", filepath.Join(p.dir, "inventory", "keys", identity+".key"), "-consumer", consumer,
		"-port", fmt.Sprint(p.pg.Port), "-app", app, "-mode", "pool", "-conns", "2", "-every", "200ms"}
	return start(t, bin.pgclient, append(args, extra...)...)
}

// startAPI starts the api service's pool, which rotor reloads by SIGHUP.
func (p *pgPlatform) startAPI(t *testing.T) *process {
	t.Helper()
	pr := p.client(t, "orders-api", "api", "api", "-pid-file", filepath.Join(p.dir, "api.pid"))
	eventually(t, 10*time.Second, "the api pool to start", func() bool {
		_, err := os.Stat(filepath.Join(p.dir, "api.pid"))
		return err == nil
	})
	return pr
}

// setupRoles creates the table the consumers read and the login roles, with the same grants.
func setupRoles(t *testing.T, pg *testenv.PostgreSQL, o pgOpts) {
	t.Helper()
	pg.Exec(t, `CREATE TABLE IF NOT EXISTS orders (id int)`)
	roles := []string{o.roles + "_a", o.roles + "_b"}
	if o.inPlace {
		roles = []string{o.roles}
	}
	for _, r := range roles {
		pg.Exec(t, fmt.Sprintf(`CREATE ROLE %s NOLOGIN`, r))
		pg.Exec(t, fmt.Sprintf(`GRANT SELECT ON orders TO %s`, r))
	}
}

func (p *pgPlatform) index(t *testing.T) storeIndex {
	t.Helper()
	return readIndex(t, p.dir, pgCredential)
}

// values reads every enabled version's value (id -> value) while they are still readable.
func (p *pgPlatform) values(t *testing.T) map[string][]byte {
	t.Helper()
	return storeValues(t, p.platform, pgCredential)
}

// query runs one query as the superuser and scans its single row.
func query(t *testing.T, pg *testenv.PostgreSQL, sql string, dest ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestPostgresOverlapPoolJobAndForgottenSession covers scenarios (a), (b) and (c): a service
// holding a pool cuts over cleanly through every phase on alternating roles; a client nobody
// declared, holding an idle session of the previous role, blocks revoke and is named; the
// nightly job gets a follow-up and revoke waits for its next run's proof. After revoke the
// previous role's password is refused by the server, and no value ever reached its log.
func TestPostgresOverlapPoolJobAndForgottenSession(t *testing.T) {
	pg := testenv.StartPostgreSQL(t, testenv.PostgreSQLOptions{LogStatementAll: true, LogConnections: true})
	o := pgOpts{roles: "orders", job: true}
	setupRoles(t, pg, o)
	p := newPGPlatform(t, pg, o)
	api := p.startAPI(t)

	// First value: orders_a. The job has no login yet: its owner signs it off.
	r := p.rotor(t, "rotate", pgCredential, "--as", "alice")
	wantCode(t, r, 3, "first rotation (waits for the job's proof)")
	first := runOf(t, r)
	wantCode(t, p.rotor(t, "signoff", first, "settlement", "--as", "bob", "--reason", "bootstrap: the job has no login yet"), 0, "signoff")
	wantCode(t, p.rotor(t, "rotate", pgCredential, "--as", "alice"), 0, "first rotation, resumed")
	eventually(t, 10*time.Second, "the api pool on orders_a", func() bool { return strings.Contains(api.output(), "role orders_a") })

	forgotten := p.client(t, "forgotten-report", "api", "")
	eventually(t, 10*time.Second, "the forgotten client to log in", func() bool {
		return strings.Contains(forgotten.output(), "role orders_a") && strings.Contains(forgotten.output(), "-> ok")
	})
	v1 := p.values(t)

	// Rotate: orders_b gets the new value; the pool reconnects on SIGHUP; the job's proof
	// comes after its next run (at most a minute: --wait); then residual use: the forgotten
	// session of orders_a blocks revoke, named.
	r = p.rotor(t, "rotate", pgCredential, "--now", "--as", "alice", "--wait", "90s")
	wantCode(t, r, 3, "rotate with a forgotten session")
	run := runOf(t, r)
	if !contains(r.stdout, "residual-use", "forgotten-report") {
		t.Fatalf("revoke must be blocked naming the forgotten session:\n%s", r)
	}
	if !strings.Contains(r.stderr, "proof:settlement") {
		t.Fatalf("the job's proof did not run before residual use:\n%s", r)
	}
	eventually(t, 10*time.Second, "the api pool on orders_b", func() bool { return strings.Contains(api.output(), "role orders_b") })
	values := p.values(t)
	for id, v := range v1 {
		values[id] = v
	}

	forgotten.cmd.Process.Kill()
	forgotten.cmd.Wait()
	time.Sleep(500 * time.Millisecond) // the server notices the closed sessions
	r = p.rotor(t, "rotate", pgCredential, "--as", "alice")
	wantCode(t, r, 0, "rotate after the forgotten client stopped")
	st := p.status(t, run)
	if st.Run.Phase != "done" {
		t.Fatalf("phase %s", st.Run.Phase)
	}

	// The previous role is refused; the new one works, for the pool too.
	ctx := context.Background()
	prev, cur := st.Run.Previous.ID, st.Run.New.ID
	if err := pg.CanLogin(ctx, "orders_a", string(values[prev])); err == nil {
		t.Fatal("orders_a still logs in with the previous value after revoke")
	}
	if err := pg.CanLogin(ctx, "orders_b", string(values[cur])); err != nil {
		t.Fatalf("orders_b with the new value: %v", err)
	}
	if strings.Contains(api.output(), "refused") {
		t.Fatalf("the api pool saw a refused login:\n%s", api.output())
	}
	wantCode(t, p.rotor(t, "journal", "verify", run), 0, "journal verify")

	// log_statement = all: the server saw SCRAM verifiers, never a password.
	log, err := pg.Log()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "SCRAM-SHA-256$") {
		t.Fatal("the server log shows no ALTER ROLE with a verifier: is log_statement on?")
	}
	for id, v := range values {
		for _, f := range forms(v) {
			if strings.Contains(log, f) {
				t.Fatalf("the value of %s appears in the server log", id)
			}
		}
	}
}

// TestPostgresMissingGrantStopsInPrepare is scenario (f): the alternate role lacks a grant the
// current one has; readiness names the difference and the run stops before anything changes.
func TestPostgresMissingGrantStopsInPrepare(t *testing.T) {
	pg := testenv.StartPostgreSQL(t, testenv.PostgreSQLOptions{LogConnections: true})
	o := pgOpts{roles: "billing"}
	setupRoles(t, pg, o)
	pg.Exec(t, `REVOKE SELECT ON orders FROM billing_b`)
	p := newPGPlatform(t, pg, o)

	r := p.rotor(t, "rotate", pgCredential, "--as", "alice")
	wantCode(t, r, 3, "rotate with a missing grant")
	if !contains(r.stdout, "readiness", "billing_b", "SELECT") {
		t.Fatalf("readiness must name the missing grant:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "store", pgCredential, "index.json")); err == nil {
		if n := len(p.index(t).Versions); n != 0 {
			t.Fatalf("a run stopped at readiness stored %d versions", n)
		}
	}
	var canLogin int
	query(t, pg, `SELECT count(*) FROM pg_authid WHERE rolname LIKE 'billing_%' AND (rolcanlogin OR rolpassword IS NOT NULL)`, &canLogin)
	if canLogin != 0 {
		t.Fatalf("%d roles changed by a run stopped at readiness", canLogin)
	}
}

// TestPostgresInPlaceCrashAtEveryBoundary is scenario (d), at every durable step boundary: an
// in-place rotation of one role, rotor killed with SIGKILL there — between ALTER ROLE and the
// store's promote among them — then resumed. The new value is always in the store before the
// server has it (mint stores it pending; enable runs at cutover), so the resume finishes with
// no lockout: exactly one version minted, the consumer logs in with the current value, the
// previous one is refused.
func TestPostgresInPlaceCrashAtEveryBoundary(t *testing.T) {
	pg := testenv.StartPostgreSQL(t, testenv.PostgreSQLOptions{})
	prepare := func(t *testing.T, role string) *pgPlatform {
		o := pgOpts{roles: role, inPlace: true, noPool: true}
		setupRoles(t, pg, o)
		p := newPGPlatform(t, pg, o)
		wantCode(t, p.rotor(t, "rotate", pgCredential, "--as", "alice"), 0, "first rotation")
		return p
	}
	list := prepare(t, "ip_list")
	r := list.crash(t, "list", "rotate", pgCredential, "--now", "--as", "alice")
	wantCode(t, r, 0, "listing crash points")
	var points []string
	for _, m := range crashPointLine.FindAllStringSubmatch(r.stderr, -1) {
		points = append(points, m[1])
	}
	// Fewer than the steps × 3: local steps (read-access, the check, residual use, record) are
	// saved with the step after them, and the run is stored by its first save, after
	// readiness (see TestCrashAtEveryBoundary).
	if len(points) < 20 || !contains(strings.Join(points, " "), "intent:mint", "effect:read-access", "intent:enable", "effect:enable", "intent:promote", "intent:revoke") {
		t.Fatalf("crash points: %v", points)
	}
	t.Logf("%d crash points", len(points))
	ctx := context.Background()
	for i, point := range points {
		t.Run(fmt.Sprintf("%02d-%s", i, strings.ReplaceAll(point, ":", "_")), func(t *testing.T) {
			role := fmt.Sprintf("ip_%02d", i)
			p := prepare(t, role)
			before := p.values(t)
			r := p.crash(t, point, "rotate", pgCredential, "--now", "--as", "alice")
			if !r.killed {
				t.Fatalf("rotor was not killed at %s:\n%s", point, r)
			}
			r = p.rotor(t, "rotate", pgCredential, "--as", "alice")
			wantCode(t, r, 0, "resume after a crash at "+point)
			st := p.status(t, runOf(t, r))
			if st.Run.Phase != "done" || st.Run.Previous == nil {
				t.Fatalf("phase %s previous %+v", st.Run.Phase, st.Run.Previous)
			}
			if n := len(p.index(t).Versions); n != 2 {
				t.Fatalf("%d versions after two rotations, want 2 (one mint per run)", n)
			}
			now := p.values(t) // only the current version is enabled after revoke
			cur, ok := now[st.Run.New.ID]
			if !ok || len(now) != 1 {
				t.Fatalf("enabled versions after the run: %d, current %s found=%v", len(now), st.Run.New.ID, ok)
			}
			if err := pg.CanLogin(ctx, role, string(cur)); err != nil {
				t.Fatalf("locked out: the current value does not log in: %v", err)
			}
			if err := pg.CanLogin(ctx, role, string(before[st.Run.Previous.ID])); err == nil {
				t.Fatal("the previous value still logs in after an in-place rotation")
			}
			wantCode(t, p.rotor(t, "journal", "verify", st.Run.ID), 0, "journal verify")
		})
	}
}

// TestPostgresRollbackOneConsumer is scenario (e): after cutover, the job fails on the new
// role; a rollback pins only it to the previous version, whose login the authority makes
// valid again, while the service stays on the new one; when the exception expires the job is
// moved back, proven, and the previous role is revoked.
func TestPostgresRollbackOneConsumer(t *testing.T) {
	pg := testenv.StartPostgreSQL(t, testenv.PostgreSQLOptions{})
	o := pgOpts{roles: "ledger", job: true}
	setupRoles(t, pg, o)
	p := newPGPlatform(t, pg, o)
	api := p.startAPI(t)
	r := p.rotor(t, "rotate", pgCredential, "--as", "alice")
	first := runOf(t, r)
	wantCode(t, p.rotor(t, "signoff", first, "settlement", "--as", "bob", "--reason", "bootstrap"), 0, "signoff")
	wantCode(t, p.rotor(t, "rotate", pgCredential, "--as", "alice"), 0, "first rotation")

	r = p.rotor(t, "rotate", pgCredential, "--now", "--through", "cutover", "--as", "alice")
	wantCode(t, r, 0, "rotate through cutover")
	run := runOf(t, r)
	st := p.status(t, run)
	v1, v2 := st.Run.Previous.ID, st.Run.New.ID
	values := p.values(t)

	r = p.rotor(t, "rollback", run, "--consumers", "settlement", "--owner", "bob", "--expires", "5s", "--reason", "settlement cannot read ledger_b's search_path")
	wantCode(t, r, 0, "rollback of settlement")
	if ix := p.index(t); ix.Pins["settlement"] != v1 || len(ix.Pins) != 1 {
		t.Fatalf("pins %v, want only settlement on %s", ix.Pins, v1)
	}
	// One run of the job, to its end (its whole output, not a background reader's).
	out, err := exec.Command(bin.pgclient, "-dir", filepath.Join(p.dir, "store"), "-name", pgCredential,
		"-identity", filepath.Join(p.dir, "inventory", "keys", "settlement.key"), "-consumer", "settlement",
		"-port", fmt.Sprint(pg.Port), "-app", "settlement", "-mode", "once").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "role ledger_a version "+v1+" -> ok") {
		t.Fatalf("the rolled-back job must log in with the previous login: %v\n%s", err, out)
	}
	eventually(t, 10*time.Second, "the api pool on ledger_b", func() bool { return strings.Contains(api.output(), "role ledger_b version "+v2) })

	r = p.rotor(t, "rotate", pgCredential, "--as", "alice")
	wantCode(t, r, 3, "rotate during the exception")
	time.Sleep(5500 * time.Millisecond)
	r = p.rotor(t, "rotate", pgCredential, "--as", "alice")
	wantCode(t, r, 0, "rotate after the exception expired")
	st = p.status(t, run)
	if st.Run.Phase != "done" || st.Run.Exceptions[0].State != "closed" {
		t.Fatalf("phase %s exceptions %+v", st.Run.Phase, st.Run.Exceptions)
	}
	ctx := context.Background()
	if err := pg.CanLogin(ctx, "ledger_a", string(values[v1])); err == nil {
		t.Fatal("ledger_a still logs in after the exception closed and revoke")
	}
	if err := pg.CanLogin(ctx, "ledger_b", string(values[v2])); err != nil {
		t.Fatalf("ledger_b: %v", err)
	}
}

// TestPostgresEnableAfterReadAccessAndCancel (issue 12, items 4 and 5): the alternate role gets
// LOGIN and its new password only once every consumer has proven it reads the new value. A
// rotation cut short after mint whose consumer then cannot read (its key file replaced) stops
// at read-access with the alternate role untouched; `rotor cancel` abandons it — the pending
// version removed, the current role still logging in — and a new run can start. A run
// cancelled after its enable (prepared) leaves the alternate role NOLOGIN without a password.
func TestPostgresEnableAfterReadAccessAndCancel(t *testing.T) {
	pg := testenv.StartPostgreSQL(t, testenv.PostgreSQLOptions{})
	o := pgOpts{roles: "gate", noPool: true}
	setupRoles(t, pg, o)
	p := newPGPlatform(t, pg, o)
	wantCode(t, p.rotor(t, "rotate", pgCredential, "--as", "alice"), 0, "first rotation (gate_a)")
	values := p.values(t)
	untouched := func(what string) {
		t.Helper()
		var login, password bool
		query(t, pg, `SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = 'gate_b'`, &login, &password)
		if login || password {
			t.Fatalf("%s: gate_b has LOGIN %v, a password %v: want neither", what, login, password)
		}
	}
	current := func() {
		t.Helper()
		for id, v := range values {
			if err := pg.CanLogin(context.Background(), "gate_a", string(v)); err != nil {
				t.Fatalf("the current value %s no longer logs in as gate_a: %v", id, err)
			}
		}
	}

	r := p.crash(t, "effect:mint", "rotate", pgCredential, "--now", "--as", "alice")
	if !r.killed {
		t.Fatalf("rotor was not killed after mint:\n%s", r)
	}
	key := filepath.Join(p.dir, "inventory", "keys", "api.key")
	good, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	ageKey(t, key) // api can no longer read what was written for its declared recipient
	r = p.rotor(t, "rotate", pgCredential, "--as", "alice")
	wantCode(t, r, 3, "resume with a consumer that cannot read the new version")
	if !contains(r.stdout, "read-access", "rotor cancel") {
		t.Fatalf("read-access must block and name the way out:\n%s", r)
	}
	untouched("blocked at read-access")
	run := runOf(t, r)
	pending := p.status(t, run).Run.New.ID

	r = p.rotor(t, "cancel", run, "--reason", "api's key was replaced mid-run", "--as", "alice")
	wantCode(t, r, 0, "cancel the run stuck in prepare")
	if st := p.status(t, run); st.Run.Phase != "cancelled" {
		t.Fatalf("phase %s after cancel", st.Run.Phase)
	}
	if !deleted(p.index(t), pending) {
		t.Fatalf("the pending version %s is still in the store", pending)
	}
	untouched("after the cancel")
	current()

	// A run cancelled once prepared: its enable gave gate_b LOGIN and a password; the cancel
	// takes both away at the server.
	writeFile(t, key, string(good))
	r = p.rotor(t, "rotate", pgCredential, "--now", "--through", "prepare", "--as", "alice")
	wantCode(t, r, 0, "a new run through prepare")
	run = runOf(t, r)
	var login bool
	query(t, pg, `SELECT rolcanlogin FROM pg_authid WHERE rolname = 'gate_b'`, &login)
	if !login {
		t.Fatal("gate_b cannot log in after prepare: enable did not run")
	}
	r = p.rotor(t, "cancel", run, "--reason", "rehearsal", "--as", "alice")
	wantCode(t, r, 0, "cancel a prepared run")
	if !contains(r.stdout, "gate_b", "NOLOGIN") {
		t.Fatalf("the cancel must say what it did at the server:\n%s", r)
	}
	untouched("after cancelling a prepared run")
	current()
	wantCode(t, p.rotor(t, "journal", "verify", run), 0, "journal verify")
	wantCode(t, p.rotor(t, "rotate", pgCredential, "--now", "--as", "alice"), 0, "a rotation after two cancels")
}
