package plan_test

import (
	"encoding/json"
	"fmt"
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
	if !strings.Contains(strings.Join(e.Notes, "\n"), `planned early: freeze "year-end freeze" (2026-12-19 to 2027-01-04) covers the time from the due date to the expiry`) ||
		!strings.Contains(strings.Join(e.Notes, "\n"), "rotate before the freeze, in the window of 2026-12-17 instead") {
		t.Errorf("notes do not say it was planned early for the freeze: %q", e.Notes)
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
		{"in freeze", "pw", "2026-12-23 12:00", "blocked: freeze", "2027-01-05 22:00"},
		{"no window: any time outside freezes", "anytime", "2026-11-02 12:00", "due", "2026-11-02 12:00"},
		{"no window, in freeze", "anytime", "2026-12-23 12:00", "blocked: freeze", "2027-01-05 00:00"},
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
	if e.Status != plan.StatusExpired || !strings.Contains(strings.Join(e.Notes, " "), "expired at") {
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

// loadYAML loads a one-file inventory.
func loadYAML(t *testing.T, yaml string) *inventory.Inventory {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inv.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	i, err := inventory.Load(dir, inventory.Options{Catalog: builtin.New(), Now: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

const credHead = "teams: {t: {approvers: [a]}}\ncredentials:\n"

func cred(id, rotate string) string {
	return "  " + id + ":\n    owner: t\n    store: {type: file, dir: /x}\n    authority: {type: generated}\n    rotate: " + rotate + "\n"
}

const day = 24 * time.Hour

// renew_at counts a share of the actual lifetime, from the version's creation when known
// (else the last rotation) to the expiry; the earlier of it and before_expiry wins, and the
// plan names the rule.
func TestRenewAt(t *testing.T) {
	i := loadYAML(t, credHead+
		cred("two-thirds", "{renew_at: 2/3, before_expiry: 7d, jitter: 0}")+
		cred("decimal", "{renew_at: 0.66, jitter: 0}")+
		cred("percent", "{renew_at: 50%, jitter: 0}")+
		cred("expiry-wins", "{renew_at: 2/3, before_expiry: 40d, jitter: 0}")+
		cred("every-wins", "{renew_at: 2/3, every: 30d, jitter: 0}")+
		cred("default-jitter", "{renew_at: 2/3}"))
	issued := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	expires := issued.Add(90 * day) // a 90-day certificate
	now := issued.Add(10 * day)
	tests := []struct {
		cred    string
		h       plan.History
		due     time.Time
		rule    string
		jitterd bool
	}{
		{"two-thirds", plan.History{LastRotated: issued.Add(time.Hour), Issued: issued, Expires: expires}, issued.Add(60 * day), plan.RuleRenewAt, false},
		// No recorded creation: the lifetime counts from the rotation.
		{"two-thirds", plan.History{LastRotated: issued, Expires: expires}, issued.Add(60 * day), plan.RuleRenewAt, false},
		{"decimal", plan.History{Issued: issued, LastRotated: issued, Expires: expires}, issued.Add(time.Duration(0.66 * float64(90*day))), plan.RuleRenewAt, false},
		{"percent", plan.History{Issued: issued, LastRotated: issued, Expires: expires}, issued.Add(45 * day), plan.RuleRenewAt, false},
		{"expiry-wins", plan.History{Issued: issued, LastRotated: issued, Expires: expires}, issued.Add(50 * day), plan.RuleBeforeExpiry, false},
		{"every-wins", plan.History{Issued: issued, LastRotated: issued, Expires: expires}, issued.Add(30 * day), plan.RuleEvery, false},
		// Only an expiry known: renew_at cannot apply, the expiry does.
		{"two-thirds", plan.History{Expires: expires}, expires.Add(-7 * day), plan.RuleBeforeExpiry, false},
		{"default-jitter", plan.History{Issued: issued, LastRotated: issued, Expires: expires}, issued.Add(60 * day), plan.RuleRenewAt, true},
	}
	for _, tc := range tests {
		t.Run(tc.cred, func(t *testing.T) {
			e := plan.For(i, mustCred(t, i, tc.cred), tc.h, true, now)
			if e.Due == nil {
				t.Fatalf("no due date: %+v", e)
			}
			if e.DueRule != tc.rule {
				t.Errorf("rule = %q, want %q (reason %q)", e.DueRule, tc.rule, e.DueReason)
			}
			if !tc.jitterd && !e.Due.Equal(tc.due) {
				t.Errorf("due = %v, want %v (reason %q)", e.Due, tc.due, e.DueReason)
			}
			if tc.jitterd {
				// Default jitter: up to 2% of the 90-day lifetime (43h12m) earlier, never later.
				if e.Due.After(tc.due) || e.Due.Before(tc.due.Add(-43*time.Hour-12*time.Minute)) || e.Jitter == "" {
					t.Errorf("due = %v (jitter %q), want within 43h12m before %v", e.Due, e.Jitter, tc.due)
				}
			}
			if e.Status != plan.StatusOK {
				t.Errorf("status = %q, want ok", e.Status)
			}
		})
	}
	e := plan.For(i, mustCred(t, i, "two-thirds"), plan.History{Expires: expires}, true, now)
	if !strings.Contains(strings.Join(e.Notes, "\n"), "renew_at 2/3 does not apply") {
		t.Errorf("notes do not say why renew_at did not apply: %q", e.Notes)
	}
	b, err := json.Marshal(plan.For(i, mustCred(t, i, "two-thirds"), tests[0].h, true, now))
	if err != nil || !strings.Contains(string(b), `"due_rule":"renew_at"`) {
		t.Errorf("JSON does not name the rule: %s %v", b, err)
	}
}

func mustCred(t *testing.T, i *inventory.Inventory, id string) *inventory.Credential {
	t.Helper()
	c, ok := i.Credential(id)
	if !ok {
		t.Fatalf("no credential %s", id)
	}
	return c
}

// Jitter moves each credential's due date earlier by a fixed amount within its bound, the
// same on every plan, different between credentials, and never past expiry − before_expiry.
func TestJitter(t *testing.T) {
	y := credHead
	for n := range 40 {
		y += cred(fmt.Sprintf("c%02d", n), "{renew_at: 2/3, before_expiry: 3d, jitter: 6h}")
	}
	y += cred("late", "{renew_at: 0.99, before_expiry: 3d, jitter: 6h}")
	i := loadYAML(t, y)
	issued := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	expires := issued.Add(90 * day)
	h := map[string]plan.History{}
	for _, id := range i.CredentialIDs() {
		h[id] = plan.History{Issued: issued, LastRotated: issued, Expires: expires}
	}
	now := issued.Add(day)
	first, second := plan.Plan(i, h, now), plan.Plan(i, h, now.Add(time.Hour))
	seen := map[time.Time]bool{}
	for k, e := range first {
		rule := issued.Add(60 * day)
		if e.Credential == "late" {
			rule = expires.Add(-3 * day) // before_expiry wins over 0.99 of the lifetime
		}
		switch {
		case e.Due == nil:
			t.Fatalf("%s: no due date", e.Credential)
		case e.Due.After(rule) || e.Due.Before(rule.Add(-6*time.Hour)):
			t.Errorf("%s: due %v outside [%v, %v]", e.Credential, e.Due, rule.Add(-6*time.Hour), rule)
		case e.Due.After(expires.Add(-3 * day)):
			t.Errorf("%s: due %v after the latest safe date", e.Credential, e.Due)
		case !e.Due.Equal(*second[k].Due):
			t.Errorf("%s: due %v then %v: not stable", e.Credential, e.Due, second[k].Due)
		}
		seen[*e.Due] = true
	}
	if len(seen) < 20 {
		t.Errorf("40 credentials share %d due dates: the jitter does not spread them", len(seen))
	}
	// A jitter larger than the lifetime never makes a value due before half of it.
	i = loadYAML(t, credHead+cred("huge", "{every: 30d, jitter: 29d}"))
	e := plan.For(i, mustCred(t, i, "huge"), plan.History{LastRotated: issued}, true, now)
	if e.Due.Before(issued.Add(15 * day)) {
		t.Errorf("due %v: jitter moved it more than half the span", e.Due)
	}
}

// winInv: cutovers Monday and Thursday 22:00 UTC for 4h; no freeze.
func winInv(t *testing.T, soak string) *inventory.Inventory {
	return loadYAML(t, "windows:\n  mon-thu: {cron: \"0 22 * * 1,4\", duration: 4h, timezone: UTC}\n"+credHead+
		cred("cert", "{before_expiry: 2d}")+"    windows: {cutover: mon-thu}\n"+soak)
}

func TestExpiryBeforeNextWindowForcesAnEarlierOne(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, soak, expires, now string
		status, opening, note    string
	}{
		// Due Fri 12-18 10:00; the next window (Mon 12-21 22:00) opens after the expiry.
		{"expires before the next window", "", "2026-12-20 10:00", "2026-12-10 12:00", "ok", "2026-12-17 22:00",
			"expires 2026-12-20T10:00Z, before the next cutover window (2026-12-21T22:00Z): due in the window of 2026-12-17 instead"},
		// The next window opens before the expiry but ends after it.
		{"next window ends after the expiry", "", "2026-12-22 00:00", "2026-12-10 12:00", "ok", "2026-12-17 22:00",
			"before the next cutover window (2026-12-21T22:00Z) ends with time to cut over: due in the window of 2026-12-17 instead"},
		// With a 3-day soak Thursday's window ends too late: Monday's.
		{"soak", "    soak: 3d\n", "2026-12-20 10:00", "2026-12-10 12:00", "ok", "2026-12-14 22:00",
			"due in the window of 2026-12-14 instead"},
		// On the day of the planned window it is due.
		{"on the day", "", "2026-12-20 10:00", "2026-12-17 12:00", "due", "2026-12-17 22:00", "due in the window of 2026-12-17 instead"},
		// Within before_expiry, the window still ahead: expiring.
		{"expiring", "", "2026-12-20 10:00", "2026-12-18 11:00", "blocked: no window before expiry", "", "expiring: expires 2026-12-20T10:00Z, in 1d23h"},
		// Past the last window that fits: nothing left but rotating outside a window.
		{"no window left", "", "2026-12-20 10:00", "2026-12-18 12:00", "blocked: no window before expiry", "",
			"expires 2026-12-20T10:00Z before any opening of window mon-thu: add an earlier window to the credential's cutover windows (rotor does not cut over outside them)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := winInv(t, tc.soak)
			e := plan.For(i, mustCred(t, i, "cert"), plan.History{LastRotated: utc("2026-09-21 10:00"), Expires: utc(tc.expires)}, true, utc(tc.now))
			if e.Status != tc.status {
				t.Errorf("status = %q, want %q (notes %q)", e.Status, tc.status, e.Notes)
			}
			switch {
			case tc.opening == "" && e.Opening != nil:
				t.Errorf("opening %v, want none", e.Opening.Start)
			case tc.opening != "" && (e.Opening == nil || !e.Opening.Start.Equal(utc(tc.opening))):
				t.Errorf("opening = %+v, want %s", e.Opening, tc.opening)
			}
			if !strings.Contains(strings.Join(e.Notes, "\n"), tc.note) {
				t.Errorf("notes %q do not say %q", e.Notes, tc.note)
			}
		})
	}
}

// Expired and expiring credentials stand out, whatever their policy.
func TestExpiredAndExpiring(t *testing.T) {
	i := loadYAML(t, credHead+cred("cert", "{before_expiry: 3d}")+cred("norule", "{every: 365d}"))
	expires := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	h := plan.History{LastRotated: expires.Add(-90 * day), Expires: expires}
	tests := []struct {
		cred   string
		now    time.Time
		status string
	}{
		{"cert", expires.Add(-4 * day), plan.StatusOK},
		{"cert", expires.Add(-2 * day), plan.StatusExpiring},
		{"cert", expires, plan.StatusExpired},
		{"cert", expires.Add(30 * day), plan.StatusExpired},
		{"norule", expires.Add(-15 * day), plan.StatusOK},
		{"norule", expires.Add(-13 * day), plan.StatusExpiring}, // no before_expiry: 14 days
	}
	for _, tc := range tests {
		e := plan.For(i, mustCred(t, i, tc.cred), h, true, tc.now)
		if e.Status != tc.status {
			t.Errorf("%s at %v: status %q, want %q (notes %q)", tc.cred, tc.now, e.Status, tc.status, e.Notes)
		}
		if e.Expires == nil || !e.Expires.Equal(expires) {
			t.Errorf("%s: expiry not shown: %v", tc.cred, e.Expires)
		}
	}
}
