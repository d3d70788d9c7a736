package plan_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/plan"
)

// inv is a small inventory: weeknight cutovers (Mon-Thu 22:00 Paris), the year-end freeze.
const inv = `
defaults: {timezone: Europe/Paris}
windows:
  weeknights: {cron: "0 22 * * 1-4", duration: 4h}
freezes:
  - {from: 2026-12-19, to: 2027-01-04, reason: year-end freeze}
teams:
  t: {approvers: [a, b]}
credentials:
  cert:
    owner: t
    store: {type: file, dir: /x}
    authority: {type: generated}
    rotate: {before_expiry: 3d}
    windows: {cutover: weeknights}
  pw:
    owner: t
    store: {type: file, dir: /x}
    authority: {type: generated}
    rotate: {every: 30d}
    windows: {cutover: weeknights}
  anytime:
    owner: t
    store: {type: file, dir: /x}
    authority: {type: generated}
    rotate: {every: 30d}
  nopolicy:
    owner: t
    store: {type: file, dir: /x}
    authority: {type: generated}
`

func load(t *testing.T) *inventory.Inventory {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inv.yaml"), []byte(inv), 0o600); err != nil {
		t.Fatal(err)
	}
	i, err := inventory.Load(dir, inventory.Options{Catalog: builtin.New(), Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

var paris, _ = time.LoadLocation("Europe/Paris")

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, paris)
	if err != nil {
		panic(err)
	}
	return t
}

func entry(t *testing.T, es []plan.Entry, id string) plan.Entry {
	t.Helper()
	for _, e := range es {
		if e.Credential == id {
			return e
		}
	}
	t.Fatalf("no entry %s", id)
	return plan.Entry{}
}

// An expiry inside the freeze must be planned before the freeze: the first opening after the
// due date is after the freeze, so after the expiry.
func TestExpiryInsideFreezeIsPlannedBeforeIt(t *testing.T) {
	i := load(t)
	h := map[string]plan.History{"cert": {LastRotated: at("2026-09-26 10:00"), Expires: at("2026-12-25 10:00")}}
	e := entry(t, plan.Plan(i, h, at("2026-12-01 12:00")), "cert")
	// Due 3 days before expiry: 2026-12-22 10:00, inside the freeze. The last weeknight opening
	// before both the due date and the freeze is Thu 2026-12-17 22:00.
	if e.Due == nil || !e.Due.Equal(at("2026-12-22 10:00")) {
		t.Fatalf("due = %v", e.Due)
	}
	if e.Opening == nil || !e.Opening.Start.Equal(at("2026-12-17 22:00")) {
		t.Fatalf("opening = %+v, want Thu 2026-12-17 22:00", e.Opening)
	}
	if e.Status != plan.StatusOK {
		t.Errorf("status = %q, want ok (the planned opening is still 16 days away)", e.Status)
	}
	if !strings.Contains(strings.Join(e.Notes, "\n"), "planned early") {
		t.Errorf("notes do not say it was planned early: %q", e.Notes)
	}
	// The day of that opening it is due.
	e = entry(t, plan.Plan(i, h, at("2026-12-17 12:00")), "cert")
	if e.Status != plan.StatusDue {
		t.Errorf("on the day: status = %q, want due", e.Status)
	}
	// Inside the freeze, with the planned opening missed: blocked by the freeze, by name.
	e = entry(t, plan.Plan(i, h, at("2026-12-20 12:00")), "cert")
	if e.Status != "blocked: no window before expiry" {
		t.Errorf("in freeze after the last opening: status = %q", e.Status)
	}
}

func TestStatuses(t *testing.T) {
	i := load(t)
	last := at("2026-10-01 23:00")
	h := map[string]plan.History{"pw": {LastRotated: last}, "anytime": {LastRotated: last}, "nopolicy": {LastRotated: last}}
	tests := []struct {
		name, cred, now, status string
		opening                 string
	}{
		{"not yet due", "pw", "2026-10-15 12:00", "ok", "2026-11-02 22:00"},
		{"due, window tonight", "pw", "2026-11-02 12:00", "due", "2026-11-02 22:00"},
		{"due, inside the opening", "pw", "2026-11-02 23:30", "due", "2026-11-02 22:00"},
		{"overdue: an opening passed", "pw", "2026-11-03 12:00", "overdue", "2026-11-03 22:00"},
		{"in freeze", "pw", "2026-12-23 12:00", "blocked: freeze year-end freeze", "2027-01-05 22:00"},
		{"no window: any time outside freezes", "anytime", "2026-11-02 12:00", "due", "2026-11-02 12:00"},
		{"no window, in freeze", "anytime", "2026-12-23 12:00", "blocked: freeze year-end freeze", "2027-01-05 00:00"},
		{"no policy", "nopolicy", "2027-06-01 12:00", "ok", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := entry(t, plan.Plan(i, h, at(tc.now)), tc.cred)
			if e.Status != tc.status {
				t.Errorf("status = %q, want %q (notes %q)", e.Status, tc.status, e.Notes)
			}
			switch {
			case tc.opening == "" && e.Opening != nil:
				t.Errorf("opening = %v, want none", e.Opening.Start)
			case tc.opening != "" && (e.Opening == nil || !e.Opening.Start.Equal(at(tc.opening))):
				t.Errorf("opening = %+v, want %s", e.Opening, tc.opening)
			}
		})
	}
}

// Without history nothing is invented: no last rotation, no expiry, due now, and said so.
func TestNoHistory(t *testing.T) {
	i := load(t)
	now := at("2026-11-02 12:00")
	e := entry(t, plan.Plan(i, nil, now), "pw")
	if e.LastRotated != nil || e.Expires != nil {
		t.Fatalf("invented dates: %+v", e)
	}
	if e.Status != "due" || !strings.Contains(e.DueReason, "no history") {
		t.Errorf("status %q reason %q", e.Status, e.DueReason)
	}
}

func TestExpired(t *testing.T) {
	i := load(t)
	h := map[string]plan.History{"cert": {Expires: at("2026-11-01 00:00")}}
	e := entry(t, plan.Plan(i, h, at("2026-11-02 12:00")), "cert")
	if e.Status != "overdue" || !strings.Contains(strings.Join(e.Notes, " "), "expired at") {
		t.Errorf("status %q notes %q", e.Status, e.Notes)
	}
}

// An exception past its expiry is flagged in the plan, never left silently open; one still
// within its time is shown as a note.
func TestExceptionOverdueIsFlagged(t *testing.T) {
	i := load(t)
	at := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	run := func(expires time.Time, state string) map[string]plan.History {
		return map[string]plan.History{"pw": {LastRotated: at.Add(-24 * time.Hour), Run: &plan.Run{ID: "r1", Phase: "rolled-back",
			Exceptions: []plan.Exception{{Consumers: []string{"api"}, Owner: "bob", Expires: expires, State: state}}}}}
	}
	entry := func(h map[string]plan.History) plan.Entry {
		for _, e := range plan.Plan(i, h, at) {
			if e.Credential == "pw" {
				return e
			}
		}
		t.Fatal("no entry for pw")
		return plan.Entry{}
	}
	open := entry(run(at.Add(time.Hour), "open"))
	if open.Status != plan.StatusOK || open.Run == nil || !strings.Contains(strings.Join(open.Notes, "\n"), "open until") {
		t.Errorf("open exception: status %q notes %q", open.Status, open.Notes)
	}
	for _, h := range []map[string]plan.History{run(at.Add(-time.Minute), "open"), run(at.Add(time.Hour), "overdue")} {
		e := entry(h)
		if e.Status != plan.StatusExceptionOverdue || !strings.Contains(strings.Join(e.Notes, "\n"), "still open") {
			t.Errorf("expired exception: status %q notes %q", e.Status, e.Notes)
		}
	}
}

// With no cutover window and no freeze ahead, a credential past its due date is due — the
// opening never closes, so no opening has passed without a rotation.
func TestDueWithoutWindowOrFreeze(t *testing.T) {
	dir := t.TempDir()
	yaml := "teams: {t: {approvers: [a]}}\ncredentials:\n  k:\n    owner: t\n    store: {type: file, dir: /x}\n    authority: {type: generated}\n    rotate: {every: 30d}\n"
	if err := os.WriteFile(filepath.Join(dir, "inv.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	i, err := inventory.Load(dir, inventory.Options{Catalog: builtin.New(), Now: at})
	if err != nil {
		t.Fatal(err)
	}
	e := plan.Plan(i, map[string]plan.History{"k": {LastRotated: at.Add(-40 * 24 * time.Hour)}}, at)[0]
	if e.Status != plan.StatusDue {
		t.Fatalf("status %q, want due (notes %q)", e.Status, e.Notes)
	}
}
