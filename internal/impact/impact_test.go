package impact_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/impact"
	"github.com/rotorhq/rotor/internal/inventory"
)

const doc = `
defaults: {timezone: Europe/Paris}
teams:
  two: {approvers: [ann, bob]}
  one: {approvers: [ann]}
  none: {}
identities:
  id: {type: os-user, user: x}
checks:
  ok: {type: exec, command: ["true"]}
credentials:
  inplace:
    owner: two
    critical: true
    store: {type: file, dir: /d}
    authority: {type: generated, strategy: in-place}
    consumers:
      svc-reload:  {kind: service, identity: id, reads: at-start, reload: {type: exec, command: [r]}, checks: [ok]}
      svc-noreload: {kind: service, identity: id, reads: at-start, checks: [ok]}
      per-request: {kind: service, identity: id, reads: per-request, checks: [ok]}
      cache:       {kind: service, identity: id, reads: cached, ttl: 15m, checks: [ok]}
      pool:        {kind: service, identity: id, reads: at-start, max_connection_age: 1h, reload: {type: exec, command: [r]}, checks: [ok]}
      nightly:     {kind: job, identity: id, reads: at-start, schedule: "0 2 * * *", checks: [ok]}
      ondemand:    {kind: pipeline, identity: id, reads: per-request, on_demand: true, checks: [ok]}
      partner:     {kind: integration, identity: id, reads: per-request}
  overlap:
    owner: one
    critical: true
    store: {type: file, dir: /d}
    authority: {type: generated, strategy: overlap}
    consumers:
      svc: {kind: service, reads: at-start, reload: {type: exec, command: [r]}}
  nobody:
    owner: none
    store: {type: file, dir: /d}
    authority: {type: generated}
  delegated:
    owner: none
    critical: true
    approvers: [two, carol]
    store: {type: file, dir: /d}
    authority: {type: generated}
    consumers:
      svc: {kind: service, identity: id, reads: on-change, checks: [ok]}
`

func load(t *testing.T) *inventory.Inventory {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "i.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(dir, inventory.Options{Catalog: builtin.New(), Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func analyze(t *testing.T, id string, at time.Time) impact.Report {
	inv := load(t)
	c, ok := inv.Credential(id)
	if !ok {
		t.Fatalf("no %s", id)
	}
	return impact.Analyze(inv, c, at)
}

func TestRiskClasses(t *testing.T) {
	at := time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC) // 20:00 in Paris
	r := analyze(t, "inplace", at)
	want := map[string]struct {
		risk       impact.Risk
		proofAfter string
		failsNow   bool
	}{
		"svc-reload":   {impact.RiskImmediate, "", true},
		"svc-noreload": {impact.RiskRestartRequired, "", true},
		"per-request":  {impact.RiskImmediate, "", false},
		"cache":        {impact.RiskCacheTTL, "15m", true},
		"pool":         {impact.RiskConnections, "1h", true},
		"nightly":      {impact.RiskScheduled, "6h", true}, // next run 02:00 Paris = 6 h after 20:00
		"ondemand":     {impact.RiskOnDemand, "", false},
		"partner":      {impact.RiskExternal, "", true},
	}
	fails := map[string]bool{}
	for _, id := range r.FailNow {
		fails[id] = true
	}
	for _, c := range r.Consumers {
		w, ok := want[c.ID]
		if !ok {
			t.Fatalf("unexpected consumer %s", c.ID)
		}
		if c.Risk != w.risk || c.ProofAfter != w.proofAfter || fails[c.ID] != w.failsNow {
			t.Errorf("%s: risk %s proof_after %q fails-now %v; want %s %q %v (%s)", c.ID, c.Risk, c.ProofAfter, fails[c.ID], w.risk, w.proofAfter, w.failsNow, c.IfChangedNow)
		}
		if len(c.Evidence) == 0 {
			t.Errorf("%s: no evidence expected", c.ID)
		}
	}
	for _, c := range r.Consumers {
		if c.ID == "nightly" && (c.NextRun == nil || !c.NextRun.Equal(time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC).Add(24*time.Hour))) {
			t.Errorf("nightly next run = %v, want 2026-11-26 02:00 Paris", c.NextRun)
		}
	}
}

// With overlap the old value stays valid: nothing fails at cutover.
func TestOverlapFailsNobodyNow(t *testing.T) {
	r := analyze(t, "overlap", time.Now())
	if len(r.FailNow) != 0 {
		t.Fatalf("fail now = %v", r.FailNow)
	}
}

func TestGaps(t *testing.T) {
	gaps := func(r impact.Report) string {
		var s []string
		for _, g := range r.Gaps {
			s = append(s, g.Severity+" "+g.Consumer+": "+g.Problem)
		}
		return strings.Join(s, "\n")
	}
	tests := []struct {
		cred string
		want []string
		not  []string
	}{
		{"overlap", []string{
			"blocker svc: no identity",
			"warning svc: no check",
			"warning : only one approver (ann)",
		}, []string{"no reload"}},
		{"nobody", []string{
			"blocker : no consumers declared",
		}, []string{"approve"}},
		{"inplace", []string{
			"blocker svc-noreload: no reload",
			"warning partner: no check",
		}, []string{"approve", "cache: no reload", "nightly: no reload", "ondemand: no reload"}},
		{"delegated", nil, []string{"approve"}},
	}
	for _, tc := range tests {
		got := gaps(analyze(t, tc.cred, time.Now()))
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: missing gap %q in\n%s", tc.cred, w, got)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: unexpected gap %q in\n%s", tc.cred, n, got)
			}
		}
	}
}

func TestApproversExpandTeams(t *testing.T) {
	r := analyze(t, "delegated", time.Now())
	if got := strings.Join(r.Approvers, ","); got != "ann,bob,carol" {
		t.Fatalf("approvers = %s", got)
	}
}
