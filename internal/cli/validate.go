package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/spf13/cobra"
)

func newValidate(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Validate the inventory; print every problem as file:line:col: message",
		Long: `Validate reads the whole inventory and reports every problem at once — unknown keys,
wrong types, duplicate ids, dangling references, bad durations, cron expressions and time
zones, windows that never open, policies that can never be met — each as file:line:col.
It exits 2 when there is any problem, and executes nothing.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			inv, err := g.load()
			var list inventory.ErrorList
			if err != nil && !errors.As(err, &list) {
				return err
			}
			if g.output == "json" {
				out := validateJSON{Inventory: g.inventory, Valid: err == nil, Errors: []validateError{}}
				for _, e := range list {
					out.Errors = append(out.Errors, validateError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
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
			c := counts(inv)
			fmt.Fprintf(g.env.Stdout, "%s: valid — %d credentials, %d consumers, %d windows, %d freezes, %d checks, %d identities, %d teams\n",
				g.inventory, c.Credentials, c.Consumers, c.Windows, c.Freezes, c.Checks, c.Identities, c.Teams)
			return nil
		},
	}
}

type validateJSON struct {
	Inventory string          `json:"inventory"`
	Valid     bool            `json:"valid"`
	Errors    []validateError `json:"errors"`
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
