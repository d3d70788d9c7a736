package signal

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// startDaemon starts a shell that appends the name of each signal it gets to a file, and
// writes its pid file once its traps are in place.
func startDaemon(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `trap 'echo HUP >> got' HUP; trap 'echo USR1 >> got' USR1
echo $$ > daemon.pid.tmp && mv daemon.pid.tmp daemon.pid
while :; do sleep 0.05; done`)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "daemon.pid")); err == nil {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon never wrote its pid file")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitFor(t *testing.T, p, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(p)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %q", p, b, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func kindOf(t *testing.T, err error) provider.ErrorKind {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
	}
	return pe.Kind
}

func TestReloadDeliversTheSignal(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	r, err := New(&Config{PIDFile: "daemon.pid"}, provider.Env{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.Reload(context.Background(), provider.ReloadRequest{Credential: "c", Consumer: "k"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, filepath.Join(dir, "got"), "HUP\n")
	if want := "sent SIGHUP to pid " + strconv.Itoa(d.Process.Pid); !strings.Contains(resp.Detail, want) {
		t.Fatalf("detail %q, want %q", resp.Detail, want)
	}

	r, err = New(&Config{PIDFile: filepath.Join(dir, "daemon.pid"), Signal: "USR1"}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(context.Background(), provider.ReloadRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, filepath.Join(dir, "got"), "HUP\nUSR1\n")
}

func TestReloadBadPIDFiles(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"empty.pid":    "",
		"garbage.pid":  "not a pid\n",
		"zero.pid":     "0\n",
		"negative.pid": "-1\n",
		"dead.pid":     strconv.Itoa(dead.Process.Pid) + "\n",
		"long.pid":     strings.Repeat("1", 100),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"missing.pid", "empty.pid", "garbage.pid", "zero.pid", "negative.pid", "dead.pid", "long.pid"} {
		t.Run(name, func(t *testing.T) {
			r, err := New(&Config{PIDFile: name}, provider.Env{BaseDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Reload(context.Background(), provider.ReloadRequest{})
			if err == nil {
				t.Fatal("no error")
			}
			if kindOf(t, err) != provider.Terminal || !strings.Contains(err.Error(), filepath.Join(dir, name)) {
				t.Fatalf("got %v error %q; want terminal naming the file", kindOf(t, err), err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if errs := (&Config{Signal: "KILL"}).Validate(); len(errs) != 2 {
		t.Fatalf("got %v, want pid_file and signal errors", errs)
	}
	if _, err := New(&Config{PIDFile: "x", Signal: "KILL"}, provider.Env{}); kindOf(t, err) != provider.Terminal {
		t.Fatalf("New accepted signal KILL")
	}
}
