// Package command runs an external program the way every rotor provider that runs one must:
// argv without a shell, in its own process group that is killed whole when the context ends
// (a reload script's children do not outlive its timeout), with a small environment that does
// not leak the executor's own credentials, and with its output captured and truncated so a
// chatty program cannot fill memory or the journal.
//
// Output may contain anything, a secret included: callers report it only as a response's
// Detail or a check's Message, which the engine scrubs; never in an error's text.
package command

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Cmd is a program to run.
type Cmd struct {
	// Argv is the program and its arguments. A program named with a relative path
	// (./bin/reload) is resolved against BaseDir; a bare name is looked up in PATH.
	Argv []string
	// Dir is the working directory; relative to BaseDir, and BaseDir when empty.
	Dir string
	// BaseDir is the inventory's folder (provider.Env.BaseDir).
	BaseDir string
	// Env is the complete environment, as "NAME=value" entries (see BaseEnv).
	Env []string
}

// Result is how a program ended.
type Result struct {
	// ExitCode is the exit status, or -1 when the program was killed by a signal.
	ExitCode int
	// Signal names the signal that killed the program ("killed"), if one did.
	Signal string
	// TimedOut is set when the context ended before the program did; its process group
	// was killed.
	TimedOut bool
	// Stdout and Stderr are the output, truncated to the first and last OutputLimit bytes.
	Stdout, Stderr string
	Duration       time.Duration
}

// OutputLimit is how many bytes of the start and of the end of each output stream are kept.
const OutputLimit = 2 << 10

// waitDelay bounds how long Run waits for the output pipes after the program has exited (a
// daemon it started may hold them open) or after its group was killed.
const waitDelay = 2 * time.Second

// ErrStart wraps the reason a program could not be started (not found, not executable).
var ErrStart = errors.New("cannot start the program")

// Run runs c until it exits or ctx ends. A non-zero exit is not an error: it is in the
// Result. The error is non-nil only when the program could not be started (wrapping
// ErrStart) or its end could not be observed.
func Run(ctx context.Context, c Cmd) (Result, error) {
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return Result{}, fmt.Errorf("%w: no program given", ErrStart)
	}
	prog := c.Argv[0]
	if strings.ContainsRune(prog, '/') && !filepath.IsAbs(prog) && c.BaseDir != "" {
		prog = filepath.Join(c.BaseDir, prog)
	}
	dir := c.Dir
	if dir == "" {
		dir = c.BaseDir
	} else if !filepath.IsAbs(dir) && c.BaseDir != "" {
		dir = filepath.Join(c.BaseDir, dir)
	}

	cmd := exec.CommandContext(ctx, prog, c.Argv[1:]...)
	cmd.Dir = dir
	cmd.Env = c.Env
	if cmd.Env == nil {
		cmd.Env = []string{} // never inherit rotor's own environment by accident
	}
	var stdout, stderr Truncated
	stdout.Limit, stderr.Limit = OutputLimit, OutputLimit
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Its own process group, so a timeout kills the program and everything it started,
	// including children that ignore SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrStart, err)
	}
	err := cmd.Wait()
	res := Result{
		ExitCode: -1,
		TimedOut: ctx.Err() != nil,
		Stdout:   stdout.String(),
		Stderr:   stderr.String(),
		Duration: time.Since(start),
	}
	if ps := cmd.ProcessState; ps != nil {
		res.ExitCode = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
		}
	}
	if res.TimedOut {
		// The group is killed once more: a child that left the leader's pipes open and
		// outlived it must not keep running past the timeout either.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil, errors.As(err, &exitErr), errors.Is(err, exec.ErrWaitDelay):
		return res, nil
	case res.TimedOut && cmd.ProcessState != nil:
		return res, nil
	}
	return res, fmt.Errorf("waiting for %s: %w", filepath.Base(prog), err)
}

// baseNames are the variables a program gets from rotor's environment: enough to find
// programs and a home, never the executor's tokens and keys.
var baseNames = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// BaseEnv returns the environment every command starts from: PATH, HOME, USER, LOGNAME,
// LANG, LC_ALL, TZ and TMPDIR as rotor sees them (getenv), the ones that are set.
func BaseEnv(getenv func(string) string) []string {
	var env []string
	for _, name := range baseNames {
		if v := getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}
