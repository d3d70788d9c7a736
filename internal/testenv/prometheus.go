package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvPrometheusBin is the prometheus executable to run instead of the one found in PATH.
//
// There is no variable to reuse a running Prometheus, as there is for PostgreSQL: what a
// Prometheus test needs is a server scraping the test's own metrics endpoint, whose port is
// only known once the test runs.
const EnvPrometheusBin = "ROTOR_TEST_PROMETHEUS_BIN"

// Prometheus is a prometheus server started for a test: it listens on 127.0.0.1 only, keeps
// its samples in a temporary directory and has the lifecycle API (/-/reload, /-/quit) off.
type Prometheus struct {
	URL     string // http://127.0.0.1:<Port>, the base URL API clients take
	Port    int
	Version string // from /api/v1/status/buildinfo, e.g. "2.42.0+ds"
	// ConfigFile, DataDir and LogFile are in a temporary directory removed when it stops.
	ConfigFile, DataDir, LogFile string

	srv      *daemon
	interval time.Duration
}

// PrometheusOptions configure a started Prometheus.
type PrometheusOptions struct {
	// ScrapeTargets are the host:port of the /metrics endpoints to scrape (see ServeMetrics),
	// all in one job named "test". Scraping adds the labels job="test" and
	// instance="<host:port>" to every series.
	ScrapeTargets []string
	// ScrapeInterval is how often the targets are scraped (default 1s, the shortest that
	// keeps a test quick without busy-looping the server). The scrape timeout is the same.
	ScrapeInterval time.Duration
}

const (
	defaultScrapeInterval = time.Second
	// sampleWait bounds WaitForSample. A first sample is usually queryable 2 to 8 seconds
	// after the server is ready (the first scrape is spread over the interval, then the
	// head block takes it).
	sampleWait = 30 * time.Second
)

// StartPrometheus starts the Debian prometheus binary (or $ROTOR_TEST_PROMETHEUS_BIN) on a free
// port of 127.0.0.1, scraping opts.ScrapeTargets, waits until /-/ready answers and checks
// that the server answering is the one started, and stops it, removing its files, when the
// test ends. It fails the test, with a hint on how to install it, when the binary is
// missing.
func StartPrometheus(t testing.TB, opts PrometheusOptions) *Prometheus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	p, err := startPrometheus(ctx, opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	stopAtEnd(t, "Prometheus log", p.LogFile, p.Stop)
	t.Logf("testenv: Prometheus %s on 127.0.0.1:%d started in %s", p.Version, p.Port, time.Since(began).Round(time.Millisecond))
	return p
}

// Stop shuts the server down (SIGINT, Prometheus's graceful shutdown) and removes its files.
// Tests that need a Prometheus that went away call it; calling it again does nothing.
func (p *Prometheus) Stop() error {
	return p.srv.shutdown(fmt.Sprintf("Prometheus on 127.0.0.1:%d", p.Port), (*process).stop)
}

// WaitForSample polls the instant query until it returns data — a series, or a scalar that
// is not NaN — and fails the test if it has none within 30 s, showing the scrape targets'
// health. A filter waits for a value: `rotor_test_errors == 7` has data only once a scrape
// has seen 7.
func (p *Prometheus) WaitForSample(t testing.TB, query string) {
	t.Helper()
	deadline := time.Now().Add(sampleWait)
	var last error
	for {
		ok, err := p.hasData(t.Context(), query)
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) || t.Context().Err() != nil {
			break
		}
		time.Sleep(p.interval / 4)
	}
	why := "it returned no data"
	if last != nil {
		why = last.Error()
	}
	t.Fatalf("testenv: Prometheus on 127.0.0.1:%d has no data for %s after %s: %s\nscrape targets: %s",
		p.Port, query, sampleWait, why, p.targetHealth(t.Context()))
}

// hasData runs query at now and reports whether it returned a series or a number.
func (p *Prometheus) hasData(ctx context.Context, query string) (bool, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.api(ctx, "/api/v1/query?query="+url.QueryEscape(query), &data); err != nil {
		return false, err
	}
	switch data.ResultType {
	case "vector", "matrix":
		var series []json.RawMessage
		if err := json.Unmarshal(data.Result, &series); err != nil {
			return false, fmt.Errorf("query %s: %w", query, err)
		}
		return len(series) > 0, nil
	case "scalar":
		var pair [2]any
		if err := json.Unmarshal(data.Result, &pair); err != nil {
			return false, fmt.Errorf("query %s: %w", query, err)
		}
		s, _ := pair[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return err == nil && !math.IsNaN(v), nil
	}
	return false, fmt.Errorf("query %s returned a %s", query, data.ResultType)
}

// targetHealth describes the scrape targets, for a test that waited in vain.
func (p *Prometheus) targetHealth(ctx context.Context) string {
	var data struct {
		ActiveTargets []struct {
			ScrapeURL string `json:"scrapeUrl"`
			Health    string `json:"health"`
			LastError string `json:"lastError"`
		} `json:"activeTargets"`
	}
	if err := p.api(ctx, "/api/v1/targets", &data); err != nil {
		return err.Error()
	}
	if len(data.ActiveTargets) == 0 {
		return "none (PrometheusOptions.ScrapeTargets is empty)"
	}
	var parts []string
	for _, tg := range data.ActiveTargets {
		s := tg.ScrapeURL + " " + tg.Health
		if tg.LastError != "" {
			s += " (" + tg.LastError + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// api GETs an API path and decodes the data of a success answer into v.
func (p *Prometheus) api(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	var envelope struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return fmt.Errorf("GET %s: %d, not an API answer: %.200q", path, resp.StatusCode, body)
	}
	if envelope.Status != "success" {
		return fmt.Errorf("GET %s: %d: %s", path, resp.StatusCode, envelope.Error)
	}
	return json.Unmarshal(envelope.Data, v)
}

// startPrometheus writes the configuration into a new temporary directory and starts the
// server. On error nothing is left running or on disk.
func startPrometheus(ctx context.Context, opts PrometheusOptions) (_ *Prometheus, err error) {
	bin, err := findPrometheus(os.Getenv(EnvPrometheusBin))
	if err != nil {
		return nil, err
	}
	if opts.ScrapeInterval == 0 {
		opts.ScrapeInterval = defaultScrapeInterval
	}
	if opts.ScrapeInterval < 100*time.Millisecond || opts.ScrapeInterval%time.Millisecond != 0 {
		return nil, fmt.Errorf("PrometheusOptions.ScrapeInterval %s: want whole milliseconds, at least 100ms", opts.ScrapeInterval)
	}
	base, err := os.MkdirTemp("", "rotor-prom-")
	if err != nil {
		return nil, fmt.Errorf("create Prometheus directory: %w", err)
	}
	p := &Prometheus{
		ConfigFile: filepath.Join(base, "prometheus.yml"),
		DataDir:    filepath.Join(base, "data"),
		LogFile:    filepath.Join(base, "prometheus.log"),
		srv:        &daemon{dir: base},
		interval:   opts.ScrapeInterval,
	}
	defer cleanUpOnError(&err, p.Stop)
	if err := os.WriteFile(p.ConfigFile, prometheusConfig(opts), 0o600); err != nil {
		return nil, fmt.Errorf("write Prometheus configuration: %w", err)
	}
	if err := withFreePort(func(port int) error {
		p.Port, p.URL = port, "http://127.0.0.1:"+strconv.Itoa(port)
		return p.launch(ctx, bin)
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// prometheusConfig is the configuration file: one job, "test", scraping the targets over
// plain HTTP. The targets are quoted as YAML (JSON) strings.
func prometheusConfig(opts PrometheusOptions) []byte {
	interval := strconv.FormatInt(opts.ScrapeInterval.Milliseconds(), 10) + "ms"
	targets, _ := json.Marshal(append([]string{}, opts.ScrapeTargets...)) // [] rather than null
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by rotor's internal/testenv for one test run.\n")
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n", interval, interval, interval)
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: %s\n", targets)
	return b.Bytes()
}

// launch starts prometheus on p.Port and waits until it is ready and proven to be ours.
func (p *Prometheus) launch(ctx context.Context, bin string) error {
	// No --web.enable-lifecycle or --web.enable-admin-api: a test cannot reload, stop or
	// wipe the server through HTTP, as no production Prometheus should let a rotation do.
	return p.srv.launch(ctx, attempt{
		name: "prometheus",
		addr: "127.0.0.1:" + strconv.Itoa(p.Port),
		cmd: exec.Command(bin,
			"--config.file="+p.ConfigFile,
			"--storage.tsdb.path="+p.DataDir,
			"--storage.tsdb.retention.time=1d",
			"--web.listen-address=127.0.0.1:"+strconv.Itoa(p.Port),
			"--log.level=info",
		),
		log:       p.LogFile,
		portTaken: "address already in use",
		ready:     p.ready,
	})
}

// ready checks /-/ready, then that the server answering keeps its samples in p.DataDir (so
// it is ours, not one that took the port), and reads its version.
func (p *Prometheus) ready(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, p.URL+"/-/ready", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/-/ready answered %s", resp.Status)
	}
	var flags map[string]string
	if err := p.api(ctx, "/api/v1/status/flags", &flags); err != nil {
		return err
	}
	if got := flags["storage.tsdb.path"]; filepath.Clean(got) != filepath.Clean(p.DataDir) {
		return fmt.Errorf("127.0.0.1:%d is answered by another Prometheus (storage.tsdb.path %s)", p.Port, got)
	}
	if flags["web.enable-lifecycle"] != "false" {
		return fmt.Errorf("127.0.0.1:%d has web.enable-lifecycle=%q; testenv starts Prometheus without it", p.Port, flags["web.enable-lifecycle"])
	}
	var build struct {
		Version string `json:"version"`
	}
	if err := p.api(ctx, "/api/v1/status/buildinfo", &build); err != nil {
		return err
	}
	p.Version = build.Version
	return nil
}

// findPrometheus returns the prometheus executable: env (the value of $ROTOR_TEST_PROMETHEUS_BIN)
// if set, else prometheus in PATH, else Debian's /usr/bin/prometheus. scripts/test.sh
// installs the package when there is none.
func findPrometheus(env string) (string, error) {
	return findPrometheusIn(env, "/usr/bin/prometheus")
}

// findPrometheusIn is findPrometheus with Debian's path as fallback.
func findPrometheusIn(env, fallback string) (string, error) {
	return executable{
		name:   "prometheus",
		envVar: EnvPrometheusBin,
		noun:   "a prometheus binary",
		paths:  []string{fallback},
		where:  "PATH or " + fallback,
		needs:  "Prometheus",
		hints: []string{
			"run scripts/test.sh, which installs it, or: apt-get install -y --no-install-recommends prometheus",
			"Debian's package may start a prometheus service on :9090; the tests do not need it (systemctl disable --now prometheus)",
		},
	}.find(env)
}

// Metrics is a /metrics endpoint on 127.0.0.1 serving a text exposition the test sets, for a
// Prometheus to scrape. Several tests may share one: each sets its own sections, named after
// the metrics it owns.
type Metrics struct {
	srv      *httptest.Server
	mu       sync.Mutex
	sections map[string]string
	scrapes  int
}

// ServeMetrics starts a metrics endpoint, closed when the test ends. It serves every section
// set with Set, in the order of their keys, at any path.
func ServeMetrics(t testing.TB) *Metrics {
	t.Helper()
	m := &Metrics{sections: map[string]string{}}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve)) // on 127.0.0.1
	t.Cleanup(m.srv.Close)
	return m
}

// Target is the host:port to list in PrometheusOptions.ScrapeTargets.
func (m *Metrics) Target() string { return strings.TrimPrefix(m.srv.URL, "http://") }

// Set replaces the section key with text, lines of the Prometheus text format such as
//
//	# TYPE rotor_test_errors gauge
//	rotor_test_errors{host="a"} 3
//
// An empty text removes the section; its series then go stale at the next scrape, and
// queries stop returning them. A section that is not valid exposition text fails the whole
// scrape.
func (m *Metrics) Set(key, text string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if text == "" {
		delete(m.sections, key)
		return
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	m.sections[key] = text
}

// Scrapes is how many times the endpoint has been read.
func (m *Metrics) Scrapes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.scrapes
}

func (m *Metrics) serve(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	m.scrapes++
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m.sections)) {
		b.WriteString(m.sections[k])
	}
	m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	io.WriteString(w, b.String())
}
