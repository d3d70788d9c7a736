package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/spf13/cobra"
)

func newValidate(g *globals) *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Validate the inventory; print every problem as file:line:col: message",
		Long: `Validate reads the whole inventory and reports every problem at once — unknown keys,
wrong types, duplicate ids, dangling references, bad durations, cron expressions and time
zones, windows that never open, policies that can never be met — each as file:line:col.
It exits 2 when there is any problem, and executes nothing.

A provider type that this build knows but cannot run yet (declared, not implemented) is a
warning naming the credential and the type: the inventory is valid, but readiness will refuse
to rotate that credential. With --strict such a warning is an error (exit 2).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			inv, err := g.load()
			var list inventory.ErrorList
			if err != nil && !errors.As(err, &list) {
				return err
			}
			var warnings []inventory.Error
			if inv != nil {
				warnings = g.notRunnable(inv)
			}
			if strict && len(warnings) > 0 {
				list = append(list, warnings...)
				err, warnings = &exitError{code: ExitUsage, err: list}, nil
			}
			if g.output == "json" {
				out := validateJSON{Inventory: g.inventory, Valid: err == nil, Errors: []validateError{}, Warnings: []validateError{}}
				for _, e := range list {
					out.Errors = append(out.Errors, validateError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
				}
				for _, e := range warnings {
					out.Warnings = append(out.Warnings, validateError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
				}
				if inv != nil {
					out.Counts = counts(inv)
				}
				if err := writeJSON(g.env.Stdout, out); err != nil {
					return err
				}
				return err
			}
			if err != nil {
				g.printLoadErrors(err)
				return err
			}
			for _, w := range warnings {
				fmt.Fprintf(g.env.Stderr, "%s: warning: %s\n", w.Pos, w.Msg)
			}
			c := counts(inv)
			fmt.Fprintf(g.env.Stdout, "%s: valid — %s, %s, %s, %s, %s, %s, %s\n", g.inventory,
				count(c.Credentials, "credential", "credentials"), count(c.Consumers, "consumer", "consumers"), count(c.Windows, "window", "windows"),
				count(c.Freezes, "freeze", "freezes"), count(c.Checks, "check", "checks"), count(c.Identities, "identity", "identities"), count(c.Teams, "team", "teams"))
			if len(warnings) > 0 {
				fmt.Fprintf(g.env.Stdout, "%d %s: a provider type this build cannot run yet (--strict makes %s)\n",
					len(warnings), plural(len(warnings), "warning", "warnings"), plural(len(warnings), "it an error", "them errors"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "treat provider types that cannot run in this build as errors")
	return cmd
}

// notRunnable lists, as warnings at the block that names them, the provider types the
// inventory relies on that this build declares but cannot run.
func (g *globals) notRunnable(inv *inventory.Inventory) []inventory.Error {
	var out []inventory.Error
	for _, u := range inv.ProviderUses() {
		if g.registry.Implemented(u.Kind, u.Type) {
			continue
		}
		where := "credential " + u.Credential + ": "
		if u.What != "" {
			where += u.What + ": "
		}
		out = append(out, inventory.Error{Pos: u.Pos, Msg: fmt.Sprintf("%s%s type %q is not implemented in this build yet; readiness will refuse to rotate it",
			where, u.Kind, u.Type)})
	}
	return out
}

type validateJSON struct {
	Inventory string          `json:"inventory"`
	Valid     bool            `json:"valid"`
	Errors    []validateError `json:"errors"`
	Warnings  []validateError `json:"warnings"`
	Counts    *inventoryCount `json:"counts,omitempty"`
}

type validateError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

type inventoryCount struct {
	Credentials, Consumers, Windows, Freezes, Checks, Identities, Teams int
}

func counts(inv *inventory.Inventory) *inventoryCount {
	c := &inventoryCount{Credentials: len(inv.Credentials), Windows: len(inv.Windows), Freezes: len(inv.Freezes),
		Checks: len(inv.Checks), Identities: len(inv.Identities), Teams: len(inv.Teams)}
	for _, cr := range inv.Credentials {
		c.Consumers += len(cr.Consumers)
	}
	return c
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
