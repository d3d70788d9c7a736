package mysql_test

import (
	"crypto/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/authority/mysql"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/provider/providertest"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/testenv"
)

// The tests run against a real MariaDB (rung R of TEST-COMPONENTS.md) started by testenv on a
// free port, with its own data directory and passwords checked; never the machine's server.

const adminEnv = "ROTOR_TEST_MYSQL_ADMIN"

func envWith(dsn string) provider.Env {
	return provider.Env{Rand: rand.Reader, Now: time.Now, Getenv: func(k string) string {
		if k == adminEnv {
			return dsn
		}
		return ""
	}}
}

func newAuthority(t *testing.T, cfg mysql.Config, dsn string) *mysql.Authority {
	t.Helper()
	if cfg.AdminDSNEnv == "" && cfg.Admin == "" {
		cfg.AdminDSNEnv = adminEnv
	}
	a, err := mysql.New(cfg, envWith(dsn))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// twoUsers creates two users with unknown passwords and the same grants.
func twoUsers(t *testing.T, db *testenv.MariaDB, prefix string) (string, string) {
	t.Helper()
	a, b := testenv.UniqueName(prefix+"_a"), testenv.UniqueName(prefix+"_b")
	for _, u := range []string{a, b} {
		db.Exec(t, "CREATE USER '"+u+"'@'%' IDENTIFIED BY '"+rand.Text()+"'",
			"GRANT SELECT, INSERT ON `shop`.* TO '"+u+"'@'%'")
	}
	return a, b
}

func startServer(t *testing.T) *testenv.MariaDB {
	t.Helper()
	db := testenv.StartMariaDB(t)
	db.Exec(t, "CREATE DATABASE IF NOT EXISTS shop")
	return db
}

func TestConformance(t *testing.T) {
	t.Parallel()
	db := startServer(t)
	providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
		a, b := twoUsers(t, db, "conf")
		auth := newAuthority(t, mysql.Config{Users: []string{a, b}}, db.AdminDSN())
		return providertest.AuthorityFixture{Authority: auth, Credential: "orders-db", Strategies: []string{mysql.Overlap}}
	})
}

type step struct {
	version provider.Version
	value   secret.Value
}

func mintEnable(t *testing.T, a *mysql.Authority, run string, current *step) step {
	t.Helper()
	var cur *provider.Version
	if current != nil {
		cur = &current.version
	}
	m, err := a.Mint(t.Context(), provider.MintRequest{Credential: "db", RunID: run, Strategy: mysql.Overlap, Current: cur})
	if err != nil {
		t.Fatalf("Mint(%s): %v", run, err)
	}
	s := step{value: m.Value, version: provider.Version{ID: "v-" + run, Key: run, AuthorityRef: m.AuthorityRef}}
	resp, err := a.Enable(t.Context(), provider.EnableRequest{Credential: "db", RunID: run, Strategy: mysql.Overlap, Version: s.version, Value: s.value, Previous: cur})
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

func mustLogin(t *testing.T, db *testenv.MariaDB, user string, v secret.Value, why string) {
	t.Helper()
	if err := db.CanLogin(t.Context(), user, reveal(v)); err != nil {
		t.Fatalf("%s: user %s with its password: %v", why, user, err)
	}
}

func mustBeRefused(t *testing.T, db *testenv.MariaDB, user string, v secret.Value, why string, number uint16) {
	t.Helper()
	err := db.CanLogin(t.Context(), user, reveal(v))
	if got := testenv.ErrorNumber(err); got != number {
		t.Fatalf("%s: user %s: got %v (error %d), want error %d", why, user, err, got, number)
	}
}

// The whole life against a server that checks passwords: mint → new accepted; overlap → old
// and new both accepted; revoke → old refused (account locked), new accepted; restore → old
// accepted again. No value reaches the server's general log.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	db := startServer(t)
	ua, ub := twoUsers(t, db, "orders")
	a := newAuthority(t, mysql.Config{Users: []string{ua, ub}}, db.AdminDSN())
	ctx := t.Context()

	first := mintEnable(t, a, "run-1", nil)
	if first.version.AuthorityRef != ua {
		t.Fatalf("first rotation minted for %q, want %s", first.version.AuthorityRef, ua)
	}
	mustLogin(t, db, ua, first.value, "after the first enable")
	second := mintEnable(t, a, "run-2", &first)
	if second.version.AuthorityRef != ub {
		t.Fatalf("second rotation minted for %q, want %s", second.version.AuthorityRef, ub)
	}
	mustLogin(t, db, ub, second.value, "the new value")
	mustLogin(t, db, ua, first.value, "during the overlap the previous value")
	mustBeRefused(t, db, ub, first.value, "the previous value on the alternate", testenv.AccessDenied)

	for i := range 2 {
		resp, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "db", RunID: "run-2", Strategy: mysql.Overlap, Previous: first.version, Current: second.version})
		if err != nil {
			t.Fatalf("Revoke #%d: %v", i+1, err)
		}
		t.Logf("Revoke #%d: %s", i+1, resp.Detail)
	}
	mustBeRefused(t, db, ua, first.value, "after revoke, the previous user with its right password", testenv.AccountLocked)
	mustLogin(t, db, ub, second.value, "after revoke, the current user")

	if err := a.Restore(ctx, provider.RestoreRequest{Credential: "db", RunID: "run-2", Strategy: mysql.Overlap, Version: first.version}); err != nil {
		t.Fatal(err)
	}
	mustLogin(t, db, ua, first.value, "after restore, the previous user")
	mustLogin(t, db, ub, second.value, "after restore, the current user")
	if err := a.CheckManage(ctx, provider.CheckManageRequest{Credential: "db", Strategy: mysql.Overlap}); err != nil {
		t.Errorf("CheckManage: %v", err)
	}

	log, err := db.Log()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "ALTER USER '"+ua+"'@'%' IDENTIFIED BY PASSWORD '*") {
		t.Errorf("the general log does not show the enable's ALTER USER: is it on?")
	}
	for _, s := range []step{first, second} {
		if strings.Contains(log, reveal(s.value)) {
			t.Errorf("the server log holds the password of %s", s.version.AuthorityRef)
		}
	}
}

// A forgotten client still holds a connection of the previous user: residual use fails,
// naming it (so the engine blocks revoke), and passes once it is gone.
func TestForgottenClient(t *testing.T) {
	t.Parallel()
	db := startServer(t)
	ua, ub := twoUsers(t, db, "batch")
	a := newAuthority(t, mysql.Config{Users: []string{ua, ub}}, db.AdminDSN())
	ctx := t.Context()
	first := mintEnable(t, a, "run-1", nil)
	forgotten := db.Connect(t, ua, reveal(first.value))
	var id int64
	if err := forgotten.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	second := mintEnable(t, a, "run-2", &first)
	db.Connect(t, ub, reveal(second.value)) // the migrated consumer: not residual use

	u, err := a.Usage(ctx, provider.UsageRequest{Credential: "db", Version: first.version, Since: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if u.Verdict != provider.Fail || u.Count != 1 || len(u.Who) != 1 || !strings.HasPrefix(u.Who[0], "id "+strconv.FormatInt(id, 10)+" from 127.0.0.1:") {
		t.Fatalf("Usage with a forgotten client: %+v, want a fail naming connection id %d from 127.0.0.1", u, id)
	}
	t.Logf("Usage: %s", u.Detail)
	forgotten.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, err = a.Usage(ctx, provider.UsageRequest{Credential: "db", Version: first.version, Since: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if u.Verdict == provider.Pass || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the server notices the closed connection
	}
	if u.Verdict != provider.Pass {
		t.Fatalf("Usage once the client is gone: %+v, want a pass", u)
	}
}

// Faults: wrong admin credentials, the server down mid-rotation, a user dropped or its grants
// changed by someone else. Each is a clear error, nothing half-done, and the old credential
// still works.
func TestFaults(t *testing.T) {
	db := startServer(t)
	ua, ub := twoUsers(t, db, "pay")
	good := newAuthority(t, mysql.Config{Users: []string{ua, ub}}, db.AdminDSN())
	ctx := t.Context()
	first := mintEnable(t, good, "run-1", nil)

	t.Run("wrong admin password", func(t *testing.T) {
		bad := newAuthority(t, mysql.Config{Users: []string{ua, ub}}, db.DSN(db.AdminUser, "wrong-"+rand.Text()))
		_, err := bad.Mint(ctx, provider.MintRequest{Credential: "db", RunID: "run-2", Strategy: mysql.Overlap, Current: &first.version})
		if provider.KindOf(err) != provider.Denied || provider.MayHaveChanged(err) || !strings.Contains(err.Error(), "ROTOR_TEST_MYSQL_ADMIN") {
			t.Fatalf("Mint with a wrong admin password: %v (%v, may have changed %v), want denied, nothing changed, naming the variable", err, provider.KindOf(err), provider.MayHaveChanged(err))
		}
		if strings.Contains(err.Error(), "wrong-") {
			t.Errorf("the error shows the admin password: %v", err)
		}
		mustLogin(t, db, ua, first.value, "after a refused admin")
	})

	t.Run("server down mid-rotation", func(t *testing.T) {
		m, err := good.Mint(ctx, provider.MintRequest{Credential: "db", RunID: "run-2", Strategy: mysql.Overlap, Current: &first.version})
		if err != nil {
			t.Fatal(err)
		}
		v := provider.Version{ID: "v-run-2", AuthorityRef: m.AuthorityRef}
		db.Stop(t)
		_, err = good.Enable(ctx, provider.EnableRequest{Credential: "db", RunID: "run-2", Strategy: mysql.Overlap, Version: v, Value: m.Value, Previous: &first.version})
		if provider.KindOf(err) != provider.Retryable || provider.MayHaveChanged(err) {
			t.Fatalf("Enable with the server down: %v (%v), want retryable, nothing changed", err, provider.KindOf(err))
		}
		db.Start(t)
		mustLogin(t, db, ua, first.value, "after the outage, the old credential")
		if _, err := good.Enable(ctx, provider.EnableRequest{Credential: "db", RunID: "run-2", Strategy: mysql.Overlap, Version: v, Value: m.Value, Previous: &first.version}); err != nil {
			t.Fatalf("Enable retried after the outage: %v", err)
		}
		mustLogin(t, db, ub, m.Value, "the retried enable")
	})

	t.Run("grants changed by someone else", func(t *testing.T) {
		db.Exec(t, "GRANT DELETE ON `shop`.* TO '"+ua+"'@'%'")
		err := good.CheckManage(ctx, provider.CheckManageRequest{Credential: "db", Strategy: mysql.Overlap})
		want := "'" + ub + "'@'%' lacks GRANT SELECT, INSERT, DELETE ON `shop`.* that '" + ua + "'@'%' has"
		if provider.KindOf(err) != provider.Terminal || err == nil || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), " lacks ") != 2 {
			t.Fatalf("CheckManage with different grants: %v, want %q", err, want)
		}
		if strings.Contains(err.Error(), "*") && strings.Contains(err.Error(), "PASSWORD") {
			t.Errorf("the error shows a password hash: %v", err)
		}
		db.Exec(t, "REVOKE DELETE ON `shop`.* FROM '"+ua+"'@'%'")
	})

	t.Run("user dropped by someone else", func(t *testing.T) {
		m, err := good.Mint(ctx, provider.MintRequest{Credential: "db", RunID: "run-3", Strategy: mysql.Overlap, Current: &first.version})
		if err != nil {
			t.Fatal(err)
		}
		db.Exec(t, "DROP USER '"+ub+"'@'%'")
		_, err = good.Enable(ctx, provider.EnableRequest{Credential: "db", RunID: "run-3", Strategy: mysql.Overlap,
			Version: provider.Version{ID: "v-run-3", AuthorityRef: m.AuthorityRef}, Value: m.Value, Previous: &first.version})
		if provider.KindOf(err) != provider.Terminal || provider.MayHaveChanged(err) || !strings.Contains(err.Error(), ub) {
			t.Fatalf("Enable of a dropped user: %v, want terminal, nothing changed, naming %s", err, ub)
		}
		if strings.Contains(err.Error(), reveal(m.Value)) {
			t.Error("the error shows the value")
		}
		_, err = good.Mint(ctx, provider.MintRequest{Credential: "db", RunID: "run-4", Strategy: mysql.Overlap, Current: &first.version})
		if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("Mint for a dropped user: %v", err)
		}
		mustLogin(t, db, ua, first.value, "the old credential, with its alternate gone")
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  mysql.Config
		want string
	}{
		{mysql.Config{Users: []string{"a"}, AdminDSNEnv: "X"}, "exactly two"},
		{mysql.Config{Users: []string{"a", "a"}, AdminDSNEnv: "X"}, "exactly two"},
		{mysql.Config{Users: []string{"a", "b'c"}, AdminDSNEnv: "X"}, "quote"},
		{mysql.Config{Users: []string{"a", "b"}}, "admin connection"},
		{mysql.Config{Users: []string{"a", "b"}, AdminDSNEnv: "X", Admin: "y"}, "not both"},
		{mysql.Config{Users: []string{"a", strings.Repeat("x", 33)}, AdminDSNEnv: "X"}, "longer than 32"},
	} {
		var msgs []string
		for _, fe := range tc.cfg.Validate() {
			msgs = append(msgs, fe.Error())
		}
		if got := strings.Join(msgs, "; "); !strings.Contains(got, tc.want) {
			t.Errorf("Validate(%+v) = %q, want %q", tc.cfg, got, tc.want)
		}
	}
	if errs := (&mysql.Config{Users: []string{"a", "b"}, AdminDSNEnv: "X"}).Validate(); len(errs) != 0 {
		t.Errorf("a good config: %v", errs)
	}
}
