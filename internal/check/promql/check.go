// Package promql is the `promql` check: it evaluates a PromQL expression on a Prometheus
// server, through the official Go client of its HTTP API, and holds every series it returns
// to a highest (`max`) and/or lowest (`min`) value.
//
// Without `range` the expression is evaluated once, at the check's time (an instant query).
// With `range` it is evaluated over the last `range` up to the check's time (or since the
// cutover, when that is later), at 61 points — a step of a sixtieth of that window, at least
// 1s — and every point of every series is judged: one point past a threshold is a fail,
// naming the series, its value and its time. A point is the expression's value at that
// instant, so a gauge's spike shorter than the step may fall between two points: to catch
// it, query max_over_time(gauge[<step>]); rates and increases over a window at least as long
// as the step see everything.
//
// Missing evidence is unknown, never a pass: an expression that returns no series, or only
// NaN; a Prometheus that cannot be reached, does not answer in time or rejects the query (the
// reason says which, with the server's error); and a range that reaches back before the
// cutover (req.Since), which is not full yet — unless it already holds a point past a
// threshold. Such a result carries CompleteAt, when the range will be full.
//
// The URL may carry user:password@, which is sent as HTTP basic auth; messages show the URL
// without it. Redirects are followed only to the same host, and answers are read up to
// 32 MiB.
package promql

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/rotorhq/rotor/internal/check/evidence"
	"github.com/rotorhq/rotor/internal/check/httpquery"
	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `promql` check's configuration.
type Config struct {
	URL   string        `yaml:"url" rotor:"required" doc:"Prometheus base URL (http:// or https://, with its path prefix if any). user:password@ in it is sent as basic auth and never shown."`
	Query string        `yaml:"query" rotor:"required" doc:"PromQL expression; every series it returns is held to the thresholds."`
	Range time.Duration `yaml:"range" doc:"Evaluate over this range up to now and judge every point (step range/60, at least 1s); default: one instant query. A range reaching back before the cutover is unknown until it is full, unless a point already breaks a threshold."`
	Max   *float64      `yaml:"max" doc:"Highest value allowed for any series at any point."`
	Min   *float64      `yaml:"min" doc:"Lowest value allowed for any series at any point."`
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	add := func(field, msg string) { out = append(out, provider.FieldError{Field: field, Msg: msg}) }
	if msg := httpquery.BaseURLProblem(c.URL); msg != "" {
		add("url", msg)
	}
	if strings.TrimSpace(c.Query) == "" {
		add("query", "is a PromQL expression")
	}
	if c.Max == nil && c.Min == nil {
		add("max", "a promql check needs a threshold: max, min or both")
	}
	for _, th := range []struct {
		name string
		v    *float64
	}{{"max", c.Max}, {"min", c.Min}} {
		if th.v != nil && math.IsNaN(*th.v) {
			add(th.name, "is a number; NaN compares with nothing")
		}
	}
	if c.Max != nil && c.Min != nil && *c.Min > *c.Max {
		add("min", fmt.Sprintf("is above max (%s > %s): no value could pass", evidence.Number(*c.Min), evidence.Number(*c.Max)))
	}
	if c.Range < 0 {
		add("range", "is a positive duration")
	} else if c.Range > 0 && c.Range < time.Second {
		add("range", "is at least 1s")
	}
	return out
}

const (
	op = "promql check"
	// points is how many points a range query asks for per series: the step is range/60.
	points = 60
	// minStep is the shortest step; Prometheus scrapes seldom run faster.
	minStep = time.Second
	// maxBins is how many series a result carries, the worst first.
	maxBins = 100
	// maxNamed is how many breaking series a fail's reason names.
	maxNamed = 3
	// valueKey is the Bin group key holding a series' exact value. Label names starting
	// with __ are reserved by Prometheus, so no series label can collide with it.
	valueKey = "__value__"
)

// Checker runs the query. It is safe for concurrent use.
type Checker struct {
	cfg    Config
	server *httpquery.Server
	api    v1.API
	env    provider.Env
}

// New builds the check. A configuration that fails Validate is a Terminal error. Prometheus
// is not contacted: a server down now is missing evidence when the check runs.
func New(cfg *Config, env provider.Env) (*Checker, error) {
	if err := evidence.Validated(op, cfg); err != nil {
		return nil, err
	}
	// The check's context bounds each query (see Check).
	server, err := httpquery.New("Prometheus", cfg.URL)
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, op, err)
	}
	ac, err := api.NewClient(api.Config{Address: cfg.URL, Client: server.Client})
	if err != nil {
		return nil, provider.Errorf(provider.Terminal, op, "url %s: %v", server.Safe, err)
	}
	return &Checker{cfg: *cfg, server: server, api: v1.NewAPI(ac), env: env}, nil
}

// step is the distance between the points of a range query over window: a sixtieth of it
// in whole milliseconds, at least minStep.
func step(window time.Duration) time.Duration {
	return max(minStep, (window / points).Truncate(time.Millisecond))
}

// Check evaluates the query at req.Now (or over the range up to it) and judges every point.
// It returns an error only for a request it cannot serve; every outcome of asking Prometheus
// is a result.
func (c *Checker) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResult, error) {
	now := evidence.Now(req, c.env)
	res := provider.CheckResult{At: now, Query: c.cfg.Query, Threshold: c.threshold()}
	unknown := func(reason, msg string) (provider.CheckResult, error) {
		res.Verdict, res.Reason, res.Message = provider.Unknown, reason, msg
		return res, nil
	}

	var opts []v1.Option
	if dl, ok := ctx.Deadline(); ok {
		// Let Prometheus give up a little before we do, so its own "query timed out" comes
		// back instead of a bare deadline. Whole seconds: the client writes the timeout as
		// Duration.String, and Prometheus reads "1.5s" as no duration at all.
		if d := (time.Until(dl) * 9 / 10).Truncate(time.Second); d > 0 {
			opts = append(opts, v1.WithTimeout(d))
		}
	}
	var (
		val        model.Value
		warns      v1.Warnings
		infos      v1.Infos
		err        error
		what       string
		completeAt time.Time // zero when the range is full
	)
	if c.cfg.Range == 0 {
		what = fmt.Sprintf("instant query at %s on %s", stamp(now), c.server.Safe)
		val, warns, infos, err = c.api.Query(ctx, c.cfg.Query, now, opts...)
	} else {
		window := evidence.Observe(req.Since, now, c.cfg.Range, 0)
		from := window.From
		completeAt = window.CompleteAt
		if !from.Before(now) {
			res.CompleteAt = completeAt
			return unknown("empty window", fmt.Sprintf("the range starts at the cutover, %s, which is not before now (%s): there is nothing to look at yet", stamp(from), stamp(now)))
		}
		res.Window = window.Interval()
		// Points end at now and go back by whole steps, none before from.
		st := step(now.Sub(from))
		start := now.Add(-(now.Sub(from) / st) * st)
		what = fmt.Sprintf("range query from %s to %s at step %s on %s", stamp(start), stamp(now), evidence.Duration(st), c.server.Safe)
		val, warns, infos, err = c.api.QueryRange(ctx, c.cfg.Query, v1.Range{Start: start, End: now, Step: st}, opts...)
	}
	notes := []string{what}
	if len(warns) > 0 {
		notes = append(notes, "Prometheus warned: "+strings.Join(warns, "; "))
	}
	if len(infos) > 0 {
		notes = append(notes, "Prometheus noted: "+strings.Join(infos, "; "))
	}
	if err != nil {
		reason, msg := c.failure(ctx, err)
		return unknown(reason, strings.Join(append([]string{msg}, notes...), "; "))
	}

	set, kind := collect(val)
	if kind != "" {
		return unknown("not numbers", fmt.Sprintf("the query returns a %s, which cannot be held to a threshold; %s", kind, strings.Join(notes, "; ")))
	}
	j := c.judge(set)
	notes = append(notes, j.notes...)
	msg := strings.Join(notes, "; ")
	if j.samples == 0 {
		res.CompleteAt = completeAt
		return unknown("no data", fmt.Sprintf("%s: a metric that is not there proves nothing; check the query and that Prometheus scrapes its target; %s", j.empty(), msg))
	}
	res.Message = msg
	res.Observed = j.observed()
	res.Bins = j.bins()

	if len(j.broken) > 0 {
		res.Verdict, res.Reason = provider.Fail, j.failReason(c)
		return res, nil
	}
	if !completeAt.IsZero() {
		// Points past a threshold are evidence whenever they come; their absence over a
		// range shorter than asked is only a short look.
		res.Verdict, res.CompleteAt = provider.Unknown, completeAt
		res.Reason = fmt.Sprintf("window not full yet: only %s of %s since the cutover at %s (complete at %s); so far %s",
			evidence.Duration(now.Sub(req.Since).Round(time.Second)), evidence.Duration(c.cfg.Range), stamp(req.Since), stamp(completeAt), j.passReason(c))
		return res, nil
	}
	res.Verdict, res.Reason = provider.Pass, j.passReason(c)
	return res, nil
}

// failure names what went wrong asking Prometheus: an unknown's reason and message.
func (c *Checker) failure(ctx context.Context, err error) (reason, msg string) {
	if reason, msg, ok := c.server.Unanswered(ctx, err, "narrow the query (aggregate with sum or topk)"); ok {
		return reason, msg
	}
	at := c.server.At()
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		switch apiErr.Type {
		case v1.ErrBadData:
			return "query rejected", fmt.Sprintf("%s rejected the query: %s", at, apiErr.Msg)
		case v1.ErrTimeout:
			return "query timed out", fmt.Sprintf("%s gave up on the query: %s", at, apiErr.Msg)
		case v1.ErrCanceled:
			return "query cancelled", fmt.Sprintf("%s cancelled the query: %s", at, apiErr.Msg)
		case v1.ErrExec:
			return "query failed", fmt.Sprintf("%s could not evaluate the query: %s", at, apiErr.Msg)
		case v1.ErrBadResponse:
			// The client decodes only scalars, vectors and matrices; an expression such as
			// "text" gets this error.
			if strings.HasPrefix(apiErr.Msg, "unexpected value type") {
				return "not numbers", fmt.Sprintf("%s returned a value that is not a number or series (%s), which cannot be held to a threshold", at, apiErr.Msg)
			}
		}
		msg := fmt.Sprintf("%s answered %s", at, apiErr.Msg)
		if d := evidence.OneLine(apiErr.Detail, 200); d != "" {
			msg += ": " + d
		}
		return "unexpected answer", msg + " (is the url a Prometheus server's base URL?)"
	}
	return c.server.Unreachable(err)
}

// series is one series of an answer, with its points.
type series struct {
	metric     model.Metric // nil for a scalar
	points     []model.SamplePair
	histograms int // native histogram points, which a threshold cannot judge
}

func (s *series) label() string {
	if s.metric == nil {
		return "scalar"
	}
	return s.metric.String()
}

// collect turns an answer into series; kind names an answer that holds no numbers.
func collect(val model.Value) (set []series, kind string) {
	switch v := val.(type) {
	case nil:
		return nil, ""
	case model.Vector:
		for _, s := range v {
			sr := series{metric: s.Metric}
			if s.Histogram != nil {
				sr.histograms = 1
			} else {
				sr.points = []model.SamplePair{{Timestamp: s.Timestamp, Value: s.Value}}
			}
			set = append(set, sr)
		}
	case model.Matrix: // a range query, or an instant query of a range selector (x[5m])
		for _, s := range v {
			set = append(set, series{metric: s.Metric, points: s.Values, histograms: len(s.Histograms)})
		}
	case *model.Scalar:
		set = append(set, series{points: []model.SamplePair{{Timestamp: v.Timestamp, Value: v.Value}}})
	case *model.String:
		return nil, "string"
	default:
		return nil, val.Type().String()
	}
	return set, ""
}

// verdict is what judge found.
type verdict struct {
	worst      []worst // one per series with a number, worst first
	broken     []worst // those past a threshold
	samples    int     // points with a number
	nan        int     // NaN points, which are skipped
	histograms int
	series     int
	low, high  *worst // the lowest and highest points
	notes      []string
}

// worst is a series' worst point: the one past a threshold by the most, or else the one
// closest to a threshold.
type worst struct {
	s      *series
	at     time.Time
	v      float64
	margin float64 // how far inside the thresholds; negative when past one
}

// judge holds every point of every series to the thresholds. NaN points are skipped (0/0 is
// a ratio of nothing, neither good nor bad); a series with only NaN has no worst point.
func (c *Checker) judge(set []series) verdict {
	var j verdict
	j.series = len(set)
	for i := range set {
		s := &set[i]
		j.histograms += s.histograms
		var w *worst
		for _, p := range s.points {
			v := float64(p.Value)
			if math.IsNaN(v) {
				j.nan++
				continue
			}
			j.samples++
			pt := worst{s: s, at: p.Timestamp.Time().UTC(), v: v, margin: c.margin(v)}
			if w == nil || pt.margin < w.margin {
				w = &pt
			}
			if j.low == nil || v < j.low.v {
				j.low = &pt
			}
			if j.high == nil || v > j.high.v {
				j.high = &pt
			}
		}
		if w != nil {
			j.worst = append(j.worst, *w)
		}
	}
	slices.SortStableFunc(j.worst, func(a, b worst) int {
		if a.margin != b.margin {
			if a.margin < b.margin {
				return -1
			}
			return 1
		}
		return strings.Compare(a.s.label(), b.s.label())
	})
	for _, w := range j.worst {
		if w.margin < 0 {
			j.broken = append(j.broken, w)
		}
	}
	if n := j.series - len(j.worst); n > 0 && j.samples > 0 {
		j.notes = append(j.notes, fmt.Sprintf("%d of %d series had no number to judge (only NaN or native histograms)", n, j.series))
	}
	if j.histograms > 0 {
		j.notes = append(j.notes, fmt.Sprintf("%d native histogram points not judged: use histogram_quantile or the _count/_sum series", j.histograms))
	}
	if len(j.worst) > maxBins {
		j.notes = append(j.notes, fmt.Sprintf("%d of %d series shown as bins (the worst)", maxBins, len(j.worst)))
	}
	return j
}

// margin is how far v lies inside the thresholds: the smaller of max-v and v-min.
func (c *Checker) margin(v float64) float64 {
	m := math.Inf(1)
	if c.cfg.Max != nil {
		m = min(m, *c.cfg.Max-v)
	}
	if c.cfg.Min != nil {
		m = min(m, v-*c.cfg.Min)
	}
	return m
}

func (j *verdict) empty() string {
	switch {
	case j.series == 0:
		return "the query returned no series"
	case j.histograms > 0 && j.nan == 0:
		return fmt.Sprintf("the query returned only native histograms (%d points)", j.histograms)
	}
	return fmt.Sprintf("the query returned only NaN (%d series, %d points)", j.series, j.nan)
}

func (j *verdict) failReason(c *Checker) string {
	var parts []string
	for i, w := range j.broken {
		if i == maxNamed {
			parts = append(parts, fmt.Sprintf("and %d more", len(j.broken)-maxNamed))
			break
		}
		parts = append(parts, fmt.Sprintf("%s was %s at %s, %s", w.s.label(), evidence.Number(w.v), stamp(w.at), c.broke(w.v)))
	}
	return fmt.Sprintf("%d of %d series past the threshold: %s", len(j.broken), len(j.worst), strings.Join(parts, "; "))
}

// broke names the threshold v is past.
func (c *Checker) broke(v float64) string {
	if c.cfg.Max != nil && v > *c.cfg.Max {
		return "above max " + evidence.Number(*c.cfg.Max)
	}
	return "below min " + evidence.Number(*c.cfg.Min)
}

func (j *verdict) passReason(c *Checker) string {
	return fmt.Sprintf("%s of %s within %s", plural(j.samples, "point"), plural(len(j.worst), "series"), c.threshold())
}

// observed sums the numbers up: one value, or the lowest and highest with their series.
func (j *verdict) observed() string {
	if j.samples == 1 {
		return fmt.Sprintf("%s = %s at %s", j.high.s.label(), evidence.Number(j.high.v), stamp(j.high.at))
	}
	s := fmt.Sprintf("%s, %s; lowest %s (%s at %s), highest %s (%s at %s)",
		plural(len(j.worst), "series"), plural(j.samples, "point"),
		evidence.Number(j.low.v), j.low.s.label(), stamp(j.low.at), evidence.Number(j.high.v), j.high.s.label(), stamp(j.high.at))
	if j.nan > 0 {
		s += fmt.Sprintf("; %s skipped", plural(j.nan, "NaN point"))
	}
	return s
}

// bins are the series' worst points, worst first: one Bin per series, not per point (a 30m
// range of 100 series is 6,100 points; the table of a change ticket wants one line per
// series, and the worst point is the one a threshold judges).
//
// A Bin counts in whole numbers and a PromQL value is a float (a rate, a ratio, a
// timestamp): Count holds the value rounded to the nearest integer (saturating), which is
// faithful for the counts most such checks hold to a max, and Group holds the series'
// labels plus the exact value under "__value__", a name no Prometheus label may have.
// Start is the time of that worst point. Observed has the lowest and highest exactly.
func (j *verdict) bins() []provider.Bin {
	n := min(len(j.worst), maxBins)
	out := make([]provider.Bin, 0, n)
	for _, w := range j.worst[:n] {
		g := map[string]string{valueKey: evidence.Number(w.v)}
		for k, v := range w.s.metric {
			g[string(k)] = string(v)
		}
		out = append(out, provider.Bin{Start: w.at, Group: g, Count: evidence.RoundCount(w.v)})
	}
	return out
}

func (c *Checker) threshold() string {
	var parts []string
	if c.cfg.Min != nil {
		parts = append(parts, "min "+evidence.Number(*c.cfg.Min))
	}
	if c.cfg.Max != nil {
		parts = append(parts, "max "+evidence.Number(*c.cfg.Max))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, word string) string {
	if n == 1 || strings.HasSuffix(word, "series") {
		return strconv.Itoa(n) + " " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// stamp writes a point's time, to the millisecond.
func stamp(t time.Time) string { return evidence.StampMilli(t) }
