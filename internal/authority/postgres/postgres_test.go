package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/internal/authority/postgres"
	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/provider/providertest"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.RunMain(m) }

// adminEnv is the variable the tests' configs name for the admin DSN.
const adminEnv = "ROTOR_TEST_PG_ADMIN"

// envWith gives the authority dsn as $ROTOR_TEST_PG_ADMIN, without touching the process
// environment (so tests run in parallel).
func envWith(dsn string) provider.Env {
	return provider.Env{Rand: rand.Reader, Now: time.Now, Getenv: func(k string) string {
		if k == adminEnv {
			return dsn
		}
		return ""
	}}
}

func newAuthority(t *testing.T, cfg postgres.Config, env provider.Env) *postgres.Authority {
	t.Helper()
	if cfg.AdminDSNEnv == "" && cfg.Admin == "" {
		cfg.AdminDSNEnv = adminEnv
	}
	a, err := postgres.New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// overlapRoles creates two login roles with unknown passwords, alike in every grant.
func overlapRoles(t *testing.T, pg *testenv.PostgreSQL, prefix string) (string, string) {
	t.Helper()
	a, b := testenv.UniqueName(prefix+"_a"), testenv.UniqueName(prefix+"_b")
	pg.CreateRole(t, a, rand.Text())
	pg.CreateRole(t, b, rand.Text())
	return a, b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	t.Run("overlap", func(t *testing.T) {
		providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
			a, b := overlapRoles(t, pg, "conf")
			auth := newAuthority(t, postgres.Config{Roles: []string{a, b}}, envWith(pg.AdminDSN()))
			return providertest.AuthorityFixture{Authority: auth, Credential: "orders-db", Strategies: []string{postgres.Overlap}}
		})
	})
	t.Run("in-place", func(t *testing.T) {
		providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
			r := testenv.UniqueName("conf_ro")
			pg.CreateRole(t, r, rand.Text())
			auth := newAuthority(t, postgres.Config{Role: r}, envWith(pg.AdminDSN()))
			return providertest.AuthorityFixture{Authority: auth, Credential: "reporting-db", Strategies: []string{postgres.InPlace}}
		})
	})
}

// step is one value as the engine holds it: minted, stored (as a version), enabled.
type step struct {
	version provider.Version
	value   secret.Value
}

// mintEnable does what the engine does in prepare (overlap) or prepare + cutover (in-place):
// Mint, "store" the value as a version, Enable it.
func mintEnable(t *testing.T, a *postgres.Authority, strategy, run string, current *step) step {
	t.Helper()
	ctx := t.Context()
	var cur, prev *provider.Version
	if current != nil {
		cur, prev = &current.version, &current.version
	}
	m, err := a.Mint(ctx, provider.MintRequest{Credential: "db", RunID: run, Strategy: strategy, Current: cur})
	if err != nil {
		t.Fatalf("Mint(%s): %v", run, err)
	}
	s := step{value: m.Value, version: provider.Version{ID: "v-" + run, Key: run, AuthorityRef: m.AuthorityRef, Stage: provider.StagePending}}
	resp, err := a.Enable(ctx, provider.EnableRequest{Credential: "db", RunID: run, Strategy: strategy, Version: s.version, Value: s.value, Previous: prev})
	if err != nil {
		t.Fatalf("Enable(%s): %v", run, err)
	}
	t.Logf("Enable(%s): %s", run, resp.Detail)
	return s
}

func reveal(v secret.Value) string {
	b := v.Reveal()
	defer clear(b)
	return string(b)
}

// mustLogin fails the test unless role logs in with the value.
func mustLogin(t *testing.T, pg *testenv.PostgreSQL, role string, v secret.Value, why string) {
	t.Helper()
	if err := pg.CanLogin(t.Context(), role, reveal(v)); err != nil {
		t.Fatalf("%s: role %s with its password: %v", why, role, err)
	}
}

// mustBeRefused fails the test unless the server refuses role with the value, with one of
// the codes.
func mustBeRefused(t *testing.T, pg *testenv.PostgreSQL, role string, v secret.Value, why string, codes ...string) {
	t.Helper()
	err := pg.CanLogin(t.Context(), role, reveal(v))
	if err == nil {
		t.Fatalf("%s: role %s logged in; want it refused", why, role)
	}
	code := testenv.SQLState(err)
	for _, c := range codes {
		if code == c {
			return
		}
	}
	t.Fatalf("%s: role %s refused with %v (SQLSTATE %q), want SQLSTATE %v", why, role, err, code, codes)
}

// Overlap through its whole life against a server that checks passwords: the first value goes
// to the first role, the next to the other while the first still works, revoke makes the
// first role NOLOGIN so its (unchanged, correct) password is refused, and restore lets it in
// again.
func TestOverlapLifecycle(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ctx := t.Context()
	ra, rb := overlapRoles(t, pg, "orders")
	a := newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.AdminDSN()))

	first := mintEnable(t, a, postgres.Overlap, "run-1", nil)
	if first.version.AuthorityRef != ra {
		t.Fatalf("first rotation minted for %q, want the first role %s", first.version.AuthorityRef, ra)
	}
	mustLogin(t, pg, ra, first.value, "after the first enable")

	second := mintEnable(t, a, postgres.Overlap, "run-2", &first)
	if second.version.AuthorityRef != rb {
		t.Fatalf("second rotation minted for %q, want the alternate %s", second.version.AuthorityRef, rb)
	}
	mustLogin(t, pg, rb, second.value, "the new value on the alternate")
	mustLogin(t, pg, ra, first.value, "during the overlap the previous value still works")
	mustBeRefused(t, pg, rb, first.value, "the previous value on the alternate", testenv.InvalidPassword)

	third := func() step { // the next rotation goes back to the first role
		m, err := a.Mint(ctx, provider.MintRequest{Credential: "db", RunID: "run-3", Strategy: postgres.Overlap, Current: &second.version})
		if err != nil {
			t.Fatal(err)
		}
		return step{value: m.Value, version: provider.Version{ID: "v-run-3", AuthorityRef: m.AuthorityRef}}
	}()
	if third.version.AuthorityRef != ra {
		t.Errorf("a rotation from %s minted for %q, want %s", rb, third.version.AuthorityRef, ra)
	}
	mustLogin(t, pg, ra, first.value, "Mint changes nothing at the server")

	for i := range 2 {
		resp, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "db", RunID: "run-2", Strategy: postgres.Overlap, Previous: first.version, Current: second.version})
		if err != nil {
			t.Fatalf("Revoke #%d: %v", i+1, err)
		}
		t.Logf("Revoke #%d: %s", i+1, resp.Detail)
	}
	// 28000: "role is not permitted to log in". The password is right: only NOLOGIN refuses it.
	mustBeRefused(t, pg, ra, first.value, "after revoke, the previous role", "28000", testenv.InvalidPassword)
	mustLogin(t, pg, rb, second.value, "after revoke, the current role")

	for i := range 2 {
		if err := a.Restore(ctx, provider.RestoreRequest{Credential: "db", RunID: "run-2", Strategy: postgres.Overlap, Version: first.version}); err != nil {
			t.Fatalf("Restore #%d: %v", i+1, err)
		}
	}
	mustLogin(t, pg, ra, first.value, "after restore, the previous role with its unchanged password")
	mustLogin(t, pg, rb, second.value, "after restore, the current role")
}

// A run cancelled before cutover (issue 12, item 4): Discard makes the alternate role its
// enable gave the value NOLOGIN without a password, leaves the current role alone, changes
// nothing when the run never reached its enable, and refuses an in-place value whose enable
// began (that is a rollback's to undo).
func TestDiscardCancelledValue(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ctx := t.Context()
	ra, rb := overlapRoles(t, pg, "cancel")
	a := newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.AdminDSN()))
	first := mintEnable(t, a, postgres.Overlap, "run-1", nil)
	second := mintEnable(t, a, postgres.Overlap, "run-2", &first)
	mustLogin(t, pg, rb, second.value, "after the cancelled run's enable")
	for i := range 2 {
		resp, err := a.Discard(ctx, provider.DiscardRequest{Credential: "db", RunID: "run-2", Strategy: postgres.Overlap,
			Version: second.version, Current: &first.version, Enabled: true})
		if err != nil || !strings.Contains(resp.Detail, rb) {
			t.Fatalf("Discard #%d: %+v %v", i+1, resp, err)
		}
	}
	mustBeRefused(t, pg, rb, second.value, "the discarded value", "28000", testenv.InvalidPassword)
	conn, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var password bool
	if err := conn.QueryRow(ctx, "SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = $1", rb).Scan(&password); err != nil {
		t.Fatal(err)
	}
	if password {
		t.Errorf("role %s keeps a password after the discard", rb)
	}
	mustLogin(t, pg, ra, first.value, "the current value after the discard")

	// A run cancelled before its enable: its role was never given the value.
	m, err := a.Mint(ctx, provider.MintRequest{Credential: "db", RunID: "run-3", Strategy: postgres.Overlap, Current: &first.version})
	if err != nil {
		t.Fatal(err)
	}
	v3 := provider.Version{ID: "v-run-3", AuthorityRef: m.AuthorityRef}
	if resp, err := a.Discard(ctx, provider.DiscardRequest{Credential: "db", RunID: "run-3", Strategy: postgres.Overlap, Version: v3, Current: &first.version}); err != nil || !strings.Contains(resp.Detail, "nothing to do") {
		t.Fatalf("Discard before enable: %+v %v", resp, err)
	}
	// Never the current role.
	if _, err := a.Discard(ctx, provider.DiscardRequest{Credential: "db", RunID: "run-3", Strategy: postgres.Overlap,
		Version: provider.Version{ID: "v-x", AuthorityRef: ra}, Current: &first.version, Enabled: true}); provider.KindOf(err) != provider.Terminal {
		t.Fatalf("Discard of the current role's value: %v", err)
	}
	mustLogin(t, pg, ra, first.value, "after the refused discard")

	role := testenv.UniqueName("cancel_ip")
	pg.CreateRole(t, role, rand.Text())
	ip := newAuthority(t, postgres.Config{Role: role}, envWith(pg.AdminDSN()))
	req := provider.DiscardRequest{Credential: "db", RunID: "run-9", Strategy: postgres.InPlace, Version: provider.Version{ID: "v-9", AuthorityRef: role}}
	if _, err := ip.Discard(ctx, req); err != nil {
		t.Fatalf("in-place Discard before enable: %v", err)
	}
	req.Enabled = true
	if _, err := ip.Discard(ctx, req); provider.KindOf(err) != provider.NeedsHuman {
		t.Fatalf("in-place Discard after enable began: %v", err)
	}
}

// In place, Enable replaces the one role's password: the old one is refused at once; revoke
// has nothing left to do; restore sets the previous value again.
func TestInPlaceLifecycle(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ctx := t.Context()
	role := testenv.UniqueName("reporting_ro")
	initial := secret.FromString(rand.Text())
	pg.CreateRole(t, role, reveal(initial))
	a := newAuthority(t, postgres.Config{Role: role}, envWith(pg.AdminDSN()))

	first := mintEnable(t, a, postgres.InPlace, "run-1", nil)
	if first.version.AuthorityRef != role {
		t.Fatalf("minted for %q, want %s", first.version.AuthorityRef, role)
	}
	mustLogin(t, pg, role, first.value, "the first rotor value")
	mustBeRefused(t, pg, role, initial, "the password set before rotor", testenv.InvalidPassword)

	second := mintEnable(t, a, postgres.InPlace, "run-2", &first)
	mustLogin(t, pg, role, second.value, "the new value")
	mustBeRefused(t, pg, role, first.value, "the previous value after an in-place enable", testenv.InvalidPassword)

	if _, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "db", RunID: "run-2", Strategy: postgres.InPlace, Previous: first.version, Current: second.version}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	mustLogin(t, pg, role, second.value, "revoke in place leaves the current value alone")

	if err := a.Restore(ctx, provider.RestoreRequest{Credential: "db", RunID: "run-2", Strategy: postgres.InPlace, Version: first.version, Value: first.value}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	mustLogin(t, pg, role, first.value, "after restore, the previous value")
	mustBeRefused(t, pg, role, second.value, "after restore, the value rolled back from", testenv.InvalidPassword)
}

// With log_statement = all the server logs every statement rotor sends. Through a whole
// rotation of each strategy (and an in-place restore, which sends the previous value again),
// no value appears in the log in any encoding: only SCRAM verifiers do.
func TestPasswordNeverInServerLog(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgreSQL(t, testenv.PostgreSQLOptions{LogStatementAll: true, LogConnections: true})
	ctx := t.Context()
	var values []secret.Value

	ra, rb := overlapRoles(t, pg, "logged")
	ov := newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.AdminDSN()))
	o1 := mintEnable(t, ov, postgres.Overlap, "run-1", nil)
	o2 := mintEnable(t, ov, postgres.Overlap, "run-2", &o1)
	if _, err := ov.Revoke(ctx, provider.RevokeRequest{Credential: "db", RunID: "run-2", Strategy: postgres.Overlap, Previous: o1.version, Current: o2.version}); err != nil {
		t.Fatal(err)
	}
	if err := ov.Restore(ctx, provider.RestoreRequest{Credential: "db", RunID: "run-2", Strategy: postgres.Overlap, Version: o1.version}); err != nil {
		t.Fatal(err)
	}
	mustLogin(t, pg, rb, o2.value, "overlap value")
	values = append(values, o1.value, o2.value)

	role := testenv.UniqueName("logged_ro")
	pg.CreateRole(t, role, rand.Text())
	ip := newAuthority(t, postgres.Config{Role: role}, envWith(pg.AdminDSN()))
	i1 := mintEnable(t, ip, postgres.InPlace, "run-1", nil)
	i2 := mintEnable(t, ip, postgres.InPlace, "run-2", &i1)
	if err := ip.Restore(ctx, provider.RestoreRequest{Credential: "db", RunID: "run-2", Strategy: postgres.InPlace, Version: i1.version, Value: i1.value}); err != nil {
		t.Fatal(err)
	}
	mustLogin(t, pg, role, i1.value, "restored in-place value")
	values = append(values, i1.value, i2.value)

	log, err := pg.Log()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		b := v.Reveal()
		for _, form := range []string{string(b), base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b), hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b))} {
			if strings.Contains(log, form) {
				t.Errorf("the server log holds value #%d (raw, base64 or hex)", i+1)
			}
		}
		clear(b)
	}
	// The log did record the statements: the test would have seen a password sent in clear.
	verifiers := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "statement: ALTER ROLE") && strings.Contains(line, "PASSWORD 'SCRAM-SHA-256$4096:") {
			verifiers++
		}
	}
	if verifiers != 5 { // two overlap enables, two in-place enables, one in-place restore
		t.Errorf("the log shows %d ALTER ROLE … PASSWORD 'SCRAM-SHA-256$4096:…' statements, want 5:\n%s", verifiers, log)
	}
	if !strings.Contains(log, "NOLOGIN") {
		t.Error("the log lacks the revoke's ALTER ROLE … NOLOGIN: is log_statement on?")
	}
}

// Readiness compares the alternating roles and names each difference; once they hold the
// same, it passes.
func TestCheckManageComparesGrants(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ctx := t.Context()
	ra, rb := overlapRoles(t, pg, "grants")
	group := testenv.UniqueName("grants_group")
	pg.Exec(t, "CREATE ROLE "+group+" NOLOGIN")
	t.Cleanup(func() { pg.Exec(t, "DROP ROLE IF EXISTS "+group) })
	table := testenv.UniqueName("orders")
	pg.Exec(t, "CREATE TABLE public."+table+" (id int, card text)")
	t.Cleanup(func() { pg.Exec(t, "DROP TABLE IF EXISTS public."+table) }) // before the roles: they hold grants on it
	a := newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.AdminDSN()))
	check := func() error {
		return a.CheckManage(ctx, provider.CheckManageRequest{Credential: "db", Strategy: postgres.Overlap})
	}
	if err := check(); err != nil {
		t.Fatalf("two roles without grants: %v", err)
	}

	pg.Exec(t, "GRANT SELECT, INSERT ON public."+table+" TO "+ra)
	pg.Exec(t, "GRANT SELECT ON public."+table+" TO "+rb)
	pg.Exec(t, "GRANT UPDATE (card) ON public."+table+" TO "+rb)
	pg.Exec(t, "GRANT "+group+" TO "+ra)
	pg.Exec(t, "ALTER ROLE "+rb+" SET search_path = app")
	err := check()
	if provider.KindOf(err) != provider.NeedsHuman {
		t.Fatalf("roles that differ: got %v (%v), want a NeedsHuman error", err, provider.KindOf(err))
	}
	t.Logf("readiness: %v", err)
	for _, want := range []string{
		rb + " lacks INSERT on table public." + table + " that " + ra + " has",
		rb + " lacks membership in role " + group + " that " + ra + " has",
		ra + " lacks UPDATE (card) on table public." + table + " that " + rb + " has",
		ra + " lacks setting search_path=app that " + rb + " has",
		"4 difference(s)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "SELECT on table") {
		t.Errorf("error %q names SELECT, which both roles hold", err)
	}

	pg.Exec(t, "GRANT INSERT ON public."+table+" TO "+rb)
	pg.Exec(t, "GRANT UPDATE (card) ON public."+table+" TO "+ra)
	pg.Exec(t, "GRANT "+group+" TO "+rb)
	pg.Exec(t, "ALTER ROLE "+ra+" SET search_path = app")
	if err := check(); err != nil {
		t.Fatalf("after granting the same to both: %v", err)
	}
}

// Readiness names a difference in every kind of object it compares — schemas, tables,
// sequences, views, functions, ownership, default privileges, policies — whatever else the
// database holds: the objects are found through pg_shdepend, so one held by a single role
// must still be seen among many that neither holds.
func TestCheckManageComparesEveryKind(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ctx := t.Context()
	ra, rb := overlapRoles(t, pg, "kinds")
	schema := testenv.UniqueName("kinds_s")
	pg.Exec(t, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { // before the roles are dropped: they own and hold things in it
		pg.Exec(t, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		pg.Exec(t, "DROP OWNED BY "+ra+", "+rb)
	})
	for i := range 50 { // objects neither role holds anything on
		pg.Exec(t, fmt.Sprintf("CREATE TABLE %s.other_%d (id int)", schema, i))
	}
	pg.Exec(t, "CREATE TABLE "+schema+".t (id int)")
	pg.Exec(t, "CREATE TABLE "+schema+".owned (id int)")
	pg.Exec(t, "CREATE SEQUENCE "+schema+".seq")
	pg.Exec(t, "CREATE VIEW "+schema+".v AS SELECT 1 AS one")
	pg.Exec(t, "CREATE FUNCTION "+schema+".f(a int) RETURNS int LANGUAGE sql AS 'SELECT a'")
	pg.Exec(t, "CREATE FUNCTION "+schema+".g() RETURNS int LANGUAGE sql AS 'SELECT 1'")
	for _, sql := range []string{
		"GRANT USAGE ON SCHEMA " + schema + " TO " + ra,
		"GRANT SELECT ON " + schema + ".t TO " + ra + ", " + rb,
		"GRANT UPDATE ON " + schema + ".t TO " + ra,
		"GRANT USAGE ON SEQUENCE " + schema + ".seq TO " + ra,
		"GRANT SELECT ON " + schema + ".v TO " + ra,
		"GRANT EXECUTE ON FUNCTION " + schema + ".f(int) TO " + ra,
		"ALTER TABLE " + schema + ".owned OWNER TO " + ra,
		"ALTER FUNCTION " + schema + ".g() OWNER TO " + ra,
		"ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " GRANT SELECT ON TABLES TO " + ra,
		"CREATE POLICY pol ON " + schema + ".t TO " + ra + " USING (true)",
	} {
		pg.Exec(t, sql)
	}
	a := newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.AdminDSN()))
	err := a.CheckManage(ctx, provider.CheckManageRequest{Credential: "db", Strategy: postgres.Overlap})
	if provider.KindOf(err) != provider.NeedsHuman {
		t.Fatalf("roles that differ: got %v (%v), want a NeedsHuman error", err, provider.KindOf(err))
	}
	for _, want := range []string{
		"lacks USAGE on schema " + schema + " that",
		"lacks UPDATE on table " + schema + ".t that",
		"lacks USAGE on sequence " + schema + ".seq that",
		"lacks SELECT on view " + schema + ".v that",
		"lacks EXECUTE on function " + schema + ".f(a integer) that",
		"lacks ownership of table " + schema + ".owned that",
		"lacks ownership of function " + schema + ".g() that",
		"lacks default SELECT on new tables created by",
		"lacks a place in policy pol on " + schema + ".t that",
	} {
		if !strings.Contains(err.Error(), rb+" "+want) {
			t.Errorf("error %q\nlacks %q", err, rb+" "+want)
		}
	}
	if !strings.Contains(err.Error(), "(9 difference(s))") {
		t.Errorf("error %q: want 9 differences", err)
	}
	if strings.Contains(err.Error(), "SELECT on table "+schema+".t") || strings.Contains(err.Error(), "other_") {
		t.Errorf("error %q names what both roles hold, or what neither does", err)
	}
}

// With template_role, readiness accepts a missing alternate when the other role matches what
// it will be (a member of the template, nothing else), and Mint creates it, NOLOGIN, before
// Enable gives it its password.
func TestTemplateRole(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ctx := t.Context()
	tmpl := testenv.UniqueName("tmpl")
	pg.Exec(t, "CREATE ROLE "+tmpl+" NOLOGIN")
	ra, rb := testenv.UniqueName("tpl_a"), testenv.UniqueName("tpl_b")
	pg.CreateRole(t, ra, rand.Text())
	t.Cleanup(func() { pg.Exec(t, "DROP ROLE IF EXISTS "+rb); pg.Exec(t, "DROP ROLE IF EXISTS "+tmpl) })
	a := newAuthority(t, postgres.Config{Roles: []string{ra, rb}, TemplateRole: tmpl}, envWith(pg.AdminDSN()))
	check := func() error {
		return a.CheckManage(ctx, provider.CheckManageRequest{Credential: "db", Strategy: postgres.Overlap})
	}

	err := check()
	want := ra + " lacks membership in role " + tmpl + " that " + rb + " would have"
	if provider.KindOf(err) != provider.NeedsHuman || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s outside the template: got %v, want a NeedsHuman error with %q", ra, err, want)
	}
	pg.Exec(t, "GRANT "+tmpl+" TO "+ra)
	if err := check(); err != nil {
		t.Fatalf("%s in the template, %s missing: %v", ra, rb, err)
	}

	current := provider.Version{ID: "v0", AuthorityRef: ra, Stage: provider.StageCurrent}
	s := mintEnable(t, a, postgres.Overlap, "run-1", &step{version: current})
	if s.version.AuthorityRef != rb {
		t.Fatalf("minted for %q, want %s", s.version.AuthorityRef, rb)
	}
	mustLogin(t, pg, rb, s.value, "the alternate created from the template")
	var member bool
	conn, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT pg_has_role($1, $2, 'MEMBER')", rb, tmpl).Scan(&member); err != nil || !member {
		t.Errorf("%s a member of %s: %v, %v; want true", rb, tmpl, member, err)
	}
	if err := check(); err != nil {
		t.Errorf("after the alternate was created: %v", err)
	}
	// A retried Mint finds the role and creates nothing.
	if _, err := a.Mint(ctx, provider.MintRequest{Credential: "db", RunID: "run-1", Strategy: postgres.Overlap, Current: &current}); err != nil {
		t.Errorf("retried Mint: %v", err)
	}
}

// A client that still holds a session as the previous role is residual use, named by its
// application_name and address; once it disconnects, there is none.
func TestUsageOverlap(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ctx := t.Context()
	ra, rb := overlapRoles(t, pg, "usage")
	a := newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.AdminDSN()))
	first := mintEnable(t, a, postgres.Overlap, "run-1", nil)
	second := mintEnable(t, a, postgres.Overlap, "run-2", &first)
	usage := func() provider.UsageResponse {
		t.Helper()
		u, err := a.Usage(ctx, provider.UsageRequest{Credential: "db", Version: first.version, Since: time.Now().Add(-time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	if u := usage(); u.Verdict != provider.Pass || u.Count != 0 {
		t.Fatalf("no client: got %+v, want pass", u)
	}

	forgotten := connectAs(t, pg, ra, first.value, "settlement-batch")
	current := connectAs(t, pg, rb, second.value, "orders-api") // the new role's sessions are not residual use
	defer current.Close(ctx)
	u := usage()
	if u.Verdict != provider.Fail || u.Count != 1 || len(u.Who) != 1 || u.Who[0] != "settlement-batch@127.0.0.1" {
		t.Fatalf("a client holding a session as %s: got %+v, want fail naming settlement-batch@127.0.0.1", ra, u)
	}
	if !strings.Contains(u.Detail, ra) || !strings.Contains(u.Detail, "since ") {
		t.Errorf("detail %q: want the role and when the session began", u.Detail)
	}
	forgotten.Close(ctx)
	// The server takes a moment to end a backend whose client has gone.
	if u := eventually(t, usage); u.Verdict != provider.Pass || u.Count != 0 {
		t.Fatalf("after the client disconnected: got %+v, want pass", u)
	}
}

// In place, the sessions of the role that began before the cutover logged in with the
// previous password; those after it did not.
func TestUsageInPlace(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ctx := t.Context()
	role := testenv.UniqueName("usage_ro")
	old := secret.FromString(rand.Text())
	pg.CreateRole(t, role, reveal(old))
	a := newAuthority(t, postgres.Config{Role: role}, envWith(pg.AdminDSN()))
	before := connectAs(t, pg, role, old, "etl-pool")
	previous := provider.Version{ID: "v0", AuthorityRef: role}
	s := mintEnable(t, a, postgres.InPlace, "run-1", &step{version: previous, value: old})
	cutover := time.Now()
	after := connectAs(t, pg, role, s.value, "etl-new")
	defer after.Close(ctx)

	u, err := a.Usage(ctx, provider.UsageRequest{Credential: "db", Version: previous, Since: cutover})
	if err != nil {
		t.Fatal(err)
	}
	if u.Verdict != provider.Fail || u.Count != 1 || len(u.Who) != 1 || u.Who[0] != "etl-pool@127.0.0.1" {
		t.Fatalf("a session opened before the cutover: got %+v, want fail naming etl-pool@127.0.0.1 only", u)
	}
	before.Close(ctx)
	u = eventually(t, func() provider.UsageResponse {
		u, err := a.Usage(ctx, provider.UsageRequest{Credential: "db", Version: previous, Since: cutover})
		if err != nil {
			t.Fatal(err)
		}
		return u
	})
	if u.Verdict != provider.Pass {
		t.Fatalf("only sessions opened after the cutover: got %+v, want pass", u)
	}
}

// With terminate_sessions and an approval (EndSessions), revoke ends the sessions the
// previous role still holds; NOLOGIN alone leaves them open, and so does either without the
// other.
func TestRevokeTerminatesSessions(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ctx := t.Context()
	for _, tc := range []struct{ setting, approved bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
		terminate := tc.setting && tc.approved
		ra, rb := overlapRoles(t, pg, "term")
		a := newAuthority(t, postgres.Config{Roles: []string{ra, rb}, Terminate: tc.setting}, envWith(pg.AdminDSN()))
		first := mintEnable(t, a, postgres.Overlap, "run-1", nil)
		second := mintEnable(t, a, postgres.Overlap, "run-2", &first)
		pool := connectAs(t, pg, ra, first.value, "old-pool")
		resp, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "db", RunID: "run-2", Strategy: postgres.Overlap,
			Previous: first.version, Current: second.version, EndSessions: tc.approved})
		if err != nil {
			t.Fatal(err)
		}
		var one int
		err = pool.QueryRow(ctx, "SELECT 1").Scan(&one)
		switch {
		case terminate && err == nil:
			t.Errorf("terminate_sessions: the previous role's session survived revoke (%s)", resp.Detail)
		case terminate && !strings.Contains(resp.Detail, "1 open session(s) terminated"):
			t.Errorf("terminate_sessions: detail %q, want the count of sessions ended", resp.Detail)
		case !terminate && err != nil:
			t.Errorf("without terminate_sessions, revoke ended a session: %v", err)
		case !terminate && !strings.Contains(resp.Detail, "old-pool@127.0.0.1"):
			t.Errorf("without terminate_sessions: detail %q, want the session still open named", resp.Detail)
		}
		pool.Close(ctx)
	}
}

// Errors are classified so the engine knows what is safe to do next.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ctx := t.Context()
	ra, rb := overlapRoles(t, pg, "kinds")
	missing := testenv.UniqueName("missing")
	manage := provider.CheckManageRequest{Credential: "db", Strategy: postgres.Overlap}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := l.Addr().(*net.TCPAddr).Port
	l.Close()

	// A login role without CREATEROLE, as an admin that may not alter the roles.
	weak, weakPassword := testenv.UniqueName("weak_admin"), rand.Text()
	pg.CreateRole(t, weak, weakPassword)

	for _, tc := range []struct {
		name string
		dsn  string
		cfg  postgres.Config
		want provider.ErrorKind
		text string
	}{
		{"wrong admin password", pg.DSN(pg.SuperUser, "wrong-"+rand.Text(), pg.Database), postgres.Config{Roles: []string{ra, rb}}, provider.Denied, "28P01"},
		{"server unreachable", "postgres://u:p@127.0.0.1:" + strconv.Itoa(closedPort) + "/db?sslmode=disable&connect_timeout=2",
			postgres.Config{Roles: []string{ra, rb}}, provider.Retryable, "connect as admin"},
		{"admin DSN not set", "", postgres.Config{Roles: []string{ra, rb}}, provider.Terminal, adminEnv + " is not set"},
		{"admin DSN does not parse", "postgres://x:secretpw@[::1", postgres.Config{Roles: []string{ra, rb}}, provider.Terminal, "does not parse"},
		{"role missing", pg.AdminDSN(), postgres.Config{Roles: []string{ra, missing}}, provider.Terminal, "role " + missing + " does not exist"},
		{"admin may not alter", pg.DSN(weak, weakPassword, pg.Database), postgres.Config{Roles: []string{ra, rb}}, provider.Denied, "needs CREATEROLE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuthority(t, tc.cfg, envWith(tc.dsn))
			err := a.CheckManage(ctx, manage)
			if provider.KindOf(err) != tc.want || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("CheckManage: got %v (%v), want %v with %q", err, provider.KindOf(err), tc.want, tc.text)
			}
			if strings.Contains(err.Error(), "secretpw") || strings.Contains(err.Error(), pg.SuperPassword) || strings.Contains(err.Error(), weakPassword) {
				t.Errorf("the error shows a password: %v", err)
			}
		})
	}

	// At the server: an ALTER ROLE the admin may not make is Denied (42501); a role that does
	// not exist is Terminal (42704). Neither leaks the value.
	v := secret.FromString(rand.Text())
	enable := func(a *postgres.Authority, ref string) error {
		_, err := a.Enable(ctx, provider.EnableRequest{Credential: "db", RunID: "r", Strategy: postgres.Overlap,
			Version: provider.Version{ID: "v1", AuthorityRef: ref}, Value: v})
		return err
	}
	weakAuth := newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.DSN(weak, weakPassword, pg.Database)))
	if err := enable(weakAuth, ra); provider.KindOf(err) != provider.Denied || postgres.SQLState(err) != "42501" {
		t.Errorf("Enable without the right to alter: got %v, want Denied with SQLSTATE 42501", err)
	}
	missingAuth := newAuthority(t, postgres.Config{Roles: []string{ra, missing}}, envWith(pg.AdminDSN()))
	err = enable(missingAuth, missing)
	if provider.KindOf(err) != provider.Terminal || postgres.SQLState(err) != "42704" {
		t.Errorf("Enable of a missing role: got %v, want Terminal with SQLSTATE 42704", err)
	}
	if err != nil && strings.Contains(err.Error(), reveal(v)) {
		t.Error("the error shows the value")
	}
	if _, err := missingAuth.Mint(ctx, provider.MintRequest{Credential: "db", RunID: "r", Strategy: postgres.Overlap,
		Current: &provider.Version{ID: "v0", AuthorityRef: ra}}); provider.KindOf(err) != provider.Terminal {
		t.Errorf("Mint for a missing role without a template: got %v, want Terminal before any value is stored", err)
	}
	// Overlap never enables the role in use, nor revokes it.
	prev := provider.Version{ID: "v0", AuthorityRef: ra}
	a := newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.AdminDSN()))
	if _, err := a.Enable(ctx, provider.EnableRequest{Credential: "db", RunID: "r", Strategy: postgres.Overlap,
		Version: provider.Version{ID: "v1", AuthorityRef: ra}, Value: v, Previous: &prev}); provider.KindOf(err) != provider.Terminal {
		t.Errorf("Enable on the previous version's role: got %v, want Terminal", err)
	}
	if _, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "db", RunID: "r", Strategy: postgres.Overlap,
		Previous: prev, Current: provider.Version{ID: "v1", AuthorityRef: ra}}); provider.KindOf(err) != provider.Terminal {
		t.Errorf("Revoke of the current version's role: got %v, want Terminal", err)
	}
	if _, err := a.Mint(ctx, provider.MintRequest{Credential: "db", RunID: "r", Strategy: postgres.Overlap,
		Current: &provider.Version{ID: "v0"}}); provider.KindOf(err) != provider.NeedsHuman {
		t.Errorf("Mint when the current version's role is unknown: got %v, want NeedsHuman", err)
	}
}

// An admin with CREATEROLE (and, from PostgreSQL 16, ADMIN OPTION on the roles) is enough.
func TestCreateRoleAdmin(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ctx := t.Context()
	ra, rb := overlapRoles(t, pg, "cr")
	admin, password := testenv.UniqueName("cr_admin"), rand.Text()
	pg.CreateRole(t, admin, password)
	pg.Exec(t, "ALTER ROLE "+admin+" CREATEROLE")
	a := newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.DSN(admin, password, pg.Database)))
	manage := provider.CheckManageRequest{Credential: "db", Strategy: postgres.Overlap}
	if version := serverVersion(t, pg); version >= 160000 {
		if err := a.CheckManage(ctx, manage); provider.KindOf(err) != provider.Denied || !strings.Contains(err.Error(), "ADMIN OPTION") {
			t.Fatalf("PostgreSQL 16+, CREATEROLE without ADMIN OPTION: got %v, want Denied naming ADMIN OPTION", err)
		}
		pg.Exec(t, "GRANT "+ra+" TO "+admin+" WITH ADMIN OPTION")
		pg.Exec(t, "GRANT "+rb+" TO "+admin+" WITH ADMIN OPTION")
	}
	if err := a.CheckManage(ctx, manage); err != nil {
		t.Fatalf("CREATEROLE admin: %v", err)
	}
	first := mintEnable(t, a, postgres.Overlap, "run-1", nil)
	mustLogin(t, pg, ra, first.value, "set by a CREATEROLE admin")
}

// The admin connection may come from an identity of type postgres-dsn.
func TestAdminIdentity(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ra, rb := overlapRoles(t, pg, "ident")
	env := envWith(pg.AdminDSN())
	env.Identity = func(id string) (provider.Identity, bool) {
		switch id {
		case "pg-admin":
			return provider.Identity{ID: id, Type: "postgres-dsn", Config: &identity.PostgresDSN{DSNEnv: adminEnv}}, true
		case "svc":
			return provider.Identity{ID: id, Type: "os-user", Config: &identity.OSUser{User: "svc"}}, true
		}
		return provider.Identity{}, false
	}
	manage := provider.CheckManageRequest{Credential: "db", Strategy: postgres.Overlap}
	a := newAuthority(t, postgres.Config{Admin: "pg-admin", Roles: []string{ra, rb}}, env)
	if err := a.CheckManage(t.Context(), manage); err != nil {
		t.Fatalf("admin identity: %v", err)
	}
	for id, want := range map[string]string{"svc": "not postgres-dsn", "nobody": "not in the inventory"} {
		a := newAuthority(t, postgres.Config{Admin: id, Roles: []string{ra, rb}}, env)
		if err := a.CheckManage(t.Context(), manage); provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), want) {
			t.Errorf("admin %s: got %v, want Terminal with %q", id, err, want)
		}
	}
}

// Within an engine operation (Env.Shared) the admin connections come from one pool: many
// calls make a handful of logins, which the pool keeps open until the operation's Shared is
// closed, and which then end. The conformance suite passes on pooled connections too, and
// errors keep their kinds and never show the password.
func TestPooledAdminConnections(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	ctx := t.Context()
	app := testenv.UniqueName("pooltest")
	dsn := pg.AdminDSN() + "&application_name=" + app
	admins := func() int {
		var n int
		query(t, pg, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '"+app+"'", &n)
		return n
	}
	sh := provider.NewShared()
	env := envWith(dsn)
	env.Shared = sh
	ra, rb := overlapRoles(t, pg, "pool")
	a := newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, env)
	manage := provider.CheckManageRequest{Credential: "db", Strategy: postgres.Overlap}
	var cur *step
	for i := range 6 {
		if err := a.CheckManage(ctx, manage); err != nil {
			t.Fatal(err)
		}
		next := mintEnable(t, a, postgres.Overlap, fmt.Sprintf("run-%d", i), cur)
		mustLogin(t, pg, next.version.AuthorityRef, next.value, "a password set over a pooled connection")
		if cur != nil {
			if _, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "db", RunID: fmt.Sprintf("run-%d", i), Strategy: postgres.Overlap,
				Previous: cur.version, Current: next.version}); err != nil {
				t.Fatal(err)
			}
			mustBeRefused(t, pg, cur.version.AuthorityRef, cur.value, "revoked over a pooled connection", "28000", testenv.InvalidPassword)
		}
		cur = &next
	}
	// 6 rounds of CheckManage, Mint, Enable and Revoke, one after the other: one connection.
	if n := admins(); n != 1 {
		t.Errorf("%d admin sessions open after sequential calls on a pool, want 1", n)
	}
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for admins() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d admin sessions still open 10 s after the shared pool was closed", admins())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.CheckManage(ctx, manage); provider.KindOf(err) != provider.Retryable || !errors.Is(err, provider.ErrSharedClosed) {
		t.Errorf("a call after the operation ended: got %v, want Retryable wrapping ErrSharedClosed", err)
	}

	for _, tc := range []struct {
		name, dsn string
		want      provider.ErrorKind
		text      string
	}{
		{"wrong admin password", pg.DSN(pg.SuperUser, "wrong-secretpw", pg.Database), provider.Denied, "28P01"},
		{"admin DSN does not parse", "postgres://x:secretpw@[::1", provider.Terminal, "does not parse"},
	} {
		sh := provider.NewShared()
		t.Cleanup(func() { sh.Close() })
		env := envWith(tc.dsn)
		env.Shared = sh
		a := newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, env)
		for i := range 2 { // a failed open is not kept: the second call tries again
			err := a.CheckManage(ctx, manage)
			if provider.KindOf(err) != tc.want || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("%s, call %d: got %v (%v), want %v with %q", tc.name, i+1, err, provider.KindOf(err), tc.want, tc.text)
			}
			if err != nil && (strings.Contains(err.Error(), "secretpw") || strings.Contains(err.Error(), pg.SuperPassword)) {
				t.Errorf("%s: the error shows a password: %v", tc.name, err)
			}
		}
	}

	t.Run("conformance", func(t *testing.T) {
		sh := provider.NewShared()
		t.Cleanup(func() { sh.Close() })
		env := envWith(pg.AdminDSN())
		env.Shared = sh
		providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
			a, b := overlapRoles(t, pg, "pconf")
			return providertest.AuthorityFixture{Authority: newAuthority(t, postgres.Config{Roles: []string{a, b}}, env),
				Credential: "orders-db", Strategies: []string{postgres.Overlap}}
		})
	})
}

// query runs one query as the superuser and scans its single row.
func query(t *testing.T, pg *testenv.PostgreSQL, sql string, dest ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(t.Context(), sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg   postgres.Config
		field string // "" = valid
	}{
		{postgres.Config{AdminDSNEnv: "X", Roles: []string{"a", "b"}}, ""},
		{postgres.Config{Admin: "pg", Role: "r"}, ""},
		{postgres.Config{AdminDSNEnv: "X", Roles: []string{"a", "b"}, TemplateRole: "t", Terminate: true}, ""},
		{postgres.Config{AdminDSNEnv: "X"}, "roles"},
		{postgres.Config{AdminDSNEnv: "X", Roles: []string{"a", "a"}}, "roles"},
		{postgres.Config{AdminDSNEnv: "X", Roles: []string{"a", "b", "c"}}, "roles"},
		{postgres.Config{AdminDSNEnv: "X", Roles: []string{"a", "b"}, Role: "r"}, "role"},
		{postgres.Config{Roles: []string{"a", "b"}}, "admin"},
		{postgres.Config{AdminDSNEnv: "X", Admin: "pg", Roles: []string{"a", "b"}}, "admin_dsn_env"},
		{postgres.Config{AdminDSNEnv: "X", Role: "r", TemplateRole: "t"}, "template_role"},
		{postgres.Config{AdminDSNEnv: "X", Roles: []string{"a", "b"}, TemplateRole: "a"}, "template_role"},
		{postgres.Config{AdminDSNEnv: "X", Role: "r", Terminate: true}, "terminate_sessions"},
		{postgres.Config{AdminDSNEnv: "X", Role: strings.Repeat("r", 64)}, "role"},
	} {
		errs := tc.cfg.Validate()
		switch {
		case tc.field == "" && len(errs) > 0:
			t.Errorf("%+v: %v, want valid", tc.cfg, errs)
		case tc.field != "" && (len(errs) == 0 || errs[0].Field != tc.field):
			t.Errorf("%+v: %v, want an error on %s", tc.cfg, errs, tc.field)
		}
	}
	overlap := postgres.Config{AdminDSNEnv: "X", Roles: []string{"a", "b"}}
	inPlace := postgres.Config{Admin: "pg", Role: "r"}
	if s := overlap.Strategies(); len(s) != 1 || s[0] != postgres.Overlap {
		t.Errorf("roles: strategies %v", s)
	}
	if s := inPlace.Strategies(); len(s) != 1 || s[0] != postgres.InPlace {
		t.Errorf("role: strategies %v", s)
	}
	if overlap.Target() == inPlace.Target() || inPlace.Target() != "admin=pg" {
		t.Errorf("targets %q and %q", overlap.Target(), inPlace.Target())
	}
	if _, err := postgres.New(postgres.Config{AdminDSNEnv: "X"}, envWith("")); provider.KindOf(err) != provider.Terminal {
		t.Errorf("New with an invalid config: %v", err)
	}
}

// connectAs opens a session as role with the value, the way a consumer's pool would.
func connectAs(t *testing.T, pg *testenv.PostgreSQL, role string, v secret.Value, app string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(pg.DSN(role, "", pg.Database))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = reveal(v)
	cfg.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// eventually calls usage until it passes, for at most 10 seconds, and returns its last answer.
func eventually(t *testing.T, usage func() provider.UsageResponse) provider.UsageResponse {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u := usage()
		if u.Verdict == provider.Pass || time.Now().After(deadline) {
			return u
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func serverVersion(t *testing.T, pg *testenv.PostgreSQL) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var v int
	if err := conn.QueryRow(t.Context(), "SELECT current_setting('server_version_num')::int").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Every error says whether the request can have changed anything (provider.MayHaveChanged),
// from what really happened at a real server: a refused connection and a failed login come
// before any statement, and a statement the server rejects with an ERROR rolls back whole —
// nothing changed; a connection lost while ALTER ROLE ran (the server stopped under it) may
// have committed before the answer was lost.
func TestErrorsSayWhetherAnythingChanged(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgreSQL(t, testenv.PostgreSQLOptions{LogConnections: true}) // its own: it is stopped
	ctx := t.Context()
	ra, rb := overlapRoles(t, pg, "changed")
	revokeReq := provider.RevokeRequest{Credential: "db", RunID: "r", Strategy: postgres.Overlap,
		Previous: provider.Version{ID: "v1", AuthorityRef: ra}, Current: provider.Version{ID: "v2", AuthorityRef: rb}}
	revoke := func(a *postgres.Authority) error {
		_, err := a.Revoke(ctx, revokeReq)
		return err
	}
	want := func(what string, err error, kind provider.ErrorKind, changed bool, text string) {
		t.Helper()
		if err == nil || provider.KindOf(err) != kind || provider.MayHaveChanged(err) != changed || !strings.Contains(err.Error(), text) {
			t.Errorf("%s: got %v (kind %v, may have changed %v), want kind %v, may have changed %v, with %q",
				what, err, provider.KindOf(err), provider.MayHaveChanged(err), kind, changed, text)
		}
	}

	missing := testenv.UniqueName("missing")
	req := revokeReq
	req.Previous.AuthorityRef = missing
	_, err := newAuthority(t, postgres.Config{Roles: []string{missing, rb}}, envWith(pg.AdminDSN())).Revoke(ctx, req)
	want("ALTER ROLE of a role that does not exist (ERROR 42704)", err, provider.Terminal, false, "alter role "+missing)
	err = revoke(newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.DSN(pg.SuperUser, "wrong-"+rand.Text(), pg.Database))))
	want("wrong admin password", err, provider.Denied, false, "28P01")

	// A statement in flight when the server stops: another session holds the role's row
	// (its own ALTER ROLE, not committed), so rotor's ALTER ROLE waits at the server until
	// the server is stopped under it.
	holder, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	if _, err := holder.Exec(ctx, "BEGIN; ALTER ROLE "+ra+" CONNECTION LIMIT 5"); err != nil {
		t.Fatal(err)
	}
	app := testenv.UniqueName("inflight")
	done := make(chan error, 1)
	go func() {
		done <- revoke(newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.AdminDSN()+"&application_name="+app)))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		query(t, pg, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '"+app+"' AND wait_event_type = 'Lock'", &waiting)
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rotor's ALTER ROLE is not waiting for the other session's lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pg.Stop(t)
	want("the server stopped while ALTER ROLE ran", <-done, provider.Retryable, true, "alter role "+ra+" NOLOGIN")

	// The server is down: connections are refused, on a connection of its own or from the
	// operation's pool; the message names where, and the cause in a word.
	endpoint := fmt.Sprintf("connect as admin %s to 127.0.0.1:%d: connection refused", pg.SuperUser, pg.Port)
	want("server down", revoke(newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.AdminDSN()))), provider.Retryable, false, endpoint)
	env := envWith(pg.AdminDSN())
	env.Shared = provider.NewShared()
	t.Cleanup(func() { env.Shared.Close() })
	want("server down, pooled", revoke(newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, env)), provider.Retryable, false, endpoint)

	pg.Start(t)
	if err := revoke(newAuthority(t, postgres.Config{Roles: []string{ra, rb}}, envWith(pg.AdminDSN()))); err != nil {
		t.Fatalf("revoke once the server is back: %v", err)
	}
}
