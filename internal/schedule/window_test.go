package schedule

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// ts parses an RFC 3339 instant. Expected values carry their UTC offset so
// that a DST case says exactly which of two 01:30s it means.
func ts(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustWindow(t testing.TB, spec string, d time.Duration, tz string) Window {
	t.Helper()
	w, err := NewWindow("w", spec, d, tz)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// startsAfter collects n successive NextStart results.
func startsAfter(t *testing.T, w Window, from time.Time, n int) []time.Time {
	t.Helper()
	var out []time.Time
	for range n {
		s, ok := w.NextStart(from)
		if !ok {
			t.Fatalf("%s: no start after %v", w.Spec, from)
		}
		out = append(out, s)
		from = s
	}
	return out
}

func TestNewWindow(t *testing.T) {
	for _, spec := range []string{"0 22 * * 1-4", "0 9 * * mon-fri", "@daily", "@weekly", "@monthly", "@yearly", "*/15 3 1,15 * *"} {
		if _, err := NewWindow("w", spec, time.Hour, "Europe/Paris"); err != nil {
			t.Errorf("NewWindow(%q): %v", spec, err)
		}
	}
	w := mustWindow(t, "0 22 * * 1-4", 4*time.Hour, "Europe/Paris")
	if w.Name != "w" || w.Spec != "0 22 * * 1-4" || w.Duration != 4*time.Hour || w.Location.String() != "Europe/Paris" {
		t.Errorf("NewWindow kept %+v", w)
	}
}

func TestNewWindowErrors(t *testing.T) {
	tests := []struct {
		spec    string
		d       time.Duration
		tz      string
		field   string
		mention string
	}{
		{"", time.Hour, "UTC", "cron", "empty"},
		{"0 22 * *", time.Hour, "UTC", "cron", "0 22 * *"},
		{"0 0 22 * * *", time.Hour, "UTC", "cron", "0 0 22 * * *"}, // seconds are not supported
		{"61 * * * *", time.Hour, "UTC", "cron", "61"},
		{"@every 1h", time.Hour, "UTC", "cron", "@every"},
		{"@hourlyish", time.Hour, "UTC", "cron", "@hourlyish"},
		{"TZ=Europe/Paris 0 22 * * *", time.Hour, "UTC", "cron", "timezone field"},
		{"CRON_TZ=UTC 0 22 * * *", time.Hour, "UTC", "cron", "timezone field"},
		{"0 22 * * *", 0, "UTC", "duration", "positive"},
		{"0 22 * * *", -time.Hour, "UTC", "duration", "positive"},
		{"0 22 * * *", time.Hour, "", "timezone", "missing"},
		{"0 22 * * *", time.Hour, "Europe/Pari", "timezone", `"Europe/Pari"`},
		{"0 22 * * *", time.Hour, "Local", "timezone", "machine"},
	}
	for _, tt := range tests {
		_, err := NewWindow("w", tt.spec, tt.d, tt.tz)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("NewWindow(%q, %v, %q) = %v, want a *FieldError", tt.spec, tt.d, tt.tz, err)
			continue
		}
		if fe.Field != tt.field || !strings.Contains(fe.Error(), tt.mention) || !strings.HasPrefix(fe.Error(), tt.field+": ") {
			t.Errorf("NewWindow(%q, %v, %q) error = {%s, %q}, want field %s mentioning %q", tt.spec, tt.d, tt.tz, fe.Field, fe.Msg, tt.field, tt.mention)
		}
	}
}

func TestNextStart(t *testing.T) {
	weeknights := mustWindow(t, "0 22 * * 1-4", 4*time.Hour, "Europe/Paris")
	tests := []struct {
		name       string
		w          Window
		from, want string
	}{
		{"later the same day", weeknights, "2026-06-01T12:00:00+02:00", "2026-06-01T22:00:00+02:00"},
		{"strictly after", weeknights, "2026-06-01T22:00:00+02:00", "2026-06-02T22:00:00+02:00"},
		{"over the weekend", weeknights, "2026-06-04T23:00:00+02:00", "2026-06-08T22:00:00+02:00"},
		{"from another zone", weeknights, "2026-06-01T15:00:00-05:00", "2026-06-02T22:00:00+02:00"},
		{"winter offset", weeknights, "2026-12-01T00:00:00Z", "2026-12-01T22:00:00+01:00"},
		{"dom or dow", mustWindow(t, "0 0 13 * 5", time.Hour, "UTC"), "2026-03-01T00:00:00Z", "2026-03-06T00:00:00Z"}, // a Friday before the 13th
		{"leap day", mustWindow(t, "0 12 29 2 *", time.Hour, "UTC"), "2026-03-01T00:00:00Z", "2028-02-29T12:00:00Z"},
	}
	for _, tt := range tests {
		got, ok := tt.w.NextStart(ts(t, tt.from))
		if want := ts(t, tt.want); !ok || !got.Equal(want) {
			t.Errorf("%s: NextStart(%s) = %v, %v; want %v", tt.name, tt.from, got, ok, want)
		}
	}
	if got, _ := weeknights.NextStart(ts(t, "2026-06-01T12:00:00Z")); got.Location() != weeknights.Location {
		t.Errorf("NextStart returned a time in %v, want the window's zone", got.Location())
	}
}

// TestNextStartDST pins the DST rule from the package comment: a start in a
// spring-forward gap runs once, shifted forward by the gap; a start in a
// fall-back overlap runs once, at its first occurrence. In Paris the clock
// jumps 02:00->03:00 on 2026-03-29 and 03:00->02:00 on 2026-10-25 (so 02:30
// repeats and 01:30 does not); in New York 02:00->03:00 on 2026-03-08 and
// 02:00->01:00 on 2026-11-01 (so 01:30 repeats).
func TestNextStartDST(t *testing.T) {
	tests := []struct {
		name string
		tz   string
		spec string
		from string
		want []string
	}{
		{"Paris spring: 02:30 does not exist, runs at 03:30 CEST", "Europe/Paris", "30 2 * * *", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"Paris spring: searching from inside the jumped hour still finds it", "Europe/Paris", "30 2 * * *", "2026-03-29T03:10:00+02:00",
			[]string{"2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"Paris spring: shifted 02:30 and real 03:30 are one start", "Europe/Paris", "30 2,3 * * *", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-30T03:30:00+02:00"}},
		{"Paris fall: 02:30 happens twice, runs at the first", "Europe/Paris", "30 2 * * *", "2026-10-24T12:00:00+02:00",
			[]string{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		{"Paris fall: 01:30 is not repeated in Paris", "Europe/Paris", "30 1 * * *", "2026-10-24T12:00:00+02:00",
			[]string{"2026-10-25T01:30:00+02:00", "2026-10-26T01:30:00+01:00"}},
		{"New York spring: 02:30 does not exist, runs at 03:30 EDT", "America/New_York", "30 2 * * *", "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"New York fall: 01:30 happens twice, runs at the first", "America/New_York", "30 1 * * *", "2026-10-31T12:00:00-04:00",
			[]string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"New York fall: not again at the second 01:30", "America/New_York", "30 1 * * *", "2026-11-01T01:30:00-04:00",
			[]string{"2026-11-02T01:30:00-05:00"}},
		{"New York spring hourly: 02:00 folds onto 03:00", "America/New_York", "0 * * * *", "2026-03-08T00:30:00-05:00",
			[]string{"2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"}},
		{"New York fall hourly: one start per wall-clock time", "America/New_York", "0 * * * *", "2026-11-01T00:30:00-04:00",
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"}},
		{"Lord Howe: a half-hour jump, 02:15 runs at 02:45", "Australia/Lord_Howe", "15 2 * * *", "2026-10-03T12:00:00+10:30",
			[]string{"2026-10-04T02:45:00+11:00", "2026-10-05T02:15:00+11:00"}},
		{"Lord Howe: the Sunday after the change is kept", "Australia/Lord_Howe", "@weekly", "2026-04-05T00:00:00+11:00",
			[]string{"2026-04-12T00:00:00+10:30", "2026-04-19T00:00:00+10:30"}},
		{"Santiago: midnight does not exist, @daily runs at 01:00", "America/Santiago", "@daily", "2026-09-05T12:00:00-04:00",
			[]string{"2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00"}},
	}
	for _, tt := range tests {
		w := mustWindow(t, tt.spec, time.Hour, tt.tz)
		got := startsAfter(t, w, ts(t, tt.from), len(tt.want))
		for i, g := range got {
			if want := ts(t, tt.want[i]); !g.Equal(want) {
				t.Errorf("%s: start %d = %v, want %v", tt.name, i, g, want)
			}
		}
	}
}

// TestStartsOnePerInstant: when a shifted start lands on a real one (02:30
// moved onto 03:30 on a spring-forward night) the window starts once.
func TestStartsOnePerInstant(t *testing.T) {
	w := mustWindow(t, "30 2,3 * * *", time.Hour, "Europe/Paris")
	var got []string
	for s := range w.starts(ts(t, "2026-03-28T00:00:00+01:00"), ts(t, "2026-03-30T23:00:00+02:00")) {
		got = append(got, s.Format(time.RFC3339))
	}
	want := []string{
		"2026-03-28T02:30:00+01:00", "2026-03-28T03:30:00+01:00",
		"2026-03-29T03:30:00+02:00",
		"2026-03-30T02:30:00+02:00", "2026-03-30T03:30:00+02:00",
	}
	if !slices.Equal(got, want) {
		t.Errorf("starts = %q, want %q", got, want)
	}
}

// TestRobfigNextDSTBehaviour records why the package does not call
// robfig/cron's Next: it drops a start in a spring-forward gap and fires a
// start in a fall-back overlap twice, and after a half-hour change it can lose
// a whole week. If an upgrade changes this, revisit the
// choice (the rule in this package must not change silently).
func TestRobfigNextDSTBehaviour(t *testing.T) {
	next := func(tz, spec, from string) []time.Time {
		s, err := cron.ParseStandard(spec)
		if err != nil {
			t.Fatal(err)
		}
		s.(*cron.SpecSchedule).Location = mustLoc(t, tz)
		x := ts(t, from)
		var out []time.Time
		for range 2 {
			x = s.Next(x)
			out = append(out, x)
		}
		return out
	}
	got := next("Europe/Paris", "30 2 * * *", "2026-03-28T12:00:00+01:00")
	if want := ts(t, "2026-03-30T02:30:00+02:00"); !got[0].Equal(want) {
		t.Errorf("robfig Next on Paris spring-forward = %v; recorded behaviour: skips to %v", got[0], want)
	}
	got = next("America/New_York", "30 1 * * *", "2026-10-31T12:00:00-04:00")
	if want := ts(t, "2026-11-01T01:30:00-05:00"); !got[1].Equal(want) {
		t.Errorf("robfig Next on New York fall-back = %v; recorded behaviour: fires again at %v", got[1], want)
	}
	// From the Sunday start just before Lord Howe's half-hour fall-back, Next
	// goes astray in the repeated half hour and misses the following Sunday.
	got = next("Australia/Lord_Howe", "@weekly", "2026-04-05T00:00:00+11:00")
	if want := ts(t, "2026-04-19T00:00:00+10:30"); !got[0].Equal(want) {
		t.Errorf("robfig Next after Lord Howe fall-back = %v; recorded behaviour: skips to %v", got[0], want)
	}
}

// TestAgreesWithRobfig uses robfig/cron's Next as an oracle away from DST
// changes: there both must give the same starts. This also guards the copy of
// robfig's day-of-month/day-of-week rule and of its star bit.
func TestAgreesWithRobfig(t *testing.T) {
	specs := []string{
		"0 22 * * 1-4", "0 9 * * 1-5", "@daily", "@weekly", "@monthly", "@yearly", "@hourly",
		"*/15 3 * * *", "0 0 1,15 * 1", "0 0 13 * 5", "0 0 * * 0", "0 12 29 2 *", "0 0 31 * *",
		"30 2 * * *", "30 1 * * *", "5 4 * jan,jul sun", "0 0 ? * 6", "0 12 1-7 * *",
	}
	from := ts(t, "2026-01-01T00:00:00Z")
	until := ts(t, "2029-01-01T00:00:00Z")
	// Not Australia/Lord_Howe: robfig loses a whole week there (TestRobfigNextDSTBehaviour).
	for _, tz := range []string{"UTC", "Asia/Kolkata", "Europe/Paris", "America/New_York", "America/Santiago"} {
		loc := mustLoc(t, tz)
		// A DST day is any local date on which the offset changes.
		dstDay := func(x time.Time) bool {
			l := x.In(loc)
			_, a := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC).Add(-26 * time.Hour).In(loc).Zone()
			_, b := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC).Add(50 * time.Hour).In(loc).Zone()
			return a != b
		}
		for _, spec := range specs {
			w := mustWindow(t, spec, time.Hour, tz)
			var ours []time.Time
			for s := range w.starts(from, until) {
				if !dstDay(s) {
					ours = append(ours, s)
				}
			}
			p, _ := cron.ParseStandard(spec)
			p.(*cron.SpecSchedule).Location = loc
			var theirs []time.Time
			for x := p.Next(from.Add(-time.Second)); !x.IsZero() && !x.After(until); x = p.Next(x) {
				if !dstDay(x) {
					theirs = append(theirs, x)
				}
			}
			if len(ours) != len(theirs) {
				t.Errorf("%s in %s: %d starts, robfig %d", spec, tz, len(ours), len(theirs))
				continue
			}
			for i := range ours {
				if !ours[i].Equal(theirs[i]) {
					t.Errorf("%s in %s: start %d = %v, robfig %v", spec, tz, i, ours[i], theirs[i])
					break
				}
			}
		}
	}
}

func TestOpenAt(t *testing.T) {
	weeknights := mustWindow(t, "0 22 * * 1-4", 4*time.Hour, "Europe/Paris")
	tests := []struct {
		name   string
		w      Window
		at     string
		open   bool
		window [2]string
	}{
		{"at the start", weeknights, "2026-06-01T22:00:00+02:00", true, [2]string{"2026-06-01T22:00:00+02:00", "2026-06-02T02:00:00+02:00"}},
		{"past midnight", weeknights, "2026-06-02T01:59:59+02:00", true, [2]string{"2026-06-01T22:00:00+02:00", "2026-06-02T02:00:00+02:00"}},
		{"end is excluded", weeknights, "2026-06-02T02:00:00+02:00", false, [2]string{}},
		{"just before", weeknights, "2026-06-01T21:59:59+02:00", false, [2]string{}},
		{"Thursday's runs into Friday", weeknights, "2026-06-05T01:00:00+02:00", true, [2]string{"2026-06-04T22:00:00+02:00", "2026-06-05T02:00:00+02:00"}},
		{"no Friday start", weeknights, "2026-06-05T23:00:00+02:00", false, [2]string{}},
		{"asked in UTC", weeknights, "2026-06-01T20:30:00Z", true, [2]string{"2026-06-01T22:00:00+02:00", "2026-06-02T02:00:00+02:00"}},
		// Overlapping occurrences: the earliest containing the instant.
		{"overlap", mustWindow(t, "@daily", 36*time.Hour, "UTC"), "2026-06-02T06:00:00Z", true, [2]string{"2026-06-01T00:00:00Z", "2026-06-02T12:00:00Z"}},
	}
	for _, tt := range tests {
		at := ts(t, tt.at)
		got, open := tt.w.OpenAt(at)
		if open != tt.open {
			t.Errorf("%s: OpenAt(%s) open = %v, want %v", tt.name, tt.at, open, tt.open)
			continue
		}
		if !open {
			continue
		}
		if !got.Start.Equal(ts(t, tt.window[0])) || !got.End.Equal(ts(t, tt.window[1])) || !got.Contains(at) {
			t.Errorf("%s: OpenAt(%s) = [%v, %v), want [%s, %s)", tt.name, tt.at, got.Start, got.End, tt.window[0], tt.window[1])
		}
	}
}

// TestDurationAcrossDST: a window's duration is elapsed time. A 4h window
// starting at midnight on a DST night ends at 05:00 local after a spring jump
// and at 03:00 local after a fall-back, and is 4h long both times.
func TestDurationAcrossDST(t *testing.T) {
	tests := []struct {
		tz, start, end string
	}{
		{"Europe/Paris", "2026-03-29T00:00:00+01:00", "2026-03-29T05:00:00+02:00"},
		{"Europe/Paris", "2026-10-25T00:00:00+02:00", "2026-10-25T03:00:00+01:00"},
		{"America/New_York", "2026-03-08T00:00:00-05:00", "2026-03-08T05:00:00-04:00"},
		{"America/New_York", "2026-11-01T00:00:00-04:00", "2026-11-01T03:00:00-05:00"},
	}
	for _, tt := range tests {
		w := mustWindow(t, "@daily", 4*time.Hour, tt.tz)
		start, end := ts(t, tt.start), ts(t, tt.end)
		got, ok := w.OpenAt(end.Add(-time.Second))
		if !ok || !got.Start.Equal(start) || !got.End.Equal(end) || got.End.Sub(got.Start) != 4*time.Hour {
			t.Errorf("%s: OpenAt(%v) = [%v, %v), %v; want [%v, %v)", tt.tz, end.Add(-time.Second), got.Start, got.End, ok, start, end)
		}
		if _, ok := w.OpenAt(end); ok {
			t.Errorf("%s: still open at %v", tt.tz, end)
		}
	}
}

func TestNeverOpens(t *testing.T) {
	from := ts(t, "2026-03-01T00:00:00Z")
	tests := []struct {
		spec string
		want bool
	}{
		{"0 0 30 2 *", true},
		{"0 0 31 4 *", true},
		{"0 0 31 2,4,6,9,11 *", true},
		{"0 0 29 2 *", false}, // 2028 is a leap year
		{"@daily", false},
		{"0 22 * * 1-4", false},
	}
	for _, tt := range tests {
		if got := mustWindow(t, tt.spec, time.Hour, "Europe/Paris").NeverOpens(from); got != tt.want {
			t.Errorf("NeverOpens(%q) = %v, want %v", tt.spec, got, tt.want)
		}
	}
	if !(Window{}).NeverOpens(from) {
		t.Error("the zero Window opens")
	}
	w := mustWindow(t, "@daily", time.Hour, "UTC")
	w.Duration = 0
	if !w.NeverOpens(from) {
		t.Error("a zero-duration window opens")
	}
	if _, ok := w.OpenAt(from); ok {
		t.Error("a zero-duration window is open")
	}
}

func TestMaxGap(t *testing.T) {
	monday := ts(t, "2026-06-01T00:00:00+02:00")
	tests := []struct {
		name    string
		w       Window
		from    time.Time
		horizon time.Duration
		want    time.Duration
	}{
		// Mon-Thu 22:00-02:00: 20h between weeknights, Fri 02:00 to Mon 22:00 over the weekend.
		{"weeknights", mustWindow(t, "0 22 * * 1-4", 4*time.Hour, "Europe/Paris"), monday, Week, 3*Day + 20*time.Hour},
		// Mon-Fri 09:00-17:00: 16h overnight, Fri 17:00 to Mon 09:00 over the weekend.
		{"office hours", mustWindow(t, "0 9 * * 1-5", 8*time.Hour, "Europe/Paris"), monday, Week, 2*Day + 16*time.Hour},
		{"office hours, one day only", mustWindow(t, "0 9 * * 1-5", 8*time.Hour, "Europe/Paris"), monday, Day, 16 * time.Hour},
		{"always open", mustWindow(t, "@daily", 24*time.Hour, "UTC"), monday, Week, 0},
		{"overlapping", mustWindow(t, "@daily", 36*time.Hour, "UTC"), monday, Week, 0},
		{"never", mustWindow(t, "0 0 30 2 *", time.Hour, "UTC"), monday, Week, math.MaxInt64},
		{"nothing within the horizon", mustWindow(t, "@yearly", time.Hour, "UTC"), monday, Week, ts(t, "2027-01-01T00:00:00Z").Sub(monday)},
		// Elapsed time: the night of the fall-back is 25h long, so the gap between 1h daily windows is 24h, not 23h.
		{"fall-back night", mustWindow(t, "@daily", time.Hour, "Europe/Paris"), ts(t, "2026-10-23T00:00:00+02:00"), 4 * Day, 24 * time.Hour},
		{"spring-forward night", mustWindow(t, "@daily", time.Hour, "Europe/Paris"), ts(t, "2026-03-27T00:00:00+01:00"), 4 * Day, 23 * time.Hour},
	}
	for _, tt := range tests {
		if got := tt.w.MaxGap(tt.from, tt.horizon); got != tt.want {
			t.Errorf("%s: MaxGap = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func BenchmarkNewWindow(b *testing.B) {
	for b.Loop() {
		if _, err := NewWindow("w", "0 22 * * 1-4", 4*time.Hour, "Europe/Paris"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenAt(b *testing.B) {
	w := mustWindow(b, "0 22 * * 1-4", 4*time.Hour, "Europe/Paris")
	at := ts(b, "2026-06-01T23:00:00+02:00")
	for b.Loop() {
		w.OpenAt(at)
	}
}
