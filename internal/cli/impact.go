package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rotorhq/rotor/internal/impact"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/spf13/cobra"
)

func newImpact(g *globals) *cobra.Command {
	var at string
	cmd := &cobra.Command{
		Use:   "impact CRED",
		Short: "Who fails if this credential changes now: consumers, delayed risk, evidence, gaps",
		Long: `Impact lists every consumer of a credential: its kind, identity, how it reads the value,
its reload, its delayed-risk class and why, the evidence that will prove it works, and what
happens to it if the value changes now. It ends with the gaps: consumers with no check, no
identity or no reload, critical credentials with one approver, and provider types this build
cannot run yet.`,
		Args: args(cobra.ExactArgs(1)),
		ValidArgsFunction: func(cmd *cobra.Command, a []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(a) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			inv, err := g.load()
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			return inv.CredentialIDs(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			inv, err := g.loadOrPrint()
			if err != nil {
				return err
			}
			c, ok := inv.Credential(a[0])
			if !ok {
				return withHint(ExitUsage, fmt.Errorf("no credential %q in %s", a[0], g.inventory), suggestCredential(inv, a[0]))
			}
			now := g.env.Now()
			if at != "" {
				if now, err = parseAt(at, zoneOf(inv)); err != nil {
					return err
				}
			}
			r := impact.Analyze(inv, c, now)
			r.Gaps = append(r.Gaps, g.notBuiltGaps(inv, c)...)
			if g.output == "json" {
				return writeJSON(g.env.Stdout, r)
			}
			printImpact(g, r, zoneOf(inv))
			return nil
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "judge as of this time instead of now (RFC 3339, or 2026-12-20T22:00 in the inventory's zone)")
	return cmd
}

func suggestCredential(inv *inventory.Inventory, name string) string {
	ids := inv.CredentialIDs()
	best, bestScore := "", -1
	for _, id := range ids {
		if s := commonPrefix(id, name); s > bestScore {
			best, bestScore = id, s
		}
	}
	if best != "" && bestScore >= 3 {
		return fmt.Sprintf("did you mean %q? (rotor plan lists every credential)", best)
	}
	return "rotor plan lists every credential"
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func zoneOf(inv *inventory.Inventory) *time.Location {
	if inv.Defaults.Timezone != "" {
		if loc, err := time.LoadLocation(inv.Defaults.Timezone); err == nil {
			return loc
		}
	}
	return time.UTC
}

func printImpact(g *globals, r impact.Report, loc *time.Location) {
	w := g.env.Stdout
	fmt.Fprintf(w, "%s", r.Credential)
	if r.Description != "" {
		fmt.Fprintf(w, " — %s", r.Description)
	}
	crit := "not critical"
	if r.Critical {
		crit = "critical"
	}
	fmt.Fprintf(w, "\nowner %s · %s · strategy %s · store %s · authority %s\n", r.Owner, crit, r.Strategy, r.Store, r.Authority)
	fmt.Fprintf(w, "approvers: %s\n", orNone(strings.Join(r.Approvers, ", ")))
	fmt.Fprintf(w, "as of %s\n\n", fmtTime(r.At, loc))

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSUMER\tKIND\tIDENTITY\tREADS\tRELOAD\tRISK\tPROOF")
	for _, c := range r.Consumers {
		proof := "after reload"
		switch {
		case c.NextRun != nil:
			proof = "next run " + fmtTime(*c.NextRun, loc)
		case c.ProofAfter != "":
			proof = "after " + c.ProofAfter
		case c.Risk == impact.RiskOnDemand || c.Risk == impact.RiskExternal || c.Risk == impact.RiskRestartRequired:
			proof = "sign-off"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Kind, orDash(c.Identity), c.Reads, orDash(c.Reload), c.Risk, proof)
	}
	tw.Flush()

	for _, c := range r.Consumers {
		fmt.Fprintf(w, "\n%s (%s)\n", c.ID, c.Risk)
		fmt.Fprintf(w, "  why:            %s\n", c.Why)
		fmt.Fprintf(w, "  if changed now: %s\n", c.IfChangedNow)
		fmt.Fprintf(w, "  evidence:       %s\n", orNone(strings.Join(c.Evidence, "; ")))
	}
	fmt.Fprintln(w)
	if len(r.FailNow) == 0 {
		fmt.Fprintln(w, "fails if changed now: nobody (until revoke)")
	} else {
		fmt.Fprintf(w, "fails if changed now: %s\n", strings.Join(r.FailNow, ", "))
	}
	if len(r.Gaps) == 0 {
		fmt.Fprintln(w, "gaps: none")
		return
	}
	fmt.Fprintf(w, "gaps (%d):\n", len(r.Gaps))
	for _, gp := range r.Gaps {
		who := ""
		if gp.Consumer != "" {
			who = gp.Consumer + ": "
		}
		fmt.Fprintf(w, "  %-7s %s%s\n", gp.Severity, who, gp.Problem)
	}
}

func fmtTime(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02 15:04 MST") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// notBuiltGaps are the provider types the credential relies on that this build declares but
// cannot run: a rotation of it stops at readiness, so impact says so first.
func (g *globals) notBuiltGaps(inv *inventory.Inventory, c *inventory.Credential) []impact.Gap {
	var gaps []impact.Gap
	for _, u := range inv.ProviderUses() {
		if u.Credential != c.ID || g.registry.Implemented(u.Kind, u.Type) {
			continue
		}
		what := string(u.Kind) // "store type …"
		switch {
		case strings.HasSuffix(u.What, string(u.Kind)): // "consumer api: reload type …"
			what = u.What
		case u.What != "": // "check api-ok: check type …"
			what = u.What + ": " + what
		}
		gaps = append(gaps, impact.Gap{Severity: "blocker", Problem: fmt.Sprintf("%s type %q is not implemented in this build: a rotation stops at readiness", what, u.Type)})
	}
	return gaps
}
