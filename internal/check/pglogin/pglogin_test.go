package pglogin_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/check/pglogin"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.RunMain(m) }

func newCheck(t *testing.T, cfg pglogin.Config) *pglogin.Checker {
	t.Helper()
	c, err := pglogin.New(&cfg, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// request proves version v1 of role with the value password (nil: no way to read it).
func request(role string, password *string) provider.CheckRequest {
	req := provider.CheckRequest{Check: "orders-db-login", Credential: "orders-db", Consumer: "orders-api",
		Current: provider.Version{ID: "v1", AuthorityRef: role}, Now: time.Now()}
	if password != nil {
		p := *password
		req.Value = func(context.Context) (secret.Value, error) { return secret.FromString(p), nil }
	}
	return req
}

func run(t *testing.T, c *pglogin.Checker, req provider.CheckRequest) provider.CheckResult {
	t.Helper()
	res, err := c.Check(t.Context(), req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}

// The check logs in as the version's role with the value: the right one passes, a wrong one
// fails with the reason, a role that may not log in fails, a query the role may not run
// fails; no answer from the server, or no value, is unknown. No result holds the value.
func TestCheck(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	role, password := testenv.UniqueName("orders_a"), rand.Text()
	pg.CreateRole(t, role, password)
	wrong := rand.Text()
	cfg := pglogin.Config{Host: pg.Host, Port: pg.Port, Database: pg.Database, SSLMode: "disable"}
	c := newCheck(t, cfg)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := cfg
	down.Port = l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now

	nologin := testenv.UniqueName("orders_b")
	pg.CreateRole(t, nologin, password)
	pg.Exec(t, "ALTER ROLE "+nologin+" NOLOGIN")

	table := testenv.UniqueName("orders")
	pg.Exec(t, "CREATE TABLE public."+table+" (id int)")
	t.Cleanup(func() { pg.Exec(t, "DROP TABLE IF EXISTS public."+table) })
	denied := cfg
	denied.Query = "SELECT count(*) FROM public." + table

	failing := func(context.Context) (secret.Value, error) {
		return secret.Value{}, provider.Errorf(provider.Denied, "read", "identity orders-api may not read the credential")
	}
	for _, tc := range []struct {
		name    string
		c       *pglogin.Checker
		req     provider.CheckRequest
		verdict provider.Verdict
		reason  string
	}{
		{"right value", c, request(role, &password), provider.Pass, "logged in as role " + role},
		{"wrong value", c, request(role, &wrong), provider.Fail, "password authentication failed for role " + role},
		{"role may not log in", c, request(nologin, &password), provider.Fail, "role " + nologin + " may not log in"},
		{"query refused", newCheck(t, denied), request(role, &password), provider.Fail, "logged in as role " + role + ", but the query failed: permission denied"},
		{"server down", newCheck(t, down), request(role, &password), provider.Unknown, "could not reach PostgreSQL"},
		{"no value", c, request(role, nil), provider.Unknown, "cannot be read"},
		{"value unreadable", c, func() provider.CheckRequest { r := request(role, &password); r.Value = failing; return r }(), provider.Unknown, "may not read"},
		{"no role", c, request("", &password), provider.Unknown, "no role recorded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, tc.c, tc.req)
			if res.Verdict != tc.verdict || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("got %s (%s), want %s with %q", res.Verdict, res.Reason, tc.verdict, tc.reason)
			}
			for _, s := range []string{res.Reason, res.Message, res.Observed} {
				if strings.Contains(s, password) || strings.Contains(s, wrong) {
					t.Errorf("the result shows a value: %q", s)
				}
			}
		})
	}
}

// A configured query runs as the role; once the role is granted what it reads, it passes.
func TestQuery(t *testing.T) {
	t.Parallel()
	pg := testenv.SharedPostgreSQL(t)
	role, password := testenv.UniqueName("reader"), rand.Text()
	pg.CreateRole(t, role, password)
	table := testenv.UniqueName("orders")
	pg.Exec(t, "CREATE TABLE public."+table+" (id int)")
	t.Cleanup(func() { pg.Exec(t, "DROP TABLE IF EXISTS public."+table) })
	pg.Exec(t, "GRANT SELECT ON public."+table+" TO "+role)
	c := newCheck(t, pglogin.Config{Host: pg.Host, Port: pg.Port, Database: pg.Database, SSLMode: "disable", Query: "SELECT count(*) FROM public." + table})
	if res := run(t, c, request(role, &password)); res.Verdict != provider.Pass {
		t.Fatalf("granted query: %s (%s)", res.Verdict, res.Reason)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg   pglogin.Config
		field string
	}{
		{pglogin.Config{Host: "db", Database: "orders"}, ""},
		{pglogin.Config{Database: "orders"}, "host"},
		{pglogin.Config{Host: "db"}, "database"},
		{pglogin.Config{Host: "db", Database: "orders", Port: 70000}, "port"},
		{pglogin.Config{Host: "db", Database: "orders", SSLMode: "prefer"}, "sslmode"},
	} {
		errs := tc.cfg.Validate()
		switch {
		case tc.field == "" && len(errs) > 0:
			t.Errorf("%+v: %v, want valid", tc.cfg, errs)
		case tc.field != "" && (len(errs) == 0 || errs[0].Field != tc.field):
			t.Errorf("%+v: %v, want an error on %s", tc.cfg, errs, tc.field)
		}
		if _, err := pglogin.New(&tc.cfg, provider.Env{}); (err == nil) != (tc.field == "") {
			t.Errorf("%+v: New: %v", tc.cfg, err)
		}
	}
	var pe *provider.Error
	if _, err := pglogin.New(&pglogin.Config{}, provider.Env{}); !errors.As(err, &pe) || pe.Kind != provider.Terminal {
		t.Errorf("New of an empty config: %v, want Terminal", err)
	}
}
