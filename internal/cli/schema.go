package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rotorhq/rotor/internal/inventory"
)

func newSchema(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of inventory files (for editors)",
		Long: `Schema prints the JSON Schema (draft 2020-12) of one inventory file, generated from the
same definitions the loader uses. The repository ships it as schema/inventory.schema.json;
point your editor's YAML language server at it.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := inventory.Schema(g.registry)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.env.Stdout, "%s\n", b)
			return err
		},
	}
}
