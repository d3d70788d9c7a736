// Package impact answers "which processes fail if this credential changes now?". From the
// inventory alone it classifies each consumer by when its proof can come (right after its
// reload, at its next scheduled run, after a cache TTL, after long-lived connections recycle,
// only when someone runs it, or only when an outside party acts), says what evidence is
// expected, and lists the gaps that would make a rotation unsafe or unprovable.
//
// The package is pure: it reads the model and the instant it is given, and does no I/O.
package impact

import (
	"fmt"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/schedule"
)

// Risk is a consumer's delayed-risk class: when its proof can come.
type Risk string

// The risk classes, from safest to hardest to prove.
const (
	RiskImmediate       Risk = "immediate" // proven right after its reload
	RiskCacheTTL        Risk = "cache-ttl" // keeps the old value until its cache expires
	RiskConnections     Risk = "long-lived-connections"
	RiskScheduled       Risk = "scheduled"        // proven at its next scheduled run
	RiskOnDemand        Risk = "on-demand"        // proven only when someone runs it
	RiskRestartRequired Risk = "restart-required" // reads at start and has no reload
	RiskExternal        Risk = "external"         // an outside party must act
)

// Report is the impact of changing one credential now.
type Report struct {
	Credential  string     `json:"credential"`
	Description string     `json:"description,omitempty"`
	Owner       string     `json:"owner"`
	Critical    bool       `json:"critical"`
	Strategy    string     `json:"strategy"`
	Store       string     `json:"store"`
	Authority   string     `json:"authority"`
	Approvers   []string   `json:"approvers"`
	At          time.Time  `json:"at"`
	Consumers   []Consumer `json:"consumers"`
	Gaps        []Gap      `json:"gaps"`
	// FailNow names the consumers that would fail if the value changed at At with no
	// reload at all — the answer to "can I just change it?".
	FailNow []string `json:"fail_now"`
}

// Consumer is one consumer's exposure.
type Consumer struct {
	ID       string   `json:"id"`
	Kind     string   `json:"kind"`
	Identity string   `json:"identity,omitempty"`
	Reads    string   `json:"reads"`
	Reload   string   `json:"reload,omitempty"`
	Checks   []string `json:"checks,omitempty"`
	Risk     Risk     `json:"risk"`
	Why      string   `json:"why"`
	// NextRun is a scheduled consumer's next run after At.
	NextRun *time.Time `json:"next_run,omitempty"`
	// ProofAfter is how long after cutover its proof can come at the earliest (zero: at once).
	ProofAfter string `json:"proof_after,omitempty"`
	// Evidence is what will prove the consumer works with the new value.
	Evidence []string `json:"evidence"`
	// IfChangedNow is what happens to it if the value changes at At.
	IfChangedNow string `json:"if_changed_now"`
}

// Gap is something missing from the inventory that weakens a rotation.
type Gap struct {
	Consumer string `json:"consumer,omitempty"`
	Severity string `json:"severity"` // "blocker": a rotation cannot be proven; "warning": it can, with less evidence
	Problem  string `json:"problem"`
}

// Analyze computes the impact of changing credential c of inv at the instant at.
func Analyze(inv *inventory.Inventory, c *inventory.Credential, at time.Time) Report {
	r := Report{
		Credential: c.ID, Description: c.Description, Owner: c.Owner, Critical: c.Critical,
		Strategy: c.Authority.Strategy, Store: c.Store.Type, Authority: c.Authority.Type,
		Approvers: Approvers(inv, c), At: at, Gaps: []Gap{}, FailNow: []string{},
		Consumers: make([]Consumer, 0, len(c.Consumers)),
	}
	for _, k := range c.Consumers {
		cr := analyzeConsumer(c, k, at)
		r.Consumers = append(r.Consumers, cr)
		if !strings.HasPrefix(cr.IfChangedNow, "keeps working") {
			r.FailNow = append(r.FailNow, k.ID)
		}
		r.Gaps = append(r.Gaps, consumerGaps(k)...)
	}
	if len(c.Consumers) == 0 {
		r.Gaps = append(r.Gaps, Gap{Severity: "blocker", Problem: "no consumers declared: nobody can say who fails when this value changes"})
	}
	if c.Critical {
		// None at all is an invalid inventory (validate refuses it).
		if len(r.Approvers) == 1 {
			r.Gaps = append(r.Gaps, Gap{Severity: "warning", Problem: fmt.Sprintf("only one approver (%s): if they start the run, nobody can approve it", r.Approvers[0])})
		}
	}
	return r
}

// Approvers resolves who may approve a credential's revocation: its approvers list (team ids
// expand to their approvers), or else the owning team's approvers. Sorted, without repeats.
func Approvers(inv *inventory.Inventory, c *inventory.Credential) []string {
	return inv.Approvers(c)
}

// Timing is when a consumer's proof can come, and what can give it. It is the one answer that
// impact, plan, status, the change ticket and the engine read (rotation.ConsumerSpec is built
// from it): kind, reads, ttl, schedule, max_connection_age, on_demand, the reload and an
// explicit `proof:` all feed it, in ProofTiming.
type Timing struct {
	// Risk is the delayed-risk class; Why says, in words, what makes it so.
	Risk Risk
	Why  string
	// Delayed: a check right after cutover proves nothing about it yet; it is proven in
	// verify, at ProofAt.
	Delayed bool
	// SignOffOnly: nothing rotor observes can show that it switched (it keeps the value it
	// read at start until someone restarts it, or an outside party must act), so a check proves
	// nothing and only an owner's sign-off does; revoke waits for it, named.
	SignOffOnly bool
	// wait is how long after cutover the old value may still be in use (a cache's TTL, a
	// pool's connection age); nextRun: and not before the consumer's next scheduled run.
	wait    time.Duration
	nextRun *schedule.Window
}

// ProofAt is the earliest instant a passing check proves the consumer, for a cutover at
// cutover; false when only a person can prove it (SignOffOnly, or a schedule with no next run).
func (t Timing) ProofAt(cutover time.Time) (time.Time, bool) {
	if t.SignOffOnly {
		return time.Time{}, false
	}
	at := cutover.Add(t.wait)
	if t.nextRun != nil {
		next, ok := t.nextRun.NextStart(cutover)
		if !ok {
			return time.Time{}, false
		}
		if next.After(at) {
			at = next
		}
	}
	return at, true
}

// ProofTiming says when the consumer's proof can come. An explicit `proof:` is the owner's
// word and wins; otherwise it is derived, and every delay that applies counts (a cache's TTL
// and a pool's connection age both hold the old value: the longer one decides).
func ProofTiming(k *inventory.Consumer) Timing {
	var wait time.Duration
	if k.Reads == inventory.ReadsCached && k.TTL.Set {
		wait = k.TTL.Duration
	}
	if k.MaxConnectionAge.Set && k.MaxConnectionAge.Duration > wait {
		wait = k.MaxConnectionAge.Duration
	}
	external := k.Kind == inventory.KindIntegration && (k.Reload == nil || k.Reload.Type == "manual")
	switch k.Proof {
	case "immediate":
		return Timing{Risk: RiskImmediate, Why: "proof: immediate — its owner says it picks the new value up at once; proven right after cutover"}
	case "signoff":
		return Timing{Risk: riskOr(external, RiskExternal, RiskRestartRequired), Why: "proof: signoff — only its owner's sign-off proves it", Delayed: true, SignOffOnly: true}
	case "next-run":
		if k.Runs == nil { // on_demand: its next triggered run, shown by a check after cutover
			return Timing{Risk: RiskOnDemand, Why: "proof: next-run — a check that passes after cutover (its next triggered run), or an owner's sign-off", Delayed: true, wait: wait}
		}
		return Timing{Risk: RiskScheduled, Why: fmt.Sprintf("proof: next-run — runs on schedule %q: proven at its next run", k.Schedule), Delayed: true, wait: wait, nextRun: k.Runs}
	case "ttl-expiry":
		return Timing{Risk: RiskCacheTTL, Why: fmt.Sprintf("proof: ttl-expiry — caches the value for up to %s: proven once it has expired", k.TTL), Delayed: true, wait: k.TTL.Duration}
	case "connection-age":
		return Timing{Risk: RiskConnections, Why: fmt.Sprintf("proof: connection-age — connections opened with the old value live up to %s: proven once they have recycled", k.MaxConnectionAge), Delayed: true, wait: k.MaxConnectionAge.Duration}
	}
	switch {
	case k.Runs != nil:
		return Timing{Risk: RiskScheduled, Why: fmt.Sprintf("runs on schedule %q: proven at its next run", k.Schedule) + waitWords(wait), Delayed: true, wait: wait, nextRun: k.Runs}
	case k.OnDemand:
		return Timing{Risk: RiskOnDemand, Why: "runs only when someone triggers it: proven by a check that passes after cutover (a triggered run), or an owner's sign-off" + waitWords(wait), Delayed: true, wait: wait}
	case external && k.Reads == inventory.ReadsAtStart:
		return Timing{Risk: RiskExternal, Why: "an outside party holds the value it read at start: only their confirmation (an owner's sign-off) proves they switched", Delayed: true, SignOffOnly: true}
	case external:
		return Timing{Risk: riskOr(wait > 0, RiskCacheTTL, RiskExternal), Why: "an outside party uses it: proven by a check of their traffic after cutover" + waitWords(wait), Delayed: true, wait: wait}
	case k.Reads == inventory.ReadsAtStart && k.Reload == nil:
		return Timing{Risk: RiskRestartRequired, Why: "reads the value at start and has no reload: it keeps the old value until restarted by hand, so a check proves nothing; only an owner's sign-off does", Delayed: true, SignOffOnly: true}
	case k.MaxConnectionAge.Set && k.MaxConnectionAge.Duration >= wait:
		return Timing{Risk: RiskConnections, Why: fmt.Sprintf("holds long-lived connections opened with the old value for up to %s", k.MaxConnectionAge), Delayed: true, wait: wait}
	case wait > 0:
		return Timing{Risk: RiskCacheTTL, Why: fmt.Sprintf("caches the value for up to %s", k.TTL), Delayed: true, wait: wait}
	}
	return Timing{Risk: RiskImmediate, Why: "picks the new value up on reload or on its next read; proven right after"}
}

func riskOr(cond bool, a, b Risk) Risk {
	if cond {
		return a
	}
	return b
}

// waitWords adds the delay that holds the old value, when there is one.
func waitWords(wait time.Duration) string {
	if wait <= 0 {
		return ""
	}
	return ", and not before the old value has aged out (" + durationWords(wait) + ")"
}

func analyzeConsumer(c *inventory.Credential, k *inventory.Consumer, at time.Time) Consumer {
	t := ProofTiming(k)
	risk := t.Risk
	out := Consumer{ID: k.ID, Kind: k.Kind, Identity: k.Identity, Reads: k.Reads, Checks: k.Checks,
		Risk: risk, Why: t.Why, Evidence: []string{}}
	if k.Reload != nil {
		out.Reload = k.Reload.Type
	}
	if k.Runs != nil {
		if next, ok := k.Runs.NextStart(at); ok {
			out.NextRun = &next
		}
	}
	if p, ok := t.ProofAt(at); ok && p.After(at) {
		out.ProofAfter = durationWords(p.Sub(at))
	}
	for _, ch := range k.Checks {
		out.Evidence = append(out.Evidence, "check "+ch)
	}
	switch {
	case t.SignOffOnly:
		out.Evidence = []string{"an owner's sign-off (rotor signoff): a check cannot show that it switched"}
	case risk == RiskScheduled:
		if out.NextRun != nil {
			out.Evidence = append(out.Evidence, "a successful run at or after "+out.NextRun.Format(time.RFC3339))
		}
	case risk == RiskConnections:
		out.Evidence = append(out.Evidence, "no sessions of the previous version once "+durationWords(t.wait)+" have passed")
	case t.wait > 0:
		out.Evidence = append(out.Evidence, "no use of the previous version once "+durationWords(t.wait)+" have passed")
	case risk == RiskOnDemand || risk == RiskExternal:
		out.Evidence = append(out.Evidence, "or an owner's sign-off (rotor signoff)")
	}
	out.IfChangedNow = ifChangedNow(c, k, risk)
	return out
}

// ifChangedNow says what a consumer experiences if the value changes at once with no reload.
// With overlap the old value stays valid until revoke, so nothing fails at cutover; the risk
// moves to revocation.
func ifChangedNow(c *inventory.Credential, k *inventory.Consumer, risk Risk) string {
	if c.Authority.Strategy == "overlap" {
		return "keeps working: the old value stays valid until revoke, which waits for this consumer's proof"
	}
	switch {
	case risk == RiskExternal:
		return "fails until the outside party installs the new value"
	case k.Reads == inventory.ReadsPerRequest || k.Reads == inventory.ReadsOnChange:
		if risk == RiskScheduled || risk == RiskOnDemand {
			return "keeps working: it reads the store when it runs"
		}
		return "keeps working: it reads the new value from the store at once"
	case k.Reads == inventory.ReadsCached:
		return "fails for up to " + k.TTL.String() + " (its cache holds the old value)"
	case risk == RiskScheduled:
		return "fails if a run is in progress; its next run reads the new value"
	case k.Reload != nil:
		return "fails from the change until its " + k.Reload.Type + " reload"
	}
	return "fails until someone restarts it by hand"
}

func consumerGaps(k *inventory.Consumer) []Gap {
	var gaps []Gap
	if k.Identity == "" {
		gaps = append(gaps, Gap{Consumer: k.ID, Severity: "blocker", Problem: "no identity: readiness cannot be proven with the consumer's own access"})
	}
	if len(k.Checks) == 0 {
		gaps = append(gaps, Gap{Consumer: k.ID, Severity: "warning", Problem: "no check: nothing proves it works with the new value (only a sign-off can)"})
	}
	// A consumer that reads at start keeps the old value until restarted; a scheduled or
	// on-demand one restarts by itself, and a cache refreshes after its TTL.
	if k.Reload == nil && k.Reads == inventory.ReadsAtStart && k.Runs == nil && !k.OnDemand && k.Kind != inventory.KindIntegration {
		gaps = append(gaps, Gap{Consumer: k.ID, Severity: "blocker", Problem: "no reload: it reads the value at start, so nothing makes it pick up the new one"})
	}
	return gaps
}

// durationWords prints a duration rounded to the minute, in rotor's units.
func durationWords(d time.Duration) string {
	return inventory.Duration{Duration: d.Round(time.Minute)}.String()
}
