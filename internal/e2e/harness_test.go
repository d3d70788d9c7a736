package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
)

// bin holds the programs built once for every test: rotor itself and the test programs.
var bin struct{ rotor, keysvc, keyclient, pgclient, vaultclient, hookrecv, hooksend string }

// binDir is the folder they are built in; envBin hands it to a test run again in a
// namespace of its own, which uses them instead of building its own.
var binDir string

const envBin = "ROTOR_E2E_BIN"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envBin); dir != "" {
		// A test run again in a namespace of its own (smallFileSystem): its parent built them.
		bin.rotor, bin.keysvc = filepath.Join(dir, "rotor"), filepath.Join(dir, "keysvc")
		bin.keyclient, bin.pgclient = filepath.Join(dir, "keyclient"), filepath.Join(dir, "pgclient")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "rotor-e2e-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..")
	build := func(out, pkg string) string {
		p := filepath.Join(dir, out)
		cmd := exec.Command("go", "build", "-o", p, pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
		return p
	}
	bin.rotor = build("rotor", "./cmd/rotor")
	bin.keysvc = build("keysvc", "./internal/e2e/testprog/keysvc")
	bin.keyclient = build("keyclient", "./internal/e2e/testprog/keyclient")
	bin.pgclient = build("pgclient", "./internal/e2e/testprog/pgclient")
	bin.vaultclient = build("vaultclient", "./internal/e2e/testprog/vaultclient")
	bin.hookrecv = build("hookrecv", "./internal/e2e/testprog/hookrecv")
	bin.hooksend = build("hooksend", "./internal/e2e/testprog/hooksend")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ageKey writes a new age identity file and returns its recipient.
func ageKey(t *testing.T, path string) string {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return id.Recipient().String()
}

// result is one rotor process: its output and how it ended.
type result struct {
	stdout, stderr string
	code           int
	killed         bool
}

func (r result) String() string {
	return fmt.Sprintf("exit %d killed=%v\n--- stdout\n%s--- stderr\n%s", r.code, r.killed, r.stdout, r.stderr)
}

// rotor runs the rotor binary in dir with the given extra environment.
func rotor(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin.rotor, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ROTOR_STATE_DIR="+filepath.Join(dir, "state"), "ROTOR_INVENTORY="+filepath.Join(dir, "inventory"))
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.killed = ws.Signal() == syscall.SIGKILL
		}
	} else if err != nil {
		t.Fatalf("running rotor: %v", err)
	}
	return r
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// copyTree copies a directory (files and folders; no special files).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, info.Mode().Perm()|0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
