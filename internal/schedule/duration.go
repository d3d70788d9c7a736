package schedule

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Day and Week are the fixed-length units accepted by ParseDuration. They are
// elapsed time, not calendar days: "90d" across a DST change is 2160 hours.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// durationUnits lists the accepted units, largest first (the order FormatDuration writes them).
var durationUnits = []struct {
	name string
	size time.Duration
}{
	{"w", Week}, {"d", Day}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second},
}

const acceptedUnits = "s, m, h, d, w"

// ParseDuration parses a non-negative duration written as a sequence of
// integer-and-unit terms, such as "30m", "24h", "90d", "2w", "1d12h" or "1h30m".
// Units are s, m, h, d (24h) and w (7d). Terms may repeat and come in any order,
// as with time.ParseDuration; their values add up. Signs, fractions, spaces,
// bare numbers and other units are rejected, as is a total that overflows
// time.Duration (about 292 years).
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration; write e.g. 90d, 24h or 30m")
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("invalid duration %q: negative durations are not allowed", s)
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && isDigit(rest[i]) {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q: expected a number at %q", s, rest)
		}
		digits := rest[:i]
		rest = rest[i:]
		if rest != "" && rest[0] == '.' {
			return 0, fmt.Errorf("invalid duration %q: fractions are not supported; combine units instead, e.g. 1h30m", s)
		}
		j := 0
		for j < len(rest) && !isDigit(rest[j]) {
			j++
		}
		unit := rest[:j]
		rest = rest[j:]
		if unit == "" {
			return 0, fmt.Errorf("invalid duration %q: missing unit after %s (accepted units: %s)", s, digits, acceptedUnits)
		}
		size, ok := unitSize(unit)
		if !ok {
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q (accepted units: %s)", s, unit, acceptedUnits)
		}
		n, ok := parseUint(digits)
		if !ok || n > uint64(math.MaxInt64/size) {
			return 0, fmt.Errorf("invalid duration %q: too large (the maximum is about 292 years)", s)
		}
		term := time.Duration(n) * size
		if total > math.MaxInt64-term {
			return 0, fmt.Errorf("invalid duration %q: too large (the maximum is about 292 years)", s)
		}
		total += term
	}
	return total, nil
}

// FormatDuration writes d in the form ParseDuration reads, so that
// ParseDuration(FormatDuration(d)) == d. Whole days are written in weeks when
// they are a whole number of weeks ("2w") and in days otherwise ("90d", not
// "12w6d"); the rest is hours, minutes and seconds with zero terms left out
// ("1d12h", "4h", "1h30m"). Zero is "0s".
//
// Negative durations and durations with a sub-second part cannot be written
// in that syntax; they fall back to time.Duration.String so that nothing is hidden.
func FormatDuration(d time.Duration) string {
	if d < 0 || d%time.Second != 0 {
		return d.String()
	}
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	days := d / Day
	d -= days * Day
	switch {
	case days == 0:
	case days%7 == 0:
		fmt.Fprintf(&b, "%dw", days/7)
	default:
		fmt.Fprintf(&b, "%dd", days)
	}
	for _, u := range durationUnits[2:] {
		if n := d / u.size; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.size
		}
	}
	return b.String()
}

func unitSize(name string) (time.Duration, bool) {
	for _, u := range durationUnits {
		if u.name == name {
			return u.size, true
		}
	}
	return 0, false
}

// parseUint parses ASCII digits, reporting false on overflow of uint64.
func parseUint(digits string) (uint64, bool) {
	var n uint64
	for i := 0; i < len(digits); i++ {
		d := uint64(digits[i] - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
