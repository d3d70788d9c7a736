package nats_test

import (
	"crypto/rand"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/authority/nats"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/provider/providertest"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/testenv"
)

// The tests run against a real nats-server started by testenv on free ports, which proves it
// refuses a wrong password before a test gets it; never the machine's NATS on 4222.

// other is a user the authority must leave byte for byte (odd spacing and a comment on purpose).
const other = `  {user:  billing ,   password: "$2a$04$Hh4ZC0EjKoH4.3UL5zyW0OadmuWhQE8WdsRSK0Rz7Q1tXq7xQ4Tm6"} # keep me`

// users are two alternating users with the same permissions, with unknown passwords, and other.
func users() string {
	perms := `permissions: {publish: "orders.>", subscribe: ["orders.>", "_INBOX.>"]}`
	return "  {user: app_a, password: \"" + rand.Text() + "\", " + perms + "}\n" +
		"  {user: app_b, password: \"" + rand.Text() + "\"\n   " + perms + "\n  }\n" + other
}

func start(t *testing.T) (*testenv.NATS, *nats.Authority) {
	t.Helper()
	srv := testenv.StartNATS(t, users())
	a, err := nats.New(nats.Config{Config: srv.AuthFile, Users: []string{"app_a", "app_b"}, PIDFile: srv.PIDFile, MonitorURL: srv.MonitorURL},
		provider.Env{Rand: rand.Reader, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return srv, a
}

func TestConformance(t *testing.T) {
	t.Parallel()
	providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
		_, a := start(t)
		return providertest.AuthorityFixture{Authority: a, Credential: "orders-nats", Strategies: []string{nats.Overlap}}
	})
}

type step struct {
	version provider.Version
	value   secret.Value
}

func mintEnable(t *testing.T, a *nats.Authority, run string, current *step) step {
	t.Helper()
	var cur *provider.Version
	if current != nil {
		cur = &current.version
	}
	m, err := a.Mint(t.Context(), provider.MintRequest{Credential: "nats", RunID: run, Strategy: nats.Overlap, Current: cur})
	if err != nil {
		t.Fatalf("Mint(%s): %v", run, err)
	}
	s := step{value: m.Value, version: provider.Version{ID: "v-" + run, Key: run, AuthorityRef: m.AuthorityRef}}
	resp, err := a.Enable(t.Context(), provider.EnableRequest{Credential: "nats", RunID: run, Strategy: nats.Overlap, Version: s.version, Value: s.value, Previous: cur})
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

func mustLogin(t *testing.T, srv *testenv.NATS, user string, v secret.Value, why string) {
	t.Helper()
	if err := srv.CanLogin(t.Context(), user, reveal(v)); err != nil {
		t.Fatalf("%s: user %s with its password: %v", why, user, err)
	}
}

func mustBeRefused(t *testing.T, srv *testenv.NATS, user string, v secret.Value, why string) {
	t.Helper()
	if err := srv.CanLogin(t.Context(), user, reveal(v)); !testenv.IsAuthorizationViolation(err) {
		t.Fatalf("%s: user %s: got %v, want an authorization violation", why, user, err)
	}
}

// The whole life against a server that checks passwords, with a forgotten client: mint → new
// accepted; overlap → old and new both accepted; a connection of the previous user still
// open → residual use fails naming it; revoke → old refused, new accepted, the forgotten
// connection closed; restore → old accepted again. The other user's entry is untouched and
// no value reaches the auth file.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	srv, a := start(t)
	ctx := t.Context()
	first := mintEnable(t, a, "run-1", nil)
	if first.version.AuthorityRef != "app_a" {
		t.Fatalf("first rotation minted for %q, want app_a", first.version.AuthorityRef)
	}
	mustLogin(t, srv, "app_a", first.value, "after the first enable")
	forgotten, err := srv.Connect(ctx, "app_a", reveal(first.value), "forgotten-worker")
	if err != nil {
		t.Fatal(err)
	}
	defer forgotten.Close()

	second := mintEnable(t, a, "run-2", &first)
	if second.version.AuthorityRef != "app_b" {
		t.Fatalf("second rotation minted for %q, want app_b", second.version.AuthorityRef)
	}
	mustLogin(t, srv, "app_b", second.value, "the new value")
	mustLogin(t, srv, "app_a", first.value, "during the overlap the previous value")
	mustBeRefused(t, srv, "app_b", first.value, "the previous value on the alternate")
	migrated, err := srv.Connect(ctx, "app_b", reveal(second.value), "migrated-worker")
	if err != nil {
		t.Fatal(err)
	}
	defer migrated.Close()

	u, err := a.Usage(ctx, provider.UsageRequest{Credential: "nats", Version: first.version, Since: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if u.Verdict != provider.Fail || u.Count != 1 || len(u.Who) != 1 || !strings.HasPrefix(u.Who[0], "forgotten-worker@127.0.0.1:") {
		t.Fatalf("Usage with a forgotten client: %+v, want a fail naming forgotten-worker@127.0.0.1:port", u)
	}
	t.Logf("Usage: %s", u.Detail)
	forgotten.Close()
	waitUsage(t, a, first.version, provider.Pass)

	for i := range 2 {
		resp, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "nats", RunID: "run-2", Strategy: nats.Overlap, Previous: first.version, Current: second.version})
		if err != nil {
			t.Fatalf("Revoke #%d: %v", i+1, err)
		}
		t.Logf("Revoke #%d: %s", i+1, resp.Detail)
	}
	mustBeRefused(t, srv, "app_a", first.value, "after revoke, the previous user with its old password")
	mustLogin(t, srv, "app_b", second.value, "after revoke, the current user")
	if err := migrated.FlushTimeout(5 * time.Second); err != nil {
		t.Errorf("the migrated consumer's connection after revoke: %v", err)
	}
	err = a.Restore(ctx, provider.RestoreRequest{Credential: "nats", RunID: "run-2", Strategy: nats.Overlap, Version: first.version})
	if provider.KindOf(err) != provider.NeedsHuman || provider.MayHaveChanged(err) {
		t.Fatalf("Restore of a revoked user without its value: %v, want needs-human, nothing changed", err)
	}
	if err := a.Restore(ctx, provider.RestoreRequest{Credential: "nats", RunID: "run-2", Strategy: nats.Overlap, Version: first.version, Value: first.value}); err != nil {
		t.Fatal(err)
	}
	mustLogin(t, srv, "app_a", first.value, "after restore, the previous user")
	mustLogin(t, srv, "app_b", second.value, "after restore, the current user")
	if err := a.CheckManage(ctx, provider.CheckManageRequest{Credential: "nats", Strategy: nats.Overlap}); err != nil {
		t.Errorf("CheckManage: %v", err)
	}

	data, err := os.ReadFile(srv.AuthFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\n"+other+"\n") {
		t.Errorf("the other user's entry changed:\n%s", data)
	}
	for _, s := range []step{first, second} {
		if strings.Contains(string(data), reveal(s.value)) {
			t.Errorf("the auth file holds the password of %s", s.version.AuthorityRef)
		}
	}
	mustLogin(t, srv, "app_a", first.value, "at the end")
}

func waitUsage(t *testing.T, a *nats.Authority, v provider.Version, want provider.Verdict) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, err := a.Usage(t.Context(), provider.UsageRequest{Credential: "nats", Version: v, Since: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if u.Verdict == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Usage: %+v, want %s", u, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Readiness names a difference of permissions; residual use with the monitor gone is
// unknown; a change with the monitor gone fails before the file is touched.
func TestFaults(t *testing.T) {
	t.Parallel()
	srv, a := start(t)
	ctx := t.Context()
	first := mintEnable(t, a, "run-1", nil)

	data, err := os.ReadFile(srv.AuthFile)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(data), `"orders.>", subscribe`, `"orders.>", allow_responses: true, subscribe`, 1)
	if err := os.WriteFile(srv.AuthFile, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	err = a.CheckManage(ctx, provider.CheckManageRequest{Credential: "nats", Strategy: nats.Overlap})
	if provider.KindOf(err) != provider.Terminal || err == nil || !strings.Contains(err.Error(), "user app_b lacks permissions:") {
		t.Fatalf("CheckManage with different permissions: %v", err)
	}
	if err := os.WriteFile(srv.AuthFile, data, 0o600); err != nil {
		t.Fatal(err)
	}

	// The monitoring endpoint gone: a closed port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	a, err = nats.New(nats.Config{Config: srv.AuthFile, Users: []string{"app_a", "app_b"}, PIDFile: srv.PIDFile, MonitorURL: "http://" + l.Addr().String()},
		provider.Env{Rand: rand.Reader, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.Usage(ctx, provider.UsageRequest{Credential: "nats", Version: first.version})
	if err != nil || u.Verdict != provider.Unknown {
		t.Fatalf("Usage with the monitor gone: %+v, %v; want unknown", u, err)
	}
	m, err := a.Mint(ctx, provider.MintRequest{Credential: "nats", RunID: "run-2", Strategy: nats.Overlap, Current: &first.version})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Enable(ctx, provider.EnableRequest{Credential: "nats", RunID: "run-2", Strategy: nats.Overlap,
		Version: provider.Version{ID: "v-run-2", AuthorityRef: m.AuthorityRef}, Value: m.Value, Previous: &first.version})
	if err == nil || provider.MayHaveChanged(err) {
		t.Fatalf("Enable with the server gone: %v, want an error, nothing changed", err)
	}
	if strings.Contains(err.Error(), reveal(m.Value)) {
		t.Error("the error shows the value")
	}
	after, err := os.ReadFile(srv.AuthFile)
	if err != nil || string(after) != string(data) {
		t.Errorf("the auth file changed although the server could not be reached (%v)", err)
	}
	mustLogin(t, srv, "app_a", first.value, "the old credential, after the failed enable")
}

func TestConfigValidate(t *testing.T) {
	good := nats.Config{Config: "/etc/nats/users.conf", Users: []string{"a", "b"}, PIDFile: "/run/nats.pid", MonitorURL: "http://127.0.0.1:8222"}
	if errs := good.Validate(); len(errs) != 0 {
		t.Errorf("a good config: %v", errs)
	}
	for _, tc := range []struct {
		edit func(*nats.Config)
		want string
	}{
		{func(c *nats.Config) { c.Users = []string{"a", "a"} }, "exactly two"},
		{func(c *nats.Config) { c.Users = []string{"a", "b c"} }, "blanks"},
		{func(c *nats.Config) { c.Config = "users.conf" }, "absolute path of the auth file"},
		{func(c *nats.Config) { c.PIDFile = "" }, "pid_file"},
		{func(c *nats.Config) { c.MonitorURL = "127.0.0.1:8222" }, "monitoring endpoint"},
	} {
		cfg := good
		tc.edit(&cfg)
		var msgs []string
		for _, fe := range cfg.Validate() {
			msgs = append(msgs, fe.Error())
		}
		if got := strings.Join(msgs, "; "); !strings.Contains(got, tc.want) {
			t.Errorf("Validate(%+v) = %q, want %q", cfg, got, tc.want)
		}
	}
}
