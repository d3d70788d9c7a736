// Package kql is the `kql` check: it counts the records of an Azure Monitor Log Analytics
// workspace table (App Service HTTP logs, Application Gateway logs, any table with a time
// column) per time bin, grouped by columns, through Microsoft's Go SDK (azlogs), and holds
// every bin and group to a highest count (`max`).
//
// The Kusto query is generated from the check's fields, never taken as text (see query.go):
//
//	AppServiceHTTPLogs | where TimeGenerated between (datetime(…) .. datetime(…))
//	| where ScStatus in (401, 403, 500) | where CsHost in ("orders.example.com")
//	| summarize rotor_count = count() by bin(TimeGenerated, 5m), CsHost, CsUriStem, ScStatus
//
// so a column or value written in the inventory can only be a name or a value in it.
//
// The check authenticates with azidentity's DefaultAzureCredential: a managed identity,
// workload identity, environment variables or an Azure CLI login, in that family of sources.
// Its identity needs read access to the workspace (Log Analytics Reader).
//
// Missing evidence is unknown, never a pass: no rows (Log Analytics returns none when no
// record matched — so a check proving quiet must also prove the table is fed, which this
// check cannot tell from no rows; the reason says so), a partial answer (the service's
// PartialError: some data was not read), a workspace that cannot be reached, does not answer
// before the check block's `timeout` (the deadline of the context the engine runs the check
// with; the check has no shorter bound of its own), refuses the identity or rejects the
// query, and a window that reaches back before the cutover and is not full yet (the result
// carries CompleteAt) — unless a bin already breaks the threshold.
package kql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/monitor/query/azlogs"

	"github.com/rotorhq/rotor/internal/check/evidence"
	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `kql` check's configuration.
type Config struct {
	WorkspaceID  string              `yaml:"workspace_id" rotor:"required" doc:"Log Analytics workspace id (a GUID, from the workspace's Properties)."`
	Endpoint     string              `yaml:"endpoint" doc:"Log Analytics query endpoint (default https://api.loganalytics.io; https://api.loganalytics.azure.cn or https://api.loganalytics.us for the national clouds)."`
	Table        string              `yaml:"table" rotor:"required" doc:"Table to count, e.g. AppServiceHTTPLogs."`
	TimeColumn   string              `yaml:"time_column" doc:"Its time column (default TimeGenerated)."`
	Status       []int               `yaml:"status" doc:"Status values that count (default: every record)."`
	StatusColumn string              `yaml:"status_column" doc:"The column status is matched on (default ScStatus)."`
	Match        map[string][]string `yaml:"match" doc:"Column -> string values that count, e.g. {CsHost: [orders.example.com]}."`
	By           []string            `yaml:"by" doc:"Columns to group counts by, e.g. [CsHost, CsUriStem, ScStatus]."`
	Bin          time.Duration       `yaml:"bin" doc:"Time bin width (default 5m)."`
	Window       time.Duration       `yaml:"window" doc:"How far back from now to look (default: since cutover)."`
	Max          *int                `yaml:"max" rotor:"required" doc:"Highest count allowed in any bin (per group)."`
}

var workspaceID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	add := func(field, msg string) { out = append(out, provider.FieldError{Field: field, Msg: msg}) }
	if !workspaceID.MatchString(c.WorkspaceID) {
		add("workspace_id", "is the workspace's id, a GUID such as 2a3b4c5d-0000-1111-2222-333344445555")
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
			add("endpoint", "is an https:// URL with a host only, such as https://api.loganalytics.io")
		}
	}
	name := func(field, n string) {
		if n == "" {
			return
		}
		if _, err := quoteName(n); err != nil {
			add(field, fmt.Sprintf("%q %v", n, err))
		}
	}
	if c.Table == "" {
		add("table", "names the table to count, e.g. AppServiceHTTPLogs")
	}
	name("table", c.Table)
	name("time_column", c.TimeColumn)
	name("status_column", c.StatusColumn)
	if c.StatusColumn != "" && len(c.Status) == 0 {
		add("status_column", "is only read with status")
	}
	for _, col := range slices.Sorted(maps.Keys(c.Match)) {
		name("match", col)
		if len(c.Match[col]) == 0 {
			add("match", fmt.Sprintf("%s lists no value: no record would count", col))
		}
		for _, v := range c.Match[col] {
			if _, err := quoteString(v); err != nil {
				add("match", fmt.Sprintf("value %q of %s %v", v, col, err))
			}
		}
	}
	tc := c.timeColumn()
	for i, b := range c.By {
		switch {
		case b == "":
			add("by", "lists an empty column name")
		case b == tc || b == countColumn:
			add("by", fmt.Sprintf("%q cannot be grouped by: the check counts per bin of %s into %s", b, tc, countColumn))
		case slices.Index(c.By, b) != i:
			add("by", fmt.Sprintf("lists %q twice", b))
		default:
			name("by", b)
		}
	}
	if c.Bin < 0 || (c.Bin > 0 && (c.Bin < time.Second || c.Bin%time.Second != 0)) {
		add("bin", "is whole seconds, at least 1s")
	}
	if c.Window < 0 {
		add("window", "is a positive duration")
	}
	if c.Max == nil {
		add("max", "a kql check needs a threshold: max")
	} else if *c.Max < 0 {
		add("max", "is a count, 0 or more")
	}
	return out
}

func (c *Config) timeColumn() string {
	if c.TimeColumn == "" {
		return "TimeGenerated"
	}
	return c.TimeColumn
}

const (
	op              = "kql check"
	defaultBin      = 5 * time.Minute
	defaultEndpoint = "https://api.loganalytics.io"
	// maxBins is how many (bin, group) counts a result carries; the highest are kept.
	maxBins = 500
)

// Checker runs the query. It is safe for concurrent use.
type Checker struct {
	cfg      Config
	bin      time.Duration
	endpoint string
	client   *azlogs.Client
	env      provider.Env
}

// options are what tests inject instead of Azure: a credential and a transport.
type options struct {
	cred      azcore.TokenCredential
	transport policy.Transporter
	retry     policy.RetryOptions
}

// New builds the check with DefaultAzureCredential. A configuration that fails Validate is a
// Terminal error. The workspace is not contacted, and no token is fetched: a workspace
// unreachable now is missing evidence when the check runs.
func New(cfg *Config, env provider.Env) (*Checker, error) {
	return build(cfg, env, options{})
}

func build(cfg *Config, env provider.Env, o options) (*Checker, error) {
	if err := evidence.Validated(op, cfg); err != nil {
		return nil, err
	}
	c := &Checker{cfg: *cfg, bin: cfg.Bin, endpoint: strings.TrimRight(cfg.Endpoint, "/"), env: env}
	if c.bin == 0 {
		c.bin = defaultBin
	}
	if c.endpoint == "" {
		c.endpoint = defaultEndpoint
	}
	cred := o.cred
	if cred == nil {
		dc, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, provider.Wrap(provider.Terminal, op, fmt.Errorf("Azure credential: %w", err))
		}
		cred = dc
	}
	cred = markTokenErrors{cred}
	// The audience of a Log Analytics endpoint is the endpoint itself, in every cloud. A nil
	// transport is azcore's own, which has no overall timeout: the check's context is the
	// bound (see Check).
	opts := &azlogs.ClientOptions{ClientOptions: azcore.ClientOptions{
		Cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			azlogs.ServiceName: {Audience: c.endpoint, Endpoint: c.endpoint},
		}},
		Transport: o.transport,
		Retry:     o.retry,
	}}
	client, err := azlogs.NewClient(cred, opts)
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, op, err)
	}
	c.client = client
	return c, nil
}

// Check counts the records of the window and judges every bin and group. It returns an
// error only for a request it cannot serve; every outcome of asking the workspace is a
// result.
func (c *Checker) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResult, error) {
	now := evidence.Now(req, c.env)
	res := provider.CheckResult{At: now, Threshold: c.threshold()}
	unknown := func(reason, msg string) (provider.CheckResult, error) {
		res.Verdict, res.Reason, res.Message = provider.Unknown, reason, msg
		return res, nil
	}
	window := evidence.Observe(req.Since, now, c.cfg.Window, c.bin)
	from, completeAt := window.From, window.CompleteAt
	if from.IsZero() {
		return unknown("no start instant", "the request has no since (cutover) and the check no window: there is no time range to count")
	}
	if from.After(now) {
		return unknown("empty window", fmt.Sprintf("the window starts at %s, after now (%s)", evidence.Stamp(from), evidence.Stamp(now)))
	}
	res.Window = window.Interval()
	query, err := c.spec(from, now).build()
	if err != nil {
		// Validate refuses the same names and values: this is a bug, not missing evidence.
		return res, provider.Wrap(provider.Terminal, op, err)
	}
	res.Query = query

	// No deadline of the check's own: ctx carries the check block's timeout, which the
	// engine sets, and a shorter bound here would cap it unseen.
	// The timespan is applied on top of the query's own where: whole seconds around it.
	span := azlogs.NewTimeInterval(from.UTC().Truncate(time.Second), now.UTC().Add(time.Second-1).Truncate(time.Second))
	resp, err := c.client.QueryWorkspace(ctx, c.cfg.WorkspaceID, azlogs.QueryBody{Query: &query, Timespan: &span}, nil)
	where := fmt.Sprintf("workspace %s at %s", c.cfg.WorkspaceID, c.endpoint)
	if err != nil {
		reason, msg := c.failure(ctx, err, where)
		return unknown(reason, msg)
	}
	if resp.Error != nil {
		return unknown("partial answer", fmt.Sprintf("%s answered with an error (%s), so some records may not have been counted: %s", where, resp.Error.Code, errorMessage(resp.Error)))
	}
	cells, err := c.cells(resp.Tables)
	if err != nil {
		return unknown("unexpected answer", fmt.Sprintf("%s: %v", where, err))
	}
	if len(cells) == 0 {
		res.CompleteAt = completeAt
		return unknown("no rows", fmt.Sprintf("no %s record matched from %s to %s: Log Analytics returns no row for zero, so this cannot tell a quiet service from a table nobody feeds (check the diagnostic settings that send logs to the workspace); %s",
			c.cfg.Table, evidence.Stamp(from), evidence.Stamp(now), where))
	}
	total := 0
	for _, cl := range cells {
		total += cl.count
	}
	res.Message = fmt.Sprintf("counted in %s; %d matching records in %d bins and groups", where, total, len(cells))
	res.Bins, res.Observed = c.evidence(cells, total, now)
	if len(cells) > maxBins {
		res.Message += fmt.Sprintf("; %d of %d bins shown (the highest counts)", maxBins, len(cells))
	}
	w := worstCell(cells)
	if w.count > *c.cfg.Max {
		res.Verdict = provider.Fail
		res.Reason = fmt.Sprintf("%d matching records in bin %s%s, max %d", w.count, evidence.BinLabel(w.bin, now), c.groupLabel(w.group), *c.cfg.Max)
		return res, nil
	}
	if !completeAt.IsZero() {
		res.Verdict, res.CompleteAt = provider.Unknown, completeAt
		res.Reason = fmt.Sprintf("window not full yet: only %s of %s since %s (complete at %s)",
			evidence.Duration(now.Sub(req.Since).Round(time.Second)), evidence.Duration(window.Length), evidence.Stamp(req.Since), evidence.Stamp(completeAt))
		return res, nil
	}
	res.Verdict = provider.Pass
	res.Reason = fmt.Sprintf("%d matching records in the window, at most %d in a bin, within max %d", total, w.count, *c.cfg.Max)
	return res, nil
}

func (c *Checker) spec(from, to time.Time) spec {
	s := spec{table: c.cfg.Table, timeColumn: c.cfg.timeColumn(), status: c.cfg.Status, statusColumn: c.cfg.StatusColumn,
		match: c.cfg.Match, by: c.cfg.By, bin: c.bin, from: from, to: to}
	if s.statusColumn == "" {
		s.statusColumn = "ScStatus"
	}
	return s
}

// cell is one count: a bin and a group.
type cell struct {
	bin   time.Time
	group []string
	count int
}

// cells reads the rows of the first table by column name: the binned time, the `by`
// columns and the count.
func (c *Checker) cells(tables []azlogs.Table) ([]cell, error) {
	if len(tables) == 0 {
		return nil, nil
	}
	t := tables[0]
	idx := map[string]int{}
	for i, col := range t.Columns {
		if col.Name != nil {
			idx[*col.Name] = i
		}
	}
	need := append([]string{c.cfg.timeColumn(), countColumn}, c.cfg.By...)
	for _, n := range need {
		if _, ok := idx[n]; !ok {
			return nil, fmt.Errorf("the answer has no column %s (columns: %s)", n, columnNames(t.Columns))
		}
	}
	var out []cell
	for i, row := range t.Rows {
		if len(row) != len(t.Columns) {
			return nil, fmt.Errorf("row %d has %d values for %d columns", i, len(row), len(t.Columns))
		}
		ts, ok := row[idx[c.cfg.timeColumn()]].(string)
		at, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil {
			return nil, fmt.Errorf("row %d: %s %v is not a time", i, c.cfg.timeColumn(), row[idx[c.cfg.timeColumn()]])
		}
		n, ok := row[idx[countColumn]].(float64)
		if !ok || n < 0 || n != math.Trunc(n) || n > 1<<53 {
			return nil, fmt.Errorf("row %d: count %v is not a count", i, row[idx[countColumn]])
		}
		cl := cell{bin: at.UTC(), count: int(n)}
		for _, b := range c.cfg.By {
			cl.group = append(cl.group, value(row[idx[b]]))
		}
		out = append(out, cl)
	}
	slices.SortFunc(out, func(a, b cell) int {
		if n := a.bin.Compare(b.bin); n != 0 {
			return n
		}
		return slices.Compare(a.group, b.group)
	})
	return out, nil
}

// value writes a cell of a group column: strings as they are, numbers as numbers, null as -.
func value(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func columnNames(cols []azlogs.Column) string {
	var names []string
	for _, c := range cols {
		if c.Name != nil {
			names = append(names, *c.Name)
		}
	}
	return strings.Join(names, ", ")
}

// worstCell is the highest count, the earliest on a tie. cells is not empty.
func worstCell(cells []cell) *cell {
	w := &cells[0]
	for i := range cells {
		if cells[i].count > w.count {
			w = &cells[i]
		}
	}
	return w
}

func (c *Checker) evidence(cells []cell, total int, now time.Time) ([]provider.Bin, string) {
	shown := cells
	if len(shown) > maxBins {
		shown = slices.Clone(cells)
		slices.SortStableFunc(shown, func(a, b cell) int { return b.count - a.count })
		shown = shown[:maxBins]
		slices.SortStableFunc(shown, func(a, b cell) int { return a.bin.Compare(b.bin) })
	}
	bins := make([]provider.Bin, 0, len(shown))
	for _, cl := range shown {
		b := provider.Bin{Start: cl.bin, Count: cl.count}
		if len(c.cfg.By) > 0 {
			b.Group = map[string]string{}
			for i, f := range c.cfg.By {
				b.Group[f] = cl.group[i]
			}
		}
		bins = append(bins, b)
	}
	w := worstCell(cells)
	return bins, fmt.Sprintf("%d matching records; highest bin %d at %s%s", total, w.count, evidence.BinLabel(w.bin, now), c.groupLabel(w.group))
}

func (c *Checker) groupLabel(group []string) string { return evidence.GroupLabel(c.cfg.By, group) }

func (c *Checker) threshold() string {
	per := "bin"
	if len(c.cfg.By) > 0 {
		per = "bin and group"
	}
	return fmt.Sprintf("at most %d matching records per %s", *c.cfg.Max, per)
}

// failure names what went wrong asking the workspace: an unknown's reason and message.
func (c *Checker) failure(ctx context.Context, err error, where string) (reason, msg string) {
	var re *azcore.ResponseError
	var te *tokenError
	switch {
	case errors.As(err, &te):
		return "no Azure credential", fmt.Sprintf("could not get a token for %s: %s", where, evidence.OneLine(te.err.Error(), 400))
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "no answer in time", where + " did not answer before the check's timeout"
	case ctx.Err() != nil:
		return "interrupted", where + ": the check was cancelled before the answer came"
	case errors.As(err, &re):
		detail := responseMessage(re)
		switch {
		case re.StatusCode == http.StatusBadRequest:
			return "query rejected", fmt.Sprintf("%s rejected the query (%s): %s", where, re.ErrorCode, detail)
		case re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden:
			return "access denied", fmt.Sprintf("%s refused the identity (%d %s): it needs read access to the workspace (Log Analytics Reader); %s", where, re.StatusCode, re.ErrorCode, detail)
		case re.StatusCode == http.StatusNotFound:
			return "workspace not found", fmt.Sprintf("%s: %s (%s)", where, detail, re.ErrorCode)
		}
		return "Log Analytics error", fmt.Sprintf("%s answered %d (%s): %s", where, re.StatusCode, re.ErrorCode, detail)
	}
	return "Log Analytics unreachable", fmt.Sprintf("%s: %s", where, evidence.OneLine(err.Error(), 400))
}

// markTokenErrors tells the failures of getting a token (no managed identity, no login)
// from those of the query, whatever credential the chain used.
type markTokenErrors struct{ azcore.TokenCredential }

func (m markTokenErrors) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := m.TokenCredential.GetToken(ctx, o)
	if err != nil {
		return tok, &tokenError{err: err}
	}
	return tok, nil
}

type tokenError struct{ err error }

func (e *tokenError) Error() string { return "Azure credential: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// responseMessage is the message of an error answer,
// {"error":{"code":…,"message":…,"innererror":{"message":…}}}, with the innermost detail.
func responseMessage(re *azcore.ResponseError) string {
	if re.RawResponse == nil || re.RawResponse.Body == nil {
		return "no detail"
	}
	b, _ := io.ReadAll(io.LimitReader(re.RawResponse.Body, 64<<10))
	var body struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(b, &body) != nil || body.Error == nil {
		if s := evidence.OneLine(string(b), 300); s != "" {
			return s
		}
		return "no detail"
	}
	return body.Error.describe()
}

// apiError is the error object of Log Analytics answers.
type apiError struct {
	Code       string     `json:"code"`
	Message    string     `json:"message"`
	Details    []apiError `json:"details"`
	InnerError *apiError  `json:"innererror"`
}

func (e *apiError) describe() string {
	parts := []string{e.Message}
	for in := e.InnerError; in != nil; in = in.InnerError {
		if in.Message != "" {
			parts = append(parts, in.Message)
		}
	}
	for _, d := range e.Details {
		parts = append(parts, d.describe())
	}
	return evidence.OneLine(strings.Join(parts, ": "), 600)
}

// errorMessage describes the error of a 200 answer (a partial result).
func errorMessage(e *azlogs.ErrorInfo) string {
	var a apiError
	if json.Unmarshal([]byte(e.Error()), &a) != nil {
		return evidence.OneLine(e.Error(), 600)
	}
	return a.describe()
}
