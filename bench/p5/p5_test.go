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
)

// target of P5: the engine's overhead per durable step, median.
const target = 2 * time.Millisecond

var reportPath = flag.String("p5.report", "", "write the P5 table to this file (run.sh prints it)")

// credentials in the benchmark's inventory; rotations go round them, so each credential's
// file store and each run's journal grow as they would over months of rotations.
const credentials = 8

// BenchmarkP5 is one complete rotation per iteration (one Engine.Rotate, 12 to 14 durable
// steps), then as many bare insert transactions as the saves it measured.
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
// only those, is observed, in order, with its intent and outcome saves; each step's journal
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
		for _, s := range ob.steps {
			got = append(got, s.name)
			ordered := s.start.Before(s.intentCall) && s.intentRet.Before(s.effectStart) && s.effectEnd.Before(s.outcomeCall)
			if s.begun { // its intent went with the previous step's outcome
				ordered = !s.intentRet.After(s.effectStart) && s.effectEnd.Before(s.outcomeCall)
			}
			if !ordered {
				t.Errorf("round %d: step %s: boundaries out of order: %+v", round, s.name, s)
			}
			if s.effect() <= 0 || s.overhead() <= 0 || s.cpu() <= 0 || s.runBytes == 0 {
				t.Errorf("round %d: step %s: effect %v, overhead %v, cpu %v, run %d bytes", round, s.name, s.effect(), s.overhead(), s.cpu(), s.runBytes)
			}
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
	begun                  int // steps whose intent went with the previous outcome save
	overhead, wall, effect dist
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
	var saves, intents []time.Duration
	sizes := make([]int, len(steps))
	begun := 0
	for i, s := range steps {
		if s.begun { // its intent went with the previous outcome: no save of its own
			begun++
		} else {
			saves = append(saves, s.intentSave())
			intents = append(intents, s.intentSave())
		}
		saves = append(saves, s.outcomeSave())
		sizes[i] = s.runBytes
	}
	slices.Sort(sizes)
	r := summary{runs: runs, steps: steps, begun: begun,
		overhead: col(step.overhead), wall: col(step.wall), effect: col(step.effect),
		intent: distOf(intents), outcome: col(step.outcomeSave), cpu: col(step.cpu),
		saves: distOf(saves), bare: distOf(base), other: map[string]dist{}}
	if len(sizes) > 0 {
		r.runBytes = sizes[len(sizes)/2]
	}
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
		fmt.Fprintf(tw, "%s\tmedian %s\tp99 %s\tmax %s\tn %d %s\n", name, fmtMS(d.p50), fmtMS(d.p99), fmtMS(d.max), d.n, unit)
	}
	row("P5 durable step, engine overhead (SQLite WAL+fsync)", r.overhead, "steps")
	row("baseline bare INSERT txn (same pragmas)", r.bare, "inserts")
	tw.Flush()
	fmt.Fprintf(w, "ratio %s   target: median ≤ %s -> %s\n", ratio(r.overhead.p50, r.bare.p50), fmtMS(target), pass)
	fmt.Fprintf(w, "(%d of %d steps were begun in the previous step's outcome save — one fsync'd transaction each, the others two;\n one save is %s one bare insert)\n\n",
		r.begun, len(r.steps), ratio(r.saves.p50, r.bare.p50))

	fmt.Fprintf(w, "inside a step (overhead = step − effect):\n")
	row("  one save: UpdateRun txn, run + 1 journal entry", r.saves, "saves")
	row("    intent save", r.intent, "saves")
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
