package logsql

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/check/evidence/evidencetest"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/testenv"
)

func ptr(n int) *int { return &n }

// check builds a checker for cfg and runs it with req: every outcome of asking VictoriaLogs is a
// result, not an error.
func check(t *testing.T, cfg Config, req provider.CheckRequest) provider.CheckResult {
	t.Helper()
	return evidencetest.Run(t, New, cfg, req)
}

// want asserts the verdict and what the reason says.
var want = evidencetest.Want

// TestAgainstVictoriaLogs runs the check against a real VictoriaLogs (the release
// scripts/test.sh installs, started by testenv; or $ROTOR_TEST_VICTORIALOGS_URL). The test
// writes access-log lines through the JSON line API, stamped around a cutover twenty minutes
// ago, all in a stream of its own, and then counts them through the check:
//
//	cut-10m: host h1: one 401, five 200      (before the cutover: the baseline)
//	cut:     host h1: three 401, one 200
//	cut+5m:  host h2: one 401, two 200
func TestAgainstVictoriaLogs(t *testing.T) {
	vl := testenv.StartVictoriaLogs(t)
	tag := testenv.UniqueName("logsql")
	now := time.Now().UTC()
	cut := now.Truncate(5 * time.Minute).Add(-20 * time.Minute)
	line := func(at time.Time, host, status string) map[string]any {
		return map[string]any{"_time": at, "_msg": "GET /orders " + status, "test": tag, "host": host, "status": status}
	}
	var entries []map[string]any
	add := func(n int, at time.Time, host, status string) {
		for i := range n {
			entries = append(entries, line(at.Add(time.Duration(i)*time.Second), host, status))
		}
	}
	add(1, cut.Add(-10*time.Minute), "h1", "401")
	add(5, cut.Add(-10*time.Minute), "h1", "200")
	add(3, cut.Add(time.Minute), "h1", "401")
	add(1, cut.Add(2*time.Minute), "h1", "200")
	add(1, cut.Add(6*time.Minute), "h2", "401")
	add(2, cut.Add(7*time.Minute), "h2", "200")
	vl.Ingest(t, []string{"test"}, entries...)

	base := Config{URL: vl.URL, Query: `{test="` + tag + `"}`, Match: "status:in(401, 403, 500)", By: []string{"host"}}
	req := provider.CheckRequest{Since: cut, Now: now}
	with := func(f func(*Config)) Config {
		c := base
		f(&c)
		return c
	}

	t.Run("pass under max, with bins per host", func(t *testing.T) {
		res := check(t, with(func(c *Config) { c.Max = ptr(3) }), req)
		want(t, res, provider.Pass, "4 matching of 7 lines in the window")
		wantBins := []provider.Bin{
			{Start: cut, Group: map[string]string{"host": "h1"}, Count: 3, Total: 4},
			{Start: cut.Add(5 * time.Minute), Group: map[string]string{"host": "h2"}, Count: 1, Total: 3},
		}
		got, _ := json.Marshal(res.Bins)
		exp, _ := json.Marshal(wantBins)
		if string(got) != string(exp) {
			t.Errorf("bins\n got %s\nwant %s", got, exp)
		}
		if res.Window == nil || !res.Window.From.Equal(cut) || !res.Window.To.Equal(now) {
			t.Errorf("window %+v, want %s to %s", res.Window, cut, now)
		}
		if !strings.Contains(res.Query, `| stats by (_time:5m, "host") count() as rotor_total, count() if (status:in(401, 403, 500)) as rotor_matches`) {
			t.Errorf("query %q", res.Query)
		}
		if res.Threshold != "at most 3 matching lines per bin and group" || !strings.Contains(res.Observed, "highest bin 3 at") {
			t.Errorf("threshold %q, observed %q", res.Threshold, res.Observed)
		}
	})
	t.Run("fail over max names the bin and group", func(t *testing.T) {
		res := check(t, with(func(c *Config) { c.Max = ptr(2) }), req)
		want(t, res, provider.Fail, "3 matching lines in bin ", cut.UTC().Format("15:04 UTC"), "host=h1", "max 2") // the bin's date shows when it is not today's
	})
	t.Run("without by, one count per bin", func(t *testing.T) {
		res := check(t, with(func(c *Config) { c.By = nil; c.Max = ptr(0) }), req)
		want(t, res, provider.Fail, "3 matching lines in bin")
		if len(res.Bins) != 2 || res.Bins[0].Group != nil || res.Bins[1].Count != 1 || res.Bins[1].Total != 3 {
			t.Errorf("bins %+v", res.Bins)
		}
	})
	t.Run("max_rate", func(t *testing.T) {
		res := check(t, with(func(c *Config) { c.MaxRate = 0.5 }), req)
		want(t, res, provider.Fail, "3 of 4 lines (75%) matched", "max 50%")
		res = check(t, with(func(c *Config) { c.MaxRate = 0.8 }), req)
		want(t, res, provider.Pass)
	})
	t.Run("max_increase against the same length before the cutover", func(t *testing.T) {
		res := check(t, with(func(c *Config) { c.MaxIncrease = 3 }), req)
		want(t, res, provider.Fail, "4 matching lines in the window against 1", "(4.00x), max 3.00x")
		res = check(t, with(func(c *Config) { c.MaxIncrease = 4 }), req)
		want(t, res, provider.Pass)
		if !strings.Contains(res.Observed, "1 matching of 6 lines from") {
			t.Errorf("observed %q: want the baseline's counts", res.Observed)
		}
		// Without a cutover there is nothing to compare with.
		res = check(t, with(func(c *Config) { c.MaxIncrease = 4; c.Window = time.Hour }), provider.CheckRequest{Now: now})
		want(t, res, provider.Unknown, "needs the cutover")
	})
	t.Run("match nothing still passes on a live log", func(t *testing.T) {
		res := check(t, with(func(c *Config) { c.Match = "status:503"; c.Max = ptr(0) }), req)
		want(t, res, provider.Pass, "0 matching of 7 lines")
	})
	t.Run("silent log is unknown", func(t *testing.T) {
		res := check(t, with(func(c *Config) { c.Query = `{test="` + tag + `-none"}`; c.Max = ptr(0) }), req)
		want(t, res, provider.Unknown, "no log lines in the window")
		if res.Bins != nil {
			t.Errorf("bins %+v on no data", res.Bins)
		}
	})
	t.Run("window not full yet", func(t *testing.T) {
		res := check(t, with(func(c *Config) { c.Max = ptr(5); c.Window = time.Hour }), req)
		want(t, res, provider.Unknown, "window not full yet")
		if !res.CompleteAt.Equal(cut.Add(time.Hour)) {
			t.Errorf("CompleteAt %s, want %s", res.CompleteAt, cut.Add(time.Hour))
		}
		if len(res.Bins) != 2 {
			t.Errorf("bins %+v: the counts so far are evidence too", res.Bins)
		}
		// A broken threshold is evidence already.
		res = check(t, with(func(c *Config) { c.Max = ptr(1); c.Window = time.Hour }), req)
		want(t, res, provider.Fail)
	})
	t.Run("window ends at req.Now", func(t *testing.T) {
		res := check(t, with(func(c *Config) { c.Max = ptr(5) }), provider.CheckRequest{Since: cut, Now: cut.Add(5 * time.Minute)})
		want(t, res, provider.Pass, "3 matching of 4 lines")
	})
	t.Run("query rejected", func(t *testing.T) {
		res := check(t, with(func(c *Config) { c.Match = "status:in(401"; c.Max = ptr(0) }), req)
		want(t, res, provider.Unknown, "query rejected")
		if !strings.Contains(res.Message, "cannot parse") {
			t.Errorf("message %q: want the server's error", res.Message)
		}
	})
	t.Run("password never shown", func(t *testing.T) {
		u := strings.Replace(vl.URL, "http://", "http://rotor:hunter2@", 1)
		res := check(t, with(func(c *Config) { c.URL = u; c.Max = ptr(5) }), req)
		want(t, res, provider.Pass)
		b, _ := json.Marshal(res)
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("result shows the password: %s", b)
		}
	})
}

// A server that is not there, or does not answer in time, is missing evidence.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	now := time.Now()
	req := provider.CheckRequest{Since: now.Add(-time.Hour), Now: now}
	res := check(t, Config{URL: "http://u:hunter2@" + addr, Query: "*", Max: ptr(0)}, req)
	want(t, res, provider.Unknown, "VictoriaLogs unreachable")
	if !strings.Contains(res.Message, "connection refused") || strings.Contains(res.Message, "hunter2") {
		t.Errorf("message %q", res.Message)
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}))
	defer slow.Close()
	defer close(release) // before Close, which waits for the handler
	c, err := New(&Config{URL: slow.URL, Query: "*", Max: ptr(0)}, provider.Env{})
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
	want(t, res, provider.Unknown, "no answer in time")
	if !strings.Contains(res.Message, "did not answer before the check's timeout") {
		t.Errorf("message %q", res.Message)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("took %s with a 200ms deadline", d)
	}

	notVL := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/select/logsql/query" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("<html>hello</html>\n"))
	}))
	defer notVL.Close()
	res = check(t, Config{URL: notVL.URL, Query: "*", Max: ptr(0)}, req)
	want(t, res, provider.Unknown, "unexpected answer")
	res = check(t, Config{URL: notVL.URL + "/prefix", Query: "*", Max: ptr(0)}, req)
	want(t, res, provider.Unknown, "unexpected answer")
}

// The check's only bound is its context's deadline, which the engine sets from the check
// block's timeout (default 30s): a longer `timeout: 90s` reaches every request to
// VictoriaLogs, with no shorter bound of the check's own in front of it.
func TestBoundIsTheContextsDeadline(t *testing.T) {
	quiet := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})) // no line: an answer all the same
	defer quiet.Close()
	c, err := New(&Config{URL: quiet.URL, Query: "*", Max: ptr(0)}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &evidencetest.Deadlines{Next: c.server.Client.Transport}
	c.server.Client.Transport = rec
	now := time.Now()
	want(t, rec.Check(t, c, provider.CheckRequest{Since: now.Add(-time.Hour), Now: now}), provider.Unknown, "no log lines in the window")
}

func TestValidate(t *testing.T) {
	ok := Config{URL: "http://vl:9428", Query: "*", Max: ptr(0)}
	if errs := ok.Validate(); len(errs) != 0 {
		t.Fatalf("valid config: %v", errs)
	}
	for _, c := range []struct {
		field string
		mod   func(*Config)
	}{
		{"url", func(c *Config) { c.URL = "vl:9428" }},
		{"url", func(c *Config) { c.URL = "http://vl:9428/?x=1" }},
		{"query", func(c *Config) { c.Query = " " }},
		{"query", func(c *Config) { c.Query = "* | stats count()" }},
		{"match", func(c *Config) { c.Match = "a | b" }},
		{"max", func(c *Config) { c.Max = nil }},
		{"max", func(c *Config) { c.Max = ptr(-1) }},
		{"by", func(c *Config) { c.By = []string{"a b"} }},
		{"by", func(c *Config) { c.By = []string{`x"), y`} }},
		{"by", func(c *Config) { c.By = []string{"_time"} }},
		{"by", func(c *Config) { c.By = []string{"h", "h"} }},
		{"bin", func(c *Config) { c.Bin = 1500 * time.Millisecond }},
		{"window", func(c *Config) { c.Window = -time.Second }},
		{"max_rate", func(c *Config) { c.MaxRate = 1.5 }},
		{"max_increase", func(c *Config) { c.MaxIncrease = -1 }},
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
