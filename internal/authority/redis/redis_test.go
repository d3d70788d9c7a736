package redis_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rotorhq/rotor/internal/authority/redis"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/provider/providertest"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/testenv"
)

// The tests run against a real redis-server (rung R) started by testenv, with the default
// user off, so every login is checked.

func TestMain(m *testing.M) { testenv.RunMain(m) }

const adminEnv = "ROTOR_TEST_REDIS_ADMIN"

func envWith(admin string) provider.Env {
	return provider.Env{Rand: rand.Reader, Now: time.Now, Getenv: func(k string) string {
		if k == adminEnv {
			return admin
		}
		return ""
	}}
}

func newAuthority(t *testing.T, srv *testenv.Redis, user string) *redis.Authority {
	t.Helper()
	a, err := redis.New(redis.Config{Address: srv.Addr, AdminEnv: adminEnv, User: user}, envWith(srv.AdminUser+":"+srv.AdminPassword))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestConformance(t *testing.T) {
	srv := testenv.StartRedis(t)
	providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
		user := testenv.UniqueName("app")
		srv.CreateUser(t, user, rand.Text())
		return providertest.AuthorityFixture{Authority: newAuthority(t, srv, user), Credential: "cache", Strategies: []string{redis.Overlap, redis.InPlace}}
	})
}

// lifecycle mints and enables a first and a second value, as two rotations would.
func lifecycle(t *testing.T, a *redis.Authority, strategy string) (first, second provider.Version, v1, v2 secret.Value) {
	t.Helper()
	ctx := context.Background()
	m1, err := a.Mint(ctx, provider.MintRequest{Credential: "cache", RunID: "run-1", Strategy: strategy})
	if err != nil {
		t.Fatal(err)
	}
	first = provider.Version{ID: "v1", AuthorityRef: m1.AuthorityRef}
	if _, err := a.Enable(ctx, provider.EnableRequest{Credential: "cache", RunID: "run-1", Strategy: strategy, Version: first, Value: m1.Value}); err != nil {
		t.Fatal(err)
	}
	m2, err := a.Mint(ctx, provider.MintRequest{Credential: "cache", RunID: "run-2", Strategy: strategy, Current: &first})
	if err != nil {
		t.Fatal(err)
	}
	second = provider.Version{ID: "v2", AuthorityRef: m2.AuthorityRef}
	if _, err := a.Enable(ctx, provider.EnableRequest{Credential: "cache", RunID: "run-2", Strategy: strategy, Version: second, Value: m2.Value, Previous: &first}); err != nil {
		t.Fatal(err)
	}
	return first, second, m1.Value, m2.Value
}

func wantAuth(t *testing.T, srv *testenv.Redis, user string, v secret.Value, accepted bool, when string) {
	t.Helper()
	pw := v.Reveal()
	defer clear(pw)
	err := srv.Auth(context.Background(), user, string(pw))
	switch {
	case accepted && err != nil:
		t.Errorf("%s: AUTH refused: %v", when, err)
	case !accepted && err == nil:
		t.Errorf("%s: AUTH accepted, want WRONGPASS", when)
	case !accepted && !strings.HasPrefix(err.Error(), "WRONGPASS"):
		t.Errorf("%s: AUTH failed with %v, want WRONGPASS", when, err)
	}
}

// TestOverlapLifecycle: during the overlap old and new both log in; after revoke the server
// refuses the old one and takes the new; restore makes the old one work again. The user's
// rules are the same at the end.
func TestOverlapLifecycle(t *testing.T) {
	srv := testenv.StartRedis(t)
	user := testenv.UniqueName("app")
	srv.CreateUser(t, user, rand.Text())
	ctx := context.Background()
	adm := srv.Admin()
	defer adm.Close()
	before := rules(t, adm, user)
	a := newAuthority(t, srv, user)
	first, second, v1, v2 := lifecycle(t, a, redis.Overlap)
	wantAuth(t, srv, user, v1, true, "overlap, old")
	wantAuth(t, srv, user, v2, true, "overlap, new")
	if _, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "cache", RunID: "run-2", Strategy: redis.Overlap, Previous: first, Current: second}); err != nil {
		t.Fatal(err)
	}
	wantAuth(t, srv, user, v1, false, "after revoke, old")
	wantAuth(t, srv, user, v2, true, "after revoke, new")
	if err := a.Restore(ctx, provider.RestoreRequest{Credential: "cache", RunID: "run-2", Strategy: redis.Overlap, Version: first, Value: v1}); err != nil {
		t.Fatal(err)
	}
	wantAuth(t, srv, user, v1, true, "after restore, old")
	if after := rules(t, adm, user); after != before {
		t.Errorf("the user's rules changed:\nbefore %s\nafter  %s", before, after)
	}
}

// rules is the user's ACL rule line without its passwords.
func rules(t *testing.T, adm *goredis.Client, user string) string {
	t.Helper()
	list, err := adm.Do(context.Background(), "ACL", "LIST").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		f := strings.Fields(l)
		if len(f) > 1 && f[1] == user {
			var keep []string
			for _, x := range f {
				if !strings.HasPrefix(x, "#") {
					keep = append(keep, x)
				}
			}
			return strings.Join(keep, " ")
		}
	}
	t.Fatalf("user %s not in ACL LIST", user)
	return ""
}

func TestInPlaceLifecycle(t *testing.T) {
	srv := testenv.StartRedis(t)
	user := testenv.UniqueName("app")
	srv.CreateUser(t, user, rand.Text())
	a := newAuthority(t, srv, user)
	first, _, v1, v2 := lifecycle(t, a, redis.InPlace)
	wantAuth(t, srv, user, v1, false, "after in-place enable, old")
	wantAuth(t, srv, user, v2, true, "after in-place enable, new")
	if err := a.Restore(context.Background(), provider.RestoreRequest{Credential: "cache", RunID: "run-2", Strategy: redis.InPlace, Version: first, Value: v1}); err != nil {
		t.Fatal(err)
	}
	wantAuth(t, srv, user, v1, true, "after restore, old")
	wantAuth(t, srv, user, v2, false, "after restore, new")
}

// TestUsage: a connection authenticated before the cutover is residual use, named by its
// client name; once it closes, usage passes.
func TestUsage(t *testing.T) {
	srv := testenv.StartRedis(t)
	user := testenv.UniqueName("app")
	srv.CreateUser(t, user, rand.Text())
	ctx := context.Background()
	a := newAuthority(t, srv, user)
	first, second, v1, _ := lifecycle(t, a, redis.Overlap)
	pw := v1.Reveal()
	old := goredis.NewClient(&goredis.Options{Addr: srv.Addr, Username: user, Password: string(pw), ClientName: "forgotten-worker", Protocol: 2, DisableIdentity: true, PoolSize: 1})
	clear(pw)
	defer old.Close()
	if err := old.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	cutover := time.Now().Add(2 * time.Second) // the connection is at least a second older than this
	got, err := a.Usage(ctx, provider.UsageRequest{Credential: "cache", Version: first, Since: cutover})
	if err != nil {
		t.Fatal(err)
	}
	if got.Verdict != provider.Fail || got.Count != 1 || len(got.Who) != 1 || !strings.HasPrefix(got.Who[0], "forgotten-worker@127.0.0.1:") {
		t.Fatalf("usage with an old connection open = %+v, want fail naming forgotten-worker", got)
	}
	if _, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "cache", RunID: "run-2", Strategy: redis.Overlap, Previous: first, Current: second}); err != nil {
		t.Fatal(err)
	}
	if err := old.Ping(ctx).Err(); err != nil {
		t.Fatalf("the connection authenticated before revoke was cut: %v", err)
	}
	old.Close()
	if got, err = a.Usage(ctx, provider.UsageRequest{Credential: "cache", Version: first, Since: cutover}); err != nil || got.Verdict != provider.Pass {
		t.Fatalf("usage after the connection closed = %+v, %v; want pass", got, err)
	}
	if got, err = a.Usage(ctx, provider.UsageRequest{Credential: "cache", Version: first, Since: time.Now().Add(-time.Hour)}); err != nil || got.Verdict != provider.Pass {
		t.Fatalf("usage = %+v, %v; want pass", got, err)
	}
}

// TestFaults: wrong admin credentials, a missing user, a user edited by someone else and a
// server gone: each a clear, classified error, with the old password still valid.
func TestFaults(t *testing.T) {
	srv := testenv.StartRedis(t)
	user := testenv.UniqueName("app")
	srv.CreateUser(t, user, rand.Text())
	ctx := context.Background()

	t.Run("wrong admin password", func(t *testing.T) {
		a, err := redis.New(redis.Config{Address: srv.Addr, AdminEnv: adminEnv, User: user}, envWith(srv.AdminUser+":not-the-password"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Mint(ctx, provider.MintRequest{Credential: "cache", RunID: "r", Strategy: redis.Overlap})
		if provider.KindOf(err) != provider.Denied || provider.MayHaveChanged(err) || !strings.Contains(err.Error(), "WRONGPASS") ||
			!strings.Contains(err.Error(), adminEnv) || strings.Contains(err.Error(), "not-the-password") {
			t.Fatalf("Mint with a wrong admin password: %v (kind %v)", err, provider.KindOf(err))
		}
		err = a.CheckManage(ctx, provider.CheckManageRequest{Credential: "cache", Strategy: redis.Overlap})
		if provider.KindOf(err) != provider.Denied {
			t.Fatalf("CheckManage with a wrong admin password: %v", err)
		}
	})
	t.Run("admin may not manage users", func(t *testing.T) {
		weak := testenv.UniqueName("weak")
		srv.CreateUser(t, weak, "weakpw")
		adm := srv.Admin()
		defer adm.Close()
		if err := adm.Do(ctx, "ACL", "SETUSER", weak, "-@all", "+ping", "+acl|whoami").Err(); err != nil {
			t.Fatal(err)
		}
		a, _ := redis.New(redis.Config{Address: srv.Addr, AdminEnv: adminEnv, User: user}, envWith(weak+":weakpw"))
		err := a.CheckManage(ctx, provider.CheckManageRequest{Credential: "cache", Strategy: redis.Overlap})
		if provider.KindOf(err) != provider.Denied || !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("CheckManage as an admin without ACL rights: %v", err)
		}
	})
	t.Run("missing user", func(t *testing.T) {
		a := newAuthority(t, srv, "nobody-here")
		_, err := a.Mint(ctx, provider.MintRequest{Credential: "cache", RunID: "r", Strategy: redis.Overlap})
		if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), "nobody-here does not exist") {
			t.Fatalf("Mint for a missing user: %v", err)
		}
	})
	t.Run("user edited by someone else", func(t *testing.T) {
		u := testenv.UniqueName("edited")
		srv.CreateUser(t, u, rand.Text())
		a := newAuthority(t, srv, u)
		first, second, v1, v2 := lifecycle(t, a, redis.Overlap)
		adm := srv.Admin()
		defer adm.Close()
		pw := v2.Reveal()
		err := adm.Do(ctx, "ACL", "SETUSER", u, "<"+string(pw)).Err() // someone removes the new password
		clear(pw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Revoke(ctx, provider.RevokeRequest{Credential: "cache", RunID: "run-2", Strategy: redis.Overlap, Previous: first, Current: second})
		if provider.KindOf(err) != provider.NeedsHuman || provider.MayHaveChanged(err) || !strings.Contains(err.Error(), "someone changed the user") {
			t.Fatalf("Revoke after the user was edited: %v", err)
		}
		wantAuth(t, srv, u, v1, true, "after a refused revoke, old")
	})
	t.Run("nopass user", func(t *testing.T) {
		u := testenv.UniqueName("nopass")
		srv.CreateUser(t, u, rand.Text())
		adm := srv.Admin()
		defer adm.Close()
		if err := adm.Do(ctx, "ACL", "SETUSER", u, "nopass").Err(); err != nil {
			t.Fatal(err)
		}
		err := newAuthority(t, srv, u).CheckManage(ctx, provider.CheckManageRequest{Credential: "cache", Strategy: redis.Overlap})
		if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), "nopass") {
			t.Fatalf("CheckManage of a nopass user: %v", err)
		}
	})
	t.Run("server down mid-rotation", func(t *testing.T) {
		down := testenv.StartRedis(t)
		u := testenv.UniqueName("app")
		down.CreateUser(t, u, rand.Text())
		a := newAuthority(t, down, u)
		first, second, _, _ := lifecycle(t, a, redis.Overlap)
		if err := down.Stop(); err != nil {
			t.Fatal(err)
		}
		_, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "cache", RunID: "run-2", Strategy: redis.Overlap, Previous: first, Current: second})
		var pe *provider.Error
		if provider.KindOf(err) != provider.Retryable || provider.MayHaveChanged(err) || !errors.As(err, &pe) || !strings.Contains(err.Error(), down.Addr) {
			t.Fatalf("Revoke with the server down: %v (kind %v)", err, provider.KindOf(err))
		}
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  redis.Config
		want string
	}{
		{redis.Config{Address: "h:6379", AdminEnv: "E", User: "u"}, ""},
		{redis.Config{AdminEnv: "E", User: "u"}, "address"},
		{redis.Config{Address: "h", AdminEnv: "E", User: "u"}, "address: want host:port"},
		{redis.Config{Address: "h:1", User: "u"}, "admin_env"},
		{redis.Config{Address: "h:1", AdminEnv: "E"}, "user"},
		{redis.Config{Address: "h:1", AdminEnv: "E", User: "a b"}, "spaces"},
		{redis.Config{Address: "h:1", AdminEnv: "E", User: "default"}, "default user"},
	} {
		var got []string
		for _, fe := range tc.cfg.Validate() {
			got = append(got, fe.Error())
		}
		s := strings.Join(got, "; ")
		if tc.want == "" && s != "" || tc.want != "" && !strings.Contains(s, tc.want) {
			t.Errorf("Validate(%+v) = %q, want %q", tc.cfg, s, tc.want)
		}
	}
}
