package exec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

func writeScript(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "reload.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func testEnv(base string, vars map[string]string) provider.Env {
	return provider.Env{BaseDir: base, Getenv: func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return os.Getenv(k)
	}}
}

func kindOf(t *testing.T, err error) provider.ErrorKind {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
	}
	return pe.Kind
}

func TestReloadPassesIdentifiersAndNamedEnvironment(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, `echo "$ROTOR_CREDENTIAL/$ROTOR_CONSUMER/$ROTOR_VERSION/$PGPASSFILE/${EXECUTOR_TOKEN:-none}" > out; pwd >> out`)
	r, err := New(&Config{Command: []string{"./reload.sh"}, Env: map[string]string{"PGPASSFILE": "ORDERS_PGPASS"}},
		testEnv(dir, map[string]string{"ORDERS_PGPASS": "/etc/orders/pgpass", "EXECUTOR_TOKEN": "s3cr3t"}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.Reload(context.Background(), provider.ReloadRequest{Credential: "orders-db", Consumer: "orders-api", Version: provider.Version{ID: "7"}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "out"))
	if got, want := string(out), "orders-db/orders-api/7//etc/orders/pgpass/none\n"+dir+"\n"; got != want {
		t.Fatalf("command saw %q, want %q", got, want)
	}
	if !strings.Contains(resp.Detail, "exited with status 0") {
		t.Fatalf("detail %q", resp.Detail)
	}
}

func TestReloadNonZeroExit(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, `echo "password=hunter2 rejected" >&2; exit 4`)
	r, err := New(&Config{Command: []string{"./reload.sh"}}, testEnv(dir, nil))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.Reload(context.Background(), provider.ReloadRequest{Credential: "c", Consumer: "k"})
	if kindOf(t, err) != provider.Terminal {
		t.Fatalf("kind %v, want terminal", kindOf(t, err))
	}
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode != 4 || !strings.Contains(ee.Detail(), "rejected") {
		t.Fatalf("err %v, exit error %+v", err, ee)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the error text carries the command's output: %q", err)
	}
	if !strings.Contains(err.Error(), "status 4") || !strings.Contains(resp.Detail, "hunter2 rejected") {
		t.Fatalf("err %q, detail %q", err, resp.Detail)
	}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func readPID(t *testing.T, p string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(p)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReloadTimeoutKillsTheWholeGroup(t *testing.T) {
	dir := t.TempDir()
	// The script and its child ignore SIGTERM (an ignored signal stays ignored across exec);
	// the child also keeps the output pipes open. Only killing the group ends them.
	writeScript(t, dir, `trap '' TERM
sleep 300 &
echo $! > child.pid
echo $$ > leader.pid
echo started
wait`)
	r, err := New(&Config{Command: []string{"./reload.sh"}}, testEnv(dir, nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp, err := r.Reload(ctx, provider.ReloadRequest{Credential: "c", Consumer: "k"})
	elapsed := time.Since(start)
	if kindOf(t, err) != provider.Retryable {
		t.Fatalf("kind %v (%v), want retryable", kindOf(t, err), err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("Reload returned after %v", elapsed)
	}
	if !strings.Contains(resp.Detail, "timed out") || !strings.Contains(resp.Detail, "started") {
		t.Fatalf("detail %q", resp.Detail)
	}
	for _, name := range []string{"leader.pid", "child.pid"} {
		pid := readPID(t, filepath.Join(dir, name))
		deadline := time.Now().Add(5 * time.Second)
		for alive(pid) {
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("%s %d still runs after the timeout", name, pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestReloadCannotStart(t *testing.T) {
	r, err := New(&Config{Command: []string{"./missing.sh"}}, testEnv(t.TempDir(), nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Reload(context.Background(), provider.ReloadRequest{})
	if kindOf(t, err) != provider.Terminal {
		t.Fatalf("kind %v, want terminal", kindOf(t, err))
	}
}

func TestReloadMissingEnvironmentSource(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, `exit 0`)
	r, err := New(&Config{Command: []string{"./reload.sh"}, Env: map[string]string{"TOKEN_FILE": "ROTOR_TEST_UNSET_VAR"}}, testEnv(dir, nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Reload(context.Background(), provider.ReloadRequest{})
	if kindOf(t, err) != provider.Terminal || !strings.Contains(err.Error(), "ROTOR_TEST_UNSET_VAR") {
		t.Fatalf("err %v", err)
	}
}

func TestValidate(t *testing.T) {
	cfg := &Config{Env: map[string]string{"1BAD": "X", "ROTOR_VERSION": "X", "OK": "not a name"}}
	var fields []string
	for _, fe := range cfg.Validate() {
		fields = append(fields, fe.Field)
	}
	if got, want := strings.Join(fields, ","), "command,env.1BAD,env.OK,env.ROTOR_VERSION"; got != want {
		t.Fatalf("fields %s, want %s", got, want)
	}
	if _, err := New(cfg, provider.Env{}); kindOf(t, err) != provider.Terminal {
		t.Fatal("New accepted an invalid config")
	}
}
