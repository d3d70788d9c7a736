package http

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

func kindOf(t *testing.T, err error) provider.ErrorKind {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
	}
	return pe.Kind
}

// server answers /status/N with N, and records the method of the last call.
func server(t *testing.T) (*httptest.Server, *string) {
	var method string
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		method = r.Method
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
		w.Write([]byte("token=abc123"))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/status/200", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &method
}

func TestReloadStatusMapping(t *testing.T) {
	srv, method := server(t)
	cases := []struct {
		path   string
		expect int
		kind   provider.ErrorKind // 0: success
	}{
		{"/status/200", 0, 0},
		{"/status/204", 204, 0},
		{"/status/204", 0, provider.Terminal},
		{"/status/401", 0, provider.Denied},
		{"/status/403", 0, provider.Denied},
		{"/status/404", 0, provider.Terminal},
		{"/status/429", 0, provider.Retryable},
		{"/status/500", 0, provider.Retryable},
		{"/status/503", 0, provider.Retryable},
		{"/redirect", 0, provider.Terminal},
	}
	for _, c := range cases {
		t.Run(c.path+"/"+strconv.Itoa(c.expect), func(t *testing.T) {
			r, err := New(&Config{URL: srv.URL + c.path + "?token=abc123", ExpectStatus: c.expect}, provider.Env{})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := r.Reload(context.Background(), provider.ReloadRequest{Credential: "c", Consumer: "k"})
			if *method != http.MethodPost {
				t.Errorf("method %s, want POST", *method)
			}
			if c.kind == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(resp.Detail, "answered") {
					t.Fatalf("detail %q", resp.Detail)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if got := kindOf(t, err); got != c.kind {
				t.Fatalf("kind %v, want %v (%v)", got, c.kind, err)
			}
			if strings.Contains(err.Error(), "abc123") {
				t.Fatalf("error text carries the query or body: %q", err)
			}
		})
	}
}

func TestReloadMethod(t *testing.T) {
	srv, method := server(t)
	r, err := New(&Config{URL: srv.URL + "/status/200", Method: "PUT"}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(context.Background(), provider.ReloadRequest{}); err != nil || *method != "PUT" {
		t.Fatalf("err %v, method %s", err, *method)
	}
}

func TestReloadTimeoutIsRetryable(t *testing.T) {
	srv, _ := server(t)
	r, err := New(&Config{URL: srv.URL + "/slow"}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = r.Reload(ctx, provider.ReloadRequest{})
	if kindOf(t, err) != provider.Retryable || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestReloadConnectionRefusedIsRetryable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r, err := New(&Config{URL: "http://user:pw@" + addr + "/reload?token=abc123"}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Reload(context.Background(), provider.ReloadRequest{})
	if kindOf(t, err) != provider.Retryable || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), "abc123") || strings.Contains(err.Error(), "pw") {
		t.Fatalf("error text carries the query or user info: %q", err)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{URL: "orders.internal/reload"}, {URL: "ftp://x/y"}, {URL: "http://x", ExpectStatus: 42}} {
		if _, err := New(&c, provider.Env{}); err == nil || kindOf(t, err) != provider.Terminal {
			t.Errorf("%+v: err %v, want terminal", c, err)
		}
	}
}
