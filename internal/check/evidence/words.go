package evidence

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// The words of evidence: how results write what was seen. Checks share them so that a
// change ticket reads the same whichever check wrote it; each is plain formatting, with no
// judgement in it.

// Stamp writes an instant in UTC, to the second (RFC 3339).
func Stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// StampMilli writes an instant in UTC, to the millisecond when it has any (the resolution
// of a metric point).
func StampMilli(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999Z07:00") }

// Duration writes d the short way, 5m and 1h rather than 5m0s and 1h0m0s.
func Duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// BinLabel names a time bin by its start, in UTC: the time of day, with the date in front
// when it is not now's date.
func BinLabel(start, now time.Time) string {
	start = start.UTC()
	if y, m, d := now.UTC().Date(); start.Year() == y && start.Month() == m && start.Day() == d {
		return start.Format("15:04 UTC")
	}
	return start.Format("2006-01-02 15:04 UTC")
}

// GroupLabel names a group of counts, " (host=h1, status=401)" for the fields by and their
// values group (the same length), with its leading space; "" when nothing is grouped.
func GroupLabel(by, group []string) string {
	if len(by) == 0 {
		return ""
	}
	parts := make([]string, len(by))
	for i, f := range by {
		parts[i] = f + "=" + group[i]
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// Count writes n and its noun, with an s unless n is one: "3 matching lines".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// Percent writes a fraction as a percentage with at most two decimals: 0.75 is "75%".
func Percent(f float64) string {
	return strconv.FormatFloat(math.Round(f*10000)/100, 'f', -1, 64) + "%"
}

// Ratio writes a ratio with two decimals, as in "4.00x".
func Ratio(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// Number writes a measured value exactly, in the shortest form that reads back the same.
func Number(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// RoundCount is a measured value as a Bin's whole Count: rounded to the nearest integer,
// saturating at the ends of int.
func RoundCount(v float64) int {
	switch r := math.Round(v); {
	case r >= math.MaxInt:
		return math.MaxInt
	case r <= math.MinInt:
		return math.MinInt
	default:
		return int(r)
	}
}

// OneLine is a server's text as a result quotes it: on one line, cut to n bytes (with …,
// never inside a UTF-8 sequence).
func OneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}
