package impact_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/impact"
	"github.com/rotorhq/rotor/internal/inventory"
)

// TestProofTiming: when a consumer's proof can come, over every combination of what feeds it
// — kind, reads, ttl, schedule, max_connection_age, on_demand, a reload (or a manual one) and an
// explicit proof: — decoded by the real inventory loader, so the rule is tested on what users
// write. Cutover is Wednesday 2026-11-25 10:00 UTC; the nightly job next runs at 02:00.
func TestProofTiming(t *testing.T) {
	cutover := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	nightly := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	const reload = `reload: {type: exec, command: [r]}, `
	cases := []struct {
		name, yaml string
		risk       impact.Risk
		delayed    bool
		signOff    bool   // only a sign-off proves it
		after      any    // time.Duration after cutover, or a time.Time
		why        string // a part of Why
	}{
		{"reloaded service", `{kind: service, reads: at-start, ` + reload + `checks: [ok]}`, impact.RiskImmediate, false, false, time.Duration(0), "proven right after"},
		{"per-request", `{kind: service, reads: per-request, checks: [ok]}`, impact.RiskImmediate, false, false, time.Duration(0), "proven right after"},
		{"on-change", `{kind: script, reads: on-change, checks: [ok]}`, impact.RiskImmediate, false, false, time.Duration(0), "proven right after"},
		{"at start, no reload: cannot have switched", `{kind: service, reads: at-start, checks: [ok]}`, impact.RiskRestartRequired, true, true, nil, "a check proves nothing"},
		{"cached", `{kind: service, reads: cached, ttl: 15m, checks: [ok]}`, impact.RiskCacheTTL, true, false, 15 * time.Minute, "caches the value for up to 15m"},
		{"cached and a pool: the longer wins", `{kind: service, reads: cached, ttl: 15m, max_connection_age: 1h, ` + reload + `checks: [ok]}`, impact.RiskConnections, true, false, time.Hour, "up to 1h"},
		{"pool longer than nothing", `{kind: service, reads: at-start, max_connection_age: 30m, ` + reload + `checks: [ok]}`, impact.RiskConnections, true, false, 30 * time.Minute, "long-lived connections"},
		{"cache longer than the pool", `{kind: service, reads: cached, ttl: 2h, max_connection_age: 30m, ` + reload + `checks: [ok]}`, impact.RiskCacheTTL, true, false, 2 * time.Hour, "caches the value for up to 2h"},
		{"scheduled job", `{kind: job, reads: at-start, schedule: "0 2 * * *", checks: [ok]}`, impact.RiskScheduled, true, false, nightly, "next run"},
		{"scheduled job with a long cache", `{kind: job, reads: cached, ttl: 24h, schedule: "0 2 * * *", checks: [ok]}`, impact.RiskScheduled, true, false, 24 * time.Hour, "aged out (1d)"},
		{"on-demand pipeline", `{kind: pipeline, reads: per-request, on_demand: true, checks: [ok]}`, impact.RiskOnDemand, true, false, time.Duration(0), "triggers it"},
		{"on-demand with a cache", `{kind: pipeline, reads: cached, ttl: 10m, on_demand: true, checks: [ok]}`, impact.RiskOnDemand, true, false, 10 * time.Minute, "aged out (10m)"},
		{"integration, cached, no reload: the TTL (issue 12)", `{kind: integration, reads: cached, ttl: 20s, checks: [ok]}`, impact.RiskCacheTTL, true, false, 20 * time.Second, "outside party"},
		{"integration per request, no reload", `{kind: integration, reads: per-request, checks: [ok]}`, impact.RiskExternal, true, false, time.Duration(0), "their traffic"},
		{"integration at start, no reload", `{kind: integration, reads: at-start, checks: [ok]}`, impact.RiskExternal, true, true, nil, "only their confirmation"},
		{"integration with a manual reload", `{kind: integration, reads: at-start, reload: {type: manual, instructions: x}, checks: [ok]}`, impact.RiskExternal, true, true, nil, "only their confirmation"},
		{"integration with a real reload", `{kind: integration, reads: at-start, ` + reload + `checks: [ok]}`, impact.RiskImmediate, false, false, time.Duration(0), "proven right after"},
		{"proof: immediate wins", `{kind: service, reads: at-start, checks: [ok], proof: immediate}`, impact.RiskImmediate, false, false, time.Duration(0), "proof: immediate"},
		{"proof: signoff wins", `{kind: service, reads: per-request, checks: [ok], proof: signoff}`, impact.RiskRestartRequired, true, true, nil, "proof: signoff"},
		{"proof: ttl-expiry", `{kind: integration, reads: cached, ttl: 5m, ` + reload + `checks: [ok], proof: ttl-expiry}`, impact.RiskCacheTTL, true, false, 5 * time.Minute, "proof: ttl-expiry"},
		{"proof: connection-age", `{kind: service, reads: per-request, max_connection_age: 45m, checks: [ok], proof: connection-age}`, impact.RiskConnections, true, false, 45 * time.Minute, "proof: connection-age"},
		{"proof: next-run on a schedule", `{kind: job, reads: at-start, schedule: "0 2 * * *", checks: [ok], proof: next-run}`, impact.RiskScheduled, true, false, nightly, "proof: next-run"},
		{"proof: next-run on demand", `{kind: pipeline, reads: at-start, on_demand: true, checks: [ok], proof: next-run}`, impact.RiskOnDemand, true, false, time.Duration(0), "proof: next-run"},
	}
	var b strings.Builder
	b.WriteString("teams:\n  t: {approvers: [ann, bob]}\nchecks:\n  ok: {type: exec, command: [\"true\"]}\ncredentials:\n  c:\n    owner: t\n    store: {type: file, dir: /d}\n    authority: {type: generated}\n    consumers:\n")
	for i, tc := range cases {
		fmt.Fprintf(&b, "      k%02d: %s\n", i, tc.yaml)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inv.yaml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(dir, inventory.Options{Catalog: builtin.New(), Now: cutover})
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}
	c, _ := inv.Credential("c")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := c.Consumers[i]
			got := impact.ProofTiming(k)
			if got.Risk != tc.risk || got.Delayed != tc.delayed || got.SignOffOnly != tc.signOff || !strings.Contains(got.Why, tc.why) {
				t.Errorf("risk %s delayed %v sign-off only %v why %q; want %s %v %v, why containing %q", got.Risk, got.Delayed, got.SignOffOnly, got.Why, tc.risk, tc.delayed, tc.signOff, tc.why)
			}
			at, ok := got.ProofAt(cutover)
			switch want := tc.after.(type) {
			case nil:
				if ok {
					t.Errorf("ProofAt = %s, want none (only a sign-off)", at)
				}
			case time.Duration:
				if !ok || !at.Equal(cutover.Add(want)) {
					t.Errorf("ProofAt = %s, %v; want cutover + %s", at, ok, want)
				}
			case time.Time:
				if !ok || !at.Equal(want) {
					t.Errorf("ProofAt = %s, %v; want %s", at, ok, want)
				}
			}
			// impact's report says the same as the timing the engine reads.
			rep := impact.Analyze(inv, c, cutover)
			if r := rep.Consumers[i]; r.Risk != got.Risk || r.Why != got.Why {
				t.Errorf("impact says %s %q, the timing %s %q", r.Risk, r.Why, got.Risk, got.Why)
			}
		})
	}
}
