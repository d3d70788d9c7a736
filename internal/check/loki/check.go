// Package loki is the `loki` check: it evaluates a LogQL metric query over Grafana Loki's
// HTTP API (GET /loki/api/v1/query_range, whose answer is a matrix) across the window since
// the cutover, and holds every point of every series to a highest value (`max`).
//
// A typical query counts the error lines of a service per step:
//
//	sum by (status) (count_over_time({app="orders"} | json | status=~"401|403|500" [5m]))
//
// evaluated at one point per `step` (default 5m). Give the range selector the same length as
// the step, and each line is counted once: a point at t counts the lines of (t-step, t]. Each
// point is a bin of the result, grouped by the series' labels.
//
// Missing evidence is unknown, never a pass: a query that returns no series (an empty matrix —
// Loki returns none when no line matched, so write the query over lines that always exist, or
// add `or vector(0)` if zero is what you mean to prove), a query that is not a metric query
// (log lines are not numbers), a Loki that cannot be reached or does not answer in time, a
// query it rejects (400, with its parse error) or an error on its side (5xx); and a window
// that reaches back before the cutover and is not full yet (the result carries CompleteAt) —
// unless a point already breaks the threshold.
//
// The URL may carry user:password@, sent as HTTP basic auth (as a gateway in front of Loki
// expects); messages show the URL without it. `tenant` is sent as X-Scope-OrgID for a
// multi-tenant Loki.
//
// "In time" is the check block's `timeout`, the deadline of the context the engine runs the
// check with; the check has no shorter bound of its own that would cap it.
package loki

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/check/evidence"
	"github.com/rotorhq/rotor/internal/check/httpquery"
	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `loki` check's configuration.
type Config struct {
	URL    string        `yaml:"url" rotor:"required" doc:"Loki base URL (http:// or https://, with its path prefix if any). user:password@ in it is sent as basic auth and never shown."`
	Query  string        `yaml:"query" rotor:"required" doc:"LogQL metric query, e.g. sum by (status) (count_over_time({app=\"orders\"} |= \" 401 \" [5m])); every point of every series is held to max."`
	Max    *float64      `yaml:"max" rotor:"required" doc:"Highest value allowed for any series at any point."`
	Step   time.Duration `yaml:"step" doc:"Distance between points, the bin width (default 5m); give the query's range selector the same length."`
	Window time.Duration `yaml:"window" doc:"How far back from now to look (default: since cutover)."`
	Tenant string        `yaml:"tenant" doc:"Sent as X-Scope-OrgID to a multi-tenant Loki."`
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	add := func(field, msg string) { out = append(out, provider.FieldError{Field: field, Msg: msg}) }
	if msg := httpquery.BaseURLProblem(c.URL); msg != "" {
		add("url", msg)
	}
	if strings.TrimSpace(c.Query) == "" {
		add("query", "is a LogQL metric query")
	}
	if c.Max == nil {
		add("max", "a loki check needs a threshold: max")
	} else if math.IsNaN(*c.Max) {
		add("max", "is a number; NaN compares with nothing")
	}
	if c.Step < 0 || (c.Step > 0 && (c.Step < time.Second || c.Step%time.Second != 0)) {
		add("step", "is whole seconds, at least 1s")
	}
	if c.Window < 0 {
		add("window", "is a positive duration")
	}
	if strings.ContainsAny(c.Tenant, "\r\n") {
		add("tenant", "is one line")
	}
	return out
}

const (
	op          = "loki check"
	defaultStep = 5 * time.Minute
	// maxBins is how many points a result carries; the highest are kept.
	maxBins = 500
	// maxPoints bounds a range query: Loki refuses more than 11,000 points per series.
	maxPoints = 11000
	// maxNamed is how many breaking series a fail's reason names.
	maxNamed  = 3
	queryPath = "/loki/api/v1/query_range"
)

// Checker runs the query. It is safe for concurrent use.
type Checker struct {
	cfg    Config
	server *httpquery.Server
	step   time.Duration
	env    provider.Env
}

// New builds the check. A configuration that fails Validate is a Terminal error. Loki is not
// contacted: a server down now is missing evidence when the check runs.
func New(cfg *Config, env provider.Env) (*Checker, error) {
	if err := evidence.Validated(op, cfg); err != nil {
		return nil, err
	}
	server, err := httpquery.New("Loki", cfg.URL)
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, op, err)
	}
	return &Checker{cfg: *cfg, server: server, step: cmp.Or(cfg.Step, defaultStep), env: env}, nil
}

// Check evaluates the query over the window and judges every point. It returns an error
// only for a request it cannot serve; every outcome of asking Loki is a result.
func (c *Checker) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResult, error) {
	now := evidence.Now(req, c.env)
	res := provider.CheckResult{At: now, Query: c.cfg.Query, Threshold: "max " + evidence.Number(*c.cfg.Max)}
	unknown := func(reason, msg string) (provider.CheckResult, error) {
		res.Verdict, res.Reason, res.Message = provider.Unknown, reason, msg
		return res, nil
	}
	window := evidence.Observe(req.Since, now, c.cfg.Window, c.step)
	from, completeAt := window.From, window.CompleteAt
	if from.IsZero() {
		return unknown("no start instant", "the request has no since (cutover) and the check no window: there is no time range to query")
	}
	if !from.Before(now) {
		res.CompleteAt = completeAt
		return unknown("empty window", fmt.Sprintf("the window starts at %s, which is not before now (%s): there is nothing to look at yet", evidence.StampMilli(from), evidence.StampMilli(now)))
	}
	res.Window = window.Interval()
	step := c.step
	if n := now.Sub(from) / step; n > maxPoints {
		step = (now.Sub(from)/maxPoints + time.Second).Truncate(time.Second)
	}
	what := fmt.Sprintf("range query from %s to %s at step %s on %s", evidence.StampMilli(from), evidence.StampMilli(now), evidence.Duration(step), c.server.Safe)

	set, err := c.queryRange(ctx, from, now, step)
	if err != nil {
		reason, msg := c.failure(ctx, err)
		return unknown(reason, msg+"; "+what)
	}
	j := judge(set, *c.cfg.Max)
	if j.points == 0 {
		res.CompleteAt = completeAt
		return unknown("no data", fmt.Sprintf("%s: a series that is not there proves nothing (Loki returns none when no line matched; add `or vector(0)` only if zero is what the query means); %s", j.empty(), what))
	}
	res.Message = what
	if j.nan > 0 {
		res.Message += fmt.Sprintf("; %d NaN points skipped", j.nan)
	}
	res.Observed = j.observed()
	res.Bins = j.bins()
	if len(j.all) > maxBins {
		res.Message += fmt.Sprintf("; %d of %d points shown as bins (the highest)", maxBins, len(j.all))
	}
	if len(j.broken) > 0 {
		res.Verdict, res.Reason = provider.Fail, j.failReason(*c.cfg.Max)
		return res, nil
	}
	if !completeAt.IsZero() {
		res.Verdict, res.CompleteAt = provider.Unknown, completeAt
		res.Reason = fmt.Sprintf("window not full yet: only %s of %s since the cutover at %s (complete at %s); so far %s",
			evidence.Duration(now.Sub(req.Since).Round(time.Second)), evidence.Duration(window.Length), evidence.StampMilli(req.Since), evidence.StampMilli(completeAt), j.passReason(*c.cfg.Max))
		return res, nil
	}
	res.Verdict, res.Reason = provider.Pass, j.passReason(*c.cfg.Max)
	return res, nil
}

// series is one series of a matrix.
type series struct {
	labels map[string]string
	points []point
}

type point struct {
	at time.Time
	v  float64
}

func (s *series) label() string {
	keys := make([]string, 0, len(s.labels))
	for k := range s.labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(s.labels[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// errNotJSON is an answer that is not Loki's, which failure turns into a reason.
var errNotJSON = errors.New("not a Loki API answer")

// httpError is an answer that is not a 200. Loki writes the reason as plain text (or, behind
// some gateways, in a JSON envelope's "error").
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d: %s", e.status, e.msg) }

// notMatrix is a success whose result is not a matrix: a log query's streams.
type notMatrix struct{ resultType string }

func (e *notMatrix) Error() string { return "result type " + e.resultType }

// queryRange asks Loki and decodes the matrix.
func (c *Checker) queryRange(ctx context.Context, from, to time.Time, step time.Duration) ([]series, error) {
	q := url.Values{
		"query": {c.cfg.Query},
		"start": {strconv.FormatInt(from.UnixNano(), 10)},
		"end":   {strconv.FormatInt(to.UnixNano(), 10)},
		"step":  {strconv.FormatInt(int64(step/time.Second), 10)},
	}
	r, err := c.server.Request(ctx, http.MethodGet, queryPath, q, nil)
	if err != nil {
		return nil, err
	}
	r.Header.Set("Accept", "application/json")
	if c.cfg.Tenant != "" {
		r.Header.Set("X-Scope-OrgID", c.cfg.Tenant)
	}
	resp, err := c.server.Client.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body) // the client stops at httpquery.MaxAnswer
	if err != nil {
		return nil, err
	}
	var env struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string    `json:"metric"`
				Values [][2]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	jsonErr := json.Unmarshal(body, &env)
	if resp.StatusCode != http.StatusOK {
		msg := evidence.OneLine(string(body), 500)
		if jsonErr == nil && env.Error != "" {
			msg = evidence.OneLine(env.Error, 500)
		}
		return nil, &httpError{status: resp.StatusCode, msg: msg}
	}
	if jsonErr != nil || env.Status != "success" {
		return nil, fmt.Errorf("%w: %s", errNotJSON, evidence.OneLine(string(body), 200))
	}
	if env.Data.ResultType != "matrix" {
		return nil, &notMatrix{resultType: env.Data.ResultType}
	}
	set := make([]series, 0, len(env.Data.Result))
	for _, r := range env.Data.Result {
		s := series{labels: r.Metric}
		for _, v := range r.Values {
			p, err := decodePoint(v)
			if err != nil {
				return nil, fmt.Errorf("%w: series %s: %v", errNotJSON, s.label(), err)
			}
			s.points = append(s.points, p)
		}
		set = append(set, s)
	}
	return set, nil
}

// decodePoint reads [<unix seconds, a number>, "<value>"].
func decodePoint(v [2]json.RawMessage) (point, error) {
	ts, err := strconv.ParseFloat(string(bytes.Trim(v[0], `"`)), 64)
	if err != nil {
		return point{}, fmt.Errorf("time %s: %v", v[0], err)
	}
	var s string
	if err := json.Unmarshal(v[1], &s); err != nil {
		return point{}, fmt.Errorf("value %s: not a string", v[1])
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return point{}, fmt.Errorf("value %q: %v", s, err)
	}
	sec, frac := math.Modf(ts)
	return point{at: time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC(), v: f}, nil
}

// verdict is what judge found.
type verdict struct {
	all       []worst // every point with a number
	broken    []worst // each breaking series' worst point, worst first
	series    int
	points    int
	nan       int
	low, high *worst
}

type worst struct {
	s  *series
	at time.Time
	v  float64
}

// judge holds every point to max. NaN points are skipped (0/0 is a ratio of nothing).
func judge(set []series, limit float64) verdict {
	j := verdict{series: len(set)}
	for i := range set {
		s := &set[i]
		var w *worst
		for _, p := range s.points {
			if math.IsNaN(p.v) {
				j.nan++
				continue
			}
			j.points++
			pt := worst{s: s, at: p.at, v: p.v}
			j.all = append(j.all, pt)
			if j.low == nil || p.v < j.low.v {
				j.low = &j.all[len(j.all)-1]
			}
			if j.high == nil || p.v > j.high.v {
				j.high = &j.all[len(j.all)-1]
			}
			if p.v > limit && (w == nil || p.v > w.v) {
				w = &pt
			}
		}
		if w != nil {
			j.broken = append(j.broken, *w)
		}
	}
	slices.SortStableFunc(j.broken, func(a, b worst) int {
		if a.v != b.v {
			if a.v > b.v {
				return -1
			}
			return 1
		}
		return strings.Compare(a.s.label(), b.s.label())
	})
	return j
}

func (j *verdict) empty() string {
	if j.series == 0 {
		return "the query returned no series"
	}
	return fmt.Sprintf("the query returned only NaN (%d series, %d points)", j.series, j.nan)
}

func (j *verdict) failReason(limit float64) string {
	var parts []string
	for i, w := range j.broken {
		if i == maxNamed {
			parts = append(parts, fmt.Sprintf("and %d more", len(j.broken)-maxNamed))
			break
		}
		parts = append(parts, fmt.Sprintf("%s was %s at %s", w.s.label(), evidence.Number(w.v), evidence.StampMilli(w.at)))
	}
	return fmt.Sprintf("%d of %d series above max %s: %s", len(j.broken), j.series, evidence.Number(limit), strings.Join(parts, "; "))
}

func (j *verdict) passReason(limit float64) string {
	return fmt.Sprintf("%d points of %d series within max %s", j.points, j.series, evidence.Number(limit))
}

func (j *verdict) observed() string {
	return fmt.Sprintf("%d series, %d points; lowest %s (%s at %s), highest %s (%s at %s)",
		j.series, j.points, evidence.Number(j.low.v), j.low.s.label(), evidence.StampMilli(j.low.at), evidence.Number(j.high.v), j.high.s.label(), evidence.StampMilli(j.high.at))
}

// bins are the points, one Bin each, in time order then by series; over maxBins, the
// highest. A Bin counts in whole numbers: Count is the value rounded (a count_over_time is
// whole already), and Group holds the series' labels.
func (j *verdict) bins() []provider.Bin {
	shown := j.all
	if len(shown) > maxBins {
		shown = slices.Clone(shown)
		slices.SortStableFunc(shown, func(a, b worst) int {
			switch {
			case a.v > b.v:
				return -1
			case a.v < b.v:
				return 1
			}
			return 0
		})
		shown = shown[:maxBins]
	}
	shown = slices.Clone(shown)
	slices.SortStableFunc(shown, func(a, b worst) int {
		if n := a.at.Compare(b.at); n != 0 {
			return n
		}
		return strings.Compare(a.s.label(), b.s.label())
	})
	out := make([]provider.Bin, 0, len(shown))
	for _, w := range shown {
		var g map[string]string
		if len(w.s.labels) > 0 {
			g = make(map[string]string, len(w.s.labels))
			for k, v := range w.s.labels {
				g[k] = v
			}
		}
		out = append(out, provider.Bin{Start: w.at, Group: g, Count: evidence.RoundCount(w.v)})
	}
	return out
}

// failure names what went wrong asking Loki: an unknown's reason and message.
func (c *Checker) failure(ctx context.Context, err error) (reason, msg string) {
	at := c.server.At()
	var nm *notMatrix
	switch {
	case errors.As(err, &nm):
		return "not a metric query", fmt.Sprintf("%s answered a %s, not a matrix: the query must be a LogQL metric query (count_over_time, rate…), not a log query", at, nm.resultType)
	case errors.Is(err, errNotJSON):
		return "unexpected answer", fmt.Sprintf("%s answered something that is not a Loki API answer (%v): is the url Loki's base URL?", at, err)
	}
	if reason, msg, ok := c.server.Unanswered(ctx, err, "aggregate the query (sum by fewer labels)"); ok {
		return reason, msg
	}
	var he *httpError
	if errors.As(err, &he) {
		switch {
		case he.status == http.StatusBadRequest:
			return "query rejected", fmt.Sprintf("%s rejected the query: %s", at, he.msg)
		case he.status == http.StatusUnauthorized || he.status == http.StatusForbidden:
			return "access denied", fmt.Sprintf("%s answered %d: check the user and password in the url, and the tenant", at, he.status)
		case he.status == http.StatusNotFound:
			return "unexpected answer", fmt.Sprintf("%s has no %s (404): is the url Loki's base URL?", at, queryPath)
		case he.status >= 500:
			return "Loki error", fmt.Sprintf("%s failed to answer (%d): %s", at, he.status, he.msg)
		}
		return "unexpected answer", fmt.Sprintf("%s answered %d: %s", at, he.status, he.msg)
	}
	return c.server.Unreachable(err)
}
