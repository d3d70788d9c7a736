// Package metrics exposes rotor's state to Prometheus: per credential its expiry, last
// rotation and next due date (timestamps, never countdowns, so that alert rules compare them
// with time()) and its plan status; per run in progress its phase and since when, the gate it
// waits at, its open exceptions and follow-ups, and the latest verdict of each evidence gate.
//
// Every scrape reads afresh: the inventory (edits show without a restart), the state database
// opened read-only (a database created after the exporter started is found), the plan, and
// what each run waits for (rotation.Next through engine.View, the read-only path of rotor
// status: it builds no provider, takes no lock and writes nothing).
// A scrape that cannot read the state reports rotor_state_up 0 and no state-derived series,
// rather than failing the endpoint; likewise rotor_inventory_up for the inventory.
//
// No series carries a secret value, a fingerprint or a version id: only credential, run,
// consumer, gate and owner names, phases, verdicts and times.
package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/plan"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/state"
)

// DefaultTimeout bounds a scrape that comes without a deadline of its own (Collect).
const DefaultTimeout = 10 * time.Second

// Exporter reads rotor's inventory and state on every scrape. Its functions are called once
// per scrape, never in the background; it starts no goroutine and holds nothing between
// scrapes. It is safe for concurrent scrapes if its functions are.
type Exporter struct {
	// Inventory loads and validates the inventory as of now. Required.
	Inventory func(now time.Time) (*inventory.Inventory, error)
	// OpenState opens the state store read-only; the scrape closes it. Required.
	OpenState func(ctx context.Context) (state.Store, error)
	// Registry says which powers (residual use, version toggling) each provider type has:
	// they decide what a run does next. Required.
	Registry *provider.Registry
	// Clock is the scrape's "now". Required.
	Clock func() time.Time
	// Timeout bounds a scrape through Collect (an HTTP scrape uses its request's context).
	// Zero means DefaultTimeout.
	Timeout time.Duration
}

// Snapshot is what one scrape read. It is a prometheus.Collector of constant series, so that
// a scrape is read once, under its request's context, and then only encoded.
type Snapshot struct {
	At          time.Time
	InventoryUp bool
	StateUp     bool
	// Problems say why the inventory or the state could not be read (never a value: the
	// loader and the store name files and positions, not contents).
	Problems    []string
	Credentials []Credential
	Runs        []Run
}

// Credential is one credential's plan line, as the metrics show it.
type Credential struct {
	ID          string
	Owner       string
	Critical    bool
	Status      string
	Expires     *time.Time // nil: unknown
	LastRotated *time.Time // nil: never rotated by rotor
	Due         *time.Time // nil: no policy makes it due, or no history to date it from
}

// Run is one run in progress.
type Run struct {
	ID         string
	Credential string
	Phase      string
	Since      time.Time // the run's last change (rotation.Run.UpdatedAt)
	// Blocked is the gate the run waits at now (nil: it has a step to do, or no inventory
	// entry to judge it by).
	Blocked    *rotation.GateResult
	Exceptions []rotation.Exception // not closed
	FollowUps  []string             // consumers with an open follow-up
	Verdicts   []rotation.GateResult
}

// waitGates are the gates rotation.Next waits at without gathering evidence: a run records
// them when it blocks, and they linger in the run after they clear. They show in
// rotor_run_gate_blocked while the run waits at them, never in rotor_check_verdict.
var waitGates = []string{"approval", "soak", "window", "freeze", "follow-ups", "retry", "halted", "rolled-back", "exception"}

// Read takes one snapshot. It never fails: what it could not read is said by InventoryUp,
// StateUp and Problems.
func (x *Exporter) Read(ctx context.Context) *Snapshot {
	now := x.Clock()
	s := &Snapshot{At: now}
	inv, err := x.Inventory(now)
	if err != nil {
		s.Problems = append(s.Problems, "inventory: "+oneLine(err))
		inv = nil
	} else {
		s.InventoryUp = true
	}
	db, err := x.OpenState(ctx)
	if err != nil {
		s.Problems = append(s.Problems, "state: "+oneLine(err))
		return s
	}
	defer db.Close()
	creds, runs, err := x.read(ctx, db, inv, now)
	if err != nil {
		s.Problems = append(s.Problems, "state: "+oneLine(err))
		return s
	}
	s.StateUp, s.Credentials, s.Runs = true, creds, runs
	return s
}

func (x *Exporter) read(ctx context.Context, db state.Store, inv *inventory.Inventory, now time.Time) ([]Credential, []Run, error) {
	states, err := db.CredentialStates(ctx)
	if err != nil {
		return nil, nil, err
	}
	view := engine.View{Inv: inv, Registry: x.Registry, State: db, Clock: func() time.Time { return now }}
	sts, err := view.Runs(ctx, state.RunFilter{Phases: rotation.ActivePhases()})
	if err != nil {
		return nil, nil, err
	}
	runs := make([]Run, 0, len(sts))
	for _, st := range sts {
		runs = append(runs, runOf(st.Run, st.Record, st.Next))
	}
	if inv == nil {
		return nil, runs, nil
	}
	entries := plan.Plan(inv, history(states, runs), now)
	creds := make([]Credential, 0, len(entries))
	for _, en := range entries {
		c := Credential{ID: en.Credential, Owner: en.Owner, Critical: en.Critical, Status: en.Status,
			Expires: en.Expires, LastRotated: en.LastRotated, Due: en.Due}
		if en.Expires == nil && en.LastRotated == nil {
			// Plan dates a credential without history "due now": a moving instant, not a
			// date. It shows as plan status due, and no next-due series.
			c.Due = nil
		}
		creds = append(creds, c)
	}
	return creds, runs, nil
}

func runOf(r rotation.Run, rec state.RunRecord, next rotation.Action) Run {
	out := Run{ID: r.ID, Credential: r.Credential, Phase: string(r.Phase), Since: r.UpdatedAt}
	if out.ID == "" {
		out.ID = rec.ID
	}
	if out.Credential == "" {
		out.Credential = rec.Credential
	}
	if out.Since.IsZero() {
		out.Since = rec.UpdatedAt
	}
	if (next.Kind == rotation.Wait || next.Kind == rotation.Stopped) && next.Gate.Gate != "" {
		g := next.Gate
		out.Blocked = &g
	}
	for _, ex := range r.Exceptions {
		if ex.State != "closed" {
			out.Exceptions = append(out.Exceptions, ex)
		}
	}
	for _, c := range r.Consumers {
		if c.FollowUp != "" && !c.Proven {
			out.FollowUps = append(out.FollowUps, c.ID)
		}
	}
	for _, g := range r.Gates {
		if !slices.Contains(waitGates, g.Gate) && g.Verdict != "" {
			out.Verdicts = append(out.Verdicts, g)
		}
	}
	return out
}

// history is what plan needs from the state: as `rotor plan` reads it, with the run in
// progress of each credential (newest first) and its exceptions that are not closed.
func history(states []state.CredentialState, runs []Run) map[string]plan.History {
	h := make(map[string]plan.History, len(states))
	for _, s := range states {
		h[s.ID] = plan.History{LastRotated: s.LastRotated, Expires: s.Expires, Version: s.CurrentVersion}
	}
	for _, r := range runs {
		hi := h[r.Credential]
		if hi.Run != nil {
			continue
		}
		pr := &plan.Run{ID: r.ID, Phase: r.Phase}
		for _, x := range r.Exceptions {
			pr.Exceptions = append(pr.Exceptions, plan.Exception{Consumers: x.Consumers, Owner: x.Owner, Expires: x.Expires, State: x.State})
		}
		hi.Run = pr
		h[r.Credential] = hi
	}
	return h
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// The series.
var (
	credLabels = []string{"credential", "owner", "critical"}
	runLabels  = []string{"credential", "run"}

	descStateUp = prometheus.NewDesc("rotor_state_up",
		"1 if this scrape read the state database, 0 if not (the series read from it are then absent).", nil, nil)
	descInventoryUp = prometheus.NewDesc("rotor_inventory_up",
		"1 if this scrape loaded a valid inventory, 0 if not (the per-credential series are then absent).", nil, nil)
	descExpiry = prometheus.NewDesc("rotor_credential_expiry_timestamp_seconds",
		"When the credential's current version expires, in seconds since the epoch; absent when unknown.", credLabels, nil)
	descLastRotation = prometheus.NewDesc("rotor_credential_last_rotation_timestamp_seconds",
		"When the credential's current version became current, in seconds since the epoch; absent if rotor never rotated it.", credLabels, nil)
	descNextDue = prometheus.NewDesc("rotor_credential_next_due_timestamp_seconds",
		"When the credential's policy makes it due, in seconds since the epoch; absent when no policy or no history dates it.", credLabels, nil)
	descPlanStatus = prometheus.NewDesc("rotor_credential_plan_status",
		"1 for the credential's status in rotor plan (ok, due, overdue, expiring, expired, exception overdue, blocked: …).", append(slices.Clone(credLabels), "status"), nil)
	descRunPhase = prometheus.NewDesc("rotor_run_phase",
		"1 for the phase of each run in progress.", append(slices.Clone(runLabels), "phase"), nil)
	descRunSince = prometheus.NewDesc("rotor_run_phase_since_timestamp_seconds",
		"When the run in progress last changed (a step, a decision), in seconds since the epoch.", runLabels, nil)
	descGateBlocked = prometheus.NewDesc("rotor_run_gate_blocked",
		"1 for the gate a run in progress waits at now, with its verdict (what rotor status shows as blocked at).", append(slices.Clone(runLabels), "gate", "verdict"), nil)
	descGateUntil = prometheus.NewDesc("rotor_run_gate_until_timestamp_seconds",
		"When the gate a run waits at may clear by itself (a soak's end, a window's opening, a proof time), in seconds since the epoch.", append(slices.Clone(runLabels), "gate"), nil)
	descException = prometheus.NewDesc("rotor_exception_expiry_timestamp_seconds",
		"When an exception that is not closed expires, in seconds since the epoch.", append(slices.Clone(runLabels), "consumers", "owner", "state"), nil)
	descFollowUp = prometheus.NewDesc("rotor_followups_open",
		"1 for each delayed consumer of a run in progress whose proof is still awaited.", append(slices.Clone(runLabels), "consumer"), nil)
	descVerdict = prometheus.NewDesc("rotor_check_verdict",
		"1 for the latest verdict of each evidence gate recorded in a run in progress (readiness, checks, proofs, signals, residual use).", append(slices.Clone(runLabels), "gate", "verdict"), nil)

	allDescs = []*prometheus.Desc{descStateUp, descInventoryUp, descExpiry, descLastRotation, descNextDue, descPlanStatus,
		descRunPhase, descRunSince, descGateBlocked, descGateUntil, descException, descFollowUp, descVerdict}
)

// Describe sends every series' description.
func (s *Snapshot) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect sends the snapshot's series.
func (s *Snapshot) Collect(ch chan<- prometheus.Metric) {
	em := emitter{ch: ch, seen: map[string]bool{}}
	em.gauge(descStateUp, b2f(s.StateUp))
	em.gauge(descInventoryUp, b2f(s.InventoryUp))
	for _, c := range s.Credentials {
		l := []string{c.ID, c.Owner, fmt.Sprint(c.Critical)}
		em.time(descExpiry, c.Expires, l...)
		em.time(descLastRotation, c.LastRotated, l...)
		em.time(descNextDue, c.Due, l...)
		em.gauge(descPlanStatus, 1, append(l, c.Status)...)
	}
	for _, r := range s.Runs {
		em.gauge(descRunPhase, 1, r.Credential, r.ID, r.Phase)
		em.time(descRunSince, &r.Since, r.Credential, r.ID)
		if g := r.Blocked; g != nil {
			em.gauge(descGateBlocked, 1, r.Credential, r.ID, g.Gate, verdict(g))
			if !g.Until.IsZero() {
				em.time(descGateUntil, &g.Until, r.Credential, r.ID, g.Gate)
			}
		}
		for _, ex := range r.Exceptions {
			em.time(descException, &ex.Expires, r.Credential, r.ID, strings.Join(ex.Consumers, ","), ex.Owner, ex.State)
		}
		for _, c := range r.FollowUps {
			em.gauge(descFollowUp, 1, r.Credential, r.ID, c)
		}
		for _, g := range r.Verdicts {
			em.gauge(descVerdict, 1, r.Credential, r.ID, g.Gate, verdict(&g))
		}
	}
}

func verdict(g *rotation.GateResult) string {
	if g.Verdict == "" {
		return "unknown"
	}
	return string(g.Verdict)
}

// emitter sends constant gauges, once per label set: two exceptions of one run with the same
// labels would otherwise fail the whole scrape.
type emitter struct {
	ch   chan<- prometheus.Metric
	seen map[string]bool
}

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	key := d.String() + "\xff" + strings.Join(labels, "\xff")
	if e.seen[key] {
		return
	}
	e.seen[key] = true
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (e emitter) time(d *prometheus.Desc, t *time.Time, labels ...string) {
	if t == nil || t.IsZero() {
		return
	}
	e.gauge(d, float64(t.UnixMilli())/1e3, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Describe makes the Exporter a prometheus.Collector, for a registry it shares with others.
func (x *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect reads a snapshot, bounded by Timeout, and sends its series. Handler is preferred
// when the exporter has its own endpoint: it reads under the request's context.
func (x *Exporter) Collect(ch chan<- prometheus.Metric) {
	d := x.Timeout
	if d <= 0 {
		d = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	x.Read(ctx).Collect(ch)
}

// Handler serves the exposition: each request reads a snapshot under its own context.
// problems, if not nil, is given each scrape's Problems (none when all was read).
func (x *Exporter) Handler(problems func([]string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := x.Read(r.Context())
		if problems != nil {
			problems(s.Problems)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(s)
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).ServeHTTP(w, r)
	})
}

// WriteText writes the snapshot in the Prometheus text format, as a scrape would see it (and
// as node_exporter's textfile collector reads it).
func (s *Snapshot) WriteText(w io.Writer) error {
	reg := prometheus.NewRegistry()
	if err := reg.Register(s); err != nil {
		return err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return err
		}
	}
	return nil
}
