package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// EnvRedisBin is the redis-server executable to run instead of the one found in PATH or
// /usr/bin.
const EnvRedisBin = "ROTOR_TEST_REDIS_BIN"

// Redis is a redis-server started for a test on 127.0.0.1, with no persistence and password
// checks on: the default user is off, and AdminUser (all commands, keys and channels) logs in
// with AdminPassword. Its configuration and log are under Dir.
type Redis struct {
	Binary        string
	Port          int
	Addr          string // 127.0.0.1:<Port>
	Dir           string // removed when it stops
	LogFile       string
	AdminUser     string
	AdminPassword string // random, for this server only

	srv *daemon
}

// StartRedis starts redis-server (Debian's, or $ROTOR_TEST_REDIS_BIN) on a free port of
// 127.0.0.1, waits until it answers the admin, and stops it when the test ends. It fails the
// test, with a hint on how to install it, when redis-server is missing. The machine's own
// Redis (6379, without auth) is never used: it would accept any login and prove nothing.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	r, err := startRedis(ctx)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	stopAtEnd(t, "redis log", r.LogFile, r.Stop)
	t.Logf("testenv: redis-server on %s started in %s", r.Addr, time.Since(began).Round(time.Millisecond))
	return r
}

// Stop shuts redis-server down (SIGINT; nothing is saved) and removes its directory. Calling
// it again does nothing.
func (r *Redis) Stop() error { return r.srv.shutdown("redis-server on "+r.Addr, (*process).stop) }

func startRedis(ctx context.Context) (_ *Redis, err error) {
	bin, err := findRedis(os.Getenv(EnvRedisBin))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rotor-redis-")
	if err != nil {
		return nil, fmt.Errorf("create redis directory: %w", err)
	}
	r := &Redis{Binary: bin, Dir: dir, LogFile: filepath.Join(dir, "redis.log"), AdminUser: "rotor-admin",
		AdminPassword: rand.Text(), srv: &daemon{dir: dir}}
	defer cleanUpOnError(&err, r.Stop)
	sum := sha256.Sum256([]byte(r.AdminPassword))
	if err := withFreePort(func(port int) error {
		r.Port, r.Addr = port, "127.0.0.1:"+strconv.Itoa(port)
		conf := fmt.Sprintf("# Written by rotor's internal/testenv for one test run.\nport %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\n"+
			"user default off resetpass -@all\nuser %s on #%s ~* &* +@all\n", port, dir, r.AdminUser, hex.EncodeToString(sum[:]))
		confFile := filepath.Join(dir, "redis.conf")
		if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
			return err
		}
		return r.srv.launch(ctx, attempt{
			name:      "redis-server",
			addr:      r.Addr,
			cmd:       exec.Command(bin, confFile),
			log:       r.LogFile,
			portTaken: "address already in use",
			ready: func(ctx context.Context) error {
				c := r.Admin()
				defer c.Close()
				got, err := c.ConfigGet(ctx, "dir").Result()
				if err != nil {
					return err
				}
				if got["dir"] != dir {
					return fmt.Errorf("%s is a Redis serving %s, not ours: another server holds the port?", r.Addr, got["dir"])
				}
				return nil
			},
		})
	}); err != nil {
		return nil, err
	}
	return r, nil
}

// Admin is a client logged in as the admin user. The caller closes it.
func (r *Redis) Admin() *goredis.Client {
	return r.Client(r.AdminUser, r.AdminPassword)
}

// Client is a client that logs in as user with password on each connection (none if user is
// empty), without retries. The caller closes it.
func (r *Redis) Client(user, password string) *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: r.Addr, Username: user, Password: password,
		Protocol: 2, DisableIdentity: true, MaxRetries: -1, PoolSize: 1, DialTimeout: 5 * time.Second})
}

// CreateUser creates an ACL user allowed everything, with password (sent as its SHA-256).
func (r *Redis) CreateUser(t testing.TB, user, password string) {
	t.Helper()
	c := r.Admin()
	defer c.Close()
	sum := sha256.Sum256([]byte(password))
	if err := c.Do(context.Background(), "ACL", "SETUSER", user, "reset", "on", "#"+hex.EncodeToString(sum[:]), "~*", "&*", "+@all").Err(); err != nil {
		t.Fatalf("testenv: create redis user %s: %v", user, err)
	}
}

// Auth sends AUTH user password on a fresh, unauthenticated connection, explicitly, and
// returns the server's answer: nil when accepted, WRONGPASS when refused. (redis-cli and
// clients given credentials fall back to the default user after a failed AUTH, so only an
// explicit AUTH proves a rejection.)
func (r *Redis) Auth(ctx context.Context, user, password string) error {
	c := r.Client("", "")
	defer c.Close()
	return c.Do(ctx, "AUTH", user, password).Err()
}

// findRedis returns redis-server: env if set, else in PATH, else Debian's /usr/bin.
func findRedis(env string) (string, error) {
	return executable{
		name:   "redis-server",
		envVar: EnvRedisBin,
		noun:   "a redis-server binary",
		paths:  []string{"/usr/bin/redis-server"},
		where:  "PATH or /usr/bin",
		needs:  "Redis",
		hints: []string{
			"run scripts/test.sh, which installs it, or: apt-get install -y --no-install-recommends redis-server",
			"Debian's package starts a redis-server service on :6379; the tests do not use it (systemctl disable --now redis-server)",
		},
	}.find(env)
}
