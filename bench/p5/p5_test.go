package p5

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/state"
)

// target of P5: the engine's overhead per durable step, median.
const target = 2 * time.Millisecond

var reportPath = flag.String("p5.report", "", "write the P5 table to this file (run.sh prints it)")

// credentials in the benchmark's inventory; rotations go round them, so each credential's
// file store and each run's journal grow as they would over months of rotations.
const credentials = 8

// BenchmarkP5 is one complete rotation per iteration (one Engine.Rotate, 12 to 14 durable
// steps), then two bare insert transactions per step it measured.
// Its figures are the custom metrics; ns/op is dropped, it would mix both.
//
//	go test ./bench/p5 -run '^$' -bench P5 -benchtime 80x -p5.report /dev/stdout
func BenchmarkP5(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b, credentials)
	var (
		steps []step
		other = map[string][]time.Duration{}
		base  []time.Duration
		runs  int
		i     int
	)
	// One unmeasured rotation: the first run pays for the SQLite page cache, the store
	// directory and the HTTP connection.
	if _, err := f.rotate(ctx, f.creds[len(f.creds)-1]); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		at := f.rec.mark()
		if _, err := f.rotate(ctx, f.creds[i%len(f.creds)]); err != nil {
			b.Fatal(err)
		}
		i++
		runs++
		ob, err := observe(f.rec.since(at))
		if err != nil {
			b.Fatal(err)
		}
		steps = append(steps, ob.steps...)
		for k, v := range ob.other {
			other[k] = append(other[k], v...)
		}
		for range 2 * len(ob.steps) {
			d, err := f.bare.insert(ctx)
			if err != nil {
				b.Fatal(err)
			}
			base = append(base, d)
		}
	}
	r := summarize(steps, other, base, runs)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(r.overhead.p50), "rotor-p50-ms/step")
	b.ReportMetric(ms(r.overhead.p99), "rotor-p99-ms/step")
	b.ReportMetric(ms(r.saves.p50), "save-p50-ms/txn")
	b.ReportMetric(ms(r.bare.p50), "bare-p50-ms/txn")
	b.ReportMetric(ms(r.bare.p99), "bare-p99-ms/txn")
	b.ReportMetric(float64(len(steps)), "steps")
	if *reportPath != "" {
		out, err := os.Create(*reportPath)
		if err != nil {
			b.Fatal(err)
		}
		r.write(out, f)
		if err := out.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMeasuredPath checks what the benchmark measures on two rotations of one credential
// (the second with a previous version to revoke): every durable step the run records, and
// only those, is observed, in order, with the saves holding its intent and outcome; no effect
// of a step that is not local starts before its intent is saved; each step's journal
// entries are in the SQLite file and chain; the baseline writes what it claims.
func TestMeasuredPath(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1)
	cred := f.creds[0]
	var total int
	for round := range 2 {
		at := f.rec.mark()
		run, err := f.rotate(ctx, cred)
		if err != nil {
			t.Fatal(err)
		}
		ob, err := observe(f.rec.since(at))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, s := range run.Steps {
			if s.Attempt != 1 || s.Status != rotation.OK {
				t.Errorf("round %d: step %s: attempt %d, status %s: the bench expects every step to pass at once", round, s.Kind, s.Attempt, s.Status)
			}
			want = append(want, rotation.StepName(s.Kind, s.Consumer))
		}
		var got []string
		saves := 0
		for _, s := range ob.steps {
			got = append(got, s.name)
			saves += s.saves()
			// start ≤ effect ≤ end; the saves holding the intent and the outcome where the
			// way the step began and ended puts them.
			ordered := !s.start.After(s.effectStart) && s.effectStart.Before(s.effectEnd) && !s.effectEnd.After(s.end)
			switch s.intent {
			case intentOwn:
				ordered = ordered && s.start.Before(s.intentCall) && s.intentCall.Before(s.intentRet) && s.intentRet.Before(s.effectStart)
			case intentBegun: // its intent went with the previous step's outcome
				ordered = ordered && s.intentRet.Equal(s.start) && !s.intentRet.After(s.effectStart)
			case intentHeld: // saved after the effect, with the outcome or later
				ordered = ordered && s.effectEnd.Before(s.intentCall) && s.intentCall.Before(s.intentRet)
			default:
				ordered = false
			}
			if s.outcomeHeld { // saved with a later step, after this one ended
				ordered = ordered && s.end.Before(s.outcomeCall) && s.outcomeCall.Before(s.outcomeRet)
			} else {
				ordered = ordered && s.effectEnd.Before(s.outcomeCall) && s.outcomeCall.Before(s.outcomeRet) && s.outcomeRet.Equal(s.end)
			}
			if !ordered {
				t.Errorf("round %d: step %s: boundaries out of order: %+v", round, s.name, s)
			}
			// The safety property: the effect of a step that is not local starts
			// only once a save holding its intent has returned.
			if !s.kind.Local() && (s.intent == intentHeld || s.intentRet.IsZero() || s.intentRet.After(s.effectStart)) {
				t.Errorf("round %d: step %s (kind %s) has an effect, and its effect started at %v before its intent was saved (intent %d, returned %v)",
					round, s.name, s.kind, s.effectStart, s.intent, s.intentRet)
			}
			if s.effect() <= 0 || s.overhead() <= 0 || s.cpu() <= 0 || s.runBytes == 0 {
				t.Errorf("round %d: step %s: effect %v, overhead %v, cpu %v, run %d bytes", round, s.name, s.effect(), s.overhead(), s.cpu(), s.runBytes)
			}
		}
		// Every save holding step entries is within exactly one step; the engine holds the
		// local steps, so a rotation takes fewer saves than it has steps, and more than one.
		if saves != ob.stepSaves || saves >= len(ob.steps) || saves < 2 {
			t.Errorf("round %d: %d saves charged to the steps, %d saves with step entries, %d steps", round, saves, ob.stepSaves, len(ob.steps))
		}
		if !slices.Equal(got, want) {
			t.Errorf("round %d: observed steps\n  %v\nthe run records\n  %v", round, got, want)
		}
		// readiness, mint, enable, read-access, promote, a reload and a check per consumer,
		// record; the second rotation also revokes the previous version and reloads the
		// accepting consumer.
		if min := 12 + 2*round; len(ob.steps) < min {
			t.Errorf("round %d: %d durable steps, want at least %d", round, len(ob.steps), min)
		}
		// The journal in the file: one step-started and one step-done entry per step, and
		// the chain verifies against the run's head.
		rec, err := f.db.Run(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := f.db.Journal(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		stored := make([]journal.Stored, len(entries))
		for i, e := range entries {
			kinds[e.Kind]++
			stored[i] = journal.Stored{Seq: e.Seq, PrevHash: e.PrevHash, Hash: e.Hash, Body: e.Body}
		}
		if kinds[string(journal.KindStepStarted)] != len(ob.steps) || kinds[string(journal.KindStepDone)] != len(ob.steps) {
			t.Errorf("round %d: journal has %d step-started and %d step-done entries for %d observed steps", round,
				kinds[string(journal.KindStepStarted)], kinds[string(journal.KindStepDone)], len(ob.steps))
		}
		if err := journal.Verify(run.ID, stored, journal.Head{Hash: rec.JournalHead, Len: rec.JournalLen}); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		total += len(ob.steps)
	}
	// The state file is in WAL mode while rotor has it open (the mode is in the file; the
	// synchronous=FULL of rotor's writer is per connection and comes from sqlite.Open).
	ro, err := sql.Open("sqlite", "file:"+f.db.Path()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var mode string
	if err := ro.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("rotor's state file: journal_mode %q (%v), want wal", mode, err)
	}

	for range 5 {
		if _, err := f.bare.insert(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := f.bare.db.QueryRowContext(ctx, "SELECT count(*) FROM bare").Scan(&n); err != nil || n != 5 {
		t.Errorf("baseline table has %d rows (%v), want 5", n, err)
	}
	t.Logf("%d durable steps observed over 2 rotations", total)
}

// TestObserveRejects checks that observe fails on traces that break the engine's contract,
// made from a real one: the effect of a step that is not local started with its
// intent held, or before the save holding its intent returned, and a held intent never saved.
func TestObserveRejects(t *testing.T) {
	f := newFixture(t, 1)
	if _, err := f.rotate(context.Background(), f.creds[0]); err != nil {
		t.Fatal(err)
	}
	events := f.rec.since(0)
	if _, err := observe(events); err != nil {
		t.Fatal(err)
	}
	effectOf := func(evs []event, name string) int {
		i := slices.IndexFunc(evs, func(ev event) bool { return ev.kind == evEffect && ev.op == name })
		if i < 0 {
			t.Fatalf("no effect of %s in the trace", name)
		}
		return i
	}
	// savedIntent is the index of the save holding name's intent.
	savedIntent := func(evs []event, name string) int {
		return slices.IndexFunc(evs, func(ev event) bool {
			ms, _ := marks(ev.entries)
			return ev.kind == evCall && slices.Contains(ms, mark{name: name, kind: rotation.StepKindOf(name)})
		})
	}
	for _, c := range []struct {
		name   string
		mutate func([]event) []event
	}{
		{"a step with an effect starts with its intent held", func(evs []event) []event {
			i := effectOf(evs, "readiness") // the first step: its intent is held
			evs[i].op = "mint"
			return evs
		}},
		{"an effect starts before the save holding its intent returns", func(evs []event) []event {
			i, j := savedIntent(evs, "promote"), effectOf(evs, "promote")
			ev := evs[j]
			evs = slices.Delete(evs, j, j+1)
			return slices.Insert(evs, i+1, ev) // between the call and its return
		}},
		{"a held intent is never saved", func(evs []event) []event {
			i := savedIntent(evs, "read-access")
			evs[i].entries = slices.DeleteFunc(slices.Clone(evs[i].entries), func(en state.JournalEntry) bool {
				ms, _ := marks([]state.JournalEntry{en})
				return len(ms) == 1 && !ms[0].outcome && ms[0].name == "read-access"
			})
			return evs
		}},
	} {
		if _, err := observe(c.mutate(slices.Clone(events))); err == nil {
			t.Errorf("%s: observe accepted the trace", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

// --- figures ---

type dist struct {
	n             int
	p50, p99, max time.Duration
}

func distOf(xs []time.Duration) dist {
	if len(xs) == 0 {
		return dist{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return dist{n: len(s), p50: quantile(s, 0.50), p99: quantile(s, 0.99), max: s[len(s)-1]}
}

// quantile of sorted xs, nearest rank: the smallest value with at least q of them at or
// below it.
func quantile(sorted []time.Duration, q float64) time.Duration {
	k := int(float64(len(sorted))*q+0.999999999) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type summary struct {
	runs                   int
	steps                  []step
	begun, heldIntent      int // steps whose intent went with the previous outcome save, or was held
	heldOutcome            int // steps whose outcome went with a later step's save
	overhead, wall, effect dist
	mean                   time.Duration // mean overhead per step
	bySaves                [3]dist       // overhead of the steps with 0, 1 and 2 synced transactions
	saves, intent, outcome dist
	cpu                    dist
	runBytes               int // median
	bare                   dist
	other                  map[string]dist
}

func summarize(steps []step, other map[string][]time.Duration, base []time.Duration, runs int) summary {
	col := func(f func(step) time.Duration) dist {
		xs := make([]time.Duration, len(steps))
		for i, s := range steps {
			xs[i] = f(s)
		}
		return distOf(xs)
	}
	var (
		saves, intents, outcomes []time.Duration
		bySaves                  [3][]time.Duration
		sizes                    []int
		total                    time.Duration
	)
	r := summary{runs: runs, steps: steps}
	for _, s := range steps {
		switch s.intent {
		case intentOwn:
			saves = append(saves, s.intentSave())
			intents = append(intents, s.intentSave())
		case intentBegun:
			r.begun++
		case intentHeld:
			r.heldIntent++
		}
		if s.outcomeHeld {
			r.heldOutcome++
		} else {
			saves = append(saves, s.outcomeSave())
			outcomes = append(outcomes, s.outcomeSave())
			sizes = append(sizes, s.runBytes)
		}
		bySaves[s.saves()] = append(bySaves[s.saves()], s.overhead())
		total += s.overhead()
	}
	slices.Sort(sizes)
	r.overhead, r.wall, r.effect, r.cpu = col(step.overhead), col(step.wall), col(step.effect), col(step.cpu)
	r.intent, r.outcome, r.saves, r.bare = distOf(intents), distOf(outcomes), distOf(saves), distOf(base)
	for i, xs := range bySaves {
		r.bySaves[i] = distOf(xs)
	}
	if len(steps) > 0 {
		r.mean = total / time.Duration(len(steps))
	}
	if len(sizes) > 0 {
		r.runBytes = sizes[len(sizes)/2]
	}
	r.other = map[string]dist{}
	for k, v := range other {
		r.other[k] = distOf(v)
	}
	return r
}

func fmtMS(d time.Duration) string {
	switch v := ms(d); {
	case v < 0.1:
		return fmt.Sprintf("%.3f ms", v)
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	default:
		return fmt.Sprintf("%.1f ms", v)
	}
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", float64(a)/float64(b))
}

func (r summary) write(w io.Writer, f *fixture) {
	pass := "PASS"
	if r.overhead.p50 > target {
		pass = "MISS"
	}
	fmt.Fprintf(w, "P5 — engine overhead per durable step on SQLite with fsync, next to a bare SQLite insert loop\n")
	fmt.Fprintf(w, "%d rotations of %d credentials (3 consumers each, http reload + check), %d durable steps; %s %s/%s, %d CPUs\n",
		r.runs, credentials, len(r.steps), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintf(w, "SQLite files in %s (removed afterwards)\n\n", f.dir)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(name string, d dist, unit string) {
		if d.n == 0 {
			fmt.Fprintf(tw, "%s\tnone\t\t\tn 0 %s\n", name, unit)
			return
		}
		fmt.Fprintf(tw, "%s\tmedian %s\tp99 %s\tmax %s\tn %d %s\n", name, fmtMS(d.p50), fmtMS(d.p99), fmtMS(d.max), d.n, unit)
	}
	row("P5 durable step, engine overhead (SQLite WAL+fsync)", r.overhead, "steps")
	row("baseline bare INSERT txn (same pragmas)", r.bare, "inserts")
	tw.Flush()
	fmt.Fprintf(w, "ratio %s   target: median ≤ %s -> %s\n", ratio(r.overhead.p50, r.bare.p50), fmtMS(target), pass)
	fmt.Fprintf(w, "mean %s per step (the same whichever step a shared save is charged to)\n", fmtMS(r.mean))
	fmt.Fprintf(w, "(%d of %d steps begun by the previous step's outcome save, %d with their intent held (local steps),\n %d with their outcome held: a save that persists several steps is charged to the last one it closes;\n one save is %s one bare insert)\n\n",
		r.begun, len(r.steps), r.heldIntent, r.heldOutcome, ratio(r.saves.p50, r.bare.p50))

	fmt.Fprintf(w, "steps by synced transactions within them (overhead):\n")
	for i, d := range r.bySaves {
		row(fmt.Sprintf("  %d", i), d, "steps")
	}
	tw.Flush()
	fmt.Fprintln(w)

	fmt.Fprintf(w, "inside a step (overhead = step − effect):\n")
	row("  one save: SaveRun txn, run + its journal entries", r.saves, "saves")
	row("    own intent save", r.intent, "saves")
	row("    outcome save", r.outcome, "saves")
	row("  engine CPU: Next, Begin/Finish, marshal, seal", r.cpu, "steps")
	row("  step wall, effect included", r.wall, "steps")
	row("  effect (providers; excluded)", r.effect, "steps")
	tw.Flush()
	fmt.Fprintf(w, "run JSON written per outcome save: median %d bytes\n\n", r.runBytes)

	fmt.Fprintf(w, "outside the steps (not in the figure above):\n")
	keys := make([]string, 0, len(r.other))
	for k := range r.other {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		row("  "+k, r.other[k], "calls")
	}
	tw.Flush()

	fmt.Fprintf(w, "\nper step name (median overhead):\n")
	by := map[string][]time.Duration{}
	var names []string
	for _, s := range r.steps {
		if _, ok := by[s.name]; !ok {
			names = append(names, s.name)
		}
		by[s.name] = append(by[s.name], s.overhead())
	}
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %s (n %d)", n, fmtMS(distOf(by[n]).p50), len(by[n])))
	}
	fmt.Fprintf(w, "  %s\n", strings.Join(parts, "; "))
	if len(r.steps) < 500 {
		fmt.Fprintf(w, "\nnote: only %d steps; use -benchtime 60x or more for at least 500\n", len(r.steps))
	}
}
