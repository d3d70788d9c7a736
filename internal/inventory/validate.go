package inventory

import (
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/schedule"
)

// policyHorizon is how far ahead window gaps are measured when judging whether a rotation
// policy can be met: a year covers weekly, monthly and quarterly windows.
const policyHorizon = 366 * 24 * time.Hour

// validate resolves references and checks the rules that span entries. It fills the parsed
// fields of the model (window schedules, freeze instants, strategy defaults).
func validate(inv *Inventory, files []string, uses []*refUses, opts Options, e *errs) {
	inv.Teams, inv.teams = index(inv.Teams, "team", func(t *Team) (string, Pos) { return t.ID, t.Pos }, e)
	inv.Windows, inv.windows = index(inv.Windows, "window", func(w *Window) (string, Pos) { return w.ID, w.Pos }, e)
	inv.Identities, inv.identities = index(inv.Identities, "identity", func(i *Identity) (string, Pos) { return i.ID, i.Pos }, e)
	inv.Checks, inv.checks = index(inv.Checks, "check", func(c *Check) (string, Pos) { return c.ID, c.Pos }, e)
	inv.Credentials, inv.credentials = index(inv.Credentials, "credential", func(c *Credential) (string, Pos) { return c.ID, c.Pos }, e)
	inv.Notifications, inv.notifications = index(inv.Notifications, "notification", func(n *Notification) (string, Pos) { return n.ID, n.Pos }, e)
	for _, n := range inv.Notifications {
		validateNotification(n, e)
	}
	if w := inv.Defaults.ExceptionWarning; w.Set && w.Duration <= 0 {
		e.add(inv.Defaults.Pos, "defaults.exception_warning: must be a positive duration such as 1h")
	}

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
		if f != nil { // nil only when decoding failed, which is reported
			validateFreeze(f, zoneOr, zones, e)
		}
	}

	// The references and the credentials are checked in parallel, the credentials in one
	// slice per goroutine: from here on the model's maps are only read, and each credential
	// is changed (its default strategy, its jobs' schedules) by one goroutine only. Errors
	// are sorted once all are in, so their order does not depend on the goroutines.
	workers := runtime.GOMAXPROCS(0)
	found := make([]errs, workers+1)
	var wg sync.WaitGroup
	wg.Go(func() { checkRefs(inv, files, uses, opts, &found[workers]) })
	per := (len(inv.Credentials) + workers - 1) / workers
	for w := range workers {
		part := inv.Credentials[min(w*per, len(inv.Credentials)):min((w+1)*per, len(inv.Credentials))]
		wg.Go(func() {
			gaps := map[string]time.Duration{} // window id -> longest gap between openings
			runs := jobSchedules{parsed: map[[2]string]parsedSchedule{}, zones: schedule.Zones{}}
			for _, c := range part {
				validateCredential(inv, c, zoneOr, gaps, runs, opts, &found[w])
			}
		})
	}
	wg.Wait()
	for _, f := range found {
		e.list = append(e.list, f.list...)
	}
}

// jobSchedules memoises the parsed schedules of jobs: a large inventory has far fewer
// distinct (cron, zone) pairs than jobs, and parsing each again, with its own copy of the
// zone's rules, cost seconds and hundreds of MiB at 100,000 credentials.
type jobSchedules struct {
	parsed map[[2]string]parsedSchedule
	zones  schedule.Zones
}

type parsedSchedule struct {
	w   schedule.Window
	err error
}

// window returns the job's schedule as a zero-length window named after the consumer.
func (j jobSchedules) window(name, spec, tz string) (schedule.Window, error) {
	k := [2]string{spec, tz}
	p, ok := j.parsed[k]
	if !ok {
		p.w, p.err = j.zones.NewWindow(name, spec, time.Minute, tz)
		j.parsed[k] = p
	}
	if p.err != nil {
		return schedule.Window{}, p.err
	}
	w := p.w // immutable and safe to share but for its name
	w.Name = name
	return w, nil
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

// validateNotification: exactly one of url and url_env, an http(s) URL, a signing key only
// where it is sent. The URL is never repeated in a message: it may be a secret.
func validateNotification(n *Notification, e *errs) {
	at := "notifications." + n.ID
	switch {
	case n.URL == "" && n.URLEnv == "":
		e.add(n.Pos, "%s: set url, or url_env naming the environment variable that holds it", at)
	case n.URL != "" && n.URLEnv != "":
		e.add(n.Pos, "%s: set url or url_env, not both", at)
	case n.URL != "":
		if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			e.add(n.Pos, "%s.url: not an http(s) URL (a secret URL belongs in url_env)", at)
		}
	}
	if n.SecretEnv != "" && n.Type == "slack" {
		e.add(n.Pos, "%s.secret_env: Slack does not check signatures; secret_env is for type webhook", at)
	}
	if n.Timeout.Set && (n.Timeout.Duration <= 0 || n.Timeout.Duration > time.Minute) {
		e.add(n.Pos, "%s.timeout: between 1s and 1m (a notification must not hold a rotation)", at)
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

func validateCredential(inv *Inventory, c *Credential, zoneOr func(string) string, gaps map[string]time.Duration, runs jobSchedules, opts Options, e *errs) {
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

	if c.Critical && len(inv.Approvers(c)) == 0 {
		e.add(c.Pos, "%s: a critical credential needs someone other than the run's initiator to approve its revocation, and nobody may: list approvers on team %q or on the credential", at, c.Owner)
	}

	if c.Authority.Parallel < 0 {
		e.add(c.Authority.Pos, "%s.authority.parallel: must be a positive number of runs (or left out)", at)
	}

	for _, id := range c.Notify {
		if _, ok := inv.notifications[id]; !ok {
			p := c.notifyPos.in(c.Pos.File)
			if p.Line == 0 {
				p = c.Pos
			}
			e.add(p, "%s.notify: unknown notification %q: it is not defined under notifications%s", at, id, hint(id, keys(inv.notifications)))
		}
	}

	every := c.Rotate.Every.Duration
	if c.Soak.Set && every > 0 && c.Soak.Duration >= every {
		e.add(c.soakPos.in(c.Pos.File), "%s.soak: a soak of %s is not shorter than rotate.every %s: the next rotation would start before this one ends",
			at, c.Soak, c.Rotate.Every)
	}
	if j := c.Rotate.Jitter; j.Set && every > 0 && j.Duration >= every {
		p := c.Rotate.jitterPos.in(c.Pos.File)
		if p.Line == 0 {
			p = c.Rotate.Pos
		}
		e.add(p, "%s.rotate.jitter: a jitter of %s is not shorter than rotate.every %s: the value would be due as soon as it is rotated",
			at, j, c.Rotate.Every)
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
		validateConsumer(c, k, zoneOr, runs, e)
	}
}

func validateConsumer(c *Credential, k *Consumer, zoneOr func(string) string, runs jobSchedules, e *errs) {
	// The key path is built only for a message: there are hundreds of thousands of consumers.
	at := func() string { return "credentials." + c.ID + ".consumers." + k.ID }
	file := k.Pos.File
	if k.Reads == ReadsCached && !k.TTL.Set {
		e.add(k.Pos, "%s: reads: cached needs a ttl (how long the value is kept)", at())
	}
	if k.Reads != ReadsCached && k.TTL.Set {
		e.add(k.ttlPos.in(file), "%s.ttl: a ttl only applies to reads: cached (this consumer reads %s)", at(), k.Reads)
	}
	if k.Schedule != "" {
		if k.Kind == KindService || k.Kind == KindIntegration {
			e.add(k.schedulePos.in(file), "%s.schedule: a %s does not run on a schedule (use kind: job)", at(), k.Kind)
		}
		w, err := runs.window(k.ID, k.Schedule, zoneOr(k.Timezone))
		if err != nil {
			p := k.schedulePos.in(file)
			var fe *schedule.FieldError
			if errors.As(err, &fe) && fe.Field == "timezone" && k.timezonePos.line > 0 {
				p = k.timezonePos.in(file)
			}
			e.add(p, "%s.schedule: %v", at(), err)
		} else {
			k.Runs = &w
		}
	} else if k.Kind == KindJob && !k.OnDemand {
		e.add(k.Pos, "%s: a job needs a schedule (five-field cron), or on_demand: true", at())
	}
	if k.Timezone != "" && k.Schedule == "" {
		e.add(k.timezonePos.in(file), "%s.timezone: a time zone only applies to a schedule", at())
	}
	switch k.Proof {
	case "next-run":
		if k.Schedule == "" && !k.OnDemand {
			e.add(k.proofPos.in(file), "%s.proof: next-run needs a schedule or on_demand: true", at())
		}
	case "ttl-expiry":
		if k.Reads != ReadsCached {
			e.add(k.proofPos.in(file), "%s.proof: ttl-expiry needs reads: cached with a ttl", at())
		}
	case "connection-age":
		if !k.MaxConnectionAge.Set {
			e.add(k.proofPos.in(file), "%s.proof: connection-age needs max_connection_age", at())
		}
	}
}
