package testenv

import (
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A started Prometheus scrapes the test's endpoint, sees a changed value, refuses the
// lifecycle API, listens on 127.0.0.1 only and is gone, with its files, once stopped.
func TestStartPrometheus(t *testing.T) {
	t.Parallel()
	m := ServeMetrics(t)
	m.Set("rotor_testenv_value", "# TYPE rotor_testenv_value gauge\nrotor_testenv_value{kind=\"a\"} 1")
	began := time.Now()
	p := StartPrometheus(t, PrometheusOptions{ScrapeTargets: []string{m.Target()}})
	if p.URL != "http://127.0.0.1:"+strconv.Itoa(p.Port) || p.Version == "" {
		t.Errorf("URL %q, Version %q: want http://127.0.0.1:<port> and a version", p.URL, p.Version)
	}

	p.WaitForSample(t, `rotor_testenv_value{job="test",kind="a"} == 1`)
	t.Logf("first sample after %s", time.Since(began).Round(time.Millisecond))
	m.Set("rotor_testenv_value", "rotor_testenv_value{kind=\"a\"} 2")
	p.WaitForSample(t, `rotor_testenv_value == 2`)
	if m.Scrapes() < 2 {
		t.Errorf("endpoint scraped %d times, want at least 2", m.Scrapes())
	}

	// No lifecycle API: a test (or the code under test) cannot reload or stop it over HTTP.
	resp, err := http.Post(p.URL+"/-/reload", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /-/reload: %s, want 403", resp.Status)
	}

	checkStops(t, p.Stop, p.DataDir, net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)))
}

// A query without data is reported with the targets' health, so a test that waits in vain
// says why (here: a target that does not answer).
func TestWaitForSampleExplains(t *testing.T) {
	t.Parallel()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p := StartPrometheus(t, PrometheusOptions{ScrapeTargets: []string{"127.0.0.1:" + strconv.Itoa(port)}})
	if ok, err := p.hasData(t.Context(), "rotor_testenv_missing"); ok || err != nil {
		t.Errorf("hasData(missing metric) = %v, %v; want false, nil", ok, err)
	}
	if ok, err := p.hasData(t.Context(), "0/0"); ok || err != nil {
		t.Errorf("hasData(NaN) = %v, %v; want false, nil", ok, err)
	}
	if ok, err := p.hasData(t.Context(), "vector(1)"); !ok || err != nil {
		t.Errorf("hasData(vector(1)) = %v, %v; want true, nil", ok, err)
	}
	if _, err := p.hasData(t.Context(), "sum("); err == nil || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("hasData(bad query): got %v, want the parse error", err)
	}
	// The failed scrape shows up in the targets once the first scrape has been tried.
	deadline := time.Now().Add(sampleWait)
	for h := p.targetHealth(t.Context()); !strings.Contains(h, "down"); h = p.targetHealth(t.Context()) {
		if time.Now().After(deadline) {
			t.Fatalf("target health %q: want the target down", h)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if h := p.targetHealth(t.Context()); !strings.Contains(h, "connection refused") {
		t.Errorf("target health %q: want the scrape's error", h)
	}
}

func TestPrometheusConfig(t *testing.T) {
	got := string(prometheusConfig(PrometheusOptions{ScrapeTargets: []string{"127.0.0.1:1", "127.0.0.1:2"}, ScrapeInterval: 1500 * time.Millisecond}))
	for _, want := range []string{"scrape_interval: 1500ms", "scrape_timeout: 1500ms", `- targets: ["127.0.0.1:1","127.0.0.1:2"]`} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
	if got := string(prometheusConfig(PrometheusOptions{ScrapeInterval: time.Second})); !strings.Contains(got, "- targets: []") {
		t.Errorf("no targets:\n%s", got)
	}
}

func TestFindPrometheus(t *testing.T) {
	empty := t.TempDir()
	if _, err := findPrometheusIn(empty, ""); err == nil || !strings.Contains(err.Error(), EnvPrometheusBin+"="+empty+" is not an executable") {
		t.Errorf("%s=<a directory>: got %v", EnvPrometheusBin, err)
	}
	path, err := findPrometheus("")
	if err != nil {
		t.Fatal(err) // the install hint is in err
	}
	if !isExecutable(path) {
		t.Errorf("found %s, which is not executable", path)
	}

	// Nothing anywhere: the error says how to install Prometheus.
	t.Setenv("PATH", empty)
	_, err = findPrometheusIn("", filepath.Join(empty, "prometheus"))
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y --no-install-recommends prometheus") {
		t.Errorf("no binary anywhere: got %v, want an install hint", err)
	}
}

func TestStartPrometheusRefusesBadInterval(t *testing.T) {
	_, err := startPrometheus(t.Context(), PrometheusOptions{ScrapeInterval: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "ScrapeInterval") {
		t.Errorf("1ms scrape interval: got %v", err)
	}
}
