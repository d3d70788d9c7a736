// Package exec is the `exec` check: it runs a command (argv, no shell) — a smoke test, a
// login probe — and passes when it exits with the expected status.
//
// An exit status other than the expected one is a fail; a command that cannot be started,
// that is killed by a signal or that outlives the check's timeout has proven nothing, and is
// unknown. The command learns what it proves through ROTOR_CHECK, ROTOR_CREDENTIAL,
// ROTOR_CONSUMER, ROTOR_VERSION (the current version's id), ROTOR_PREVIOUS_VERSION and
// ROTOR_SINCE (RFC 3339) — ids and times, never values.
package exec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/command"
	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `exec` check's configuration.
type Config struct {
	Command    []string `yaml:"command" rotor:"required" doc:"Program and arguments; no shell is involved. A relative program path (./bin/x) is relative to the inventory's folder, which is also the working directory."`
	ExpectExit int      `yaml:"expect_exit" doc:"Exit status that passes (default 0)."`
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if len(c.Command) == 0 || c.Command[0] == "" {
		out = append(out, provider.FieldError{Field: "command", Msg: "needs a program to run"})
	}
	if c.ExpectExit < 0 || c.ExpectExit > 255 {
		out = append(out, provider.FieldError{Field: "expect_exit", Msg: "is an exit status, 0 to 255"})
	}
	return out
}

// Checker runs the command.
type Checker struct {
	cfg Config
	env provider.Env
}

const op = "exec check"

// New builds the check; a configuration that fails Validate is a Terminal error.
func New(cfg *Config, env provider.Env) (*Checker, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, provider.Errorf(provider.Terminal, op, "invalid configuration: %v", errs[0])
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	return &Checker{cfg: *cfg, env: env}, nil
}

// Check runs the command once and judges its exit status. The result's Message holds how it
// ended and its output, truncated; the error is always nil.
func (c *Checker) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResult, error) {
	prog := c.cfg.Command[0]
	res := provider.CheckResult{
		Query:     strings.Join(c.cfg.Command, " "),
		Threshold: "exit " + strconv.Itoa(c.cfg.ExpectExit),
		At:        req.Now,
	}
	if res.At.IsZero() {
		res.At = c.env.Now()
	}
	env := append(command.BaseEnv(c.env.Getenv),
		"ROTOR_CHECK="+req.Check,
		"ROTOR_CREDENTIAL="+req.Credential,
		"ROTOR_CONSUMER="+req.Consumer,
		"ROTOR_VERSION="+req.Current.ID,
	)
	if req.Previous != nil {
		env = append(env, "ROTOR_PREVIOUS_VERSION="+req.Previous.ID)
	}
	if !req.Since.IsZero() {
		env = append(env, "ROTOR_SINCE="+req.Since.UTC().Format(time.RFC3339))
	}
	out, err := command.Run(ctx, command.Cmd{Argv: c.cfg.Command, BaseDir: c.env.BaseDir, Env: env})
	switch {
	case err != nil && errors.Is(err, command.ErrStart):
		res.Verdict, res.Reason = provider.Unknown, "cannot start"
		res.Message = err.Error()
		return res, nil
	case err != nil:
		res.Verdict, res.Reason = provider.Unknown, "lost track of the command"
		res.Message = err.Error()
		return res, nil
	case out.TimedOut:
		res.Verdict, res.Reason = provider.Unknown, "timed out"
		res.Observed = "killed after " + out.Duration.Round(time.Millisecond).String()
		res.Message = message(fmt.Sprintf("%s did not finish before the check's timeout and was killed", prog), out)
		return res, nil
	case out.Signal != "":
		res.Verdict, res.Reason = provider.Unknown, "killed by a signal"
		res.Observed = "signal " + out.Signal
		res.Message = message(fmt.Sprintf("%s was killed by signal %s", prog, out.Signal), out)
		return res, nil
	}
	res.Observed = "exit " + strconv.Itoa(out.ExitCode)
	if out.ExitCode == c.cfg.ExpectExit {
		res.Verdict, res.Reason = provider.Pass, "expected exit status"
	} else {
		res.Verdict, res.Reason = provider.Fail, "unexpected exit status"
	}
	res.Message = message(fmt.Sprintf("%s exited with status %d (want %d)", prog, out.ExitCode, c.cfg.ExpectExit), out)
	return res, nil
}

func message(head string, out command.Result) string {
	var b strings.Builder
	b.WriteString(head)
	if s := strings.TrimSpace(out.Stdout); s != "" {
		b.WriteString("\nstdout:\n" + s)
	}
	if s := strings.TrimSpace(out.Stderr); s != "" {
		b.WriteString("\nstderr:\n" + s)
	}
	return b.String()
}
