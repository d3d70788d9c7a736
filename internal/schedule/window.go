package schedule

import (
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// searchSpan is how far ahead a start is looked for before a window is declared
// to never open; robfig/cron uses the same five years.
const searchSpan = 5 * 366 * Day

// maxOffset bounds the distance between a wall-clock reading and its instant.
// Real UTC offsets stay within -12h..+14h; the margin keeps the start iterator
// correct without reasoning about any particular zone.
const maxOffset = 26 * time.Hour

// starBit is robfig/cron's marker for a field written as "*" (or "?"); it makes
// day-of-month and day-of-week combine with AND instead of OR, as in crontab(5).
// robfig does not export it; TestAgreesWithRobfig guards the copy.
const starBit = 1 << 63

// FieldError is a window definition error tied to one field, so the inventory
// loader can point at the right YAML node. Field is "cron", "duration" or
// "timezone" (and "from" or "to" for freezes).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Interval is the half-open span [Start, End).
type Interval struct {
	Start, End time.Time
}

// Contains reports whether t lies in [Start, End).
func (i Interval) Contains(t time.Time) bool {
	return !t.Before(i.Start) && t.Before(i.End)
}

// Window is a change window: it opens at every wall-clock time matched by a
// 5-field cron Spec in Location and stays open for Duration of elapsed time.
// Build it with NewWindow; the zero Window never opens. A Window is immutable
// and safe for concurrent use.
type Window struct {
	Name     string
	Spec     string
	Duration time.Duration
	Location *time.Location

	sched   *cron.SpecSchedule
	hours   []int // the hours and minutes of the spec, ascending, unpacked
	minutes []int // once here instead of on every search
}

// NewWindow parses a window definition. spec is a standard 5-field cron
// expression ("0 22 * * 1-4") or a descriptor ("@daily", "@weekly"); tz is an
// IANA zone name. Callers that have a default zone pass its name: an empty tz
// is an error, not UTC. Errors are *FieldError.
//
// "@every" is rejected because it counts elapsed time from whenever the
// process started rather than naming wall-clock times, and a "TZ=" prefix in
// the spec is rejected because the zone has its own field.
func NewWindow(name, spec string, d time.Duration, tz string) (Window, error) {
	return Zones(nil).NewWindow(name, spec, d, tz)
}

// Zones remembers the time zones it has loaded, for a caller that builds many windows (an
// inventory with thousands of job schedules): time.LoadLocation reads and parses the zone's
// rules again on every call, and each result holds its own copy of them. Make it with make;
// a nil Zones loads every time. It is not safe for concurrent use.
type Zones map[string]*time.Location

// NewWindow is NewWindow, with each zone loaded once.
func (z Zones) NewWindow(name, spec string, d time.Duration, tz string) (Window, error) {
	w := Window{Name: name, Spec: spec, Duration: d}
	trimmed := strings.TrimSpace(spec)
	switch {
	case trimmed == "":
		return Window{}, &FieldError{"cron", "empty cron expression; write e.g. \"0 22 * * 1-4\" or \"@daily\""}
	case strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ="):
		return Window{}, &FieldError{"cron", "time zone prefix in the cron expression; set the zone in the timezone field"}
	case strings.HasPrefix(trimmed, "@every"):
		return Window{}, &FieldError{"cron", "@every is not supported: a window starts at wall-clock times; use a cron expression such as \"0 */6 * * *\""}
	}
	parsed, err := cron.ParseStandard(trimmed)
	if err != nil {
		return Window{}, &FieldError{"cron", fmt.Sprintf("invalid cron expression %q: %v", spec, err)}
	}
	sched, ok := parsed.(*cron.SpecSchedule)
	if !ok || sched.Second&^starBit != 1 {
		return Window{}, &FieldError{"cron", fmt.Sprintf("unsupported cron expression %q: use 5 fields (minute hour day-of-month month day-of-week)", spec)}
	}
	w.sched = sched
	w.hours = bitsSet(sched.Hour, 0, 23)
	w.minutes = bitsSet(sched.Minute, 0, 59)

	if d <= 0 {
		return Window{}, &FieldError{"duration", fmt.Sprintf("duration must be positive, got %s", FormatDuration(d))}
	}

	switch tz {
	case "":
		return Window{}, &FieldError{"timezone", "missing time zone; name an IANA zone such as Europe/Paris or UTC"}
	case "Local":
		// time.LoadLocation accepts it, but it means whatever the host says.
		return Window{}, &FieldError{"timezone", "\"Local\" depends on the machine running rotor; name an IANA zone such as Europe/Paris or UTC"}
	}
	loc, ok := z[tz]
	if !ok {
		var err error
		if loc, err = time.LoadLocation(tz); err != nil {
			return Window{}, &FieldError{"timezone", fmt.Sprintf("unknown time zone %q; use an IANA name such as Europe/Paris or America/New_York", tz)}
		}
		if z != nil {
			z[tz] = loc
		}
	}
	w.Location = loc
	return w, nil
}

// NextStart returns the first start strictly after after, or false if the
// window has no start in the following five years.
func (w Window) NextStart(after time.Time) (time.Time, bool) {
	for s := range w.starts(after, after.Add(searchSpan)) {
		if s.After(after) {
			return s, true
		}
	}
	return time.Time{}, false
}

// OpenAt reports whether t lies inside an occurrence [start, start+Duration)
// and returns it. When occurrences overlap (Duration longer than the time
// between starts) the earliest one containing t is returned.
func (w Window) OpenAt(t time.Time) (Interval, bool) {
	if w.Duration <= 0 {
		return Interval{}, false
	}
	for s := range w.starts(t.Add(-w.Duration), t) {
		if end := s.Add(w.Duration); end.After(t) {
			return Interval{s, end}, true
		}
	}
	return Interval{}, false
}

// NeverOpens reports whether the window cannot open: no start within five
// years of from (say "0 0 30 2 *") or no positive duration.
func (w Window) NeverOpens(from time.Time) bool {
	if w.Duration <= 0 {
		return true
	}
	_, ok := w.NextStart(from)
	return !ok
}

// MaxGap returns the longest closed stretch between the end of one opening
// and the start of the next, for the openings that start within
// [from, from+horizon] (and the one open at from, if any). The stretch after
// the last of them is measured up to the following start even beyond the
// horizon, so one period of the cron is horizon enough: a weekly window needs
// a horizon of a week. Overlapping openings count as one. A window that never
// opens, or stops opening, gives math.MaxInt64; callers check NeverOpens first
// to say so in words.
//
// The inventory validator uses it to reject a policy that cannot be met, such
// as rotating every day in a weekly window.
func (w Window) MaxGap(from time.Time, horizon time.Duration) time.Duration {
	if w.Duration <= 0 {
		return math.MaxInt64
	}
	until := from.Add(horizon)
	var gap time.Duration
	var covered time.Time // end of the openings seen so far
	seen := false
	for s := range w.starts(from.Add(-w.Duration), until.Add(searchSpan)) {
		switch {
		case seen && s.After(covered):
			gap = max(gap, s.Sub(covered))
		case !seen && s.After(until):
			// Nothing opens within the horizon at all.
			return s.Sub(from)
		}
		if end := s.Add(w.Duration); !seen || end.After(covered) {
			covered = end
		}
		seen = true
		if s.After(until) {
			return gap
		}
	}
	return math.MaxInt64
}

// starts yields the window's starts in [from, until], in increasing order and
// without duplicates.
//
// robfig/cron's Next is not used: it skips a start that falls in a
// spring-forward gap and fires twice in a fall-back overlap (see
// TestRobfigDSTBehaviour). Instead the parsed fields are walked one wall-clock
// day at a time and each matching reading is turned into an instant by atWall.
// Because a reading in a gap moves forward, instants are not always in the
// order of their readings; they are buffered until no later day can produce an
// earlier one.
func (w Window) starts(from, until time.Time) iter.Seq[time.Time] {
	return func(yield func(time.Time) bool) {
		if w.sched == nil || w.Location == nil || until.Before(from) {
			return
		}
		// Calendar days are walked as UTC midnights: date arithmetic with no DST.
		local := from.In(w.Location)
		day := time.Date(local.Year(), local.Month(), local.Day()-2, 0, 0, 0, 0, time.UTC)
		var pending []time.Time
		var last time.Time
		emit := func(limit time.Time) bool {
			slices.SortFunc(pending, time.Time.Compare)
			n := 0
			for ; n < len(pending) && pending[n].Before(limit); n++ {
				s := pending[n]
				if s.Equal(last) { // two readings for one instant, as 02:30 shifted onto 03:30
					continue
				}
				if s.After(until) || !yield(s) {
					return false
				}
				last = s
			}
			pending = append(pending[:0], pending[n:]...)
			return true
		}
		for {
			if w.dayMatches(day) {
				for _, h := range w.hours {
					for _, m := range w.minutes {
						if s := atWall(day.Year(), day.Month(), day.Day(), h, m, w.Location); !s.Before(from) {
							pending = append(pending, s)
						}
					}
				}
			}
			day = day.AddDate(0, 0, 1)
			// Every reading from day onwards maps to an instant after this bound.
			bound := day.Add(-maxOffset)
			if !emit(bound) || bound.After(until) {
				return
			}
		}
	}
}

// dayMatches applies the date fields of the spec to a calendar day, with
// robfig/cron's (and crontab's) rule: if either day field is "*", both must
// match; otherwise either may.
func (w Window) dayMatches(day time.Time) bool {
	s := w.sched
	if 1<<uint(day.Month())&s.Month == 0 {
		return false
	}
	dom := 1<<uint(day.Day())&s.Dom != 0
	dow := 1<<uint(day.Weekday())&s.Dow != 0
	if s.Dom&starBit != 0 || s.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

func bitsSet(bits uint64, lo, hi int) []int {
	var out []int
	for i := lo; i <= hi; i++ {
		if bits&(1<<uint(i)) != 0 {
			out = append(out, i)
		}
	}
	return out
}
