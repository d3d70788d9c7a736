package schedule

import (
	"slices"
	"testing"
	"time"
)

func TestNextOpening(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	weeknights := mustWindow(t, "0 22 * * 1-4", 4*time.Hour, "Europe/Paris")
	weeknights.Name = "weeknights"
	office := mustWindow(t, "0 9 * * 1-5", 8*time.Hour, "Europe/Paris")
	office.Name = "office-hours"
	never := mustWindow(t, "0 0 30 2 *", time.Hour, "Europe/Paris")

	yearEnd, err := FreezeDates(Date{2026, 12, 19}, Date{2027, 1, 4}, paris, "year-end freeze")
	if err != nil {
		t.Fatal(err)
	}
	tuesday, err := FreezeDates(Date{2026, 6, 2}, Date{2026, 6, 2}, paris, "release day")
	if err != nil {
		t.Fatal(err)
	}
	// Starts during Monday's 22:00 start and ends before that occurrence would.
	shortMonday := Freeze{ts(t, "2026-06-01T21:00:00+02:00"), ts(t, "2026-06-01T23:00:00+02:00"), "short"}
	lateMonday := Freeze{ts(t, "2026-06-01T23:00:00+02:00"), ts(t, "2026-06-01T23:30:00+02:00"), "late"}
	empty := Freeze{ts(t, "2026-06-01T23:00:00+02:00"), ts(t, "2026-06-01T23:00:00+02:00"), "empty"}

	const far = "2027-06-01T00:00:00Z"
	tests := []struct {
		name        string
		w           Window
		freezes     []Freeze
		from, limit string
		ok          bool
		start, end  string
		trimmed     bool
		skipped     []string // reasons
	}{
		{name: "open now", w: weeknights, from: "2026-06-01T23:00:00+02:00", limit: far,
			ok: true, start: "2026-06-01T22:00:00+02:00", end: "2026-06-02T02:00:00+02:00"},
		{name: "next start", w: weeknights, from: "2026-06-01T12:00:00+02:00", limit: far,
			ok: true, start: "2026-06-01T22:00:00+02:00", end: "2026-06-02T02:00:00+02:00"},
		{name: "freezes elsewhere do not matter", w: weeknights, freezes: []Freeze{yearEnd}, from: "2026-06-01T12:00:00+02:00", limit: far,
			ok: true, start: "2026-06-01T22:00:00+02:00", end: "2026-06-02T02:00:00+02:00"},
		{name: "trimmed at the freeze", w: weeknights, freezes: []Freeze{tuesday}, from: "2026-06-01T12:00:00+02:00", limit: far,
			ok: true, start: "2026-06-01T22:00:00+02:00", end: "2026-06-02T00:00:00+02:00", trimmed: true},
		{name: "trimmed at the earliest of two freezes", w: weeknights, freezes: []Freeze{tuesday, lateMonday}, from: "2026-06-01T12:00:00+02:00", limit: far,
			ok: true, start: "2026-06-01T22:00:00+02:00", end: "2026-06-01T23:00:00+02:00", trimmed: true},
		{name: "open now, trimmed", w: weeknights, freezes: []Freeze{tuesday}, from: "2026-06-01T23:00:00+02:00", limit: far,
			ok: true, start: "2026-06-01T22:00:00+02:00", end: "2026-06-02T00:00:00+02:00", trimmed: true},
		{name: "an empty freeze trims nothing", w: weeknights, freezes: []Freeze{empty}, from: "2026-06-01T12:00:00+02:00", limit: far,
			ok: true, start: "2026-06-01T22:00:00+02:00", end: "2026-06-02T02:00:00+02:00"},
		// Monday's occurrence is cut at Tuesday 00:00, Tuesday's starts in the freeze.
		{name: "open occurrence frozen now", w: weeknights, freezes: []Freeze{tuesday}, from: "2026-06-02T00:30:00+02:00", limit: far,
			ok: true, start: "2026-06-03T22:00:00+02:00", end: "2026-06-04T02:00:00+02:00", skipped: []string{"release day"}},
		{name: "start in a freeze skips the whole occurrence", w: weeknights, freezes: []Freeze{shortMonday}, from: "2026-06-01T12:00:00+02:00", limit: far,
			ok: true, start: "2026-06-02T22:00:00+02:00", end: "2026-06-03T02:00:00+02:00", skipped: []string{"short"}},
		{name: "even once the freeze is over", w: weeknights, freezes: []Freeze{shortMonday}, from: "2026-06-01T23:30:00+02:00", limit: far,
			ok: true, start: "2026-06-02T22:00:00+02:00", end: "2026-06-03T02:00:00+02:00", skipped: []string{"short"}},
		// The year-end freeze covers up to 2027-01-05 00:00: the first office hours
		// after it are Tuesday 5 January, the Monday before is frozen.
		{name: "year-end, office hours", w: office, freezes: []Freeze{yearEnd}, from: "2026-12-20T10:00:00+01:00", limit: far,
			ok: true, start: "2027-01-05T09:00:00+01:00", end: "2027-01-05T17:00:00+01:00", skipped: []string{"year-end freeze"}},
		{name: "year-end, weeknights", w: weeknights, freezes: []Freeze{yearEnd}, from: "2026-12-20T10:00:00+01:00", limit: far,
			ok: true, start: "2027-01-05T22:00:00+01:00", end: "2027-01-06T02:00:00+01:00", skipped: []string{"year-end freeze"}},
		{name: "only the freezes met are listed", w: office, freezes: []Freeze{tuesday, yearEnd}, from: "2026-06-01T18:00:00+02:00", limit: far,
			ok: true, start: "2026-06-03T09:00:00+02:00", end: "2026-06-03T17:00:00+02:00", skipped: []string{"release day"}},
		{name: "nothing before the limit", w: office, freezes: []Freeze{yearEnd}, from: "2026-12-20T10:00:00+01:00", limit: "2027-01-05T00:00:00+01:00",
			ok: false, skipped: []string{"year-end freeze"}},
		{name: "a start at the limit is too late", w: weeknights, from: "2026-06-01T12:00:00+02:00", limit: "2026-06-01T22:00:00+02:00",
			ok: false},
		{name: "never opens", w: never, from: "2026-06-01T12:00:00+02:00", limit: "2040-01-01T00:00:00Z",
			ok: false},
		{name: "zero window", w: Window{}, from: "2026-06-01T12:00:00+02:00", limit: far,
			ok: false},
	}
	for _, tt := range tests {
		got, ok := NextOpening(tt.w, tt.freezes, ts(t, tt.from), ts(t, tt.limit))
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v (%+v)", tt.name, ok, tt.ok, got)
			continue
		}
		if got.Window != tt.w.Name {
			t.Errorf("%s: Window = %q, want %q", tt.name, got.Window, tt.w.Name)
		}
		var reasons []string
		for _, f := range got.SkippedFor {
			reasons = append(reasons, f.Reason)
		}
		if !slices.Equal(reasons, tt.skipped) {
			t.Errorf("%s: SkippedFor = %q, want %q", tt.name, reasons, tt.skipped)
		}
		if !ok {
			continue
		}
		if !got.Start.Equal(ts(t, tt.start)) || !got.End.Equal(ts(t, tt.end)) || got.Trimmed != tt.trimmed {
			t.Errorf("%s: got [%v, %v) trimmed=%v; want [%s, %s) trimmed=%v", tt.name, got.Start, got.End, got.Trimmed, tt.start, tt.end, tt.trimmed)
		}
	}
}

// TestYearEndLandsOnTuesday checks the calendar fact the year-end cases rely
// on, rather than trusting the author's arithmetic.
func TestYearEndLandsOnTuesday(t *testing.T) {
	if wd := time.Date(2027, time.January, 5, 12, 0, 0, 0, time.UTC).Weekday(); wd != time.Tuesday {
		t.Fatalf("2027-01-05 is a %v", wd)
	}
	if wd := time.Date(2026, time.June, 1, 12, 0, 0, 0, time.UTC).Weekday(); wd != time.Monday {
		t.Fatalf("2026-06-01 is a %v", wd)
	}
}
