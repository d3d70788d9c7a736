// Package schedule decides when rotor may act: change windows (a cron start, a
// duration and a time zone), freezes (dated periods when nothing starts) and the
// durations written in the inventory ("90d", "4h").
//
// The package is pure: no I/O and no clock. Every function takes the instant it
// reasons about, so the plan command, the rotation engine's window gate and the
// tests can all ask "what if it were 2026-12-20 22:00 in Paris?".
//
// # Time rules
//
// Window starts are wall-clock times in the window's zone; durations are elapsed
// time. Where the zone's clock jumps, this package follows RFC 5545 (iCalendar,
// section 3.3.5) instead of robfig/cron's Next, which silently drops a start that
// falls in a spring-forward gap and fires twice in a fall-back overlap:
//
//   - a start whose wall time does not exist (02:30 on a spring-forward night)
//     runs once, at the instant the clock would show had it not jumped: shifted
//     forward by the gap (02:30 -> 03:30 summer time);
//   - a start whose wall time happens twice (01:30 on a fall-back night in New
//     York) runs once, at the first occurrence;
//   - the window then lasts its Duration of elapsed time, so a 4h window that
//     spans the change is still 4 hours long even though the wall clock moved by
//     3 or 5.
//
// The same rule applies to every minute of the spec, so "0 * * * *" has no start
// in the repeated hour after 01:00 summer time: one start per wall-clock time.
// A day, "d", is always 24 hours and a week, "w", 7 days: rotation policies are
// elapsed time, not calendar arithmetic.
package schedule
