package schedule

import "time"

// atWall returns the instant at which the clock in loc reads y-mo-d h:mi, with
// the RFC 5545 rule described in the package comment: a reading that does not
// exist (a spring-forward gap) is taken with the offset in force before the
// jump, which moves it forward by the gap; a reading that happens twice (a
// fall-back overlap) is taken at its first occurrence.
//
// time.Date is not enough: its documentation leaves both cases unspecified, and
// in practice it moves a Paris gap forward but a New York gap backward, and
// picks the second occurrence in Paris but the first in New York.
func atWall(y int, mo time.Month, d, h, mi int, loc *time.Location) time.Time {
	t := time.Date(y, mo, d, h, mi, 0, 0, loc)
	start, end := t.ZoneBounds()
	// Far from any change of offset the reading is unique and time.Date is right.
	// (No zone has ever jumped by more than a day.)
	near := func(b time.Time) bool { return !b.IsZero() && t.Sub(b).Abs() <= 2*Day }
	if !near(start) && !near(end) {
		return t
	}
	want := time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
	got := reading(t)
	switch {
	case got.Equal(want):
		// The reading exists. If the offset before this zone period also
		// produces it, it happens twice: keep the earlier instant.
		if !start.IsZero() {
			_, before := start.Add(-time.Second).Zone()
			if e := want.Add(-time.Duration(before) * time.Second).In(loc); e.Before(t) && reading(e).Equal(want) {
				return e
			}
		}
		return t
	case got.After(want):
		// In a gap, and time.Date used the offset from before the jump: the
		// instant is after the jump and the clock reads later than asked. That is
		// the rule.
		return t
	default:
		// In a gap, and time.Date used the offset from after the jump, landing
		// before it. t's own offset is the one from before the jump; apply it.
		_, before := t.Zone()
		return want.Add(-time.Duration(before) * time.Second).In(loc)
	}
}

// reading returns what a clock in t's zone shows at t, as a UTC time, so that
// readings from different offsets can be compared.
func reading(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}
