package promql

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/check/evidence/evidencetest"
	"github.com/rotorhq/rotor/internal/check/httpquery"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/testenv"
)

func ptr(f float64) *float64 { return &f }

// check builds a checker for cfg and runs it with req: every outcome of asking Prometheus is a
// result, not an error.
func check(t *testing.T, cfg Config, req provider.CheckRequest) provider.CheckResult {
	t.Helper()
	return evidencetest.Run(t, New, cfg, req)
}

// want asserts the verdict and what the reason says.
var want = evidencetest.Want

// TestAgainstPrometheus runs every check that needs data against one real Prometheus (the
// Debian package, started by testenv), scraping this test's metrics endpoint every second.
// The subtests run in parallel, each on metrics of its own.
func TestAgainstPrometheus(t *testing.T) {
	m := testenv.ServeMetrics(t)
	p := testenv.StartPrometheus(t, testenv.PrometheusOptions{ScrapeTargets: []string{m.Target()}})
	began := time.Now()
	m.Set("rotor_pq_errors", "# TYPE rotor_pq_errors gauge\nrotor_pq_errors{host=\"a\"} 3\nrotor_pq_errors{host=\"b\"} 7")
	m.Set("rotor_pq_spike", "rotor_pq_spike 1")
	p.WaitForSample(t, `count(rotor_pq_errors) == 2`)
	t.Logf("first samples after %s", time.Since(began).Round(time.Millisecond))

	t.Run("instant", func(t *testing.T) {
		t.Parallel()
		t.Run("pass under max", func(t *testing.T) {
			t.Parallel()
			now := time.Now()
			res := check(t, Config{URL: p.URL, Query: "rotor_pq_errors", Max: ptr(10)}, provider.CheckRequest{Now: now})
			want(t, res, provider.Pass, "2 points of 2 series within max 10")
			if res.Threshold != "max 10" || res.Query != "rotor_pq_errors" || !res.At.Equal(now) || res.Window != nil {
				t.Errorf("threshold %q, query %q, at %s, window %v", res.Threshold, res.Query, res.At, res.Window)
			}
			if !strings.Contains(res.Observed, "lowest 3 (") || !strings.Contains(res.Observed, "highest 7 (") {
				t.Errorf("observed %q: want the lowest and highest values", res.Observed)
			}
			if !strings.Contains(res.Message, "instant query at "+stamp(now)+" on "+p.URL) {
				t.Errorf("message %q: want the query's time and server", res.Message)
			}
			// One bin per series, the one closest to the threshold first, with its exact value.
			if len(res.Bins) != 2 {
				t.Fatalf("bins %+v: want one per series", res.Bins)
			}
			b := res.Bins[0]
			if b.Count != 7 || b.Group["host"] != "b" || b.Group["__name__"] != "rotor_pq_errors" || b.Group["job"] != "test" || b.Group[valueKey] != "7" {
				t.Errorf("first bin %+v: want host b with 7", b)
			}
			// An instant query's points are stamped with the query's time (to the millisecond).
			if d := now.Sub(b.Start).Abs(); d > time.Millisecond {
				t.Errorf("bin start %s: want the query's time, %s", b.Start, now)
			}
		})
		t.Run("fail over max names the series", func(t *testing.T) {
			t.Parallel()
			res := check(t, Config{URL: p.URL, Query: "rotor_pq_errors", Max: ptr(5)}, provider.CheckRequest{Now: time.Now()})
			want(t, res, provider.Fail, "1 of 2 series past the threshold", `host="b"`, "was 7 at ", "above max 5")
			if strings.Contains(res.Reason, `host="a"`) {
				t.Errorf("reason %q names the series within the threshold", res.Reason)
			}
		})
		t.Run("min", func(t *testing.T) {
			t.Parallel()
			res := check(t, Config{URL: p.URL, Query: "rotor_pq_errors", Min: ptr(5)}, provider.CheckRequest{Now: time.Now()})
			want(t, res, provider.Fail, `host="a"`, "was 3", "below min 5")
			res = check(t, Config{URL: p.URL, Query: "rotor_pq_errors", Min: ptr(1), Max: ptr(10)}, provider.CheckRequest{Now: time.Now()})
			want(t, res, provider.Pass, "within min 1, max 10")
			res = check(t, Config{URL: p.URL, Query: "rotor_pq_errors", Min: ptr(4), Max: ptr(6)}, provider.CheckRequest{Now: time.Now()})
			want(t, res, provider.Fail, "2 of 2 series", "below min 4", "above max 6")
		})
		t.Run("aggregate", func(t *testing.T) {
			t.Parallel()
			res := check(t, Config{URL: p.URL, Query: "sum(rotor_pq_errors)", Max: ptr(9.5)}, provider.CheckRequest{Now: time.Now()})
			want(t, res, provider.Fail, "{} was 10", "above max 9.5")
			res = check(t, Config{URL: p.URL, Query: "scalar(sum(rotor_pq_errors)) / 4", Max: ptr(9.5)}, provider.CheckRequest{Now: time.Now()})
			want(t, res, provider.Pass)
			if !strings.HasPrefix(res.Observed, "scalar = 2.5 at ") || len(res.Bins) != 1 || res.Bins[0].Count != 3 || res.Bins[0].Group[valueKey] != "2.5" {
				t.Errorf("observed %q, bins %+v: want the scalar 2.5 (count rounded to 3)", res.Observed, res.Bins)
			}
		})
		t.Run("range selector judges every sample", func(t *testing.T) {
			t.Parallel()
			p.WaitForSample(t, `count_over_time(rotor_pq_errors{host="b"}[10s]) >= 3`)
			res := check(t, Config{URL: p.URL, Query: `rotor_pq_errors{host="b"}[5s]`, Max: ptr(5)}, provider.CheckRequest{Now: time.Now()})
			want(t, res, provider.Fail, `host="b"`, "was 7")
			if !strings.Contains(res.Observed, "points") {
				t.Errorf("observed %q: want several points", res.Observed)
			}
		})
		t.Run("evaluated at req.Now", func(t *testing.T) {
			t.Parallel()
			// An hour ago this Prometheus had no samples.
			res := check(t, Config{URL: p.URL, Query: "rotor_pq_errors", Max: ptr(5)}, provider.CheckRequest{Now: time.Now().Add(-time.Hour)})
			want(t, res, provider.Unknown, "no data")
		})
	})

	t.Run("no data", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct{ query, msg string }{
			{"rotor_pq_never_exported", "no series"},
			{"0/0", "only NaN"},
			{"rotor_pq_errors * 0 / 0", "only NaN (2 series, 2 points)"},
		} {
			t.Run(c.query, func(t *testing.T) {
				t.Parallel()
				res := check(t, Config{URL: p.URL, Query: c.query, Max: ptr(5)}, provider.CheckRequest{Now: time.Now()})
				want(t, res, provider.Unknown, "no data")
				if !strings.Contains(res.Message, c.msg) || res.Bins != nil || res.Observed != "" {
					t.Errorf("message %q, bins %v, observed %q: want %q and no numbers", res.Message, res.Bins, res.Observed, c.msg)
				}
			})
		}
	})

	t.Run("bad query", func(t *testing.T) {
		t.Parallel()
		res := check(t, Config{URL: p.URL, Query: "sum(rotor_pq_errors", Max: ptr(5)}, provider.CheckRequest{Now: time.Now()})
		want(t, res, provider.Unknown, "query rejected")
		if !strings.Contains(res.Message, "parse error") || !strings.Contains(res.Message, "Prometheus at "+p.URL) {
			t.Errorf("message %q: want the server's parse error", res.Message)
		}
		res = check(t, Config{URL: p.URL, Query: `"a string"`, Max: ptr(5)}, provider.CheckRequest{Now: time.Now()})
		want(t, res, provider.Unknown, "not numbers")
	})

	t.Run("range", func(t *testing.T) {
		t.Parallel()
		// A spike between two calm stretches: the instant query at the end sees calm, the
		// range over the spike sees it.
		p.WaitForSample(t, "rotor_pq_spike == 1")
		beforeSpike := time.Now()
		m.Set("rotor_pq_spike", "rotor_pq_spike 50")
		p.WaitForSample(t, "rotor_pq_spike == 50")
		spikeSeen := time.Now()
		// Hold the spike for 3 s, longer than the 2 s step below, so a point must land on it.
		p.WaitForSample(t, "min_over_time(rotor_pq_spike[3s]) == 50 and count_over_time(rotor_pq_spike[3s]) >= 3")
		m.Set("rotor_pq_spike", "rotor_pq_spike 1")
		p.WaitForSample(t, "rotor_pq_spike == 1")
		now := time.Now()

		instant := check(t, Config{URL: p.URL, Query: "rotor_pq_spike", Max: ptr(10)}, provider.CheckRequest{Now: now})
		want(t, instant, provider.Pass)

		cfg := Config{URL: p.URL, Query: "rotor_pq_spike", Range: 2 * time.Minute, Max: ptr(10)}
		res := check(t, cfg, provider.CheckRequest{Now: now})
		want(t, res, provider.Fail, `rotor_pq_spike{instance="`, "was 50 at ", "above max 10")
		if res.Window == nil || !res.Window.To.Equal(now) || !res.Window.From.Equal(now.Add(-2*time.Minute)) {
			t.Errorf("window %+v: want the 2m up to now", res.Window)
		}
		if !res.CompleteAt.IsZero() {
			t.Errorf("complete at %s: want none for a full window", res.CompleteAt)
		}
		if !strings.Contains(res.Message, "at step 2s") {
			t.Errorf("message %q: want the step, 2m/60", res.Message)
		}
		if len(res.Bins) != 1 || res.Bins[0].Count != 50 || res.Bins[0].Start.Before(beforeSpike) || res.Bins[0].Start.After(spikeSeen.Add(2*time.Second)) {
			t.Errorf("bins %+v: want the spike's point, between %s and %s", res.Bins, beforeSpike, spikeSeen)
		}

		// Since the cutover, the range is not full: a point past the threshold is already
		// a fail...
		res = check(t, Config{URL: p.URL, Query: "rotor_pq_spike", Range: 30 * time.Minute, Max: ptr(10)}, provider.CheckRequest{Since: beforeSpike, Now: now})
		want(t, res, provider.Fail, "was 50")
		if res.Window == nil || !res.Window.From.Equal(beforeSpike) {
			t.Errorf("window %+v: want it to start at the cutover", res.Window)
		}
		// ...but points within it are only a short look: unknown until the range is full.
		res = check(t, Config{URL: p.URL, Query: "rotor_pq_spike", Range: 30 * time.Minute, Max: ptr(100)}, provider.CheckRequest{Since: beforeSpike, Now: now})
		want(t, res, provider.Unknown, "window not full yet", "of 30m since the cutover", "so far ")
		if !res.CompleteAt.Equal(beforeSpike.Add(30 * time.Minute)) {
			t.Errorf("complete at %s, want %s", res.CompleteAt, beforeSpike.Add(30*time.Minute))
		}
		// Once it is full, the same points pass.
		res = check(t, Config{URL: p.URL, Query: "rotor_pq_spike", Range: 30 * time.Second, Max: ptr(100)}, provider.CheckRequest{Since: now.Add(-time.Hour), Now: now})
		want(t, res, provider.Pass, "within max 100")
		// A cutover right now leaves nothing to look at yet.
		res = check(t, cfg, provider.CheckRequest{Since: now, Now: now})
		want(t, res, provider.Unknown, "empty window")
		if !res.CompleteAt.Equal(now.Add(2 * time.Minute)) {
			t.Errorf("complete at %s, want %s", res.CompleteAt, now.Add(2*time.Minute))
		}
		// A range before Prometheus had any sample has no data.
		res = check(t, cfg, provider.CheckRequest{Now: now.Add(-time.Hour)})
		want(t, res, provider.Unknown, "no data")
	})

	t.Run("redirect on the same host is followed", func(t *testing.T) {
		t.Parallel()
		target, _ := url.Parse(p.URL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/old/") {
				http.Redirect(w, r, strings.TrimPrefix(r.URL.Path, "/old"), http.StatusTemporaryRedirect)
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		defer srv.Close()
		res := check(t, Config{URL: srv.URL + "/old", Query: "rotor_pq_errors", Max: ptr(10)}, provider.CheckRequest{Now: time.Now()})
		want(t, res, provider.Pass)
	})

	t.Run("user info is basic auth and never shown", func(t *testing.T) {
		t.Parallel()
		var sawAuth atomic.Bool
		target, _ := url.Parse(p.URL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, pw, ok := r.BasicAuth(); !ok || u != "alice" || pw != "hunter2" {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			sawAuth.Store(true)
			proxy.ServeHTTP(w, r)
		}))
		defer srv.Close()
		withAuth := strings.Replace(srv.URL, "http://", "http://alice:hunter2@", 1)
		res := check(t, Config{URL: withAuth, Query: "rotor_pq_errors", Max: ptr(5)}, provider.CheckRequest{Now: time.Now()})
		want(t, res, provider.Fail, `host="b"`)
		if !sawAuth.Load() {
			t.Error("the server saw no basic auth")
		}
		wrong := strings.Replace(srv.URL, "http://", "http://alice:wrong@", 1)
		res = check(t, Config{URL: wrong, Query: "rotor_pq_errors", Max: ptr(5)}, provider.CheckRequest{Now: time.Now()})
		want(t, res, provider.Unknown, "unexpected answer")
		if !strings.Contains(res.Message, "401") {
			t.Errorf("message %q: want the status", res.Message)
		}
		for _, r := range []provider.CheckResult{res} {
			if s := fmt.Sprintf("%+v", r); strings.Contains(s, "alice") || strings.Contains(s, "wrong") {
				t.Errorf("result shows the user info: %s", s)
			}
		}
	})
}

// A Prometheus that went away is missing evidence.
func TestPrometheusStopped(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrometheus(t, testenv.PrometheusOptions{})
	cfg := Config{URL: strings.Replace(p.URL, "http://", "http://alice:hunter2@", 1), Query: "vector(1)", Max: ptr(5)}
	c, err := New(&cfg, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Check(t.Context(), provider.CheckRequest{Now: time.Now()})
	if err != nil || res.Verdict != provider.Pass {
		t.Fatalf("running: %+v, %v; want a pass", res, err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	res, err = c.Check(t.Context(), provider.CheckRequest{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	want(t, res, provider.Unknown, "Prometheus unreachable")
	if !strings.Contains(res.Message, "connection refused") || !strings.Contains(res.Message, "Prometheus at "+p.URL) {
		t.Errorf("message %q: want the refusal and the server", res.Message)
	}
	if s := fmt.Sprintf("%+v", res); strings.Contains(s, "hunter2") || strings.Contains(s, "alice") {
		t.Errorf("result shows the user info: %s", s)
	}
}

// A server that accepts the connection and never answers: unknown once the check's time is up.
func TestNoAnswerInTime(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn // open and unanswered until the listener closes
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	c, err := New(&Config{URL: "http://" + l.Addr().String(), Query: "up", Max: ptr(1)}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	res, err := c.Check(ctx, provider.CheckRequest{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	want(t, res, provider.Unknown, "no answer in time")
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

// Answers a real Prometheus does not give on demand, from a test server: the documented
// envelope with warnings, a page that is not the API, and an answer too large to read.
func TestUnusualAnswers(t *testing.T) {
	t.Parallel()
	ok := `{"status":"success","warnings":["remote read of shard 3 failed"],"data":{"resultType":"vector","result":[{"metric":{"job":"x"},"value":[1700000000,"2"]}]}}`
	var big atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/warn/"):
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, ok)
		case strings.HasPrefix(r.URL.Path, "/big/"):
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"`)
			chunk := strings.Repeat("x", 1<<20)
			for range httpquery.MaxAnswer>>20 + 2 {
				n, err := io.WriteString(w, chunk)
				big.Add(int64(n))
				if err != nil {
					return
				}
			}
			io.WriteString(w, `"},"value":[1700000000,"2"]}]}}`)
		default:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "<html><body>\n<h1>Not Found</h1>\n</body></html>")
		}
	}))
	defer srv.Close()

	res := check(t, Config{URL: srv.URL + "/warn", Query: "up", Max: ptr(5)}, provider.CheckRequest{Now: time.Now()})
	want(t, res, provider.Pass)
	if !strings.Contains(res.Message, "Prometheus warned: remote read of shard 3 failed") {
		t.Errorf("message %q: want the warning", res.Message)
	}

	res = check(t, Config{URL: srv.URL + "/grafana", Query: "up", Max: ptr(5)}, provider.CheckRequest{Now: time.Now()})
	want(t, res, provider.Unknown, "unexpected answer")
	if !strings.Contains(res.Message, "client error: 404: <html><body> <h1>Not Found</h1>") {
		t.Errorf("message %q: want the status and the start of the page, on one line", res.Message)
	}

	res = check(t, Config{URL: srv.URL + "/big", Query: "up", Max: ptr(5)}, provider.CheckRequest{Now: time.Now()})
	want(t, res, provider.Unknown, "answer too large")
}

// A redirect to another host is not followed: the evidence must come from the server the
// inventory names, and its credentials must not travel.
func TestRedirectElsewhere(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1"]}}`)
	}))
	defer other.Close()
	// localhost rather than 127.0.0.1: another host name, and another port.
	elsewhere := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	res := check(t, Config{URL: strings.Replace(srv.URL, "http://", "http://bob:s3cret@", 1), Query: "up", Max: ptr(5)}, provider.CheckRequest{Now: time.Now()})
	want(t, res, provider.Unknown, "redirected elsewhere")
	if !strings.Contains(res.Message, "redirected to "+elsewhere) {
		t.Errorf("message %q: want where it was sent", res.Message)
	}
	if hits.Load() != 0 {
		t.Errorf("the other host was asked %d times", hits.Load())
	}
	if s := fmt.Sprintf("%+v", res); strings.Contains(s, "s3cret") || strings.Contains(s, "bob") {
		t.Errorf("result shows the user info: %s", s)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want []string // field: message fragments; none for a valid config
	}{
		{"valid instant", Config{URL: "http://prom:9090", Query: "up", Max: ptr(1)}, nil},
		{"valid range with prefix", Config{URL: "https://u:p@example.com/prometheus/", Query: "up", Range: 30 * time.Minute, Min: ptr(0), Max: ptr(0)}, nil},
		{"no threshold", Config{URL: "http://prom:9090", Query: "up"}, []string{"max: a promql check needs a threshold"}},
		{"bad url", Config{URL: "prom:9090", Query: "up", Max: ptr(1)}, []string{"url: needs an absolute http"}},
		{"url with query", Config{URL: "http://prom:9090/?x=1", Query: "up", Max: ptr(1)}, []string{"url: is the server's base URL"}},
		{"empty query", Config{URL: "http://prom:9090", Query: " ", Max: ptr(1)}, []string{"query: is a PromQL expression"}},
		{"min above max", Config{URL: "http://prom:9090", Query: "up", Min: ptr(2), Max: ptr(1)}, []string{"min: is above max (2 > 1)"}},
		{"NaN", Config{URL: "http://prom:9090", Query: "up", Max: ptr(math.NaN())}, []string{"max: is a number"}},
		{"short range", Config{URL: "http://prom:9090", Query: "up", Max: ptr(1), Range: time.Millisecond}, []string{"range: is at least 1s"}},
		{"negative range", Config{URL: "http://prom:9090", Query: "up", Max: ptr(1), Range: -time.Second}, []string{"range: is a positive duration"}},
		{"everything", Config{}, []string{"url:", "query:", "max:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs := c.cfg.Validate()
			var got []string
			for _, e := range errs {
				got = append(got, e.Field+": "+e.Msg)
			}
			if len(got) != len(c.want) {
				t.Fatalf("Validate = %q, want %d errors like %q", got, len(c.want), c.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], c.want[i]) {
					t.Errorf("error %d = %q, want %q…", i, got[i], c.want[i])
				}
			}
			_, err := New(&c.cfg, provider.Env{})
			if (err == nil) != (len(c.want) == 0) {
				t.Errorf("New: %v", err)
			}
			if err != nil && provider.KindOf(err) != provider.Terminal {
				t.Errorf("New: %v is not Terminal", err)
			}
		})
	}
}

func TestStep(t *testing.T) {
	for r, want := range map[time.Duration]time.Duration{
		30 * time.Minute: 30 * time.Second,
		time.Minute:      time.Second,
		10 * time.Second: time.Second,
		time.Hour + 7:    time.Minute,
		4 * time.Second:  time.Second,
		90 * time.Second: 1500 * time.Millisecond,
	} {
		if got := step(r); got != want {
			t.Errorf("window %s: step %s, want %s", r, got, want)
		}
	}
}
