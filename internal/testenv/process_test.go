package testenv

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkStops stops a started server twice (the second call must do nothing) and checks that
// gone, one of its files, was removed and that nothing accepts connections on addr any more.
func checkStops(t *testing.T, stop func() error, gone, addr string) {
	t.Helper()
	if err := stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Stop, %s: %v; want it removed", gone, err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("after Stop, %s still accepts connections", addr)
	}
}

// shell is an attempt running a shell script in d's directory, logging to out.log there.
func shell(d *daemon, script string, ready func(context.Context) error) attempt {
	return attempt{
		name:      "sh",
		addr:      "127.0.0.1:1",
		cmd:       exec.Command("/bin/sh", "-c", script),
		log:       filepath.Join(d.dir, "out.log"),
		portTaken: "address already in use",
		ready:     ready,
	}
}

func notReady(context.Context) error { return errors.New("not yet") }

// A server that exits while starting is an error showing its log; errPortTaken only when it
// logged, in this attempt, that its port is taken.
func TestDaemonLaunchExit(t *testing.T) {
	d := &daemon{dir: t.TempDir()}
	err := d.launch(t.Context(), shell(d, "echo 'bind: Address already in use'; exit 1", notReady))
	if !errors.Is(err, errPortTaken) || !strings.Contains(err.Error(), "sh on 127.0.0.1:1") {
		t.Errorf("a server that could not bind: %v, want errPortTaken", err)
	}
	// The log keeps the previous attempt's line; it must not count for this one.
	err = d.launch(t.Context(), shell(d, "echo 'config error: boom'; exit 3", notReady))
	if err == nil || errors.Is(err, errPortTaken) {
		t.Fatalf("a server that failed otherwise: %v, want an error that is not errPortTaken", err)
	}
	for _, want := range []string{"sh exited while starting (exit status 3)", "log " + filepath.Join(d.dir, "out.log"), "config error: boom"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if d.proc != nil {
		t.Error("an exited process is still held")
	}
}

// A ready server is held until shutdown stops it and removes its directory; shutdown again,
// or on a nil daemon, does nothing.
func TestDaemonLaunchReadyAndShutdown(t *testing.T) {
	d := &daemon{dir: t.TempDir()}
	polls := 0
	err := d.launch(t.Context(), shell(d, "exec sleep 60", func(context.Context) error {
		if polls++; polls < 3 {
			return errors.New("not yet")
		}
		return nil
	}))
	if err != nil || polls != 3 {
		t.Fatalf("launch: %v after %d polls, want nil after 3", err, polls)
	}
	proc := d.proc
	if proc == nil {
		t.Fatal("a ready process is not held")
	}
	dir := d.dir
	var stopped bool
	if err := d.shutdown("the sleeper", func(p *process) error { stopped = true; p.stop(); return nil }); err != nil || !stopped {
		t.Fatalf("shutdown: %v (stop called: %v)", err, stopped)
	}
	select {
	case <-proc.done:
	default:
		t.Error("the process runs on after shutdown")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after shutdown, %s: %v; want it removed", dir, err)
	}
	if err := d.shutdown("the sleeper", func(*process) error { return errors.New("stopped twice") }); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
	var none *daemon
	if err := none.shutdown("nothing", nil); err != nil {
		t.Errorf("shutdown of a nil daemon: %v", err)
	}
}

// A server not ready when ctx ends is an error that names the last readiness error; it is
// left running for shutdown, whose stop error names the server.
func TestDaemonLaunchNotReady(t *testing.T) {
	d := &daemon{dir: t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := d.launch(ctx, shell(d, "echo waiting; exec sleep 60", notReady))
	if err == nil || !strings.Contains(err.Error(), "sh on 127.0.0.1:1 was not ready within") ||
		!strings.Contains(err.Error(), "not yet") || !strings.Contains(err.Error(), "waiting") {
		t.Errorf("not ready: %v", err)
	}
	if d.proc == nil {
		t.Fatal("a process that was not ready is not held for shutdown")
	}
	err = d.shutdown("the sleeper", func(p *process) error { p.stop(); return errors.New("refused") })
	if err == nil || !strings.Contains(err.Error(), "stop the sleeper: refused") {
		t.Errorf("shutdown: %v, want the stop error naming the server", err)
	}
}

func TestWithFreePort(t *testing.T) {
	var ports []int
	err := withFreePort(func(port int) error {
		ports = append(ports, port)
		return errPortTaken
	})
	if !errors.Is(err, errPortTaken) || len(ports) != portAttempts {
		t.Errorf("always taken: %v after %d tries, want errPortTaken after %d", err, len(ports), portAttempts)
	}
	tries := 0
	other := errors.New("other")
	if err := withFreePort(func(int) error { tries++; return other }); err != other || tries != 1 {
		t.Errorf("another error: %v after %d tries, want it at once", err, tries)
	}
	tries = 0
	if err := withFreePort(func(int) error {
		if tries++; tries < 2 {
			return errPortTaken
		}
		return nil
	}); err != nil || tries != 2 {
		t.Errorf("taken once: %v after %d tries, want nil after 2", err, tries)
	}
}

// The binary is found through the variable, PATH or a well-known path; a variable naming no
// executable, or no binary anywhere, is an error with the hints.
func TestExecutableFind(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "rotor-testenv-server")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := executable{name: "rotor-testenv-server", envVar: "ROTOR_TEST_X_BIN", noun: "an x binary",
		where: "PATH or /opt/x", needs: "X", hints: []string{"install x", "or y"}}
	t.Setenv("PATH", t.TempDir())
	if got, err := e.find(bin); err != nil || got != bin {
		t.Errorf("from the variable: %q, %v", got, err)
	}
	if _, err := e.find(dir); err == nil || err.Error() != "ROTOR_TEST_X_BIN="+dir+" is not an executable file\nhint: point it at an x binary, or unset it" {
		t.Errorf("a variable naming a directory: %v", err)
	}
	_, err := e.find("")
	if want := "rotor-testenv-server not found in $ROTOR_TEST_X_BIN, PATH or /opt/x; tests that need X cannot run\nhint: install x\nhint: or y"; err == nil || err.Error() != want {
		t.Errorf("nowhere: %v, want %q", err, want)
	}
	e.paths = []string{filepath.Join(dir, "missing"), bin}
	if got, err := e.find(""); err != nil || got != bin {
		t.Errorf("from the well-known paths: %q, %v", got, err)
	}
	t.Setenv("PATH", dir)
	e.paths = nil
	if got, err := e.find(""); err != nil || got != bin {
		t.Errorf("from PATH: %q, %v", got, err)
	}
}
