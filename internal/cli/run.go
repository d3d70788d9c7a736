package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/schedule"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/state"
)

// actorFlag adds --as to a command: who is acting.
func actorFlag(cmd *cobra.Command, as *string) {
	cmd.Flags().StringVar(as, "as", "", "who is acting (default: env ROTOR_ACTOR, then the OS user)")
}

func (g *globals) actor(as string) string {
	if as != "" {
		return as
	}
	if a := g.env.Getenv("ROTOR_ACTOR"); a != "" {
		return a
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// call is one acting command's invocation: who acts (--as, else ROTOR_ACTOR, else the OS
// user), its progress on stderr.
func (g *globals) call(as string) engine.Call {
	return engine.Call{Actor: g.actor(as), OSUser: osUser(), Progress: g.env.Stderr}
}

// osUser is the operating-system account running rotor, journaled beside the self-declared
// --as: what the host vouches for.
func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

// engine opens the inventory, the state database (read-write) and the fingerprint key that
// lives beside it, and wires them into an engine. close releases the database.
func (g *globals) engine(ctx context.Context) (*engine.Engine, func(), error) {
	inv, err := g.loadOrPrint()
	if err != nil {
		return nil, nil, err
	}
	db, loc, err := g.openState(ctx)
	if err != nil {
		return nil, nil, err
	}
	keyPath := filepath.Join(filepath.Dir(loc.Path), "rotor.key")
	fp, _, err := secret.LoadOrCreateKey(keyPath, rand.Reader)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	e := &engine.Engine{Inv: inv, Registry: g.registry, State: db, Fingerprinter: fp, Clock: g.env.Now,
		Getenv: g.env.Getenv, BaseDir: g.baseDir(),
		CrashAt: g.env.Getenv("ROTOR_TEST_CRASH_AT")}
	e.Defaults()
	// Any command that opens the state announces exceptions near or past their expiry: there
	// is no daemon to notice them, and an exception must never lapse silently.
	if err := e.NotifyExceptions(ctx); err != nil {
		fmt.Fprintf(g.env.Stderr, "warning: %v\n", err)
	}
	return e, func() { db.Close() }, nil
}

func newRotate(g *globals) *cobra.Command {
	var through, as string
	var wait time.Duration
	var now, all bool
	var parallel int
	cmd := &cobra.Command{
		Use:   "rotate CRED [CRED…]",
		Short: "Start or resume the rotation of credentials, phase by phase, inside their windows",
		Long: `Rotate starts a run of the credential, or resumes the one in progress, and drives it
through prepare, cutover, verify and revoke as far as its gates allow. Every step is durable:
interrupted anywhere, the next rotate resumes where it stopped. A gate that blocks (outside a
window, in a freeze, evidence failing or missing, awaiting approval, residual use) is printed
with what would unblock it, and rotate exits 3.

A new run starts only when the credential is due (see rotor plan); --now starts one anyway.
Several credentials (or --all) rotate together, each in its own run, at most --parallel at a
time and at most an authority's "parallel" against it; the exit code is the worst of theirs.`,
		Args: args(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, a []string) error {
			st, err := rotation.ParseStage(through)
			if err != nil {
				return usageErr("--through: %v", err)
			}
			if all == (len(a) > 0) {
				return usageErr("name the credentials to rotate, or --all")
			}
			if parallel < 1 {
				return usageErr("--parallel: at least 1")
			}
			e, closeDB, err := g.engine(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			if all {
				for _, c := range e.Inv.Credentials {
					a = append(a, c.ID)
				}
			}
			for _, id := range a {
				if _, ok := e.Inv.Credential(id); !ok {
					return withHint(ExitUsage, fmt.Errorf("no credential %q in %s", id, g.inventory), suggestCredential(e.Inv, id))
				}
			}
			call := g.call(as)
			call.MaxWait, call.Force = wait, now
			if len(a) == 1 {
				fmt.Fprintf(g.env.Stderr, "rotate %s (through %s) as %s\n", a[0], st, call.Actor)
				res, err := e.Rotate(cmd.Context(), call, a[0], st)
				if err != nil {
					return rotateErr(err)
				}
				return g.reportResult(res)
			}
			fmt.Fprintf(g.env.Stderr, "rotate %s (through %s, %d at a time) as %s\n", count(len(a), "credential", "credentials"), st, parallel, call.Actor)
			call.Progress = nil // the runs' steps interleave; each is summed up below
			return g.reportMany(e.RotateMany(cmd.Context(), call, a, st, parallel))
		},
	}
	cmd.Flags().StringVar(&through, "through", "revoke", "stop after this phase: prepare, cutover, verify or revoke")
	cmd.Flags().BoolVar(&now, "now", false, "start a new run even if the credential is not due (after a leak, or to rehearse)")
	cmd.Flags().BoolVar(&all, "all", false, "every credential of the inventory")
	cmd.Flags().IntVar(&parallel, "parallel", 4, "with several credentials: at most this many runs at once")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait in-process for gates that clear by themselves within this long (a soak, a retry)")
	actorFlag(cmd, &as)
	return cmd
}

func rotateErr(err error) error {
	switch {
	case errors.Is(err, engine.ErrStaleLock):
		return withHint(ExitError, err, "fix what the error names (a full or read-only file system under the state database?); the next rotor rotate takes the lock over and resumes the run")
	case errors.Is(err, engine.ErrLocked):
		return withHint(ExitError, err, "wait for that run to finish, or check that no other rotor is running")
	}
	return err
}

// reportMany prints one line per credential and returns the worst exit: an error (1) over a
// gate (3) over done (0).
func (g *globals) reportMany(outs []engine.Outcome) error {
	worst := ExitOK
	rank := map[int]int{ExitOK: 0, ExitGate: 1, ExitError: 2}
	var rows []map[string]any
	tw := tabwriter.NewWriter(g.env.Stdout, 0, 4, 2, ' ', 0)
	if g.output != "json" {
		fmt.Fprintln(tw, "CREDENTIAL\tRUN\tPHASE\tOUTCOME")
	}
	unfinished, blocked, failed := 0, 0, 0
	for _, o := range outs {
		code, what := ExitOK, "done"
		switch {
		case o.Err != nil:
			code, what = ExitError, "error: "+o.Err.Error()
		case o.Result.Run.Halt != nil:
			code, what = ExitError, "halted at "+o.Result.Run.Halt.Step+": "+o.Result.Run.Halt.Reason
		case o.Result.NotDue != nil:
			what = "not due"
		case o.Result.NotStarted:
			code, what = ExitGate, "not started, blocked at "+o.Result.Action.Gate.Gate+": "+o.Result.Action.Gate.Message
		case o.Result.Blocked():
			code, what = ExitGate, "blocked at "+o.Result.Action.Gate.Gate+": "+o.Result.Action.Gate.Message
		case o.Result.Action.Kind == rotation.Pause:
			what = "paused as asked"
		}
		switch code {
		case ExitError:
			unfinished, failed = unfinished+1, failed+1
		case ExitGate:
			unfinished, blocked = unfinished+1, blocked+1
		}
		if rank[code] > rank[worst] {
			worst = code
		}
		id, phase := o.Result.Run.ID, string(o.Result.Run.Phase)
		if o.Result.NotStarted { // stored nowhere: no run to name
			id, phase = "", ""
		}
		if g.output == "json" {
			rows = append(rows, map[string]any{"credential": o.Credential, "run": id, "phase": phase, "outcome": what})
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Credential, orDash(id), orDash(phase), truncate(what, 120))
	}
	if g.output == "json" {
		if err := writeJSON(g.env.Stdout, rows); err != nil {
			return err
		}
	} else {
		tw.Flush()
	}
	if worst == ExitOK {
		return nil
	}
	return &exitError{code: worst, err: fmt.Errorf("%d of %s did not finish: %d blocked at a gate, %s",
		unfinished, count(len(outs), "credential", "credentials"), blocked, count(failed, "error or halt", "errors or halts")),
		hint: "rotor runs shows where each stands; rotor rotate CRED says what unblocks it"}
}

// reportResult prints where a run stopped and maps it to the exit code.
func (g *globals) reportResult(res engine.Result) error {
	r := res.Run
	// The table prints the gate's unblock line: the error's hint says it only when stdout
	// carried JSON, so a person never reads the same advice twice.
	hint := func(text string) string {
		if g.output == "json" {
			return text
		}
		return ""
	}
	if res.NotDue != nil {
		if g.output == "json" {
			return writeJSON(g.env.Stdout, map[string]any{"not_due": res.NotDue, "last_run": r.ID})
		}
		due := ""
		if res.NotDue.Due != nil {
			due = ", due " + res.NotDue.Due.Format(time.RFC3339)
		}
		fmt.Fprintf(g.env.Stdout, "%s is not due (%s%s)\n", res.NotDue.Credential, res.NotDue.DueReason, due)
		if r.ID != "" {
			fmt.Fprintf(g.env.Stdout, "run %s: %s (the last run)\n", r.ID, r.Phase)
		}
		fmt.Fprintln(g.env.Stdout, "nothing started; rotor rotate --now starts a run anyway")
		return nil
	}
	if res.NotStarted {
		// Stopped before its first effect: nothing was stored, so there is no run to name.
		if g.output == "json" {
			if err := writeJSON(g.env.Stdout, map[string]any{"not_started": true, "credential": r.Credential, "next": actionJSON(res.Action)}); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(g.env.Stdout, "%s: nothing started (nothing changed, no run stored)\n", r.Credential)
			printAction(g.env.Stdout, r, res.Action)
		}
		if res.Blocked() {
			return &exitError{code: ExitGate, err: fmt.Errorf("%s stopped at gate %s before anything changed", r.Credential, res.Action.Gate.Gate), hint: hint(res.Action.Gate.Unblock)}
		}
		return nil
	}
	if g.output == "json" {
		if err := writeJSON(g.env.Stdout, map[string]any{"run": r, "next": actionJSON(res.Action)}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(g.env.Stdout, "run %s: %s\n", r.ID, r.Phase)
		printAction(g.env.Stdout, r, res.Action)
	}
	switch {
	case res.Action.Kind == rotation.Stopped && r.Halt != nil && r.Halt.Kind != "needs a human":
		return &exitError{code: ExitError, err: fmt.Errorf("run %s halted at %s: %s", r.ID, r.Halt.Step, r.Halt.Reason), hint: hint(r.Halt.Next)}
	case res.Blocked():
		return &exitError{code: ExitGate, err: fmt.Errorf("run %s stopped at gate %s", r.ID, res.Action.Gate.Gate), hint: hint(res.Action.Gate.Unblock)}
	}
	return nil
}

func actionJSON(a rotation.Action) map[string]any {
	kind := map[rotation.ActionKind]string{rotation.DoStep: "step", rotation.Wait: "blocked", rotation.Pause: "paused",
		rotation.Finished: "done", rotation.Stopped: "halted"}[a.Kind]
	out := map[string]any{"kind": kind}
	if a.Kind == rotation.DoStep {
		out["step"] = rotation.StepName(a.Step, a.Consumer)
	}
	if a.Gate.Gate != "" {
		out["gate"] = a.Gate
	}
	return out
}

func printAction(w io.Writer, r rotation.Run, a rotation.Action) {
	switch a.Kind {
	case rotation.Finished:
		if r.Phase == rotation.Cancelled {
			fmt.Fprintf(w, "cancelled by %s: %s\n", r.Cancel.By, r.Cancel.Reason)
			for _, k := range []rotation.StepKind{rotation.StepDiscard, rotation.StepRemovePending} {
				if d := r.Step(k, "").Detail; d != "" {
					fmt.Fprintf(w, "%-11s %s\n", string(k)+":", d)
				}
			}
			return
		}
		if r.New != nil {
			fmt.Fprintf(w, "done: %s is current (%s)", r.New.ID, r.New.Fingerprint)
			if r.Previous != nil {
				fmt.Fprintf(w, "; %s revoked", r.Previous.ID)
			}
			fmt.Fprintln(w)
		}
		if g := a.Gate; g.Gate == "delete" { // the deletion the done run still owes, and when
			fmt.Fprintf(w, "delete:     %s\n", g.Message)
		}
	case rotation.Pause:
		fmt.Fprintf(w, "paused as asked: %s reached\n", r.Phase)
	case rotation.DoStep:
		fmt.Fprintf(w, "next: %s\n", rotation.StepName(a.Step, a.Consumer))
		if f := r.Failure(r.Step(a.Step, a.Consumer)); f != "" {
			fmt.Fprintf(w, "last:       %s\n", f)
		}
		if a.Step == rotation.StepDelete && r.Previous != nil {
			fmt.Fprintf(w, "delete:     %s is due for deletion from the store: the next rotor rotate %s deletes it\n", r.Previous.ID, r.Credential)
		}
	case rotation.Wait, rotation.Stopped:
		g := a.Gate
		fmt.Fprintf(w, "blocked at: %s (%s)\n", g.Gate, g.Verdict)
		if g.Message != "" {
			fmt.Fprintf(w, "why:        %s\n", g.Message)
		}
		if !g.Until.IsZero() {
			fmt.Fprintf(w, "until:      %s\n", g.Until.Format(time.RFC3339))
		}
		if g.Unblock != "" {
			fmt.Fprintf(w, "unblock:    %s\n", g.Unblock)
		}
	}
}

func newStatus(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status [RUN]",
		Short: "Where runs stand: phase, steps, gates, what they wait for and until when",
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			v, closeDB, err := g.view(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			if len(a) == 0 {
				return g.listRuns(cmd.Context(), v, true)
			}
			st, err := v.Status(cmd.Context(), a[0])
			if err != nil {
				return withHint(ExitUsage, err, "rotor runs lists the runs")
			}
			if g.output == "json" {
				return writeJSON(g.env.Stdout, map[string]any{"run": st.Run, "next": actionJSON(st.Next)})
			}
			printStatus(g.env.Stdout, st, g.env.Now())
			return nil
		},
	}
}

func printStatus(w io.Writer, st engine.Status, now time.Time) {
	r := st.Run
	fmt.Fprintf(w, "run %s — %s\nphase %s · strategy %s · started by %s at %s\n", r.ID, r.Credential, r.Phase, r.Strategy, r.StartedBy, r.StartedAt.Format(time.RFC3339))
	if r.Previous != nil {
		fmt.Fprintf(w, "previous %s (%s)\n", r.Previous.ID, r.Previous.Fingerprint)
	}
	if r.New != nil {
		fmt.Fprintf(w, "new      %s (%s)\n", r.New.ID, r.New.Fingerprint)
	}
	if !r.CutoverAt.IsZero() {
		fmt.Fprintf(w, "cutover  %s\n", r.CutoverAt.Format(time.RFC3339))
	}
	fmt.Fprintln(w, "\nsteps:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range r.Steps {
		detail := truncate(s.Detail, 100)
		if f := r.Failure(s); f != "" { // in full: the error names where it failed
			detail = f
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\tattempt %d\t%s\n", s.Name(), s.Status, s.Verdict, s.Attempt, detail)
	}
	tw.Flush()
	if len(r.Consumers) > 0 {
		fmt.Fprintln(w, "\nconsumers:")
		for _, c := range r.Consumers {
			state := "not proven"
			if c.Proven {
				state = "proven by " + c.ProvenBy
			}
			if c.PinnedTo != "" {
				state += " · pinned to " + c.PinnedTo
			}
			if c.FollowUp != "" && !c.Proven {
				state += " · follow-up: " + c.FollowUp
			}
			fmt.Fprintf(w, "  %s: %s\n", c.ID, state)
		}
	}
	for _, ex := range r.Exceptions {
		state := ex.State
		if ex.State == "open" && !now.Before(ex.Expires) {
			state = "EXPIRED"
		}
		fmt.Fprintf(w, "\nexception (%s): %s back on the previous version, owner %s, expires %s — %s\n",
			state, strings.Join(ex.Consumers, ", "), ex.Owner, ex.Expires.Format(time.RFC3339), ex.Reason)
	}
	for _, a := range r.Approvals {
		verb := "approved"
		if !a.Approve {
			verb = "rejected"
		}
		fmt.Fprintf(w, "\n%s by %s at %s %s", verb, a.By, a.At.Format(time.RFC3339), a.Reason)
	}
	if c := r.Cancel; c != nil && r.Phase != rotation.Cancelled { // a cancelled run says it below
		fmt.Fprintf(w, "\ncancelled by %s at %s: %s", c.By, c.At.Format(time.RFC3339), c.Reason)
	}
	fmt.Fprintln(w)
	if r.Halt != nil {
		fmt.Fprintf(w, "\nHALTED at %s: %s\nnext: %s\n", r.Halt.Step, r.Halt.Reason, r.Halt.Next)
		return
	}
	fmt.Fprintln(w)
	printAction(w, r, st.Next)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func newRuns(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List runs, newest first (active ones unless --all)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, closeDB, err := g.view(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			return g.listRuns(cmd.Context(), v, !all)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include finished runs")
	return cmd
}

func (g *globals) listRuns(ctx context.Context, v engine.View, activeOnly bool) error {
	sts, err := v.Runs(ctx, state.RunFilter{})
	if err != nil {
		return err
	}
	var shown []engine.Status
	for _, st := range sts {
		if activeOnly && st.Run.Phase.Terminal() {
			continue
		}
		shown = append(shown, st)
	}
	if g.output == "json" {
		out := make([]map[string]any, 0, len(shown))
		for _, st := range shown {
			out = append(out, map[string]any{"id": st.Run.ID, "credential": st.Run.Credential, "phase": st.Run.Phase,
				"started_by": st.Run.StartedBy, "started_at": st.Run.StartedAt, "updated_at": st.Run.UpdatedAt, "next": actionJSON(st.Next)})
		}
		return writeJSON(g.env.Stdout, out)
	}
	if len(shown) == 0 {
		fmt.Fprintln(g.env.Stdout, "no runs")
		return nil
	}
	tw := tabwriter.NewWriter(g.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tCREDENTIAL\tPHASE\tSTARTED BY\tUPDATED\tWAITING FOR")
	for _, st := range shown {
		waiting := "-"
		if st.Next.Gate.Gate != "" {
			waiting = st.Next.Gate.Gate
			if !st.Next.Gate.Until.IsZero() {
				waiting += " until " + st.Next.Gate.Until.Format(time.RFC3339)
			}
		} else if st.Next.Kind == rotation.DoStep {
			waiting = "next step " + rotation.StepName(st.Next.Step, st.Next.Consumer)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.Run.ID, st.Run.Credential, st.Run.Phase, st.Run.StartedBy, st.Run.UpdatedAt.Format(time.RFC3339), waiting)
	}
	return tw.Flush()
}

func newDecide(g *globals, approve bool) *cobra.Command {
	var as, reason string
	use, short := "approve RUN", "Approve the revocation of a run (not by whoever started it)"
	if !approve {
		use, short = "reject RUN", "Reject the revocation of a run, with a reason"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if as == "" {
				return usageErr("say who decides with --as")
			}
			if !approve && strings.TrimSpace(reason) == "" {
				return usageErr("a rejection needs --reason")
			}
			e, closeDB, err := g.engine(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			r, err := e.Decide(cmd.Context(), g.call(as), a[0], approve, reason)
			if err != nil {
				return decisionErr(err)
			}
			verb := "approved"
			if !approve {
				verb = "rejected"
			}
			fmt.Fprintf(g.env.Stdout, "run %s: revocation %s by %s\n", r.ID, verb, as)
			return nil
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "who decides (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required for reject)")
	return cmd
}

func decisionErr(err error) error {
	switch {
	case errors.Is(err, engine.ErrUnknownRun):
		return withHint(ExitUsage, err, "rotor runs lists the runs")
	case errors.Is(err, rotation.ErrFourEyes), errors.Is(err, rotation.ErrNotApprover), errors.Is(err, rotation.ErrWrongPhase):
		return &exitError{code: ExitGate, err: err}
	}
	return rotateErr(err) // the run's lock
}

func newSignoff(g *globals) *cobra.Command {
	var as, reason string
	cmd := &cobra.Command{
		Use:   "signoff RUN CONSUMER",
		Short: "An owner accepts a delayed consumer without its proof, with a reason",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if as == "" || strings.TrimSpace(reason) == "" {
				return usageErr("a sign-off needs --as WHO and --reason TEXT")
			}
			e, closeDB, err := g.engine(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			if _, err := e.SignOff(cmd.Context(), g.call(as), a[0], a[1], reason); err != nil {
				return decisionErr(err)
			}
			fmt.Fprintf(g.env.Stdout, "run %s: %s signed off by %s\n", a[0], a[1], as)
			return nil
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the owner signing off (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why it is safe without proof (required)")
	return cmd
}

func newRollback(g *globals) *cobra.Command {
	var consumers, owner, expires, reason, as string
	cmd := &cobra.Command{
		Use:   "rollback RUN --consumers A,B --owner WHO --expires 4h --reason TEXT",
		Short: "Bounded rollback: the previous version back for the failing consumers only, with an owner and an expiry",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if consumers == "" || owner == "" || expires == "" || strings.TrimSpace(reason) == "" {
				return usageErr("rollback needs --consumers, --owner, --expires and --reason")
			}
			d, err := schedule.ParseDuration(expires)
			if err != nil || d <= 0 {
				return usageErr("--expires %q: a duration such as 4h or 2d", expires)
			}
			e, closeDB, err := g.engine(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			res, err := e.Rollback(cmd.Context(), g.call(as), a[0], engine.RollbackRequest{Consumers: strings.Split(consumers, ","), Owner: owner, Expires: d, Reason: reason})
			if err != nil {
				return decisionErr(err)
			}
			r := res.Run
			if r.Halt != nil {
				return g.reportResult(res)
			}
			ex := r.OpenException()
			fmt.Fprintf(g.env.Stdout, "run %s: rolled back %s to %s; exception owned by %s expires %s\n",
				r.ID, strings.Join(ex.Consumers, ", "), r.Previous.ID, ex.Owner, ex.Expires.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&consumers, "consumers", "", "the failing consumers, comma-separated")
	cmd.Flags().StringVar(&owner, "owner", "", "who owns the exception")
	cmd.Flags().StringVar(&expires, "expires", "", "how long the exception may stay open (4h, 2d)")
	cmd.Flags().StringVar(&reason, "reason", "", "why")
	actorFlag(cmd, &as)
	return cmd
}

func newCancel(g *globals) *cobra.Command {
	var as, reason string
	cmd := &cobra.Command{
		Use:   "cancel RUN --reason TEXT",
		Short: "Abandon a run before cutover: what it minted is disabled and removed, the old version stays current",
		Long: `Cancel abandons a run before its cutover — stuck in prepare, prepared, or halted there — on
a person's request, journaled with who asked, the operating-system account and the reason.
The value the run minted is disabled at the authority, its pending version removed from the
store, and the run ends cancelled; the current version stays current throughout, and a new
run of the credential may start. Interrupted, the next rotate of the credential (or cancel
again) finishes it. After cutover a cancel is refused: roll back instead (rotor rollback).`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if strings.TrimSpace(reason) == "" {
				return usageErr("a cancel needs --reason")
			}
			e, closeDB, err := g.engine(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			res, err := e.Cancel(cmd.Context(), g.call(as), a[0], reason)
			if err != nil {
				return decisionErr(err)
			}
			return g.reportResult(res)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the run is abandoned (required)")
	actorFlag(cmd, &as)
	return cmd
}

func newJournal(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "journal RUN",
		Short: "A run's journal as a change ticket (md, html, json); journal verify RUN checks its hash chain",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if !contains(journal.Formats, format) {
				return usageErr("--format %q: use md, html or json", format)
			}
			v, closeDB, err := g.view(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			t, err := v.Ticket(cmd.Context(), a[0])
			if err != nil {
				return withHint(ExitUsage, err, "rotor runs lists the runs")
			}
			return journal.Write(g.env.Stdout, format, t)
		},
	}
	cmd.Flags().StringVar(&format, "format", "md", "md, html or json")
	cmd.AddCommand(&cobra.Command{
		Use:   "verify RUN",
		Short: "Check a run's journal: any edited, reordered or deleted entry is reported",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			v, closeDB, err := g.view(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			head, n, err := v.Verify(cmd.Context(), a[0])
			if errors.Is(err, engine.ErrUnknownRun) {
				return withHint(ExitUsage, err, "rotor runs lists the runs")
			}
			if err != nil {
				return withHint(ExitError, fmt.Errorf("journal of run %s does not verify: %w", a[0], err), "the journal was edited after it was written; keep this database for the investigation")
			}
			fmt.Fprintf(g.env.Stdout, "journal of run %s verified: %d entries, head %s\n", a[0], n, head.Hash)
			return nil
		},
	})
	return cmd
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
