package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0s", 0},
		{"45s", 45 * time.Second},
		{"30m", 30 * time.Minute},
		{"24h", 24 * time.Hour},
		{"90d", 90 * 24 * time.Hour},
		{"2w", 14 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{"1w2d3h4m5s", (9*24+3)*time.Hour + 4*time.Minute + 5*time.Second},
		{"007m", 7 * time.Minute},
		{"30m1h", 90 * time.Minute}, // any order, as time.ParseDuration
		{"1h1h", 2 * time.Hour},     // terms add up, as time.ParseDuration
		{"15250w", 15250 * Week},    // the largest whole number of weeks
		{"9223372036s", 9223372036 * time.Second},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct {
		in      string
		mention string // the error must say this, so the user knows what to fix
	}{
		{"", "empty"},
		{"-1h", "negative"},
		{"+1h", "expected a number"},
		{"1.5h", "fractions"},
		{"5y", `unknown unit "y" (accepted units: s, m, h, d, w)`},
		{"5ms", `unknown unit "ms"`},
		{"1H", `unknown unit "H"`},
		{"30", "missing unit after 30"},
		{"1h30", "missing unit after 30"},
		{"h", "expected a number"},
		{"1h 30m", `unknown unit "h "`},
		{" 1h", "expected a number"},
		{"15251w", "too large"},
		{"9223372037s", "too large"},
		{"99999999999999999999999s", "too large"},
		{"15250w15250w", "too large"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", tt.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("ParseDuration(%q) error %q does not mention %q", tt.in, err, tt.mention)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{time.Second, "1s"},
		{61 * time.Second, "1m1s"},
		{4 * time.Hour, "4h"},
		{90 * time.Minute, "1h30m"},
		{36 * time.Hour, "1d12h"},
		{Day, "1d"},
		{15 * Day, "15d"},
		{90 * Day, "90d"}, // not 12w6d
		{14 * Day, "2w"},
		{14*Day + 12*time.Hour, "2w12h"},
		{Week + time.Second, "1w1s"},
		// Outside the syntax: falls back to Go's form rather than lying.
		{-time.Hour, "-1h0m0s"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{
		0, time.Second, 59 * time.Second, time.Minute, time.Hour, 23 * time.Hour, Day, 6 * Day,
		Week, 8 * Day, 90 * Day, 365 * Day, 4*Week + 3*Day + 2*time.Hour + time.Minute + time.Second,
		15250 * Week, (1<<63 - 1) / time.Second * time.Second,
	} {
		s := FormatDuration(d)
		got, err := ParseDuration(s)
		if err != nil || got != d {
			t.Errorf("ParseDuration(FormatDuration(%d)) = ParseDuration(%q) = %v, %v", d, s, got, err)
		}
	}
}

// FuzzParseDuration checks that ParseDuration never panics, never returns a
// negative duration, and that what it accepts survives a format/parse round
// trip with a stable canonical form.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30m", "24h", "90d", "2w", "1d12h", "1h30m", "0s", "5y", "-1h", "1.5h", "", "15250w", "1h1h", "9223372037s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		canon := FormatDuration(d)
		d2, err := ParseDuration(canon)
		if err != nil || d2 != d {
			t.Fatalf("ParseDuration(%q) = %v, but its form %q parses to %v, %v", s, d, canon, d2, err)
		}
		if again := FormatDuration(d2); again != canon {
			t.Fatalf("canonical form of %q is unstable: %q then %q", s, canon, again)
		}
	})
}
