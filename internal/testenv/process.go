package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// What every server started here shares: finding its executable, starting it with its output
// in a log file, waiting until the server answering is the one started, stopping it and
// removing its files, and showing the end of its log when a test fails.

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 30 * time.Second
	portAttempts = 5
)

// errPortTaken says a server could not bind its port: another process took it between
// freePort and the server's start.
var errPortTaken = errors.New("port taken")

// daemon is a server process started for a test and the temporary directory it lives in.
// Every started server holds one; a reused server (ROTOR_TEST_*_URL, _DSN, _DIR) holds none,
// and a nil *daemon is valid.
//
// The contract: the caller creates dir, then calls launch once per port it tries. launch
// returns nil only once the server answering is the one it started; when it fails, a process
// still running (one that was not ready in time) stays in the daemon, so shutdown stops it.
// shutdown stops the process and removes dir; calling it again, or on nil, does nothing.
// launch and shutdown may run on different goroutines, but one launch at a time.
type daemon struct {
	dir string // the server's working directory; "" once removed

	mu   sync.Mutex
	proc *process // nil while nothing runs
}

// attempt is one start of a daemon's server, on a port that was free a moment ago.
type attempt struct {
	name  string    // the program, in errors: "prometheus"
	addr  string    // where it listens, in errors: "127.0.0.1:9090"
	cmd   *exec.Cmd // launch sets its Dir, Env, SysProcAttr, Stdout and Stderr
	owner *osUser   // the account it runs as; nil: ourselves
	// log gets the child's stdout and stderr, appended; serverLog, if set, is a log the server
	// writes itself (nginx's error log). Errors show the end of both.
	log, serverLog string
	// portTaken is what the server logs (in either log, in any case) when it cannot bind its
	// port; launch then returns an error wrapping errPortTaken, to try another port.
	portTaken string
	// ready returns nil once the server answers and is the one started, not one that took
	// the port, and why not otherwise. It is polled every 50ms for startTimeout.
	ready func(context.Context) error
}

// launch starts a.cmd in d.dir and waits until a.ready says it is ours. An exit before that
// is an error showing the end of its logs, or errPortTaken; so is a server not ready within
// startTimeout or before ctx ends, which is left running for shutdown.
func (d *daemon) launch(ctx context.Context, a attempt) error {
	logs := []string{a.log}
	if a.serverLog != "" {
		logs = append(logs, a.serverLog)
	}
	// Only what this attempt logs tells why it exited: the logs are kept across attempts.
	starts := make([]int64, len(logs))
	for i, path := range logs {
		if fi, err := os.Stat(path); err == nil {
			starts[i] = fi.Size()
		}
	}
	out, err := os.OpenFile(a.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open %s log: %w", a.name, err)
	}
	defer out.Close() // the child has its own copy
	a.cmd.Stdout, a.cmd.Stderr = out, out
	proc, err := startProcess(a.cmd, d.dir, a.owner)
	if err != nil {
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	d.mu.Lock()
	d.proc = proc
	d.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-proc.done:
			d.mu.Lock()
			d.proc = nil
			d.mu.Unlock()
			if loggedSince(logs, starts, a.portTaken) {
				return fmt.Errorf("%s on %s: %w", a.name, a.addr, errPortTaken)
			}
			return fmt.Errorf("%s exited while starting (%v); %s", a.name, proc.err, logTails(logs, 20))
		default:
		}
		last := a.ready(ctx)
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s on %s was not ready within %s: %w; %s", a.name, a.addr, startTimeout, last, logTails(logs, 20))
		}
		select {
		case <-proc.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// shutdown stops the process with stop (which knows the server's graceful shutdown) and
// removes the directory. Errors name the server as what ("Prometheus on 127.0.0.1:9090").
func (d *daemon) shutdown(what string, stop func(*process) error) error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	if proc := d.proc; proc != nil {
		d.proc = nil
		if err := stop(proc); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", what, err))
		}
	}
	if d.dir != "" {
		if err := os.RemoveAll(d.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove the directory of %s: %w", what, err))
		}
		d.dir = ""
	}
	return errors.Join(errs...)
}

// halt stops the process with stop and keeps the directory, so that launch can start the
// server again on its data. Halting a daemon with nothing running does nothing.
func (d *daemon) halt(stop func(*process) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	proc := d.proc
	d.proc = nil
	if proc == nil {
		return nil
	}
	return stop(proc)
}

// loggedSince reports whether text (in any case) is in what the logs got after the offsets.
func loggedSince(logs []string, starts []int64, text string) bool {
	if text == "" {
		return false
	}
	for i, path := range logs {
		b, err := os.ReadFile(path)
		if err == nil && int64(len(b)) >= starts[i] &&
			strings.Contains(strings.ToLower(string(b[starts[i]:])), strings.ToLower(text)) {
			return true
		}
	}
	return false
}

// logTails is the last n lines of each log, named, for an error message.
func logTails(logs []string, n int) string {
	parts := make([]string, len(logs))
	for i, path := range logs {
		parts[i] = "log " + path + ":\n" + tailFile(path, n)
	}
	return strings.Join(parts, "\n")
}

// tailFile returns the last n lines of a file, or why it cannot.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// withFreePort calls try with a port of 127.0.0.1 that was free a moment ago, and again with
// another while it fails with errPortTaken, portAttempts times at most. Another process may
// take the port between freePort and the server binding it; the server then exits, and the
// next port will do.
func withFreePort(try func(port int) error) error {
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		err = try(port)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == portAttempts {
			return err
		}
	}
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cleanUpOnError runs stop if *err is set (a start that failed half way), adding stop's error
// to *err. Use it deferred, with a named error result: defer cleanUpOnError(&err, p.Stop).
func cleanUpOnError(err *error, stop func() error) {
	if *err == nil {
		return
	}
	if stopErr := stop(); stopErr != nil {
		*err = fmt.Errorf("%w (and cleaning up: %v)", *err, stopErr)
	}
}

// stopAtEnd has the test stop a started server when it ends, after showing the last lines of
// its log (named logName, "Prometheus log") if the test failed: the server's side of a
// failure is often there.
func stopAtEnd(t testing.TB, logName, logFile string, stop func() error) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: %s (last lines of %s):\n%s", logName, logFile, tailFile(logFile, 40))
		}
		if err := stop(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
}

// executable says where a server's binary is looked for and how to get it when it is missing.
type executable struct {
	name   string   // the file name looked up in PATH: "prometheus"
	envVar string   // the variable naming the binary instead: EnvPrometheusBin
	noun   string   // what a bad envVar should point at: "a prometheus binary"
	paths  []string // full paths tried after PATH, in order
	where  string   // the places after envVar, for the error: "PATH or /usr/bin/prometheus"
	needs  string   // what tests cannot do without it, for the error: "Prometheus"
	hints  []string // how to get it, a line each
}

// find returns env (the value of e.envVar) if set, else e.name in PATH, else the first of
// e.paths that is an executable file. A set env that is not one, or no binary anywhere, is an
// error with a hint.
func (e executable) find(env string) (string, error) {
	if env != "" {
		if isExecutable(env) {
			return env, nil
		}
		return "", fmt.Errorf("%s=%s is not an executable file\nhint: point it at %s, or unset it", e.envVar, env, e.noun)
	}
	if path, err := exec.LookPath(e.name); err == nil {
		return path, nil
	}
	for _, path := range e.paths {
		if isExecutable(path) {
			return path, nil
		}
	}
	return "", errors.New(e.name + " not found in $" + e.envVar + ", " + e.where + "; tests that need " + e.needs + " cannot run" +
		"\nhint: " + strings.Join(e.hints, "\nhint: "))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0
}

// process is a child started by startProcess.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the child has exited; err is then set
	err  error
}

// startProcess starts cmd in dir as owner (nil: as ourselves). On Linux the child gets
// SIGQUIT (PostgreSQL's immediate shutdown) if we die, so a test binary killed by a timeout
// leaves no server behind. The kernel sends that signal when the thread that started the
// child exits, so the child is started and waited for by a goroutine locked to its thread.
func startProcess(cmd *exec.Cmd, dir string, owner *osUser) (*process, error) {
	cmd.Dir = dir
	cmd.Env = serverEnv()
	cmd.SysProcAttr = owner.sysProcAttr()
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// stop asks the child to shut down (SIGINT) and waits; it escalates if it takes too long.
func (p *process) stop() error {
	steps := []struct {
		sig  os.Signal
		wait time.Duration
	}{{os.Interrupt, stopTimeout}, {syscall.SIGQUIT, 5 * time.Second}, {os.Kill, time.Minute}}
	for _, s := range steps {
		if err := p.cmd.Process.Signal(s.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
		select {
		case <-p.done:
			if s.sig != os.Interrupt {
				return fmt.Errorf("did not stop within %s of SIGINT; sent %v", stopTimeout, s.sig)
			}
			return p.err
		case <-time.After(s.wait):
		}
	}
	return errors.New("did not exit after SIGKILL")
}

// serverEnv is our environment without PG* variables, which could point initdb or postgres
// at another cluster.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}
