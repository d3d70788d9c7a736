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
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/inventory"
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
		switch len(r.Approvers) {
		case 0:
			r.Gaps = append(r.Gaps, Gap{Severity: "blocker", Problem: fmt.Sprintf("critical credential with nobody allowed to approve revocation (team %s lists no approvers)", c.Owner)})
		case 1:
			r.Gaps = append(r.Gaps, Gap{Severity: "warning", Problem: fmt.Sprintf("only one approver (%s): if they start the run, nobody can approve it", r.Approvers[0])})
		}
	}
	return r
}

// Approvers resolves who may approve a credential's revocation: its approvers list (team ids
// expand to their approvers), or else the owning team's approvers. Sorted, without repeats.
func Approvers(inv *inventory.Inventory, c *inventory.Credential) []string {
	names := c.Approvers
	if len(names) == 0 {
		names = []string{c.Owner}
	}
	var out []string
	for _, n := range names {
		if t, ok := inv.Team(n); ok {
			out = append(out, t.Approvers...)
		} else {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Classify returns a consumer's delayed-risk class and the reason, in words.
func Classify(k *inventory.Consumer) (Risk, string) {
	switch {
	case k.Kind == inventory.KindIntegration && (k.Reload == nil || k.Reload.Type == "manual"):
		return RiskExternal, "an outside party uses it: proof needs their confirmation or their traffic"
	case k.Runs != nil:
		return RiskScheduled, fmt.Sprintf("runs on schedule %q: proven at its next run", k.Schedule)
	case k.OnDemand:
		return RiskOnDemand, "runs only when someone triggers it: proof needs a triggered run or an owner's sign-off"
	case k.Reads == inventory.ReadsAtStart && k.Reload == nil:
		return RiskRestartRequired, "reads the value at start and has no reload: it keeps the old value until restarted by hand"
	case k.MaxConnectionAge.Set:
		return RiskConnections, fmt.Sprintf("holds long-lived connections opened with the old value for up to %s", k.MaxConnectionAge)
	case k.Reads == inventory.ReadsCached:
		return RiskCacheTTL, fmt.Sprintf("caches the value for up to %s", k.TTL)
	}
	return RiskImmediate, "picks the new value up on reload or on its next read; proven right after"
}

// ProofAfter is how long after cutover a consumer's proof can come at the earliest, and false
// when only a person (a sign-off, a triggered run, an outside party) can provide it. For a
// scheduled consumer it is the time to its next run after cutover.
func ProofAfter(k *inventory.Consumer, cutover time.Time) (time.Duration, bool) {
	risk, _ := Classify(k)
	switch risk {
	case RiskScheduled:
		next, ok := k.Runs.NextStart(cutover)
		if !ok {
			return 0, false
		}
		return next.Sub(cutover), true
	case RiskCacheTTL:
		return k.TTL.Duration, true
	case RiskConnections:
		return k.MaxConnectionAge.Duration, true
	case RiskImmediate:
		return 0, true
	}
	return 0, false
}

func analyzeConsumer(c *inventory.Credential, k *inventory.Consumer, at time.Time) Consumer {
	risk, why := Classify(k)
	out := Consumer{ID: k.ID, Kind: k.Kind, Identity: k.Identity, Reads: k.Reads, Checks: k.Checks,
		Risk: risk, Why: why, Evidence: []string{}}
	if k.Reload != nil {
		out.Reload = k.Reload.Type
	}
	if k.Runs != nil {
		if next, ok := k.Runs.NextStart(at); ok {
			out.NextRun = &next
		}
	}
	if d, ok := ProofAfter(k, at); ok && d > 0 {
		out.ProofAfter = durationWords(d)
	}
	for _, ch := range k.Checks {
		out.Evidence = append(out.Evidence, "check "+ch)
	}
	switch risk {
	case RiskScheduled:
		if out.NextRun != nil {
			out.Evidence = append(out.Evidence, "a successful run at or after "+out.NextRun.Format(time.RFC3339))
		}
	case RiskCacheTTL:
		out.Evidence = append(out.Evidence, "no use of the previous version once "+k.TTL.String()+" have passed")
	case RiskConnections:
		out.Evidence = append(out.Evidence, "no sessions of the previous version once "+k.MaxConnectionAge.String()+" have passed")
	case RiskOnDemand, RiskRestartRequired, RiskExternal:
		out.Evidence = append(out.Evidence, "an owner's sign-off (rotor signoff) or residual-use data showing no use of the previous version")
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
