// Package nginx is the `nginx` reload: it makes a running nginx serve the certificate files
// its store now holds. nginx reads certificates only when it (re)loads its configuration, so
// the reload is the moment a new certificate goes live — and the moment a bad one would take
// a site down. Hence the order:
//
//  1. `nginx -t` with the same -p/-c/-e: nginx parses the whole configuration and loads every
//     certificate and key, so a missing file, garbage PEM or a key that does not match its
//     certificate fails here, with nginx's own message, and nothing is reloaded.
//  2. SIGHUP to the master (pid_file), or `nginx -s reload` without one.
//  3. With a pid file, wait until the reload took effect: the master answers SIGHUP by
//     starting new worker processes with the new configuration and telling the old ones to
//     stop accepting. The reload is done once a new worker exists and no old worker still
//     accepts (each is gone or titled "worker process is shutting down"), so a TLS check
//     right after sees the new certificate. Old workers may keep serving open connections for
//     a while; new connections go to new workers.
//
// The worker processes are found in /proc (Linux), as the master's children.
//
// The test, the reload and the wait together are bounded by the context alone: the engine
// gives it the reload block's `timeout` (default 2m). The reload has no bound of its own,
// which would be a second, shorter one that the inventory could not raise.
package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `nginx` reload's configuration.
type Config struct {
	Binary   string `yaml:"binary" doc:"The nginx executable (default nginx, looked up in PATH, then /usr/sbin/nginx)."`
	Config   string `yaml:"config" doc:"nginx.conf path passed to -c (relative to the inventory's folder); default nginx's own."`
	Prefix   string `yaml:"prefix" doc:"Prefix path passed to -p (relative to the inventory's folder)."`
	ErrorLog string `yaml:"error_log" doc:"Log file passed to -e for the configuration test (nginx 1.19.5 or later), instead of nginx's compiled-in one."`
	PIDFile  string `yaml:"pid_file" doc:"The master's pid file (relative to the inventory's folder): rotor sends it SIGHUP and waits for the new workers. Without it rotor runs nginx -s reload and cannot wait."`
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	for _, f := range []struct{ field, v string }{{"binary", c.Binary}, {"config", c.Config}, {"prefix", c.Prefix}, {"error_log", c.ErrorLog}, {"pid_file", c.PIDFile}} {
		if strings.ContainsRune(f.v, 0) || strings.HasPrefix(f.v, "-") {
			out = append(out, provider.FieldError{Field: f.field, Msg: "must be a path"})
		}
	}
	return out
}

// Reloader tests and reloads one nginx.
type Reloader struct {
	bin                     string // as configured, resolved per call
	args                    []string
	pidFile                 string
	poll                    time.Duration
	config, prefix, baseDir string
}

const op = "nginx reload"

// New builds the reload; a configuration that fails Validate is a Terminal error.
func New(cfg *Config, env provider.Env) (*Reloader, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, provider.Errorf(provider.Terminal, op, "invalid configuration: %v", errors.Join(fieldErrors(errs)...))
	}
	abs := env.Path
	r := &Reloader{bin: cfg.Binary, pidFile: abs(cfg.PIDFile), poll: 20 * time.Millisecond}
	if r.bin == "" {
		r.bin = "nginx"
	} else if strings.Contains(r.bin, "/") {
		r.bin = abs(r.bin)
	}
	if p := abs(cfg.Prefix); p != "" {
		r.args = append(r.args, "-p", p)
	}
	if c := abs(cfg.Config); c != "" {
		r.args = append(r.args, "-c", c)
	}
	if e := abs(cfg.ErrorLog); e != "" {
		r.args = append(r.args, "-e", e)
	}
	return r, nil
}

func fieldErrors(fe []provider.FieldError) []error {
	out := make([]error, len(fe))
	for i, e := range fe {
		out[i] = e
	}
	return out
}

// binary finds the executable: as configured, or nginx in PATH, or Debian's /usr/sbin/nginx
// (sbin is not in every PATH).
func (r *Reloader) binary() (string, error) {
	if strings.Contains(r.bin, "/") {
		if fi, err := os.Stat(r.bin); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return "", provider.Errorf(provider.Terminal, op, "nginx binary %s is not an executable file: set binary to nginx's path", r.bin)
		}
		return r.bin, nil
	}
	if p, err := exec.LookPath(r.bin); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"} {
		p := filepath.Join(dir, r.bin)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", provider.Errorf(provider.Terminal, op, "nginx binary %q not found in PATH or /usr/sbin: is nginx installed here? set binary to its path", r.bin)
}

// Reload implements provider.Reloader. ctx bounds all of it (see the package doc).
func (r *Reloader) Reload(ctx context.Context, req provider.ReloadRequest) (provider.ReloadResponse, error) {
	start := time.Now()
	bin, err := r.binary()
	if err != nil {
		return provider.ReloadResponse{}, err
	}
	if err := r.test(ctx, bin); err != nil {
		return provider.ReloadResponse{}, err
	}
	if r.pidFile == "" {
		if _, err := r.run(ctx, bin, "-s", "reload"); err != nil {
			return provider.ReloadResponse{}, provider.Wrap(provider.Terminal, op, fmt.Errorf("nginx -s reload: %w", err))
		}
		return provider.ReloadResponse{Detail: "configuration test passed; sent reload with nginx -s reload (no pid_file: not waiting for new workers)"}, nil
	}
	master, err := r.readPID()
	if err != nil {
		return provider.ReloadResponse{}, err
	}
	if !isMaster(master) {
		return provider.ReloadResponse{}, provider.Errorf(provider.Terminal, op, "process %d from pid file %s is not an nginx master process (stale pid file?)", master, r.pidFile)
	}
	old := children(master)
	if err := syscall.Kill(master, syscall.SIGHUP); err != nil {
		if errors.Is(err, syscall.EPERM) {
			return provider.ReloadResponse{}, provider.Errorf(provider.Denied, op, "not allowed to signal nginx master %d (from %s)", master, r.pidFile)
		}
		return provider.ReloadResponse{}, provider.Errorf(provider.Terminal, op, "signalling nginx master %d (from %s): %v", master, r.pidFile, err)
	}
	began := time.Now()
	for {
		now := children(master)
		fresh, accepting := 0, 0
		for _, c := range now {
			switch {
			case !slices.Contains(old, c):
				fresh++
			case !strings.Contains(title(c), "shutting down"):
				accepting++
			}
		}
		if fresh > 0 && accepting == 0 {
			draining := len(now) - fresh
			d := fmt.Sprintf("configuration test passed; sent SIGHUP to nginx master %d; %d new worker processes after %s", master, fresh, time.Since(began).Round(time.Millisecond))
			if draining > 0 {
				d += fmt.Sprintf(" (%d old ones finishing open connections)", draining)
			}
			return provider.ReloadResponse{Detail: d}, nil
		}
		if syscall.Kill(master, 0) != nil {
			return provider.ReloadResponse{}, provider.Errorf(provider.Terminal, op, "nginx master %d exited during the reload: check nginx's error log", master)
		}
		select {
		case <-ctx.Done():
			end := "the reload's timeout"
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				end = "the reload was cancelled"
			}
			return provider.ReloadResponse{}, provider.Errorf(provider.Terminal, op,
				"nginx master %d did not start new workers with the new configuration in %s, before %s (%d new, %d old still accepting): the reload failed or hangs; nginx keeps serving the previous certificates; check its error log",
				master, time.Since(start).Round(time.Millisecond), end, fresh, accepting)
		case <-time.After(r.poll):
		}
	}
}

// test runs nginx -t and turns a failure into a Terminal error carrying nginx's message.
func (r *Reloader) test(ctx context.Context, bin string) error {
	out, err := r.run(ctx, bin, "-t")
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return provider.Wrap(provider.Retryable, op, fmt.Errorf("nginx -t did not finish: %w", ctx.Err()))
	}
	msg := strings.TrimSpace(out)
	if msg == "" {
		msg = err.Error()
	}
	return provider.Errorf(provider.Terminal, op, "configuration test failed, nothing reloaded: %s", msg)
}

// run runs nginx with the configured -p/-c/-e and extra arguments, returning what it wrote
// (nginx writes its messages on stderr), at most 8 KiB of it.
func (r *Reloader) run(ctx context.Context, bin string, extra ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, append(slices.Clone(r.args), extra...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	s := out.String()
	if len(s) > 8<<10 {
		s = s[len(s)-8<<10:]
	}
	if err != nil && strings.TrimSpace(s) != "" {
		return s, fmt.Errorf("%w: %s", err, strings.TrimSpace(s))
	}
	return s, err
}

func (r *Reloader) readPID() (int, error) {
	b, err := os.ReadFile(r.pidFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return 0, provider.Errorf(provider.Terminal, op, "pid file %s does not exist: is nginx running, and is pid_file its pid directive?", r.pidFile)
	case errors.Is(err, os.ErrPermission):
		return 0, provider.Errorf(provider.Denied, op, "cannot read pid file %s: permission denied", r.pidFile)
	case err != nil:
		return 0, provider.Errorf(provider.Terminal, op, "cannot read pid file %s: %v", r.pidFile, err)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 || len(b) > 32 {
		return 0, provider.Errorf(provider.Terminal, op, "pid file %s does not hold a process id", r.pidFile)
	}
	return pid, nil
}

// isMaster reports whether pid is alive and titled as an nginx master.
func isMaster(pid int) bool {
	return syscall.Kill(pid, 0) == nil && strings.HasPrefix(title(pid), "nginx: master process")
}

// title is a process's command line as it shows it (nginx rewrites its argv into a title).
func title(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
}

// children lists the pids whose parent is pid, from /proc/<pid>/stat.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses: cut at the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[0] != "Z" && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}
