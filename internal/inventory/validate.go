package inventory

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/schedule"
)

// policyHorizon is how far ahead window gaps are measured when judging whether a rotation
// policy can be met: a year covers weekly, monthly and quarterly windows.
const policyHorizon = 366 * 24 * time.Hour

// validate resolves references and checks the rules that span entries. It fills the parsed
// fields of the model (window schedules, freeze instants, strategy defaults).
func validate(inv *Inventory, refs []refUse, opts Options, e *errs) {
	inv.Teams, inv.teams = index(inv.Teams, "team", func(t *Team) (string, Pos) { return t.ID, t.Pos }, e)
	inv.Windows, inv.windows = index(inv.Windows, "window", func(w *Window) (string, Pos) { return w.ID, w.Pos }, e)
	inv.Identities, inv.identities = index(inv.Identities, "identity", func(i *Identity) (string, Pos) { return i.ID, i.Pos }, e)
	inv.Checks, inv.checks = index(inv.Checks, "check", func(c *Check) (string, Pos) { return c.ID, c.Pos }, e)
	inv.Credentials, inv.credentials = index(inv.Credentials, "credential", func(c *Credential) (string, Pos) { return c.ID, c.Pos }, e)

	zones := zoneCache{}
	defaultZone := "UTC"
	if inv.Defaults.Timezone != "" {
		if _, err := zones.load(inv.Defaults.Timezone); err != nil {
			e.add(inv.Defaults.Pos, "defaults.timezone: %v", err)
		} else {
			defaultZone = inv.Defaults.Timezone
		}
	}
	zoneOr := func(tz string) string { return cmpOr(tz, defaultZone) }

	for _, w := range inv.Windows {
		sw, err := schedule.NewWindow(w.ID, w.Cron, w.Duration.Duration, zoneOr(w.Timezone))
		if err != nil {
			at := w.Pos
			var fe *schedule.FieldError
			if errors.As(err, &fe) {
				at = map[string]Pos{"cron": w.cronPos, "duration": w.durationPos, "timezone": w.timezonePos}[fe.Field]
				if at.Line == 0 {
					at = w.Pos
				}
			}
			e.add(at, "windows.%s: %v", w.ID, err)
			continue
		}
		if sw.NeverOpens(opts.Now) {
			e.add(w.cronPos, "windows.%s: the window never opens: cron %q has no start in the next 5 years", w.ID, w.Cron)
			continue
		}
		w.Schedule = sw
	}

	for _, f := range inv.Freezes {
		validateFreeze(f, zoneOr, zones, e)
	}

	checkRefs(inv, refs, e)

	gaps := map[string]time.Duration{} // window id -> longest gap between openings
	for _, c := range inv.Credentials {
		validateCredential(inv, c, zoneOr, gaps, opts, e)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

type zoneCache map[string]*time.Location

func (z zoneCache) load(name string) (*time.Location, error) {
	if loc, ok := z[name]; ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "" || name == "Local" {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Paris, America/New_York or UTC", name)
	}
	z[name] = loc
	return loc, nil
}

func validateFreeze(f *Freeze, zoneOr func(string) string, zones zoneCache, e *errs) {
	loc, err := zones.load(zoneOr(f.Timezone))
	if err != nil {
		e.add(f.timezonePos, "freezes: %v", err)
		return
	}
	if !f.From.Set || !f.To.Set {
		return // reported as missing keys
	}
	if f.From.Instant.IsZero() && f.To.Instant.IsZero() {
		sf, err := schedule.FreezeDates(f.From.Day, f.To.Day, loc, f.Reason)
		if err != nil {
			at := f.toPos
			var fe *schedule.FieldError
			if errors.As(err, &fe) && fe.Field == "from" {
				at = f.fromPos
			}
			e.add(at, "freezes: %q: %v", f.Reason, fe.Msg)
			return
		}
		f.Start, f.End = sf.From, sf.To
		return
	}
	start, end := f.From.Instant, f.To.Instant
	if start.IsZero() {
		start = time.Date(f.From.Day.Year, f.From.Day.Month, f.From.Day.Day, 0, 0, 0, 0, loc)
	}
	if end.IsZero() { // an inclusive day: frozen until the next midnight
		end = time.Date(f.To.Day.Year, f.To.Day.Month, f.To.Day.Day+1, 0, 0, 0, 0, loc)
	}
	if !end.After(start) {
		e.add(f.toPos, "freezes: %q ends before it starts", f.Reason)
		return
	}
	f.Start, f.End = start, end
}

// checkRefs reports every reference to a team, window, identity or check that does not exist.
func checkRefs(inv *Inventory, refs []refUse, e *errs) {
	names := map[string]func() []string{
		"team":       func() []string { return keys(inv.teams) },
		"window":     func() []string { return keys(inv.windows) },
		"identity":   func() []string { return keys(inv.identities) },
		"check":      func() []string { return keys(inv.checks) },
		"credential": func() []string { return keys(inv.credentials) },
	}
	exists := func(kind, name string) bool {
		switch kind {
		case "team":
			_, ok := inv.teams[name]
			return ok
		case "window":
			_, ok := inv.windows[name]
			return ok
		case "identity":
			_, ok := inv.identities[name]
			return ok
		case "check":
			_, ok := inv.checks[name]
			return ok
		case "credential":
			_, ok := inv.credentials[name]
			return ok
		}
		panic("inventory: unknown reference kind " + kind)
	}
	cache := map[string][]string{}
	reported := map[refUse]bool{} // aliases decode one node many times: report it once
	for _, r := range refs {
		if exists(r.kind, r.name) {
			continue
		}
		if key := (refUse{kind: r.kind, name: r.name, pos: r.pos}); reported[key] {
			continue
		} else {
			reported[key] = true
		}
		valid, ok := cache[r.kind]
		if !ok {
			valid = names[r.kind]()
			cache[r.kind] = valid
		}
		plural := map[string]string{"team": "teams", "window": "windows", "identity": "identities", "check": "checks", "credential": "credentials"}[r.kind]
		msg := fmt.Sprintf("unknown %s %q: it is not defined under %s%s", r.kind, r.name, plural, hint(r.name, valid))
		if s := r.path.String(); s != "" {
			msg = s + ": " + msg
		}
		e.list = append(e.list, Error{Pos: r.pos, Msg: msg})
	}
}

func keys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func validateCredential(inv *Inventory, c *Credential, zoneOr func(string) string, gaps map[string]time.Duration, opts Options, e *errs) {
	at := "credentials." + c.ID

	// Strategy: default to the authority's first, refuse one it cannot do.
	if ss, ok := c.Authority.Config.(provider.StrategySupporter); ok {
		supported := ss.Strategies()
		switch {
		case c.Authority.Strategy == "":
			c.Authority.Strategy = supported[0]
		case !slices.Contains(supported, c.Authority.Strategy):
			e.add(c.Authority.Pos, "%s.authority: %s does not support strategy %q (supported: %s)",
				at, c.Authority.Type, c.Authority.Strategy, strings.Join(supported, ", "))
		}
	}

	if c.Authority.Parallel < 0 {
		e.add(c.Authority.Pos, "%s.authority.parallel: must be a positive number of runs (or left out)", at)
	}

	every := c.Rotate.Every.Duration
	if c.Soak.Set && every > 0 && c.Soak.Duration >= every {
		e.add(c.soakPos, "%s.soak: a soak of %s is not shorter than rotate.every %s: the next rotation would start before this one ends",
			at, c.Soak, c.Rotate.Every)
	}
	if w, ok := inv.windows[c.Windows.Cutover]; ok && every > 0 && w.Schedule.Location != nil {
		gap, seen := gaps[w.ID]
		if !seen {
			gap = w.Schedule.MaxGap(opts.Now, policyHorizon)
			gaps[w.ID] = gap
		}
		if every < gap {
			e.add(c.Rotate.Pos, "%s.rotate.every: %s can never be met: window %q can stay closed for %s",
				at, c.Rotate.Every, w.ID, schedule.FormatDuration(gap))
		}
	}

	for _, k := range c.Consumers {
		validateConsumer(c, k, zoneOr, e)
	}
}

func validateConsumer(c *Credential, k *Consumer, zoneOr func(string) string, e *errs) {
	at := fmt.Sprintf("credentials.%s.consumers.%s", c.ID, k.ID)
	if k.Reads == ReadsCached && !k.TTL.Set {
		e.add(k.Pos, "%s: reads: cached needs a ttl (how long the value is kept)", at)
	}
	if k.Reads != ReadsCached && k.TTL.Set {
		e.add(k.ttlPos, "%s.ttl: a ttl only applies to reads: cached (this consumer reads %s)", at, k.Reads)
	}
	if k.Schedule != "" {
		if k.Kind == KindService || k.Kind == KindIntegration {
			e.add(k.schedulePos, "%s.schedule: a %s does not run on a schedule (use kind: job)", at, k.Kind)
		}
		runs, err := schedule.NewWindow(k.ID, k.Schedule, time.Minute, zoneOr(k.Timezone))
		if err != nil {
			p := k.schedulePos
			var fe *schedule.FieldError
			if errors.As(err, &fe) && fe.Field == "timezone" && k.timezonePos.Line > 0 {
				p = k.timezonePos
			}
			e.add(p, "%s.schedule: %v", at, err)
		} else {
			k.Runs = &runs
		}
	} else if k.Kind == KindJob && !k.OnDemand {
		e.add(k.Pos, "%s: a job needs a schedule (five-field cron), or on_demand: true", at)
	}
	if k.Timezone != "" && k.Schedule == "" {
		e.add(k.timezonePos, "%s.timezone: a time zone only applies to a schedule", at)
	}
	switch k.Proof {
	case "next-run":
		if k.Schedule == "" && !k.OnDemand {
			e.add(k.proofPos, "%s.proof: next-run needs a schedule or on_demand: true", at)
		}
	case "ttl-expiry":
		if k.Reads != ReadsCached {
			e.add(k.proofPos, "%s.proof: ttl-expiry needs reads: cached with a ttl", at)
		}
	case "connection-age":
		if !k.MaxConnectionAge.Set {
			e.add(k.proofPos, "%s.proof: connection-age needs max_connection_age", at)
		}
	}
}
