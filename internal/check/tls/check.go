// Package tls is the `tls` check: the proof that an endpoint serves the certificate rotor
// made current. It handshakes with each configured address (with SNI), reads the served
// leaf, and compares its pki.Ref with the version's AuthorityRef; the served chain must also
// verify to the trust bundle for the server name, now — a client would refuse it otherwise.
//
// An endpoint serving another certificate is a fail that names it, with what it serves and,
// when it is the previous version, says so: that endpoint has not been reloaded, and revoking
// the previous certificate would break it. An endpoint that cannot be read (refused, no TLS,
// no answer in time) is unknown, never a pass. The check is also a provider.UsageReporter:
// the endpoints still serving a version are its residual use.
package tls

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/scan"
)

// Config is the `tls` check's configuration.
type Config struct {
	Address    string   `yaml:"address" doc:"host:port of the endpoint ([::1]:443 for IPv6). One of address or addresses."`
	Addresses  []string `yaml:"addresses" doc:"Several host:port endpoints that must all serve the version (every vhost, every replica)."`
	ServerName string   `yaml:"server_name" doc:"SNI sent, and the name the chain must be valid for (default: each address's host)."`
	CAFile     string   `yaml:"ca_file" doc:"PEM trust bundle the served chain must verify to, relative to the inventory's folder (default: the system's). Re-read at every check."`
	Expect     string   `yaml:"expect" rotor:"enum=current|previous" doc:"Which version must be served (default current; previous after a rollback)."`
	WarnDays   int      `yaml:"warn_days" doc:"Fail when the served certificate expires in fewer days than this (default: no minimum)."`
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	switch {
	case c.Address == "" && len(c.Addresses) == 0:
		out = append(out, provider.FieldError{Field: "address", Msg: "is required (or addresses: a list)"})
	case c.Address != "" && len(c.Addresses) > 0:
		out = append(out, provider.FieldError{Field: "addresses", Msg: "set address or addresses, not both"})
	}
	if c.Address != "" {
		if err := checkAddress(c.Address); err != nil {
			out = append(out, provider.FieldError{Field: "address", Msg: err.Error()})
		}
	}
	seen := map[string]bool{}
	for i, a := range c.Addresses {
		f := "addresses[" + strconv.Itoa(i) + "]"
		if err := checkAddress(a); err != nil {
			out = append(out, provider.FieldError{Field: f, Msg: err.Error()})
		} else if seen[a] {
			out = append(out, provider.FieldError{Field: f, Msg: a + " is listed twice"})
		}
		seen[a] = true
	}
	switch c.Expect {
	case "", "current", "previous":
	default:
		out = append(out, provider.FieldError{Field: "expect", Msg: "is current or previous"})
	}
	if c.WarnDays < 0 {
		out = append(out, provider.FieldError{Field: "warn_days", Msg: "is a number of days, 0 or more"})
	}
	if strings.ContainsAny(c.ServerName, " /:") {
		out = append(out, provider.FieldError{Field: "server_name", Msg: "is a DNS name (no port, no scheme)"})
	}
	return out
}

// checkAddress accepts one host:port (a range is for `rotor scan`, not for a proof).
func checkAddress(a string) error {
	ts, err := scan.ParseSpec(a)
	if err != nil {
		return err
	}
	if len(ts) != 1 || ts[0].FromRange {
		return fmt.Errorf("%q: one host:port, not a range", a)
	}
	return nil
}

// Checker reads the served certificates.
type Checker struct {
	targets  []scan.Target
	caFile   string
	previous bool // expect previous
	warnDays int
	env      provider.Env
}

const op = "tls check"

// timeout bounds one endpoint when the engine's context has no deadline of its own.
const timeout = 10 * time.Second

// New builds the check. A configuration that fails Validate or a ca_file that cannot be read
// now is a Terminal error.
func New(cfg *Config, env provider.Env) (*Checker, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, provider.Errorf(provider.Terminal, op, "invalid configuration: %v", errs[0])
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	c := &Checker{previous: cfg.Expect == "previous", warnDays: cfg.WarnDays, env: env}
	addrs := cfg.Addresses
	if cfg.Address != "" {
		addrs = []string{cfg.Address}
	}
	for _, a := range addrs {
		ts, _ := scan.ParseSpec(a)
		ts[0].ServerName = cfg.ServerName
		c.targets = append(c.targets, ts[0])
	}
	if cfg.CAFile != "" {
		c.caFile = env.Path(cfg.CAFile)
		if _, err := scan.LoadRoots(c.caFile); err != nil {
			return nil, provider.Wrap(provider.Terminal, op, fmt.Errorf("ca_file: %w", err))
		}
	}
	return c, nil
}

var (
	_ provider.Checker       = (*Checker)(nil)
	_ provider.UsageReporter = (*Checker)(nil)
)

// query is the addresses, as the result's Query.
func (c *Checker) query() string {
	parts := make([]string, len(c.targets))
	for i, t := range c.targets {
		parts[i] = t.Address()
		if t.ServerName != "" {
			parts[i] += " (SNI " + t.ServerName + ")"
		}
	}
	return "tls " + strings.Join(parts, ", ")
}

// scan reads every address at now; an unreadable trust bundle is returned as an error.
func (c *Checker) scan(ctx context.Context, now time.Time) ([]scan.Result, error) {
	opts := scan.Options{Concurrency: len(c.targets), Timeout: timeout, Now: func() time.Time { return now }}
	if dl, ok := ctx.Deadline(); ok {
		opts.Timeout = min(timeout, max(time.Until(dl).Round(time.Millisecond), time.Millisecond))
	}
	if c.caFile != "" {
		pool, err := scan.LoadRoots(c.caFile)
		if err != nil {
			return nil, err
		}
		opts.Roots = pool
	}
	return scan.New(opts).Scan(ctx, c.targets), nil
}

// endpoint names a result as the messages do: address, and the SNI when it is not the host.
func endpoint(r *scan.Result) string {
	host, _, _ := net.SplitHostPort(r.Target)
	if r.ServerName != "" && r.ServerName != host {
		return r.Target + " (SNI " + r.ServerName + ")"
	}
	return r.Target
}

// short shortens a ref for messages: sha256: and 16 hex digits are plenty to tell two apart.
func short(ref string) string {
	if len(ref) > len("sha256:")+16 {
		return ref[:len("sha256:")+16] + "…"
	}
	return ref
}

// Check reads every address once. It returns an error only for a request it cannot judge at
// all; every outcome of the handshakes is a result.
func (c *Checker) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResult, error) {
	res := provider.CheckResult{Query: c.query(), At: req.Now}
	if res.At.IsZero() {
		res.At = c.env.Now()
	}
	wantName, otherName := "current", "previous"
	want, other := req.Current, req.Previous
	if c.previous {
		wantName, otherName = "previous", "current"
		other = &req.Current
		if req.Previous == nil {
			res.Verdict, res.Reason = provider.Unknown, "no previous version"
			res.Message = "expect: previous, but the credential has no previous version to compare with"
			return res, nil
		}
		want = *req.Previous
	}
	res.Threshold = "serves the " + wantName + " version, chain verifies"
	if c.warnDays > 0 {
		res.Threshold += fmt.Sprintf(", at least %d days to expiry", c.warnDays)
	}
	if want.AuthorityRef == "" {
		res.Verdict, res.Reason = provider.Unknown, "no certificate reference"
		res.Message = fmt.Sprintf("the %s version %s has no certificate reference (AuthorityRef): its authority is not a certificate authority, so there is no served certificate to compare it with", wantName, want.ID)
		return res, nil
	}
	results, err := c.scan(ctx, res.At)
	if err != nil {
		res.Verdict, res.Reason, res.Message = provider.Unknown, "trust bundle unreadable", err.Error()
		return res, nil
	}
	// The serial of the wanted version, when some endpoint serves it: messages about the
	// others can then say which serial they should serve.
	wantSerial := ""
	for _, r := range results {
		if r.Ref == want.AuthorityRef {
			wantSerial = r.Serial
			break
		}
	}
	wantDesc := short(want.AuthorityRef)
	if wantSerial != "" {
		wantDesc = "serial " + wantSerial + ", " + wantDesc
	}

	var fails, unknowns, passes, observed []string
	var stale, wrong []string // endpoints serving the other version / another certificate: the reason names them
	minDays, minAt, minEnd := 0, "", time.Time{}
	for i := range results {
		r := &results[i]
		ep := endpoint(r)
		if !r.Answered() {
			unknowns = append(unknowns, ep+": "+r.Error)
			observed = append(observed, ep+" "+r.Failure)
			continue
		}
		observed = append(observed, fmt.Sprintf("%s serial %s %s", ep, r.Serial, r.Ref))
		if minAt == "" || r.DaysLeft < minDays {
			minDays, minAt, minEnd = r.DaysLeft, ep, r.NotAfter
		}
		switch {
		case r.Ref != want.AuthorityRef && other != nil && other.AuthorityRef != "" && r.Ref == other.AuthorityRef:
			fails = append(fails, fmt.Sprintf("%s still serves the %s certificate (serial %s %s) — not the %s version (%s)", ep, otherName, r.Serial, short(r.Ref), wantName, wantDesc))
			stale = append(stale, ep)
		case r.Ref != want.AuthorityRef:
			wrong = append(wrong, ep)
			fails = append(fails, fmt.Sprintf("%s serves serial %s %s — not the %s version (%s)", ep, r.Serial, short(r.Ref), wantName, wantDesc))
		case !r.Verified:
			fails = append(fails, fmt.Sprintf("%s serves the %s version (serial %s) but its chain does not verify: %s (%s)", ep, wantName, r.Serial, r.VerifyReason, r.VerifyError))
		case c.warnDays > 0 && r.DaysLeft < c.warnDays:
			fails = append(fails, fmt.Sprintf("%s serves the %s version (serial %s), which expires in %d days (%s), under warn_days %d", ep, wantName, r.Serial, r.DaysLeft, r.NotAfter.Format(time.DateOnly), c.warnDays))
		default:
			passes = append(passes, ep)
		}
	}
	res.Observed = strings.Join(observed, "; ")
	expiry := ""
	if minAt != "" {
		expiry = fmt.Sprintf("; %d days to expiry", minDays)
		if minDays < 0 {
			expiry = "; expired since " + minEnd.Format(time.RFC3339)
		}
		if len(results) > 1 {
			expiry += " (soonest: " + minAt + ")"
		}
	}
	switch {
	case len(fails) > 0:
		// The reason is what an operator reads on the blocked gate: it names the endpoints.
		switch {
		case len(stale) > 0:
			res.Verdict, res.Reason = provider.Fail, endpoints(stale)+" still "+plural(len(stale), "serves", "serve")+" the "+otherName+" certificate"
		case len(wrong) > 0:
			res.Verdict, res.Reason = provider.Fail, endpoints(wrong)+" "+plural(len(wrong), "serves", "serve")+" another certificate"
		default:
			res.Verdict, res.Reason = provider.Fail, "served certificate not acceptable"
		}
		msg := append(fails, unknowns...)
		res.Message = strings.Join(msg, "; ") + expiry
	case len(unknowns) > 0:
		res.Verdict, res.Reason = provider.Unknown, "endpoint unreachable"
		res.Message = strings.Join(unknowns, "; ")
		if len(passes) > 0 {
			res.Message += fmt.Sprintf("; %d of %d endpoints serve the %s version", len(passes), len(results), wantName)
		}
		res.Message += expiry
	default:
		res.Verdict, res.Reason = provider.Pass, "serves the "+wantName+" certificate"
		res.Message = fmt.Sprintf("%s %s the %s version (%s), chain verified%s", strings.Join(passes, ", "), plural(len(passes), "serves", "serve"), wantName, wantDesc, expiry)
	}
	return res, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Usage implements provider.UsageReporter: the endpoints that still serve req.Version are its
// residual use. None serving it, all read, is a pass; any serving it is a fail naming them; an
// endpoint that cannot be read makes the answer unknown (it might be serving it).
func (c *Checker) Usage(ctx context.Context, req provider.UsageRequest) (provider.UsageResponse, error) {
	if req.Version.AuthorityRef == "" {
		return provider.UsageResponse{Verdict: provider.Unknown, Detail: fmt.Sprintf("version %s has no certificate reference: nothing to look for on the endpoints", req.Version.ID)}, nil
	}
	results, err := c.scan(ctx, c.env.Now())
	if err != nil {
		return provider.UsageResponse{Verdict: provider.Unknown, Detail: err.Error()}, nil
	}
	var who, unread []string
	for i := range results {
		r := &results[i]
		switch {
		case !r.Answered():
			unread = append(unread, endpoint(r)+": "+r.Error)
		case r.Ref == req.Version.AuthorityRef:
			who = append(who, endpoint(r))
		}
	}
	out := provider.UsageResponse{Count: len(who), Who: who}
	switch {
	case len(who) > 0:
		out.Verdict = provider.Fail
		out.Detail = fmt.Sprintf("%s still %s the certificate %s", strings.Join(who, ", "), plural(len(who), "serves", "serve"), short(req.Version.AuthorityRef))
	case len(unread) > 0:
		out.Verdict = provider.Unknown
		out.Detail = "cannot read " + strings.Join(unread, "; ")
	default:
		out.Verdict = provider.Pass
		out.Detail = fmt.Sprintf("none of %d endpoints serves the certificate %s", len(results), short(req.Version.AuthorityRef))
	}
	return out, nil
}

// endpoints names up to three endpoints, and how many more.
func endpoints(eps []string) string {
	if len(eps) <= 3 {
		return strings.Join(eps, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(eps[:3], ", "), len(eps)-3)
}
