package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/plan"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/schedule"
	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/sqlite"
)

func newPlan(g *globals) *cobra.Command {
	var at string
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "What is due, in which window, and why — changes nothing",
		Long: `Plan shows, for every credential, its last rotation and expiry (from the state
database), the next due date from its policy, the opening of its cutover window that the
rotation will use once freezes are applied, and a status: ok, due, overdue, expiring (within
rotate.before_expiry of the expiry, or 14 days without it), expired, blocked: freeze
<reason>, or blocked: no window before expiry. RULE says which rule of rotate set the due
date (every, renew_at, before_expiry, expiry, ari, no-history); the date is moved earlier by
the credential's jitter, the same on every run. Where the credential's authority suggests a
renewal window (an ACME CA with ACME Renewal Information), plan asks it (a read, at most 5 s)
and the credential is due at a fixed point inside that window, or now once it has opened —
never later than the other rules; a CA that offers none, or cannot be reached, is noted. When the first opening after the due date does
not end before the expiry minus the soak (a freeze, say), plan takes the last opening that
does and says so. It opens the state database read-only and writes nothing.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			inv, err := g.loadOrPrint()
			if err != nil {
				return err
			}
			loc := zoneOf(inv)
			now := g.env.Now()
			if at != "" {
				if now, err = parseAt(at, loc); err != nil {
					return err
				}
			}
			hist, source, err := g.history(cmd.Context(), inv)
			if err != nil {
				return err
			}
			entries := plan.Plan(inv, hist, now)
			freeze, frozen := schedule.ActiveFreeze(inv.ScheduleFreezes(), now)
			if g.output == "json" {
				out := planJSON{At: now, History: source, Credentials: entries}
				if frozen {
					out.Freeze = &freezeJSON{Reason: freeze.Reason, From: freeze.From, To: freeze.To}
				}
				return writeJSON(g.env.Stdout, out)
			}
			w := g.env.Stdout
			fmt.Fprintf(w, "plan as of %s · history: %s\n", fmtTime(now, loc), source)
			if frozen {
				fmt.Fprintf(w, "freeze in force: %s (until %s)\n", freeze.Reason, fmtTime(freeze.To, loc))
			}
			fmt.Fprintln(w)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CREDENTIAL\tSTATUS\tDUE\tRULE\tWINDOW\tOPENING\tLAST ROTATED\tEXPIRES")
			for _, e := range entries {
				opening := openingWords(e.Opening, now, loc)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Credential, e.Status, fmtOpt(e.Due, loc, "-"),
					orDash(e.DueRule), orDash(e.Window), opening, fmtOpt(e.LastRotated, loc, "never (no history)"), fmtOpt(e.Expires, loc, "unknown"))
			}
			tw.Flush()
			var notes []string
			for _, e := range entries {
				for _, n := range e.Notes {
					notes = append(notes, "  "+e.Credential+": "+n)
				}
			}
			if len(notes) > 0 {
				fmt.Fprintf(w, "\nnotes:\n%s\n", strings.Join(notes, "\n"))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "plan as of this time instead of now (RFC 3339, or 2026-12-20T22:00 in the inventory's zone)")
	return cmd
}

type planJSON struct {
	At          time.Time    `json:"at"`
	History     string       `json:"history"`
	Freeze      *freezeJSON  `json:"freeze,omitempty"`
	Credentials []plan.Entry `json:"credentials"`
}

type freezeJSON struct {
	Reason string    `json:"reason"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
}

func fmtOpt(t *time.Time, loc *time.Location, none string) string {
	if t == nil {
		return none
	}
	return fmtTime(*t, loc)
}

// history reads every credential's state, read-only. A database that does not exist yet means
// no history, and is said so rather than treated as an error.
func (g *globals) history(ctx context.Context, inv *inventory.Inventory) (map[string]plan.History, string, error) {
	db, loc, err := g.openStateReadOnly(ctx)
	if err != nil {
		return nil, "", err
	}
	defer db.Close()
	if db.Absent() {
		if g.db != "" {
			// A database named on purpose (--db, ROTOR_DB) that is not there is a typo more
			// often than a first run: say so rather than plan as if nothing was ever rotated.
			return nil, "", withHint(ExitError, fmt.Errorf("no state database at %s", loc.Path),
				"check --db (or ROTOR_DB); without it, plan reads the default database, and says when there is none yet")
		}
		return map[string]plan.History{}, "none yet (" + loc.Path + " does not exist)", nil
	}
	states, err := db.CredentialStates(ctx)
	if err != nil {
		return nil, "", err
	}
	h := make(map[string]plan.History, len(states))
	for _, s := range states {
		h[s.ID] = plan.History{LastRotated: s.LastRotated, Expires: s.Expires, Version: s.CurrentVersion}
	}
	if err := issued(ctx, db, inv, h); err != nil {
		return nil, "", err
	}
	g.renewals(ctx, db, inv, h)
	recs, err := db.Runs(ctx, state.RunFilter{Phases: rotation.ActivePhases()})
	if err != nil {
		return nil, "", err
	}
	for _, rec := range recs {
		r, err := rotation.DecodeRun(rec.ID, rec.Data)
		if err != nil {
			return nil, "", err
		}
		hi := h[r.Credential]
		if hi.Run != nil {
			continue // newest first: one run in progress per credential
		}
		pr := &plan.Run{ID: r.ID, Phase: string(r.Phase)}
		for _, x := range r.Exceptions {
			if x.State != "closed" {
				pr.Exceptions = append(pr.Exceptions, plan.Exception{Consumers: x.Consumers, Owner: x.Owner, Expires: x.Expires, State: x.State})
			}
		}
		hi.Run = pr
		h[r.Credential] = hi
	}
	return h, fmt.Sprintf("%s (%s)", loc.Path, count(len(states), "credential", "credentials")), nil
}

// renewals asks the authority of every credential whose current version is known, when it
// offers renewal advice (an ACME CA with ARI), for its suggested renewal window: a read,
// several at a time, each bounded by engine.RenewalTimeout. It never fails: a CA that is
// down or offers nothing leaves a note on the credential's line, not an error.
func (g *globals) renewals(ctx context.Context, db *sqlite.DB, inv *inventory.Inventory, h map[string]plan.History) {
	env := provider.Env{Now: g.env.Now, Rand: rand.Reader, Getenv: g.env.Getenv, BaseDir: g.baseDir(),
		Log: slog.New(slog.DiscardHandler)}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, 8)
	)
	for _, c := range inv.Credentials {
		hi, ok := h[c.ID]
		if !ok || hi.Version == "" {
			continue
		}
		sem <- struct{}{} // taken before the goroutine starts: at most 8 exist, not one per credential
		wg.Go(func() {
			defer func() { <-sem }()
			engine.AdviseRenewal(ctx, g.registry, env, db, c, &hi)
			mu.Lock()
			h[c.ID] = hi
			mu.Unlock()
		})
	}
	wg.Wait()
}

// issued fills the lifetime start of the current value of every credential whose policy
// counts from it (rotate.renew_at) and whose expiry is known: the Created of that version as
// its run recorded it. The state keeps no certificate NotBefore; the store writes a version
// just after the authority issues it, so Created is the issue time to within the run's
// prepare step. Without such a run, plan counts from the last rotation. Only these
// credentials are looked up: one small indexed read each, not every run of the database.
func issued(ctx context.Context, db *sqlite.DB, inv *inventory.Inventory, h map[string]plan.History) error {
	for _, c := range inv.Credentials {
		hi, ok := h[c.ID]
		if !ok || !c.Rotate.RenewAt.Set || hi.Expires.IsZero() || hi.Version == "" {
			continue
		}
		recs, err := db.Runs(ctx, state.RunFilter{Credential: c.ID, Limit: 4})
		if err != nil {
			return err
		}
		for _, rec := range recs { // newest first: the run that made the current version
			r, err := rotation.DecodeRun(rec.ID, rec.Data)
			if err != nil || r.New == nil || r.New.ID != hi.Version || r.New.Created.IsZero() {
				continue
			}
			hi.Issued = r.New.Created
			h[c.ID] = hi
			break
		}
	}
	return nil
}

// openingWords is a plan line's next cutover opening: its start, or, for one that has begun
// and not ended, "open now, until" its end — never an opening in the past.
func openingWords(op *plan.Interval, now time.Time, loc *time.Location) string {
	switch {
	case op == nil:
		return "-"
	case op.Start.After(now):
		return fmtTime(op.Start, loc)
	case op.End.IsZero():
		return "open now"
	case op.End.After(now):
		if op.End.Sub(now) < 24*time.Hour {
			return "open now, until " + op.End.In(loc).Format("15:04")
		}
		return "open now, until " + fmtTime(op.End, loc)
	}
	return fmtTime(op.Start, loc)
}
