package kql

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/rotorhq/rotor/internal/check/evidence/evidencetest"
	"github.com/rotorhq/rotor/internal/provider"
)

// No Azure account is reachable from these tests, and there is no Log Analytics emulator.
// They run the check through Microsoft's real azlogs client — its request building, bearer
// token policy and response decoding — against an httptest TLS server that replays answers
// of the shape the Log Analytics query API documents
// (https://learn.microsoft.com/azure/azure-monitor/logs/api/response-format: tables with
// columns and rows; errors as {"error":{"code","message","innererror"}}; a partial result as
// tables plus "error" with code PartialError), with azcore's fake TokenCredential. The server
// also asserts each request: the path with the workspace id, the bearer token, and the body's
// generated query and timespan.

const workspace = "2a3b4c5d-0000-1111-2222-333344445555"

func ptr(n int) *int { return &n }

type server struct {
	t          *testing.T
	wantQuery  string
	wantSpan   string
	status     int
	body       string
	delay      time.Duration
	mu         sync.Mutex
	requests   int
	gotQueries []string
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	t := s.t
	if r.Method != http.MethodPost || r.URL.Path != "/v1/workspaces/"+workspace+"/query" {
		t.Errorf("request %s %s, want POST /v1/workspaces/%s/query", r.Method, r.URL.Path, workspace)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer fake_token" {
		t.Errorf("Authorization %q, want the credential's bearer token", got)
	}
	var body struct {
		Query    string `json:"query"`
		Timespan string `json:"timespan"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Errorf("body %s: %v", b, err)
	}
	s.mu.Lock()
	s.gotQueries = append(s.gotQueries, body.Query)
	s.mu.Unlock()
	if s.wantQuery != "" && body.Query != s.wantQuery {
		t.Errorf("query\n got %s\nwant %s", body.Query, s.wantQuery)
	}
	if s.wantSpan != "" && body.Timespan != s.wantSpan {
		t.Errorf("timespan %q, want %q", body.Timespan, s.wantSpan)
	}
	if s.delay > 0 {
		select {
		case <-r.Context().Done():
		case <-time.After(s.delay):
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(s.status)
	io.WriteString(w, s.body)
}

func run(t *testing.T, s *server, cfg Config, req provider.CheckRequest, cred *azfake.TokenCredential) provider.CheckResult {
	t.Helper()
	return evidencetest.Check(t, checker(t, s, cfg, cred), req)
}

// checker builds the check against s, served over TLS, through azlogs without retries.
func checker(t *testing.T, s *server, cfg Config, cred *azfake.TokenCredential) *Checker {
	t.Helper()
	s.t = t
	srv := httptest.NewTLSServer(s)
	t.Cleanup(srv.Close)
	cfg.WorkspaceID = workspace
	cfg.Endpoint = srv.URL
	if cred == nil {
		cred = &azfake.TokenCredential{}
	}
	c, err := build(&cfg, provider.Env{}, options{cred: cred, transport: srv.Client(), retry: policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return c
}

// want asserts the verdict and what the reason or the message says.
var want = evidencetest.WantSaid

// table writes a documented success answer: one PrimaryResult table.
func table(rows ...string) string {
	return `{"tables":[{"name":"PrimaryResult","columns":[` +
		`{"name":"TimeGenerated","type":"datetime"},{"name":"CsHost","type":"string"},{"name":"CsUriStem","type":"string"},` +
		`{"name":"ScStatus","type":"int"},{"name":"rotor_count","type":"long"}],"rows":[` + strings.Join(rows, ",") + `]}]}`
}

func TestQueryWorkspace(t *testing.T) {
	now := time.Date(2026, 11, 30, 22, 30, 0, 0, time.UTC)
	cut := now.Add(-20 * time.Minute)
	req := provider.CheckRequest{Since: cut, Now: now}
	cfg := Config{Table: "AppServiceHTTPLogs", Status: []int{401, 403, 500}, By: []string{"CsHost", "CsUriStem", "ScStatus"}, Max: ptr(3)}
	wantQuery := `AppServiceHTTPLogs | where TimeGenerated between (datetime(2026-11-30T22:10:00.0000000Z) .. datetime(2026-11-30T22:30:00.0000000Z))` +
		` | where ScStatus in (401, 403, 500) | summarize rotor_count = count() by bin(TimeGenerated, 5m), CsHost, CsUriStem, ScStatus`
	answer := table(
		`["2026-11-30T22:15:00Z","orders.example.com","/api/orders",401,3]`,
		`["2026-11-30T22:10:00Z","orders.example.com","/api/orders",500,1]`,
		`["2026-11-30T22:20:00Z","orders.example.com","/login",403,2]`,
	)
	ok := func() *server {
		return &server{wantQuery: wantQuery, wantSpan: "2026-11-30T22:10:00Z/2026-11-30T22:30:00Z", status: 200, body: answer}
	}

	t.Run("pass, rows as bins", func(t *testing.T) {
		res := run(t, ok(), cfg, req, nil)
		want(t, res, provider.Pass, "6 matching records in the window, at most 3 in a bin, within max 3")
		wantBins := []provider.Bin{
			{Start: cut, Group: map[string]string{"CsHost": "orders.example.com", "CsUriStem": "/api/orders", "ScStatus": "500"}, Count: 1},
			{Start: cut.Add(5 * time.Minute), Group: map[string]string{"CsHost": "orders.example.com", "CsUriStem": "/api/orders", "ScStatus": "401"}, Count: 3},
			{Start: cut.Add(10 * time.Minute), Group: map[string]string{"CsHost": "orders.example.com", "CsUriStem": "/login", "ScStatus": "403"}, Count: 2},
		}
		got, _ := json.Marshal(res.Bins)
		exp, _ := json.Marshal(wantBins)
		if string(got) != string(exp) {
			t.Errorf("bins\n got %s\nwant %s", got, exp)
		}
		if res.Query != wantQuery || res.Threshold != "at most 3 matching records per bin and group" {
			t.Errorf("query %q, threshold %q", res.Query, res.Threshold)
		}
		if res.Window == nil || !res.Window.From.Equal(cut) || !res.Window.To.Equal(now) {
			t.Errorf("window %+v", res.Window)
		}
	})
	t.Run("fail names the bin and group", func(t *testing.T) {
		c := cfg
		c.Max = ptr(2)
		res := run(t, ok(), c, req, nil)
		want(t, res, provider.Fail, "3 matching records in bin 22:15 UTC (CsHost=orders.example.com, CsUriStem=/api/orders, ScStatus=401), max 2")
	})
	t.Run("match values are quoted", func(t *testing.T) {
		s := ok()
		s.wantQuery = ""
		c := cfg
		c.Match = map[string][]string{"CsHost": {`orders".example.com`}, "user agent": {`a\b`}}
		run(t, s, c, req, nil)
		if len(s.gotQueries) != 1 || !strings.Contains(s.gotQueries[0], ` | where CsHost in ("orders\".example.com") | where ['user agent'] in ("a\\b") | summarize`) {
			t.Errorf("queries %q", s.gotQueries)
		}
	})
	t.Run("window not full yet", func(t *testing.T) {
		c := cfg
		c.Window = time.Hour
		res := run(t, ok(), c, req, nil)
		want(t, res, provider.Unknown, "window not full yet")
		if !res.CompleteAt.Equal(cut.Add(time.Hour)) || len(res.Bins) != 3 {
			t.Errorf("CompleteAt %s, bins %d", res.CompleteAt, len(res.Bins))
		}
		c.Max = ptr(0)
		want(t, run(t, ok(), c, req, nil), provider.Fail)
	})
	t.Run("no rows", func(t *testing.T) {
		s := ok()
		s.body = table()
		res := run(t, s, cfg, req, nil)
		want(t, res, provider.Unknown, "no rows", "diagnostic settings")
		s = ok()
		s.body = `{"tables":[]}`
		want(t, run(t, s, cfg, req, nil), provider.Unknown, "no rows")
	})
	t.Run("partial error", func(t *testing.T) {
		s := ok()
		s.body = strings.TrimSuffix(table(`["2026-11-30T22:15:00Z","orders.example.com","/api/orders",401,1]`), "}") +
			`,"error":{"code":"PartialError","message":"There were some errors when processing your query.","details":[{"code":"EngineError",` +
			`"message":"Something went wrong processing your query on the server.","innererror":{"code":"-2133196797",` +
			`"message":"The results of this query exceed the set limit of 64000000 bytes, so not all records were returned (E_QUERY_RESULT_SET_TOO_LARGE, 0x80DA0003).","severity":2,"severityName":"Error"}}]}}`
		res := run(t, s, cfg, req, nil)
		want(t, res, provider.Unknown, "partial answer", "PartialError", "exceed the set limit")
	})
	t.Run("query rejected", func(t *testing.T) {
		s := ok()
		s.status = 400
		s.body = `{"error":{"message":"The request had some invalid properties","code":"BadArgumentError","correlationId":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",` +
			`"innererror":{"code":"SemanticError","message":"A semantic error occurred.","innererror":{"code":"SEM0100","message":"'where' operator: Failed to resolve column or scalar expression named 'ScStatus'"}}}}`
		res := run(t, s, cfg, req, nil)
		want(t, res, provider.Unknown, "query rejected", "BadArgumentError", "Failed to resolve column or scalar expression named 'ScStatus'")
	})
	t.Run("access denied", func(t *testing.T) {
		s := ok()
		s.status = 403
		s.body = `{"error":{"message":"The provided credentials have insufficient access to perform the requested operation","code":"InsufficientAccessError","correlationId":"x"}}`
		want(t, run(t, s, cfg, req, nil), provider.Unknown, "access denied", "Log Analytics Reader", "insufficient access")
	})
	t.Run("workspace not found", func(t *testing.T) {
		s := ok()
		s.status = 404
		s.body = `{"error":{"message":"The workspace could not be found","code":"WorkspaceNotFoundError","correlationId":"x"}}`
		want(t, run(t, s, cfg, req, nil), provider.Unknown, "workspace not found", "WorkspaceNotFoundError")
	})
	t.Run("server error", func(t *testing.T) {
		s := ok()
		s.status = 503
		s.body = `{"error":{"message":"Service is temporarily unavailable","code":"ServiceUnavailableError"}}`
		want(t, run(t, s, cfg, req, nil), provider.Unknown, "Log Analytics error", "503", "temporarily unavailable")
	})
	t.Run("no credential", func(t *testing.T) {
		cred := &azfake.TokenCredential{}
		cred.SetError(errors.New("DefaultAzureCredential: failed to acquire a token: no managed identity endpoint"))
		s := ok()
		res := run(t, s, cfg, req, cred)
		want(t, res, provider.Unknown, "no Azure credential", "no managed identity endpoint")
		if s.requests != 0 {
			t.Errorf("%d requests reached the workspace without a token", s.requests)
		}
	})
	t.Run("unexpected columns", func(t *testing.T) {
		s := ok()
		s.body = `{"tables":[{"name":"PrimaryResult","columns":[{"name":"x","type":"long"}],"rows":[[1]]}]}`
		want(t, run(t, s, cfg, req, nil), provider.Unknown, "unexpected answer", "no column TimeGenerated")
	})
	t.Run("timeout", func(t *testing.T) {
		s := ok()
		s.delay = 10 * time.Second
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		began := time.Now()
		res, err := checker(t, s, cfg, nil).Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		want(t, res, provider.Unknown, "no answer in time", "did not answer before the check's timeout")
		if d := time.Since(began); d > 5*time.Second {
			t.Errorf("took %s with a 300ms deadline", d)
		}
	})
}

// The check's only bound is its context's deadline, which the engine sets from the check
// block's timeout (default 30s): a longer `timeout: 90s` reaches the query to the workspace,
// with no shorter bound of the check's own in front of it.
func TestBoundIsTheContextsDeadline(t *testing.T) {
	now := time.Date(2026, 11, 30, 22, 30, 0, 0, time.UTC)
	s := &server{t: t, status: 200, body: table(`["2026-11-30T22:10:00Z","h","/","401",1]`)}
	srv := httptest.NewTLSServer(s)
	defer srv.Close()
	rec := &evidencetest.Deadlines{Next: srv.Client().Transport}
	cfg := Config{WorkspaceID: workspace, Endpoint: srv.URL, Table: "AppServiceHTTPLogs", By: []string{"CsHost", "CsUriStem", "ScStatus"}, Max: ptr(3)}
	c, err := build(&cfg, provider.Env{}, options{cred: &azfake.TokenCredential{}, transport: rec, retry: policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	want(t, rec.Check(t, c, provider.CheckRequest{Since: now.Add(-20 * time.Minute), Now: now}), provider.Pass)
}

// New uses DefaultAzureCredential; building it fetches no token and contacts nothing.
func TestNewWithDefaultCredential(t *testing.T) {
	c, err := New(&Config{WorkspaceID: workspace, Table: "AppServiceHTTPLogs", Max: ptr(0)}, provider.Env{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if c.endpoint != defaultEndpoint || c.bin != defaultBin {
		t.Errorf("defaults: endpoint %s, bin %s", c.endpoint, c.bin)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{WorkspaceID: workspace, Table: "AppServiceHTTPLogs", Max: ptr(0)}
	if errs := ok.Validate(); len(errs) != 0 {
		t.Fatalf("valid config: %v", errs)
	}
	for _, c := range []struct {
		field string
		mod   func(*Config)
	}{
		{"workspace_id", func(c *Config) { c.WorkspaceID = "my-workspace" }},
		{"endpoint", func(c *Config) { c.Endpoint = "http://api.loganalytics.io" }},
		{"endpoint", func(c *Config) { c.Endpoint = "https://u:p@api.loganalytics.io" }},
		{"endpoint", func(c *Config) { c.Endpoint = "https://api.loganalytics.io/v1" }},
		{"table", func(c *Config) { c.Table = "" }},
		{"table", func(c *Config) { c.Table = "Logs\n| take 1" }},
		{"time_column", func(c *Config) { c.TimeColumn = "\x00" }},
		{"status_column", func(c *Config) { c.StatusColumn = "Status" }},
		{"match", func(c *Config) { c.Match = map[string][]string{"CsHost": nil} }},
		{"match", func(c *Config) { c.Match = map[string][]string{"CsHost": {"a\rb"}} }},
		{"by", func(c *Config) { c.By = []string{"TimeGenerated"} }},
		{"by", func(c *Config) { c.By = []string{"rotor_count"} }},
		{"by", func(c *Config) { c.By = []string{"A", "A"} }},
		{"by", func(c *Config) { c.By = []string{""} }},
		{"bin", func(c *Config) { c.Bin = 1500 * time.Millisecond }},
		{"window", func(c *Config) { c.Window = -1 }},
		{"max", func(c *Config) { c.Max = nil }},
		{"max", func(c *Config) { c.Max = ptr(-1) }},
	} {
		cfg := ok
		c.mod(&cfg)
		errs := cfg.Validate()
		if len(errs) != 1 || errs[0].Field != c.field {
			t.Errorf("%+v: errors %v, want one for %s", cfg, errs, c.field)
		}
		if _, err := New(&cfg, provider.Env{}); err == nil || provider.KindOf(err) != provider.Terminal {
			t.Errorf("New(%+v): %v, want a terminal error", cfg, err)
		}
	}
	// Names that are not plain identifiers are fine: they are bracket-quoted.
	odd := ok
	odd.Table, odd.By, odd.Match = "my table's logs", []string{"where", "a-b"}, map[string][]string{"in": {`"); drop`}}
	if errs := odd.Validate(); len(errs) != 0 {
		t.Errorf("odd but quotable names: %v", errs)
	}
}

func TestTimespan(t *testing.T) {
	for d, want := range map[time.Duration]string{5 * time.Minute: "5m", 2 * time.Hour: "2h", 90 * time.Second: "90s", 36 * time.Hour: "36h"} {
		if got := timespan(d); got != want {
			t.Errorf("timespan(%s) = %s, want %s", d, got, want)
		}
	}
	if got := datetime(time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))); got != "datetime(2026-01-02T02:04:05.1234567Z)" {
		t.Errorf("datetime: %s", got)
	}
}
