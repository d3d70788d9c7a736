package schedule

import (
	"errors"
	"fmt"
	"time"
)

// Date is a calendar day with no zone, as written in the inventory
// ("2026-12-19").
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses a YYYY-MM-DD calendar day, rejecting days that do not
// exist (2026-02-30).
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("invalid date %q: want an existing day written YYYY-MM-DD", s)
	}
	return Date{t.Year(), t.Month(), t.Day()}, nil
}

func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// valid reports whether d names an existing day (Date is a plain struct, so
// one built by hand may not).
func (d Date) valid() bool {
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
	return t.Year() == d.Year && t.Month() == d.Month && t.Day() == d.Day
}

// start returns the first instant of d in loc. Midnight can fall in a DST gap
// in some zones; atWall then gives the instant the clock jumps.
func (d Date) start(loc *time.Location) time.Time {
	return atWall(d.Year, d.Month, d.Day, 0, 0, loc)
}

// Freeze is a period when no window occurrence may start: the half-open span
// of instants [From, To).
type Freeze struct {
	From, To time.Time
	Reason   string
}

// Contains reports whether t lies in [From, To).
func (f Freeze) Contains(t time.Time) bool {
	return !t.Before(f.From) && t.Before(f.To)
}

// FreezeDates builds a freeze from inclusive whole days in loc: 2026-12-19 to
// 2027-01-04 covers [2026-12-19 00:00, 2027-01-05 00:00) in loc. A freeze of
// one day has from == to. Date errors are *FieldError with Field "from" or
// "to".
func FreezeDates(from, to Date, loc *time.Location, reason string) (Freeze, error) {
	switch {
	case loc == nil:
		return Freeze{}, errors.New("freeze: no time zone given")
	case !from.valid():
		return Freeze{}, &FieldError{"from", fmt.Sprintf("%s is not a calendar day", from)}
	case !to.valid():
		return Freeze{}, &FieldError{"to", fmt.Sprintf("%s is not a calendar day", to)}
	}
	end := Date{to.Year, to.Month, to.Day + 1} // normalised by time.Date inside start
	f := Freeze{From: from.start(loc), To: end.start(loc), Reason: reason}
	if f.To.Compare(f.From) <= 0 {
		return Freeze{}, &FieldError{"to", fmt.Sprintf("freeze ends on %s, before it starts on %s", to, from)}
	}
	return f, nil
}

// ActiveFreeze returns the freeze in force at t. When several overlap, it
// returns the one that ends last, so "frozen until" is as late as it truly is
// among the overlapping ones.
func ActiveFreeze(freezes []Freeze, t time.Time) (Freeze, bool) {
	var best Freeze
	found := false
	for _, f := range freezes {
		if f.Contains(t) && (!found || f.To.After(best.To)) {
			best, found = f, true
		}
	}
	return best, found
}
