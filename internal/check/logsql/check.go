// Package logsql is the `logsql` check: it counts log lines stored in VictoriaLogs, through
// the LogsQL query API of its HTTP server (/select/logsql/query), per time bin and grouped by
// fields, against thresholds — the most matching lines in any bin and group (`max`), the
// highest matching share of a bin's lines (`max_rate`), or the increase over the same length
// of time before the cutover (`max_increase`). It is the `log` check for logs that live in
// VictoriaLogs instead of local files.
//
// `query` selects the lines of the log (its stream and any pipes that shape them, such as
// unpack_json); `match` is the LogsQL filter of the lines that count. The check appends one
// stats pipe to the query and lets VictoriaLogs count:
//
//	<query> | stats by (_time:<bin>, <by>…) count() as rotor_total, count() if (<match>) as rotor_matches
//
// so no line ever leaves the server — only the counts and the values of the `by` fields.
//
// The whole log is counted, not only the matching lines, because missing evidence is unknown,
// never a pass: a log with no line in the window is silent, and a silent log proves neither
// use nor non-use. So are a server that cannot be reached or does not answer in time, a query
// it rejects (the reason carries its error), and a window that reaches back before the cutover
// and is not full yet (the result carries CompleteAt) — unless it already breaks a threshold.
//
// The URL may carry user:password@, which is sent as HTTP basic auth (as vmauth in front of
// VictoriaLogs expects); messages show the URL without it.
//
// "In time" is the check block's `timeout`, the deadline of the context the engine runs the
// check with; the check has no shorter bound of its own that would cap it.
package logsql

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/check/evidence"
	"github.com/rotorhq/rotor/internal/check/httpquery"
	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `logsql` check's configuration.
type Config struct {
	URL         string        `yaml:"url" rotor:"required" doc:"VictoriaLogs base URL (http:// or https://, with its path prefix if any). user:password@ in it is sent as basic auth and never shown."`
	Query       string        `yaml:"query" rotor:"required" doc:"LogsQL query selecting every line of the log, e.g. {app=\"orders\"}; it may end in pipes that shape lines, not in stats."`
	Match       string        `yaml:"match" doc:"LogsQL filter of the lines that count, e.g. status:in(401,403,500); default: every line."`
	Bin         time.Duration `yaml:"bin" doc:"Time bin width (default 5m)."`
	Window      time.Duration `yaml:"window" doc:"How far back from now to look (default: since cutover)."`
	By          []string      `yaml:"by" doc:"Log fields to group counts by."`
	Max         *int          `yaml:"max" doc:"Highest count allowed in any bin (per group)."`
	MaxRate     float64       `yaml:"max_rate" doc:"Highest matching fraction of all lines in any bin."`
	MaxIncrease float64       `yaml:"max_increase" doc:"Highest ratio against the same-length window before cutover."`
}

// fieldName is a field name the check writes into a query unquoted-safe; anything else (a
// space, a quote, a pipe) could change what the query means.
var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-]*$`)

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	add := func(field, msg string) { out = append(out, provider.FieldError{Field: field, Msg: msg}) }
	if msg := httpquery.BaseURLProblem(c.URL); msg != "" {
		add("url", msg)
	}
	if strings.TrimSpace(c.Query) == "" {
		add("query", "is a LogsQL query selecting the log's lines, such as {app=\"orders\"} or *")
	} else if statsPipe.MatchString(c.Query) {
		add("query", "selects lines; the check adds the stats pipe itself (use by, bin and match)")
	}
	if strings.ContainsAny(c.Match, "|") {
		add("match", "is a filter, without pipes: put pipes that shape lines at the end of query")
	}
	out = append(out, c.limits().Problems("logsql")...)
	for i, b := range c.By {
		switch {
		case !fieldName.MatchString(b):
			add("by", fmt.Sprintf("%q is not a field name (letters, digits, _, . and -)", b))
		case b == "_time" || b == totalField || b == matchField:
			add("by", fmt.Sprintf("%q cannot be grouped by: the check counts per bin of _time itself", b))
		case slices.Index(c.By, b) != i:
			add("by", fmt.Sprintf("lists %q twice", b))
		}
	}
	if c.Bin < 0 || (c.Bin > 0 && (c.Bin < time.Second || c.Bin%time.Second != 0)) {
		add("bin", "is whole seconds, at least 1s")
	}
	if c.Window < 0 {
		add("window", "is a positive duration")
	}
	return out
}

// limits are the check's thresholds, as the query checks that count lines share them.
func (c *Config) limits() evidence.CountLimits {
	return evidence.CountLimits{Max: c.Max, MaxRate: c.MaxRate, MaxIncrease: c.MaxIncrease}
}

// statsPipe finds a query that already aggregates: its answer would not be lines to count.
var statsPipe = regexp.MustCompile(`\|\s*(stats|count|uniq|top|facets)\b`)

const (
	op         = "logsql check"
	defaultBin = 5 * time.Minute
	totalField = "rotor_total"
	matchField = "rotor_matches"
	// maxAnswer bounds how much of an answer is read: more is a `by` to narrow.
	maxAnswer = httpquery.MaxAnswer
	// maxBins is how many (bin, group) counts a result carries; the highest are kept.
	maxBins = 500
)

// Checker counts lines in VictoriaLogs. It is safe for concurrent use.
type Checker struct {
	cfg    Config
	server *httpquery.Server
	bin    time.Duration
	env    provider.Env
}

// New builds the check. A configuration that fails Validate is a Terminal error. The server
// is not contacted: a server down now is missing evidence when the check runs.
func New(cfg *Config, env provider.Env) (*Checker, error) {
	if err := evidence.Validated(op, cfg); err != nil {
		return nil, err
	}
	c := &Checker{cfg: *cfg, bin: cmp.Or(cfg.Bin, defaultBin), env: env}
	server, err := httpquery.New("VictoriaLogs", cfg.URL)
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, op, err)
	}
	c.server = server
	return c, nil
}

// Check counts the lines of the window and judges them against the thresholds.
//
// The window runs from req.Since to req.Now; with `window`, from Now-window when that is
// later. Counts are made per bin (VictoriaLogs aligns _time buckets to the Unix epoch) and per
// group of the `by` fields. `max` holds for every bin and group; `max_rate` for every bin, as
// the share of the bin's lines (all groups) that match; `max_increase` compares the matching
// lines of the window with those of the same length of time just before req.Since.
//
// It returns an error only for a request it cannot serve; every outcome of asking
// VictoriaLogs is a result.
func (c *Checker) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResult, error) {
	now := evidence.Now(req, c.env)
	res := provider.CheckResult{At: now, Query: c.query(), Threshold: c.threshold()}
	unknown := func(reason, msg string) (provider.CheckResult, error) {
		res.Verdict, res.Reason, res.Message = provider.Unknown, reason, msg
		return res, nil
	}
	window := evidence.Observe(req.Since, now, c.cfg.Window, c.bin)
	from, completeAt, full := window.From, window.CompleteAt, window.Full()
	if from.IsZero() {
		return unknown("no start instant", "the request has no since (cutover) and the check no window: there is no time range to count")
	}
	if from.After(now) {
		return unknown("empty window", fmt.Sprintf("the window starts at %s, after now (%s)", evidence.Stamp(from), evidence.Stamp(now)))
	}
	res.Window = window.Interval()

	rows, err := c.run(ctx, c.query(), from, now)
	if err != nil {
		reason, msg := c.failure(ctx, err)
		return unknown(reason, msg)
	}
	cells, total, matches := c.cells(rows)
	where := fmt.Sprintf("counted on %s from %s to %s", c.server.Safe, evidence.Stamp(from), evidence.Stamp(now))
	if total == 0 {
		if !full {
			res.CompleteAt = completeAt
		}
		return unknown("no log lines in the window",
			fmt.Sprintf("the query found no line since %s: the log is silent (or the query selects nothing), and a silent log proves neither use nor non-use; %s", evidence.Stamp(from), where))
	}

	var base *baseline
	if c.cfg.MaxIncrease > 0 && !req.Since.IsZero() {
		span := now.Sub(from)
		b := baseline{from: req.Since.Add(-span), to: req.Since.Add(-time.Nanosecond)}
		rows, err := c.run(ctx, c.baselineQuery(), b.from, b.to)
		if err != nil {
			reason, msg := c.failure(ctx, err)
			return unknown(reason, "counting the lines before the cutover for max_increase: "+msg)
		}
		_, b.total, b.matches = c.cells(rows)
		base = &b
	}

	res.Message = fmt.Sprintf("%s; %d lines in the window, %d matching", where, total, matches)
	res.Bins, res.Observed = c.evidence(cells, total, matches, base, now)
	if len(cells) > maxBins {
		res.Message += fmt.Sprintf("; %d of %d bins shown (the highest counts)", maxBins, len(cells))
	}
	res.Verdict, res.Reason = c.judge(cells, total, matches, base, req, now)
	// Matches are use whenever they come; their absence over a window shorter than asked is
	// only a short look.
	if !full && res.Verdict != provider.Fail {
		res.Verdict, res.CompleteAt = provider.Unknown, completeAt
		res.Reason = fmt.Sprintf("window not full yet: only %s of %s since %s (complete at %s)",
			evidence.Duration(now.Sub(req.Since).Round(time.Second)), evidence.Duration(window.Length), evidence.Stamp(req.Since), evidence.Stamp(completeAt))
	}
	return res, nil
}

// baseline is the same length of time before the cutover, for max_increase.
type baseline struct {
	from, to       time.Time
	total, matches int
}

// query is the LogsQL the window is counted with.
func (c *Checker) query() string {
	by := []string{"_time:" + evidence.Duration(c.bin)}
	for _, f := range c.cfg.By {
		by = append(by, strconv.Quote(f))
	}
	return fmt.Sprintf("%s | stats by (%s) %s", strings.TrimSpace(c.cfg.Query), strings.Join(by, ", "), c.counts())
}

// baselineQuery counts the time before the cutover, in one number.
func (c *Checker) baselineQuery() string {
	return fmt.Sprintf("%s | stats %s", strings.TrimSpace(c.cfg.Query), c.counts())
}

func (c *Checker) counts() string {
	m := "count()"
	if strings.TrimSpace(c.cfg.Match) != "" {
		m = "count() if (" + strings.TrimSpace(c.cfg.Match) + ")"
	}
	return fmt.Sprintf("count() as %s, %s as %s", totalField, m, matchField)
}

// httpError is an answer that is not a 200: VictoriaLogs says what it did not like in the
// body, as plain text.
type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d: %s", e.status, e.body) }

// run asks VictoriaLogs for the rows of a stats query over [from, to] and decodes them: one
// JSON object per line, every value a string.
func (c *Checker) run(ctx context.Context, query string, from, to time.Time) ([]map[string]string, error) {
	form := url.Values{
		"query": {query},
		"start": {from.UTC().Format(time.RFC3339Nano)},
		"end":   {to.UTC().Format(time.RFC3339Nano)},
	}
	r, err := c.server.Request(ctx, http.MethodPost, "select/logsql/query", nil, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.server.Client.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// The client stops reading past maxAnswer; counting the lines read tells an answer cut
	// there from a short one.
	body := resp.Body
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(body, 4096))
		return nil, &httpError{status: resp.StatusCode, body: evidence.OneLine(string(b), 500)}
	}
	var rows []map[string]string
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), maxAnswer)
	read := 0
	for sc.Scan() {
		line := sc.Bytes()
		read += len(line) + 1
		if read > maxAnswer {
			return nil, errTooLarge
		}
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		row, err := decodeRow(line)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNotRows, err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, errTooLarge
		}
		return nil, err
	}
	return rows, nil
}

// decodeRow reads one row of a stats answer. VictoriaLogs writes every value as a string;
// anything else is kept as its JSON text.
func decodeRow(line []byte) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, err
	}
	row := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			s = string(v)
		}
		row[k] = s
	}
	return row, nil
}

var (
	errTooLarge = httpquery.ErrTooLarge
	errNotRows  = errors.New("not LogsQL rows")
)

// cell is one count: a bin and a group.
type cell struct {
	bin          time.Time
	group        []string
	count, total int
}

// cells turns rows into counts, in order of bin then group, with the totals of the window.
// A row whose numbers do not parse is skipped: VictoriaLogs writes counts as decimal strings.
func (c *Checker) cells(rows []map[string]string) (cells []cell, total, matches int) {
	for _, r := range rows {
		cl := cell{}
		var err1, err2 error
		cl.total, err1 = strconv.Atoi(r[totalField])
		cl.count, err2 = strconv.Atoi(r[matchField])
		if err1 != nil || err2 != nil {
			continue
		}
		if t, ok := r["_time"]; ok {
			cl.bin, _ = time.Parse(time.RFC3339Nano, t)
		}
		for _, f := range c.cfg.By {
			v, ok := r[f]
			if !ok || v == "" {
				v = "-"
			}
			cl.group = append(cl.group, v)
		}
		total += cl.total
		matches += cl.count
		cells = append(cells, cl)
	}
	slices.SortFunc(cells, func(a, b cell) int {
		if n := a.bin.Compare(b.bin); n != 0 {
			return n
		}
		return slices.Compare(a.group, b.group)
	})
	return cells, total, matches
}

// judge compares the counts with the thresholds. Any threshold broken is a fail, naming the
// worst bin and group; otherwise a threshold that cannot be judged makes the verdict unknown.
func (c *Checker) judge(cells []cell, total, matches int, base *baseline, req provider.CheckRequest, now time.Time) (provider.Verdict, string) {
	var fails, unknowns []string
	if c.cfg.Max != nil {
		if w := worstCell(cells); w != nil && w.count > *c.cfg.Max {
			fails = append(fails, fmt.Sprintf("%s in bin %s%s, max %d",
				evidence.Count(w.count, "matching line"), evidence.BinLabel(w.bin, now), c.groupLabel(w.group), *c.cfg.Max))
		}
	}
	if c.cfg.MaxRate > 0 {
		if bin, n, t := worstRate(cells); t > 0 && float64(n) > c.cfg.MaxRate*float64(t) {
			fails = append(fails, fmt.Sprintf("%d of %d lines (%s) matched in bin %s, max %s",
				n, t, evidence.Percent(float64(n)/float64(t)), evidence.BinLabel(bin, now), evidence.Percent(c.cfg.MaxRate)))
		}
	}
	if c.cfg.MaxIncrease > 0 {
		switch {
		case base == nil:
			unknowns = append(unknowns, "max_increase needs the cutover (since) to compare with the time before it")
		case base.total == 0:
			unknowns = append(unknowns, fmt.Sprintf("no log lines from %s to %s (before the cutover) to compare with: the log does not reach back that far, or was silent",
				evidence.Stamp(base.from), evidence.Stamp(req.Since)))
		case base.matches == 0 && matches > 0:
			// Nothing to divide by: an increase from none is unbounded, whatever the ratio.
			fails = append(fails, fmt.Sprintf("%s since %s against none in the same length of time before (%d lines there): an increase from zero is unbounded, max %sx",
				evidence.Count(matches, "matching line"), evidence.Stamp(req.Since), base.total, evidence.Ratio(c.cfg.MaxIncrease)))
		case base.matches > 0 && float64(matches) > c.cfg.MaxIncrease*float64(base.matches):
			fails = append(fails, fmt.Sprintf("%s in the window against %d in the same length of time before %s (%sx), max %sx",
				evidence.Count(matches, "matching line"), base.matches, evidence.Stamp(req.Since), evidence.Ratio(float64(matches)/float64(base.matches)), evidence.Ratio(c.cfg.MaxIncrease)))
		}
	}
	return evidence.Judge(fails, unknowns, fmt.Sprintf("%d matching of %d lines in the window, within the thresholds", matches, total))
}

// worstCell is the highest count, the earliest on a tie.
func worstCell(cells []cell) *cell {
	var w *cell
	for i := range cells {
		if w == nil || cells[i].count > w.count {
			w = &cells[i]
		}
	}
	return w
}

// worstRate is the bin with the highest matching share (all groups together), the earliest
// on a tie.
func worstRate(cells []cell) (bin time.Time, n, total int) {
	type sum struct{ n, t int }
	per := map[time.Time]*sum{}
	var order []time.Time
	for _, c := range cells {
		s := per[c.bin]
		if s == nil {
			s = &sum{}
			per[c.bin] = s
			order = append(order, c.bin)
		}
		s.n += c.count
		s.t += c.total
	}
	for _, b := range order { // in time order: cells are sorted
		s := per[b]
		if s.t == 0 {
			continue
		}
		if total == 0 || s.n*total > n*s.t {
			bin, n, total = b, s.n, s.t
		}
	}
	return bin, n, total
}

// evidence turns the counts into the result's bins (the highest maxBins, in time order) and
// its observed numbers.
func (c *Checker) evidence(cells []cell, total, matches int, base *baseline, now time.Time) ([]provider.Bin, string) {
	shown := cells
	if len(shown) > maxBins {
		shown = slices.Clone(cells)
		slices.SortStableFunc(shown, func(a, b cell) int { return b.count - a.count })
		shown = shown[:maxBins]
		slices.SortStableFunc(shown, func(a, b cell) int { return a.bin.Compare(b.bin) })
	}
	bins := make([]provider.Bin, 0, len(shown))
	for _, cl := range shown {
		b := provider.Bin{Start: cl.bin.UTC(), Count: cl.count, Total: cl.total}
		if len(c.cfg.By) > 0 {
			b.Group = map[string]string{}
			for i, f := range c.cfg.By {
				b.Group[f] = cl.group[i]
			}
		}
		bins = append(bins, b)
	}
	obs := fmt.Sprintf("%d matching of %d lines in the window", matches, total)
	if w := worstCell(cells); w != nil {
		obs += fmt.Sprintf("; highest bin %d at %s%s", w.count, evidence.BinLabel(w.bin, now), c.groupLabel(w.group))
	}
	if c.cfg.MaxRate > 0 {
		if b, n, t := worstRate(cells); t > 0 {
			obs += fmt.Sprintf("; highest share %s (%d of %d) at %s", evidence.Percent(float64(n)/float64(t)), n, t, evidence.BinLabel(b, now))
		}
	}
	if base != nil {
		obs += fmt.Sprintf("; %d matching of %d lines from %s to %s", base.matches, base.total, evidence.Stamp(base.from), evidence.Stamp(base.to))
	}
	return bins, obs
}

func (c *Checker) groupLabel(group []string) string { return evidence.GroupLabel(c.cfg.By, group) }

// threshold describes the thresholds, for the result.
func (c *Checker) threshold() string {
	return c.cfg.limits().Describe(len(c.cfg.By) > 0, "the cutover")
}

// failure names what went wrong asking VictoriaLogs: an unknown's reason and message.
func (c *Checker) failure(ctx context.Context, err error) (reason, msg string) {
	at := c.server.At()
	if errors.Is(err, errNotRows) {
		return "unexpected answer", fmt.Sprintf("%s answered something that is not LogsQL rows (%v): is the url a VictoriaLogs server's base URL?", at, err)
	}
	if reason, msg, ok := c.server.Unanswered(ctx, err, "group by fewer fields or use a wider bin"); ok {
		return reason, msg
	}
	var he *httpError
	if errors.As(err, &he) {
		switch {
		case he.status == http.StatusBadRequest:
			return "query rejected", fmt.Sprintf("%s rejected the query: %s", at, he.body)
		case he.status == http.StatusUnauthorized || he.status == http.StatusForbidden:
			return "access denied", fmt.Sprintf("%s answered %d: check the user and password in the url", at, he.status)
		case he.status == http.StatusNotFound:
			return "unexpected answer", fmt.Sprintf("%s has no /select/logsql/query (404): is the url a VictoriaLogs server's base URL?", at)
		}
		return "VictoriaLogs error", fmt.Sprintf("%s answered %d: %s", at, he.status, he.body)
	}
	return c.server.Unreachable(err)
}
