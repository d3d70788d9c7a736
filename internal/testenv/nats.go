package testenv

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"
)

// EnvNATSBin is the nats-server executable to run instead of the one found in PATH or
// /usr/sbin.
const EnvNATSBin = "ROTOR_TEST_NATS_BIN"

// NATS is a nats-server started for a test on 127.0.0.1 with password checks on: its
// configuration includes AuthFile inside its authorization block, writes its pid to PIDFile
// and serves monitoring on MonitorURL. AuthFile holds the users the test gave StartNATS, after
// a probe user of testenv's own. Everything is under Dir.
type NATS struct {
	Binary     string
	Addr       string // 127.0.0.1:<port>
	URL        string // nats://127.0.0.1:<port>
	MonitorURL string // http://127.0.0.1:<monitoring port>
	Dir        string // removed when it stops
	ConfigFile string
	AuthFile   string
	PIDFile    string
	LogFile    string

	name string
	srv  *daemon
}

// probeUser is the user testenv logs in as to prove that passwords are checked.
const probeUser = "rotor-probe"

// StartNATS starts nats-server (Debian's, or $ROTOR_TEST_NATS_BIN) on free ports of
// 127.0.0.1 with users (NATS configuration: user maps, one a line, as {user: a, password:
// "…"}) in its auth file, proves that a wrong password is refused and a right one accepted,
// and stops it when the test ends. The machine's own NATS (4222, without auth) is never used.
func StartNATS(t testing.TB, users string) *NATS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	n, err := startNATS(ctx, users)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	stopAtEnd(t, "nats-server log", n.LogFile, n.Stop)
	t.Logf("testenv: nats-server on %s (monitoring %s) started in %s", n.Addr, n.MonitorURL, time.Since(began).Round(time.Millisecond))
	return n
}

// Stop shuts nats-server down and removes its directory. Calling it again does nothing.
func (n *NATS) Stop() error {
	return n.srv.shutdown("nats-server on "+n.Addr, func(p *process) error {
		err := p.stop()
		var ee *exec.ExitError
		if errors.As(err, &ee) { // nats-server exits 1 on SIGTERM
			return nil
		}
		return err
	})
}

func startNATS(ctx context.Context, users string) (_ *NATS, err error) {
	bin, err := findNATS(os.Getenv(EnvNATSBin))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rotor-nats-")
	if err != nil {
		return nil, fmt.Errorf("create nats directory: %w", err)
	}
	n := &NATS{Binary: bin, Dir: dir, ConfigFile: filepath.Join(dir, "nats.conf"), AuthFile: filepath.Join(dir, "users.conf"),
		PIDFile: filepath.Join(dir, "nats.pid"), LogFile: filepath.Join(dir, "nats.log"), name: "rotor-test-" + rand.Text()[:12], srv: &daemon{dir: dir}}
	defer cleanUpOnError(&err, n.Stop)
	probePassword := rand.Text()
	hash, err := bcrypt.GenerateFromPassword([]byte(probePassword), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	auth := fmt.Sprintf("# Users of a test nats-server (internal/testenv).\nusers = [\n  {user: %s, password: \"%s\"}\n%s\n]\n", probeUser, hash, users)
	if err := os.WriteFile(n.AuthFile, []byte(auth), 0o600); err != nil {
		return nil, err
	}
	if err := withFreePort(func(port int) error {
		mport, err := freePort()
		if err != nil {
			return err
		}
		n.Addr, n.URL = "127.0.0.1:"+strconv.Itoa(port), "nats://127.0.0.1:"+strconv.Itoa(port)
		n.MonitorURL = "http://127.0.0.1:" + strconv.Itoa(mport)
		conf := fmt.Sprintf("# Written by rotor's internal/testenv for one test run.\nserver_name: %s\nhost: 127.0.0.1\nport: %d\nhttp: \"127.0.0.1:%d\"\npid_file: %q\n"+
			"authorization {\n  include \"users.conf\"\n}\n", n.name, port, mport, n.PIDFile)
		if err := os.WriteFile(n.ConfigFile, []byte(conf), 0o600); err != nil {
			return err
		}
		return n.srv.launch(ctx, attempt{
			name:      "nats-server",
			addr:      n.Addr,
			cmd:       exec.Command(bin, "-c", n.ConfigFile),
			log:       n.LogFile,
			portTaken: "address already in use",
			ready:     n.ours,
		})
	}); err != nil {
		return nil, err
	}
	if err := n.CanLogin(ctx, probeUser, "wrong-"+probePassword); err == nil || !IsAuthorizationViolation(err) {
		return nil, fmt.Errorf("nats-server on %s did not refuse a wrong password (got %v): it does not check passwords", n.Addr, err)
	}
	if err := n.CanLogin(ctx, probeUser, probePassword); err != nil {
		return nil, fmt.Errorf("nats-server on %s refused the probe user's right password: %v", n.Addr, err)
	}
	return n, nil
}

// ours says whether the monitoring endpoint answers as the server started.
func (n *NATS) ours(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.MonitorURL+"/varz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var varz struct {
		ServerName string `json:"server_name"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&varz); err != nil {
		return err
	}
	if varz.ServerName != n.name {
		return fmt.Errorf("%s is nats-server %q, not ours: another server holds the port?", n.MonitorURL, varz.ServerName)
	}
	return nil
}

// Connect opens a client connection as user with password, named name, without reconnects.
// The caller closes it.
func (n *NATS) Connect(ctx context.Context, user, password, name string) (*natsgo.Conn, error) {
	deadline, ok := ctx.Deadline()
	timeout := 5 * time.Second
	if ok && time.Until(deadline) < timeout {
		timeout = time.Until(deadline)
	}
	return natsgo.Connect(n.URL, natsgo.UserInfo(user, password), natsgo.Name(name), natsgo.NoReconnect(), natsgo.Timeout(timeout))
}

// CanLogin connects as user with password and round-trips a flush: nil when the server
// accepted the login.
func (n *NATS) CanLogin(ctx context.Context, user, password string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := n.Connect(ctx, user, password, "rotor-testenv-login")
	if err != nil {
		return err
	}
	defer c.Close()
	return c.FlushWithContext(ctx)
}

// IsAuthorizationViolation says whether err is the server refusing a login.
func IsAuthorizationViolation(err error) bool {
	return errors.Is(err, natsgo.ErrAuthorization) || (err != nil && strings.Contains(strings.ToLower(err.Error()), "authorization violation"))
}

// findNATS returns nats-server: env if set, else in PATH, else Debian's /usr/sbin.
func findNATS(env string) (string, error) {
	return executable{
		name:   "nats-server",
		envVar: EnvNATSBin,
		noun:   "a nats-server binary",
		paths:  []string{"/usr/sbin/nats-server", "/usr/bin/nats-server"},
		where:  "PATH, /usr/sbin or /usr/bin",
		needs:  "NATS",
		hints: []string{
			"run scripts/test.sh, which installs it, or: apt-get install -y --no-install-recommends nats-server",
			"or: go install github.com/nats-io/nats-server/v2@latest",
		},
	}.find(env)
}
