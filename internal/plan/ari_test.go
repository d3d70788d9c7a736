package plan_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/plan"
)

// The CA's renewal window (ACME Renewal Information) on a fixed clock. "anytime" rotates every
// 30 days from 2026-10-01 23:00, with no cutover window: its own rule makes it due on
// 2026-10-31 (less its jitter). A window before that date sets the due date inside it; one
// after it does not (the inventory's rules are never exceeded); an open or past window makes
// it due now.
func TestRenewalWindow(t *testing.T) {
	i := load(t)
	last := at("2026-10-01 23:00")
	win := func(from, to string) *plan.RenewalWindow {
		return &plan.RenewalWindow{Start: at(from), End: at(to), Source: "ARI"}
	}
	tests := []struct {
		name, cred, now string
		window          *plan.RenewalWindow
		note            string
		known           bool
		wantRule        string
		wantDue         string // "" = inside the window; "now"; else an instant
		wantStatus      string
		wantReason      string // a substring
		wantNote        string // a substring of one note
	}{
		{"window ahead, before every", "anytime", "2026-10-10 12:00", win("2026-10-20 00:00", "2026-10-22 00:00"), "", true,
			plan.RuleARI, "", plan.StatusOK, "the CA's renewal window (ARI) 2026-10-20 00:00 CEST to 2026-10-22 00:00 CEST, at this credential's fixed point in it", ""},
		{"window open", "anytime", "2026-10-21 12:00", win("2026-10-20 00:00", "2026-10-22 00:00"), "", true,
			plan.RuleARI, "now", plan.StatusDue, "is open: renew now", ""},
		{"window passed", "anytime", "2026-10-25 12:00", win("2026-10-20 00:00", "2026-10-22 00:00"), "", true,
			plan.RuleARI, "now", plan.StatusDue, "has passed: renew now", ""},
		{"window after every's date: every applies", "anytime", "2026-10-10 12:00", win("2026-11-20 00:00", "2026-11-22 00:00"), "", true,
			plan.RuleEvery, "2026-10-31 23:00", plan.StatusOK, "rotate.every 30d", "the CA's renewal window (ARI) 2026-11-20 00:00 CET to 2026-11-22 00:00 CET: every is earlier and applies"},
		{"window open but every long past: due now by ari", "anytime", "2026-11-21 12:00", win("2026-11-20 00:00", "2026-11-22 00:00"), "", true,
			plan.RuleEvery, "2026-10-31 23:00", plan.StatusDue, "rotate.every", "every is earlier and applies"},
		{"no advice: noted, own rule", "anytime", "2026-10-10 12:00", nil, "CA offers no renewal information", true,
			plan.RuleEvery, "2026-10-31 23:00", plan.StatusOK, "rotate.every", "CA offers no renewal information"},
		{"unavailable: noted, own rule", "anytime", "2026-10-10 12:00", nil, "renewal information unavailable: connection refused", true,
			plan.RuleEvery, "2026-10-31 23:00", plan.StatusOK, "rotate.every", "renewal information unavailable: connection refused"},
		{"no rule of its own: the window sets it", "nopolicy", "2026-10-10 12:00", win("2026-10-20 00:00", "2026-10-22 00:00"), "", true,
			plan.RuleARI, "", plan.StatusOK, "the CA's renewal window (ARI)", ""},
		{"no history: nothing asked, nothing applied", "anytime", "2026-10-10 12:00", win("2026-10-20 00:00", "2026-10-22 00:00"), "", false,
			plan.RuleNoHistory, "now", plan.StatusDue, "no rotation recorded", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]plan.History{}
			if tc.known {
				h[tc.cred] = plan.History{LastRotated: last, Version: "v1", Renewal: tc.window, RenewalNote: tc.note}
			}
			now := at(tc.now)
			e := entry(t, plan.Plan(i, h, now), tc.cred)
			if e.DueRule != tc.wantRule {
				t.Fatalf("rule = %q, want %q (reason %q, notes %q)", e.DueRule, tc.wantRule, e.DueReason, e.Notes)
			}
			if e.Due == nil {
				t.Fatalf("no due date (reason %q)", e.DueReason)
			}
			switch tc.wantDue {
			case "":
				if e.Due.Before(tc.window.Start) || !e.Due.Before(tc.window.End) || e.Due.Sub(tc.window.Start)%time.Minute != 0 {
					t.Errorf("due %s, want a whole minute inside %s..%s", e.Due, tc.window.Start, tc.window.End)
				}
				if e.Jitter != "" {
					t.Errorf("jitter %q on a date inside the CA's window", e.Jitter)
				}
			case "now":
				if !e.Due.Equal(now) {
					t.Errorf("due %s, want now (%s)", e.Due, now)
				}
			default:
				if e.Due.After(at(tc.wantDue)) || e.Due.Before(at(tc.wantDue).Add(-15*24*time.Hour)) {
					t.Errorf("due %s, want the rule's %s less at most its jitter", e.Due, tc.wantDue)
				}
			}
			if e.Status != tc.wantStatus {
				t.Errorf("status = %q, want %q (notes %q)", e.Status, tc.wantStatus, e.Notes)
			}
			if !strings.Contains(e.DueReason, tc.wantReason) {
				t.Errorf("reason = %q, want it to say %q", e.DueReason, tc.wantReason)
			}
			if tc.wantNote != "" && !strings.Contains(strings.Join(e.Notes, "\n"), tc.wantNote) {
				t.Errorf("notes %q do not say %q", e.Notes, tc.wantNote)
			}
			if (e.Renewal != nil) != (tc.window != nil && tc.known) {
				t.Errorf("renewal window in the entry: %+v", e.Renewal)
			}
		})
	}
}

// The point inside the window is the credential's own (the same on every run), and
// credentials of one CA spread over the window rather than all renewing at its start.
func TestRenewalWindowPointIsFixedAndSpread(t *testing.T) {
	i := load(t)
	w := &plan.RenewalWindow{Start: at("2026-10-20 00:00"), End: at("2026-10-27 00:00"), Source: "ARI"}
	h := map[string]plan.History{}
	for _, id := range []string{"pw", "anytime", "nopolicy"} {
		h[id] = plan.History{LastRotated: at("2026-10-01 23:00"), Version: "v1", Renewal: w}
	}
	now := at("2026-10-10 12:00")
	first, again := plan.Plan(i, h, now), plan.Plan(i, h, now)
	seen := map[time.Time]string{}
	for k, e := range first {
		if e.Credential == "cert" {
			continue
		}
		if e.DueRule != plan.RuleARI || e.Due == nil || !e.Due.Equal(*again[k].Due) {
			t.Fatalf("%s: rule %q, due %v then %v", e.Credential, e.DueRule, e.Due, again[k].Due)
		}
		if other, dup := seen[*e.Due]; dup {
			t.Errorf("%s and %s are due at the same instant %s", e.Credential, other, e.Due)
		}
		seen[*e.Due] = e.Credential
	}
	// The JSON of an entry carries the window.
	b, err := json.Marshal(entry(t, first, "anytime"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"due_rule":"ari"`) || !strings.Contains(string(b), `"renewal_window":{"start":`) {
		t.Errorf("json: %s", b)
	}
}
