package evidence

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

func TestObserve(t *testing.T) {
	now := time.Date(2026, 11, 30, 22, 30, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		name             string
		since            time.Time
		length, least    time.Duration
		from, completeAt time.Time
	}{
		{"since the cutover", ago(time.Hour), 0, 0, ago(time.Hour), time.Time{}},
		{"since the cutover, the first bin complete", ago(time.Hour), 0, 5 * time.Minute, ago(time.Hour), time.Time{}},
		{"right after the cutover: complete at the first bin's end", ago(time.Minute), 0, 5 * time.Minute, ago(time.Minute), now.Add(4 * time.Minute)},
		{"the last length, after the cutover", ago(time.Hour), 10 * time.Minute, 5 * time.Minute, ago(10 * time.Minute), time.Time{}},
		{"a length reaching before the cutover is not full", ago(5 * time.Minute), 20 * time.Minute, time.Minute, ago(5 * time.Minute), now.Add(15 * time.Minute)},
		{"full the instant it has its length", ago(20 * time.Minute), 20 * time.Minute, 0, ago(20 * time.Minute), time.Time{}},
		{"no cutover: the last length", time.Time{}, 20 * time.Minute, 0, ago(20 * time.Minute), time.Time{}},
		{"no cutover and no length: no start", time.Time{}, 0, 5 * time.Minute, time.Time{}, time.Time{}},
		{"a cutover ahead of now", now.Add(time.Minute), 0, 0, now.Add(time.Minute), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := Observe(tc.since, now, tc.length, tc.least)
			if !w.From.Equal(tc.from) || !w.To.Equal(now) || !w.CompleteAt.Equal(tc.completeAt) {
				t.Errorf("Observe = %+v, want from %s to %s complete at %s", w, tc.from, now, tc.completeAt)
			}
			if w.Full() != tc.completeAt.IsZero() {
				t.Errorf("Full() = %v with CompleteAt %s", w.Full(), w.CompleteAt)
			}
			if iv := w.Interval(); !iv.From.Equal(w.From) || !iv.To.Equal(now) {
				t.Errorf("Interval() = %+v", iv)
			}
		})
	}
}

type config struct{ bad bool }

func (c *config) Validate() []provider.FieldError {
	if c.bad {
		return []provider.FieldError{{Field: "url", Msg: "is wrong"}, {Field: "max", Msg: "is missing"}}
	}
	return nil
}

func TestValidated(t *testing.T) {
	if err := Validated("x check", &config{}); err != nil {
		t.Errorf("valid: %v", err)
	}
	err := Validated("x check", &config{bad: true})
	if provider.KindOf(err) != provider.Terminal || err.Error() != "x check: invalid configuration: url: is wrong" {
		t.Errorf("invalid: %v (%s), want the first problem, Terminal", err, provider.KindOf(err))
	}
	err = Validated[config]("x check", nil)
	if provider.KindOf(err) != provider.Terminal || err.Error() != "x check: no configuration" {
		t.Errorf("nil: %v", err)
	}
}

func TestNow(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	env := provider.Env{Now: func() time.Time { return clock }}
	if got := Now(provider.CheckRequest{Now: at}, env); !got.Equal(at) {
		t.Errorf("request's now: %s", got)
	}
	if got := Now(provider.CheckRequest{}, env); !got.Equal(clock) {
		t.Errorf("env's clock: %s", got)
	}
	if got := Now(provider.CheckRequest{}, provider.Env{}); time.Since(got).Abs() > time.Minute {
		t.Errorf("no clock: %s, want about now", got)
	}
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		fails, unknowns []string
		verdict         provider.Verdict
		reason          string
	}{
		{[]string{"a", "b"}, []string{"c"}, provider.Fail, "a; b"},
		{nil, []string{"c", "d"}, provider.Unknown, "c; d"},
		{nil, nil, provider.Pass, "fine"},
	} {
		if v, r := Judge(tc.fails, tc.unknowns, "fine"); v != tc.verdict || r != tc.reason {
			t.Errorf("Judge(%q, %q) = %s %q, want %s %q", tc.fails, tc.unknowns, v, r, tc.verdict, tc.reason)
		}
	}
}

func TestCountLimitsDescribe(t *testing.T) {
	three := 3
	got := CountLimits{Max: &three, MaxRate: 0.125, MaxIncrease: 2}.Describe(true, "the cutover")
	want := "at most 3 matching lines per bin and group; at most 12.5% of a bin's lines matching; at most 2.00x the matching lines of the same length of time before the cutover"
	if got != want {
		t.Errorf("Describe\n got %s\nwant %s", got, want)
	}
	if got := (CountLimits{Max: &three}).Describe(false, "x"); got != "at most 3 matching lines per bin" {
		t.Errorf("max alone: %q", got)
	}
}

// The limits' rule, as the log and logsql checks report it for their keys.
func TestCountLimitsProblems(t *testing.T) {
	zero, minus := 0, -1
	for _, tc := range []struct {
		name   string
		limits CountLimits
		want   string // "field: msg" joined by "; ", "" for none
	}{
		{"max 0", CountLimits{Max: &zero}, ""},
		{"rate and increase", CountLimits{MaxRate: 1, MaxIncrease: 0.5}, ""},
		{"none", CountLimits{}, "max: a log check needs a threshold: max, max_rate or max_increase"},
		{"negative max", CountLimits{Max: &minus}, "max: is a count, 0 or more"},
		{"rate above 1", CountLimits{MaxRate: 1.5}, "max_rate: is a fraction of a bin's lines, above 0 and at most 1"},
		{"negative rate", CountLimits{MaxRate: -0.1}, "max_rate: is a fraction of a bin's lines, above 0 and at most 1"},
		{"NaN rate", CountLimits{MaxRate: math.NaN()}, "max_rate: is a fraction of a bin's lines, above 0 and at most 1"},
		{"negative increase", CountLimits{MaxIncrease: -1}, "max_increase: is a ratio, above 0"},
		{"NaN increase", CountLimits{Max: &zero, MaxIncrease: math.NaN()}, "max_increase: is a ratio, above 0"},
	} {
		var got []string
		for _, fe := range tc.limits.Problems("log") {
			got = append(got, fe.Error())
		}
		if s := strings.Join(got, "; "); s != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, s, tc.want)
		}
	}
}

func TestWords(t *testing.T) {
	now := time.Date(2026, 11, 30, 22, 30, 0, 0, time.FixedZone("CET", 3600))
	for i, tc := range []struct{ got, want string }{
		{Stamp(time.Date(2026, 11, 30, 23, 30, 1, 500e6, time.FixedZone("CET", 3600))), "2026-11-30T22:30:01Z"},
		{StampMilli(time.Date(2026, 11, 30, 23, 30, 1, 500e6, time.FixedZone("CET", 3600))), "2026-11-30T22:30:01.5Z"},
		{Duration(5 * time.Minute), "5m"},
		{Duration(2 * time.Hour), "2h"},
		{Duration(90 * time.Second), "1m30s"},
		{BinLabel(now.Add(-time.Hour), now), "20:30 UTC"},
		{BinLabel(now.Add(-24*time.Hour), now), "2026-11-29 21:30 UTC"},
		{GroupLabel([]string{"host", "status"}, []string{"h1", "401"}), " (host=h1, status=401)"},
		{GroupLabel(nil, nil), ""},
		{Count(1, "matching line"), "1 matching line"},
		{Count(0, "matching line"), "0 matching lines"},
		{Percent(0.75), "75%"},
		{Percent(1.0 / 3), "33.33%"},
		{Ratio(4), "4.00"},
		{Number(2.5), "2.5"},
		{Number(1e21), "1e+21"},
		{OneLine("a\n  b\tc", 100), "a b c"},
		{OneLine("héllo", 2), "h…"},
	} {
		if tc.got != tc.want {
			t.Errorf("%d: got %q, want %q", i, tc.got, tc.want)
		}
	}
}

func TestRoundCount(t *testing.T) {
	for v, want := range map[float64]int{2.5: 3, -2.5: -3, 0.004: 0, 1e300: math.MaxInt, -1e300: math.MinInt, math.Inf(1): math.MaxInt} {
		if got := RoundCount(v); got != want {
			t.Errorf("RoundCount(%g) = %d, want %d", v, got, want)
		}
	}
}
