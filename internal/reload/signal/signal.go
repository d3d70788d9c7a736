// Package signal is the `signal` reload: it sends a signal (HUP by default) to the process
// whose pid a file holds — the classic way to make a daemon re-read its secrets without a
// restart.
package signal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `signal` reload's configuration.
type Config struct {
	PIDFile string `yaml:"pid_file" rotor:"required" doc:"File holding the pid, relative to the inventory's folder."`
	Signal  string `yaml:"signal" rotor:"enum=HUP|USR1|USR2|TERM" doc:"Default HUP."`
}

var signals = map[string]syscall.Signal{
	"HUP":  syscall.SIGHUP,
	"USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
	"TERM": syscall.SIGTERM,
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if c.PIDFile == "" {
		out = append(out, provider.FieldError{Field: "pid_file", Msg: "needs the file holding the pid"})
	}
	if _, ok := signals[c.Signal]; c.Signal != "" && !ok {
		out = append(out, provider.FieldError{Field: "signal", Msg: "is one of HUP, USR1, USR2, TERM"})
	}
	return out
}

// Reloader signals the process named by a pid file.
type Reloader struct {
	pidFile string
	name    string
	sig     syscall.Signal
}

const op = "signal reload"

// New builds the reload; a configuration that fails Validate is a Terminal error.
func New(cfg *Config, env provider.Env) (*Reloader, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, provider.Errorf(provider.Terminal, op, "invalid configuration: %v", errs[0])
	}
	p := env.Path(cfg.PIDFile)
	name := cfg.Signal
	if name == "" {
		name = "HUP"
	}
	return &Reloader{pidFile: p, name: name, sig: signals[name]}, nil
}

// Reload reads the pid file, checks that the process exists, and signals it. A missing,
// empty or garbled pid file, or a pid whose process is gone, is a Terminal error naming the
// file; a process rotor may not signal is Denied.
func (r *Reloader) Reload(ctx context.Context, req provider.ReloadRequest) (provider.ReloadResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.ReloadResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	pid, err := r.readPID()
	if err != nil {
		return provider.ReloadResponse{}, err
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return provider.ReloadResponse{}, r.killError(pid, err)
	}
	if err := syscall.Kill(pid, r.sig); err != nil {
		return provider.ReloadResponse{}, r.killError(pid, err)
	}
	return provider.ReloadResponse{Detail: fmt.Sprintf("sent SIG%s to pid %d (from %s)", r.name, pid, r.pidFile)}, nil
}

func (r *Reloader) readPID() (int, error) {
	f, err := os.Open(r.pidFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return 0, provider.Errorf(provider.Terminal, op, "pid file %s does not exist: is the service running, and is pid_file right?", r.pidFile)
	case errors.Is(err, os.ErrPermission):
		return 0, provider.Errorf(provider.Denied, op, "cannot read pid file %s: permission denied", r.pidFile)
	case err != nil:
		return 0, provider.Errorf(provider.Terminal, op, "cannot read pid file %s: %v", r.pidFile, err)
	}
	defer f.Close()
	// A pid file is a few bytes; anything longer is not one, and is not read whole.
	buf := make([]byte, 64)
	n, err := f.Read(buf)
	if err != nil && n == 0 {
		return 0, provider.Errorf(provider.Terminal, op, "pid file %s is empty", r.pidFile)
	}
	s := bytes.TrimSpace(buf[:n])
	pid, perr := strconv.Atoi(string(s))
	if perr != nil || pid <= 0 || n == len(buf) {
		return 0, provider.Errorf(provider.Terminal, op, "pid file %s does not hold a process id", r.pidFile)
	}
	return pid, nil
}

func (r *Reloader) killError(pid int, err error) error {
	switch {
	case errors.Is(err, syscall.ESRCH):
		return provider.Errorf(provider.Terminal, op, "process %d from pid file %s is not running (stale pid file?)", pid, r.pidFile)
	case errors.Is(err, syscall.EPERM):
		return provider.Errorf(provider.Denied, op, "not allowed to signal process %d from pid file %s", pid, r.pidFile)
	}
	return provider.Errorf(provider.Terminal, op, "signalling process %d from pid file %s: %v", pid, r.pidFile, err)
}
