// Package cli is rotor's command line: the commands, their flags, the -o table|json
// renderings, and the mapping of failures to exit codes (0 done, 1 error, 2 bad usage or
// invalid inventory, 3 stopped at a gate). It is the composition root of the commands: it
// wires the inventory loader to the built-in catalog and the state store to its driver.
//
// The CLI contract is tested as scripts (testdata/script/*.txtar) run by testscript against
// the real binary entry point.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/state"
)

// Exit codes of the CLI contract (DOMAIN.md).
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2 // bad usage or invalid inventory
	ExitGate  = 3 // stopped at a gate
)

// Env is what the commands may touch of the outside world. Tests give their own.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
}

// exitError carries an exit code and an optional hint through cobra.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// withHint attaches a next step to an error.
func withHint(code int, err error, hint string) error {
	return &exitError{code: code, err: err, hint: hint}
}

// Main runs rotor with args and returns the process exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	root := newRoot(&env)
	root.SetArgs(args)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code, hint := ExitError, ""
	var ee *exitError
	if errors.As(err, &ee) {
		code, hint = ee.code, ee.hint
	} else if strings.HasPrefix(err.Error(), "unknown command ") {
		// cobra's own: a command that does not exist is bad usage, like a bad flag.
		code, hint = ExitUsage, "rotor --help lists the commands"
	}
	if hint == "" && errors.Is(err, state.ErrNoSpace) {
		hint = "free space on the file system of the state database (see df -h); nothing of the failed write was stored, and the next command resumes where this one stopped"
	}
	var list inventory.ErrorList
	if errors.As(err, &list) {
		// Already printed by the command, one line per problem.
		return code
	}
	fmt.Fprintf(env.Stderr, "error: %v\n", err)
	if hint != "" {
		fmt.Fprintf(env.Stderr, "hint: %s\n", hint)
	}
	return code
}

// globals are the flags every command has, and the registry of provider types: built once
// here, the composition root, and handed to the inventory loader, the engine and the views.
type globals struct {
	env       *Env
	registry  *provider.Registry
	inventory string
	db        string
	output    string
}

func newRoot(env *Env) *cobra.Command {
	g := &globals{env: env, registry: builtin.New()}
	root := &cobra.Command{
		Use:   "rotor",
		Short: "Rotate secrets, certificates and service identities as a production runbook",
		Long: `rotor rotates credentials without outages and without leaving access open: it knows
every consumer of a credential, separates prepare, cutover and revoke, runs inside change
windows, watches real signals, and keeps a tamper-evident journal — never a secret value.`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.output != "table" && g.output != "json" {
				return usageErr("-o %q: the output format is table or json", g.output)
			}
			return nil
		},
	}
	defInv := env.Getenv("ROTOR_INVENTORY")
	if defInv == "" {
		defInv = "inventory"
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.inventory, "inventory", "i", defInv, "inventory folder or file (env ROTOR_INVENTORY)")
	pf.StringVar(&g.db, "db", env.Getenv("ROTOR_DB"), "state database: a SQLite path or sqlite:PATH (default under the user's state directory; env ROTOR_DB)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: ExitUsage, err: err} })
	root.SetVersionTemplate("rotor {{.Version}}\n")

	root.SetHelpCommand(newHelp())
	root.AddCommand(newValidate(g), newImpact(g), newPlan(g), newSchema(g),
		newRotate(g), newStatus(g), newRuns(g), newDecide(g, true), newDecide(g, false), newSignoff(g), newRollback(g), newCancel(g), newJournal(g))
	root.AddCommand(newMetrics(g))
	root.AddCommand(newScan(g))
	return root
}

// args wraps cobra's argument validators so a wrong count is a usage error (exit 2).
func args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := v(cmd, a); err != nil {
			return &exitError{code: ExitUsage, err: err, hint: "see: " + cmd.CommandPath() + " --help"}
		}
		return nil
	}
}

// load reads and validates the inventory. Problems are printed one per line (table) or as
// JSON by the caller; the returned error carries exit code 2.
func (g *globals) load() (*inventory.Inventory, error) {
	inv, err := inventory.Load(g.inventory, inventory.Options{Catalog: g.registry, Now: g.env.Now()})
	if err != nil {
		var list inventory.ErrorList
		if errors.As(err, &list) {
			return nil, &exitError{code: ExitUsage, err: list}
		}
		return nil, err
	}
	return inv, nil
}

// printLoadErrors prints an invalid inventory's problems on stderr, with a count.
func (g *globals) printLoadErrors(err error) {
	var list inventory.ErrorList
	if !errors.As(err, &list) {
		return
	}
	for _, e := range list {
		fmt.Fprintln(g.env.Stderr, e.Error())
	}
	fmt.Fprintf(g.env.Stderr, "%d %s in %s\n", len(list), plural(len(list), "error", "errors"), g.inventory)
}

// count says n things: "1 credential", "2 credentials".
func count(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, plural(n, one, many))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// loadOrPrint is load for commands that only need a valid inventory.
func (g *globals) loadOrPrint() (*inventory.Inventory, error) {
	inv, err := g.load()
	if err != nil {
		g.printLoadErrors(err)
	}
	return inv, err
}

// parseAt reads a --at value: RFC 3339, or a local date-time / date in the inventory's zone.
func parseAt(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", time.DateOnly} {
		l := loc
		if layout == time.RFC3339 {
			l = time.UTC
		}
		if t, err := time.ParseInLocation(layout, s, l); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageErr("--at %q: use RFC 3339 (2026-12-20T22:00:00+01:00), or 2026-12-20T22:00 or 2026-12-20 in the inventory's time zone", s)
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			v := "devel-" + rev[:min(12, len(rev))]
			if dirty {
				v += "-dirty"
			}
			return v
		}
	}
	return "devel"
}

// newHelp is `rotor help [COMMAND]`: cobra's prints the root's help with exit 0 for a command
// that does not exist; a topic rotor does not have is bad usage (exit 2), said plainly.
func newHelp() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		RunE: func(cmd *cobra.Command, a []string) error {
			target, rest, err := cmd.Root().Find(a)
			if err != nil || target == nil || len(rest) > 0 {
				return withHint(ExitUsage, fmt.Errorf("no command %q", strings.Join(a, " ")), "rotor --help lists the commands")
			}
			return target.Help()
		},
	}
}
