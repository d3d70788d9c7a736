package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/check/evidence/evidencetest"
	"github.com/rotorhq/rotor/internal/provider"
)

// Loki cannot be installed here (its module has replace directives; Debian's "loki" is an
// unrelated program), so these tests run the check against answers of the shape Loki's HTTP
// API documents (https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-logs-within-a-range-of-time),
// served by an httptest server that also asserts every request the check makes: the path,
// the method and the query parameters query, start and end (Unix nanoseconds) and step
// (seconds). The error bodies are the plain-text ones Loki writes (a LogQL parse error with
// 400, a 5xx from a querier).

func ptr(f float64) *float64 { return &f }

// lokiServer answers query_range with body and status, after checking the request against
// the expected query, range, step and tenant.
type lokiServer struct {
	t              *testing.T
	query, tenant  string
	from, to       time.Time
	step           time.Duration
	status         int
	contentType    string
	body           string
	mu             sync.Mutex
	requests       int
	user, password string
}

func (s *lokiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	t := s.t
	if r.Method != http.MethodGet || r.URL.Path != "/loki/api/v1/query_range" {
		t.Errorf("request %s %s, want GET /loki/api/v1/query_range", r.Method, r.URL.Path)
	}
	q := r.URL.Query()
	for k, want := range map[string]string{
		"query": s.query,
		"start": strconv.FormatInt(s.from.UnixNano(), 10),
		"end":   strconv.FormatInt(s.to.UnixNano(), 10),
		"step":  strconv.Itoa(int(s.step / time.Second)),
	} {
		if got := q.Get(k); got != want {
			t.Errorf("parameter %s = %q, want %q", k, got, want)
		}
	}
	if len(q) != 4 {
		t.Errorf("parameters %v, want only query, start, end and step", q)
	}
	if got := r.Header.Get("X-Scope-OrgID"); got != s.tenant {
		t.Errorf("X-Scope-OrgID %q, want %q", got, s.tenant)
	}
	if u, p, ok := r.BasicAuth(); s.user != "" && (!ok || u != s.user || p != s.password) {
		t.Errorf("basic auth %q %q %v, want %q", u, p, ok, s.user)
	}
	ct := s.contentType
	if ct == "" {
		ct = "application/json; charset=UTF-8"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(s.status)
	fmt.Fprint(w, s.body)
}

// matrix writes a documented query_range success answer: one series per labels, with
// values [<unix seconds>, "<value>"].
func matrix(series ...string) string {
	return `{"status":"success","data":{"resultType":"matrix","result":[` + strings.Join(series, ",") +
		`],"stats":{"summary":{"bytesProcessedPerSecond":1024,"linesProcessedPerSecond":10,"totalBytesProcessed":2048,"totalLinesProcessed":20,"execTime":0.002}}}}`
}

func oneSeries(labels string, pts ...any) string {
	var vals []string
	for i := 0; i < len(pts); i += 2 {
		vals = append(vals, fmt.Sprintf(`[%v,"%v"]`, pts[i], pts[i+1]))
	}
	return `{"metric":` + labels + `,"values":[` + strings.Join(vals, ",") + `]}`
}

func secs(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func run(t *testing.T, s *lokiServer, cfg Config, req provider.CheckRequest) provider.CheckResult {
	t.Helper()
	s.t = t
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	if cfg.URL == "" {
		cfg.URL = srv.URL
	} else {
		cfg.URL = strings.Replace(cfg.URL, "SERVER", strings.TrimPrefix(srv.URL, "http://"), 1)
	}
	res := evidencetest.Run(t, New, cfg, req)
	if s.requests != 1 {
		t.Errorf("%d requests, want 1", s.requests)
	}
	return res
}

// want asserts the verdict and what the reason or the message says.
var want = evidencetest.WantSaid

const query = `sum by (status) (count_over_time({app="orders"} | json | status=~"401|403|500" [5m]))`

func TestQueryRange(t *testing.T) {
	now := time.Date(2026, 11, 30, 22, 30, 0, 0, time.UTC)
	cut := now.Add(-20 * time.Minute)
	req := provider.CheckRequest{Since: cut, Now: now}
	answer := matrix(
		oneSeries(`{"status":"401"}`, secs(cut.Add(5*time.Minute)), 1, secs(cut.Add(10*time.Minute)), 4, secs(cut.Add(15*time.Minute)), 0),
		oneSeries(`{"status":"500"}`, secs(cut.Add(10*time.Minute))+".5", 2),
	)
	srv := func() *lokiServer {
		return &lokiServer{query: query, from: cut, to: now, step: 5 * time.Minute, status: 200, body: answer}
	}

	t.Run("pass, with a bin per point", func(t *testing.T) {
		res := run(t, srv(), Config{Query: query, Max: ptr(4)}, req)
		want(t, res, provider.Pass, "4 points of 2 series within max 4")
		wantBins := []provider.Bin{
			{Start: cut.Add(5 * time.Minute), Group: map[string]string{"status": "401"}, Count: 1},
			{Start: cut.Add(10 * time.Minute), Group: map[string]string{"status": "401"}, Count: 4},
			{Start: cut.Add(10*time.Minute + 500*time.Millisecond), Group: map[string]string{"status": "500"}, Count: 2},
			{Start: cut.Add(15 * time.Minute), Group: map[string]string{"status": "401"}, Count: 0},
		}
		got, _ := json.Marshal(res.Bins)
		exp, _ := json.Marshal(wantBins)
		if string(got) != string(exp) {
			t.Errorf("bins\n got %s\nwant %s", got, exp)
		}
		if res.Query != query || res.Threshold != "max 4" || res.Window == nil || !res.Window.From.Equal(cut) || !res.Window.To.Equal(now) {
			t.Errorf("query %q, threshold %q, window %+v", res.Query, res.Threshold, res.Window)
		}
		if !strings.Contains(res.Observed, `highest 4 ({status="401"} at 2026-11-30T22:20:00Z)`) {
			t.Errorf("observed %q", res.Observed)
		}
	})
	t.Run("fail names the series and point", func(t *testing.T) {
		res := run(t, srv(), Config{Query: query, Max: ptr(1)}, req)
		want(t, res, provider.Fail, "2 of 2 series above max 1", `{status="401"} was 4 at 2026-11-30T22:20:00Z`, `{status="500"} was 2`)
	})
	t.Run("window not full yet", func(t *testing.T) {
		s := srv()
		res := run(t, s, Config{Query: query, Max: ptr(10), Window: time.Hour}, req)
		want(t, res, provider.Unknown, "window not full yet", "so far 4 points")
		if !res.CompleteAt.Equal(cut.Add(time.Hour)) {
			t.Errorf("CompleteAt %s, want %s", res.CompleteAt, cut.Add(time.Hour))
		}
		res = run(t, srv(), Config{Query: query, Max: ptr(3), Window: time.Hour}, req)
		want(t, res, provider.Fail)
	})
	t.Run("window, step and tenant as asked", func(t *testing.T) {
		s := srv()
		s.from, s.step, s.tenant = now.Add(-10*time.Minute), time.Minute, "team-payments"
		s.user, s.password = "rotor", "hunter2"
		res := run(t, s, Config{URL: "http://rotor:hunter2@SERVER/", Query: query, Max: ptr(10), Window: 10 * time.Minute, Step: time.Minute, Tenant: "team-payments"}, req)
		want(t, res, provider.Pass)
		b, _ := json.Marshal(res)
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("result shows the password: %s", b)
		}
	})
	t.Run("empty matrix is no data", func(t *testing.T) {
		s := srv()
		s.body = matrix()
		res := run(t, s, Config{Query: query, Max: ptr(0)}, req)
		want(t, res, provider.Unknown, "no data", "no series")
		if res.Bins != nil {
			t.Errorf("bins %+v", res.Bins)
		}
	})
	t.Run("only NaN is no data", func(t *testing.T) {
		s := srv()
		s.body = matrix(oneSeries(`{}`, secs(now), "NaN"))
		res := run(t, s, Config{Query: query, Max: ptr(0)}, req)
		want(t, res, provider.Unknown, "no data", "only NaN")
	})
	t.Run("log query is not a metric query", func(t *testing.T) {
		s := srv()
		s.body = `{"status":"success","data":{"resultType":"streams","result":[{"stream":{"app":"orders"},"values":[["` +
			strconv.FormatInt(now.UnixNano(), 10) + `","GET /orders 401"]]}],"stats":{}}}`
		res := run(t, s, Config{Query: query, Max: ptr(0)}, req)
		want(t, res, provider.Unknown, "not a metric query")
		if strings.Contains(res.Message, "GET /orders") {
			t.Errorf("message %q shows a log line", res.Message)
		}
	})
	t.Run("parse error", func(t *testing.T) {
		s := srv()
		s.status, s.contentType = 400, "text/plain; charset=utf-8"
		s.body = "parse error at line 1, col 17: syntax error: unexpected IDENTIFIER, expecting ( or ,\n"
		res := run(t, s, Config{Query: query, Max: ptr(0)}, req)
		want(t, res, provider.Unknown, "query rejected", "parse error at line 1, col 17")
	})
	t.Run("server error", func(t *testing.T) {
		for _, c := range []struct {
			status int
			body   string
		}{
			{500, "rpc error: code = Unavailable desc = connection error\n"},
			{502, "<html><body>Bad Gateway</body></html>"},
			{503, `{"status":"error","errorType":"unavailable","error":"too many unhealthy instances in the ring"}`},
		} {
			s := srv()
			s.status, s.body = c.status, c.body
			res := run(t, s, Config{Query: query, Max: ptr(0)}, req)
			want(t, res, provider.Unknown, "Loki error", strconv.Itoa(c.status))
		}
		s := srv()
		s.status, s.body = 503, `{"status":"error","error":"too many unhealthy instances in the ring"}`
		res := run(t, s, Config{Query: query, Max: ptr(0)}, req)
		want(t, res, provider.Unknown, "failed to answer (503): too many unhealthy instances in the ring")
	})
	t.Run("not Loki", func(t *testing.T) {
		s := srv()
		s.body = "<html>welcome</html>"
		res := run(t, s, Config{Query: query, Max: ptr(0)}, req)
		want(t, res, provider.Unknown, "unexpected answer")
		s = srv()
		s.status, s.body = 401, "no org id\n"
		res = run(t, s, Config{Query: query, Max: ptr(0)}, req)
		want(t, res, provider.Unknown, "access denied")
	})
}

// The step widens when the window would need more points than Loki answers.
func TestLongWindowWidensStep(t *testing.T) {
	now := time.Date(2026, 11, 30, 22, 30, 0, 0, time.UTC)
	s := &lokiServer{query: query, from: now.Add(-30 * 24 * time.Hour), to: now, step: 236 * time.Second, status: 200,
		body: matrix(oneSeries(`{}`, secs(now), 0))}
	res := run(t, s, Config{Query: query, Max: ptr(0), Window: 30 * 24 * time.Hour, Step: time.Second}, provider.CheckRequest{Now: now})
	want(t, res, provider.Pass, "at step 3m56s")
}

// A Loki that is not there, or too slow, is missing evidence.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	now := time.Now()
	req := provider.CheckRequest{Since: now.Add(-time.Hour), Now: now}
	c, err := New(&Config{URL: "http://u:hunter2@" + addr, Query: query, Max: ptr(0)}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Check(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	want(t, res, provider.Unknown, "Loki unreachable", "connection refused")
	if strings.Contains(res.Message, "hunter2") {
		t.Errorf("message %q shows the password", res.Message)
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}))
	defer slow.Close()
	defer close(release)
	c, err = New(&Config{URL: slow.URL, Query: query, Max: ptr(0)}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond) // the check block's timeout
	defer cancel()
	began := time.Now()
	res, err = c.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want(t, res, provider.Unknown, "no answer in time", "did not answer before the check's timeout")
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("took %s with a 200ms deadline", d)
	}
}

// The check's only bound is its context's deadline, which the engine sets from the check
// block's timeout (default 30s): a longer `timeout: 90s` reaches every request to Loki, with
// no shorter bound of the check's own in front of it.
func TestBoundIsTheContextsDeadline(t *testing.T) {
	now := time.Date(2026, 11, 30, 22, 30, 0, 0, time.UTC)
	s := &lokiServer{t: t, query: query, from: now.Add(-time.Hour), to: now, step: 5 * time.Minute, status: 200,
		body: matrix(oneSeries(`{}`, secs(now), 0))}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, err := New(&Config{URL: srv.URL, Query: query, Max: ptr(0)}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &evidencetest.Deadlines{Next: c.server.Client.Transport}
	c.server.Client.Transport = rec
	want(t, rec.Check(t, c, provider.CheckRequest{Since: now.Add(-time.Hour), Now: now}), provider.Pass)
}

func TestValidate(t *testing.T) {
	ok := Config{URL: "http://loki:3100", Query: query, Max: ptr(0)}
	if errs := ok.Validate(); len(errs) != 0 {
		t.Fatalf("valid config: %v", errs)
	}
	for _, c := range []struct {
		field string
		mod   func(*Config)
	}{
		{"url", func(c *Config) { c.URL = "loki:3100" }},
		{"url", func(c *Config) { c.URL = "http://loki:3100#x" }},
		{"query", func(c *Config) { c.Query = "" }},
		{"max", func(c *Config) { c.Max = nil }},
		{"step", func(c *Config) { c.Step = 500 * time.Millisecond }},
		{"window", func(c *Config) { c.Window = -1 }},
		{"tenant", func(c *Config) { c.Tenant = "a\nb" }},
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
}
