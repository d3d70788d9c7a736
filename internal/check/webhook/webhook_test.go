package webhook_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	checkwebhook "github.com/rotorhq/rotor/internal/check/webhook"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/webhooksig"
)

var now = time.Now().Truncate(time.Second)

// receiver accepts events signed with key in either style, in the named header.
func receiver(t *testing.T, key, header string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhooksig.Verify([]byte(key), body, r.Header.Get(header), time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func request(key string) provider.CheckRequest {
	return provider.CheckRequest{Check: "hook", Credential: "partner-webhook-hmac", Current: provider.Version{ID: "v0002"}, Now: now,
		Value: func(context.Context) (secret.Value, error) { return secret.FromString(key), nil }}
}

func TestCheck(t *testing.T) {
	const key = "whsec_current"
	srv := receiver(t, key, "Webhook-Signature")
	hexSrv := receiver(t, key, "X-Signature")
	for _, tc := range []struct {
		name   string
		cfg    checkwebhook.Config
		req    provider.CheckRequest
		want   provider.Verdict
		reason string
	}{
		{"stripe accepted", checkwebhook.Config{URL: srv.URL}, request(key), provider.Pass, "accepted"},
		{"hex accepted", checkwebhook.Config{URL: hexSrv.URL, Style: "hex", Header: "X-Signature"}, request(key), provider.Pass, "accepted"},
		{"a key the receiver does not hold", checkwebhook.Config{URL: srv.URL}, request("whsec_other"), provider.Fail, "refused"},
		{"the wrong header", checkwebhook.Config{URL: srv.URL, Header: "X-Other"}, request(key), provider.Fail, "refused"},
		{"no store", checkwebhook.Config{URL: srv.URL}, provider.CheckRequest{Now: now}, provider.Unknown, "no key"},
		{"key unreadable", checkwebhook.Config{URL: srv.URL}, provider.CheckRequest{Now: now, Value: func(context.Context) (secret.Value, error) {
			return secret.Value{}, errors.New("denied")
		}}, provider.Unknown, "key unreadable"},
		{"no answer", checkwebhook.Config{URL: "http://127.0.0.1:1/hook"}, request(key), provider.Unknown, "no answer"},
	} {
		c, err := checkwebhook.New(&tc.cfg, provider.Env{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Check(context.Background(), tc.req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if res.Verdict != tc.want || res.Reason != tc.reason {
			t.Errorf("%s: %s (%s: %s), want %s (%s)", tc.name, res.Verdict, res.Reason, res.Message, tc.want, tc.reason)
		}
		if strings.Contains(res.Message+res.Query+res.Observed, "whsec_") {
			t.Errorf("%s: the key leaked into the result", tc.name)
		}
	}
}

func TestConfigRefused(t *testing.T) {
	for _, cfg := range []checkwebhook.Config{{URL: "ftp://x"}, {URL: "http://x", Style: "base64"}, {URL: "http://x", Header: "X: y"}} {
		if _, err := checkwebhook.New(&cfg, provider.Env{}); err == nil || provider.KindOf(err) != provider.Terminal {
			t.Errorf("%+v: err = %v, want terminal", cfg, err)
		}
	}
}

// TestRetryFor: a receiver that loads the new key a moment after its reload is given time.
func TestRetryFor(t *testing.T) {
	const key = "k-new"
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if calls.Add(1) < 3 || webhooksig.Verify([]byte(key), body, r.Header.Get("Webhook-Signature"), time.Now(), 0) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		retry time.Duration
		want  provider.Verdict
	}{{0, provider.Fail}, {5 * time.Second, provider.Pass}} {
		calls.Store(0)
		c, err := checkwebhook.New(&checkwebhook.Config{URL: srv.URL, RetryFor: tc.retry}, provider.Env{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Check(context.Background(), request(key))
		if err != nil || res.Verdict != tc.want {
			t.Errorf("retry_for %s: %s (%s), %v; want %s", tc.retry, res.Verdict, res.Message, err, tc.want)
		}
	}
}
