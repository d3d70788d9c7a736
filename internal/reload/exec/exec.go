// Package exec is the `exec` reload: it runs a command (argv, no shell) to make a consumer
// pick up the value its store now gives it — a restart script, a CLI that pushes a bundle.
//
// The command runs in its own process group with a small environment (internal/command), and
// is killed whole when the reload's timeout (the context) ends. It is told which credential,
// consumer and version it reloads through ROTOR_CREDENTIAL, ROTOR_CONSUMER and ROTOR_VERSION
// (the store's version id, never the value).
package exec

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/rotorhq/rotor/internal/command"
	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `exec` reload's configuration.
type Config struct {
	Command []string          `yaml:"command" rotor:"required" doc:"Program and arguments; no shell is involved. A relative program path (./bin/x) is relative to the inventory's folder."`
	Dir     string            `yaml:"dir" doc:"Working directory, relative to the inventory's folder (the default)."`
	Env     map[string]string `yaml:"env" doc:"Extra environment (names of values, never values themselves): NAME: ROTOR_SIDE_NAME sets NAME for the command to the value of rotor's own variable ROTOR_SIDE_NAME."`
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reserved are the variables rotor sets itself.
var reserved = []string{"ROTOR_CREDENTIAL", "ROTOR_CONSUMER", "ROTOR_VERSION"}

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if len(c.Command) == 0 || c.Command[0] == "" {
		out = append(out, provider.FieldError{Field: "command", Msg: "needs a program to run"})
	}
	names := make([]string, 0, len(c.Env))
	for name := range c.Env {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		from := c.Env[name]
		switch {
		case !envName.MatchString(name):
			out = append(out, provider.FieldError{Field: "env." + name, Msg: "is not a valid environment variable name"})
		case slices.Contains(reserved, name):
			out = append(out, provider.FieldError{Field: "env." + name, Msg: "is set by rotor itself"})
		case !envName.MatchString(from):
			out = append(out, provider.FieldError{Field: "env." + name, Msg: "must name a variable of rotor's environment (NAME: OTHER_NAME), not hold a value"})
		}
	}
	return out
}

// Reloader runs the configured command.
type Reloader struct {
	cfg Config
	env provider.Env
}

// New builds the reload; a configuration that fails Validate is a Terminal error.
func New(cfg *Config, env provider.Env) (*Reloader, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, provider.Errorf(provider.Terminal, "exec reload", "invalid configuration: %v", errs[0])
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	return &Reloader{cfg: *cfg, env: env}, nil
}

// ExitError is the reason a command failed: its exit status and the end of what it wrote
// on stderr. Its Error text holds the status only; the output, which may hold anything, is
// given by Detail for the engine to scrub and show.
type ExitError struct {
	Program  string
	ExitCode int    // -1 when killed by a signal
	Signal   string // the signal that killed it, if one did
	Stderr   string // truncated: first and last 2 KiB
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("%s was killed by signal %s", e.Program, e.Signal)
	}
	return fmt.Sprintf("%s exited with status %d", e.Program, e.ExitCode)
}

// Detail is the command's stderr, truncated.
func (e *ExitError) Detail() string { return e.Stderr }

// Reload runs the command and waits for it. It fails with a Retryable error when the
// context ends first (the process group is killed) or the program cannot be started for a
// reason that may pass, Terminal when it does not exist or exits non-zero (wrapping
// *ExitError). The response's Detail holds the exit status and the truncated output; it is
// also set when the command fails.
func (r *Reloader) Reload(ctx context.Context, req provider.ReloadRequest) (provider.ReloadResponse, error) {
	const op = "exec reload"
	env := command.BaseEnv(r.env.Getenv)
	for name, from := range r.cfg.Env {
		v := r.env.Getenv(from)
		if v == "" {
			return provider.ReloadResponse{}, provider.Errorf(provider.Terminal, op, "env.%s: rotor's environment variable %s is not set", name, from)
		}
		env = append(env, name+"="+v)
	}
	env = append(env,
		"ROTOR_CREDENTIAL="+req.Credential,
		"ROTOR_CONSUMER="+req.Consumer,
		"ROTOR_VERSION="+req.Version.ID,
	)
	prog := r.cfg.Command[0]
	res, err := command.Run(ctx, command.Cmd{Argv: r.cfg.Command, Dir: r.cfg.Dir, BaseDir: r.env.BaseDir, Env: env})
	if err != nil {
		kind := provider.Terminal // not found, not executable: fixing it takes a person
		if ctx.Err() != nil {
			kind = provider.Retryable
		}
		return provider.ReloadResponse{}, provider.Wrap(kind, op, err)
	}
	detail := describe(prog, res)
	resp := provider.ReloadResponse{Detail: detail}
	switch {
	case res.TimedOut:
		return resp, provider.Errorf(provider.Retryable, op, "%s did not finish before the reload timeout (%v); its process group was killed", prog, context.Cause(ctx))
	case res.ExitCode != 0:
		return resp, provider.Wrap(provider.Terminal, op, &ExitError{Program: prog, ExitCode: res.ExitCode, Signal: res.Signal, Stderr: res.Stderr})
	}
	return resp, nil
}

// describe is a Detail: how the command ended, then its output.
func describe(prog string, res command.Result) string {
	var b strings.Builder
	switch {
	case res.TimedOut:
		fmt.Fprintf(&b, "%s timed out after %s and was killed", prog, res.Duration.Round(1e6))
	case res.Signal != "":
		fmt.Fprintf(&b, "%s was killed by signal %s after %s", prog, res.Signal, res.Duration.Round(1e6))
	default:
		fmt.Fprintf(&b, "%s exited with status %d after %s", prog, res.ExitCode, res.Duration.Round(1e6))
	}
	if s := strings.TrimSpace(res.Stdout); s != "" {
		b.WriteString("\nstdout:\n" + s)
	}
	if s := strings.TrimSpace(res.Stderr); s != "" {
		b.WriteString("\nstderr:\n" + s)
	}
	return b.String()
}
