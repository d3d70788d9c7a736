package http

import (
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

var now = time.Date(2026, 3, 10, 22, 0, 0, 0, time.UTC)

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
		w.Write([]byte("db: ok " + r.Method))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	return mux
}

func run(t *testing.T, cfg Config, env provider.Env, ctx context.Context) provider.CheckResult {
	t.Helper()
	c, err := New(&cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Check(ctx, provider.CheckRequest{Check: "health", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !res.At.Equal(now) {
		t.Errorf("At %v, want the request's now", res.At)
	}
	return res
}

func TestCheckVerdicts(t *testing.T) {
	srv := httptest.NewServer(handler())
	defer srv.Close()
	cases := []struct {
		name     string
		cfg      Config
		verdict  provider.Verdict
		observed string
	}{
		{"ok", Config{URL: srv.URL + "/status/200"}, provider.Pass, "status 200"},
		{"5xx fails", Config{URL: srv.URL + "/status/500"}, provider.Fail, "status 500"},
		{"404 fails", Config{URL: srv.URL + "/status/404"}, provider.Fail, "status 404"},
		{"expected 204", Config{URL: srv.URL + "/status/204", Expect: Expect{Status: 204}}, provider.Pass, "status 204"},
		{"body contains", Config{URL: srv.URL + "/status/200", Expect: Expect{BodyContains: "db: ok GET"}}, provider.Pass, "status 200, body contains the expected text"},
		{"body lacks", Config{URL: srv.URL + "/status/200", Expect: Expect{BodyContains: "db: degraded"}}, provider.Fail, "status 200, body without the expected text"},
		{"post", Config{URL: srv.URL + "/status/200", Method: "POST", Expect: Expect{BodyContains: "POST"}}, provider.Pass, "status 200, body contains the expected text"},
		{"head", Config{URL: srv.URL + "/status/200", Method: "HEAD"}, provider.Pass, "status 200"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := run(t, c.cfg, provider.Env{}, context.Background())
			if res.Verdict != c.verdict || res.Observed != c.observed {
				t.Fatalf("got %s %q (%s), want %s %q", res.Verdict, res.Observed, res.Message, c.verdict, c.observed)
			}
		})
	}
}

func TestCheckNoAnswerIsUnknown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/healthz?token=abc123"
	l.Close()
	res := run(t, Config{URL: closed}, provider.Env{}, context.Background())
	if res.Verdict != provider.Unknown || !strings.Contains(res.Message, "connection refused") || strings.Contains(res.Message, "abc123") {
		t.Fatalf("got %s: %s", res.Verdict, res.Message)
	}

	srv := httptest.NewServer(handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res = run(t, Config{URL: srv.URL + "/slow"}, provider.Env{}, ctx)
	if res.Verdict != provider.Unknown || !strings.Contains(res.Message, "timeout") || time.Since(start) > 5*time.Second {
		t.Fatalf("got %s: %s after %v", res.Verdict, res.Message, time.Since(start))
	}
}

func TestCheckTrustBundle(t *testing.T) {
	srv := httptest.NewTLSServer(handler())
	defer srv.Close()
	base := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(base, "ca.pem"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	env := provider.Env{BaseDir: base}

	res := run(t, Config{URL: srv.URL + "/status/200"}, env, context.Background())
	if res.Verdict != provider.Unknown || !strings.Contains(res.Message, "certificate") {
		t.Fatalf("without the bundle: %s: %s", res.Verdict, res.Message)
	}
	res = run(t, Config{URL: srv.URL + "/status/200", CAFile: "ca.pem"}, env, context.Background())
	if res.Verdict != provider.Pass {
		t.Fatalf("with the bundle: %s: %s", res.Verdict, res.Message)
	}

	// The bundle is read at every check: one that disappears makes the evidence unknown.
	c, err := New(&Config{URL: srv.URL + "/status/200", CAFile: "ca.pem"}, env)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(base, "ca.pem"))
	got, err := c.Check(context.Background(), provider.CheckRequest{Now: now})
	if err != nil || got.Verdict != provider.Unknown {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestNewRejects(t *testing.T) {
	base := t.TempDir()
	os.WriteFile(filepath.Join(base, "junk.pem"), []byte("not pem"), 0o644)
	for _, cfg := range []Config{
		{URL: "/relative"},
		{URL: "http://x", Method: "HEAD", Expect: Expect{BodyContains: "x"}},
		{URL: "http://x", Expect: Expect{Status: 1000}},
		{URL: "http://x", CAFile: "missing.pem"},
		{URL: "http://x", CAFile: "junk.pem"},
		{URL: "http://x", As: "orders-api"},
	} {
		_, err := New(&cfg, provider.Env{BaseDir: base})
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind != provider.Terminal {
			t.Errorf("%+v: err %v, want terminal", cfg, err)
		}
	}
}
