package httpquery

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A request carries the URL's user:password as basic auth, never in the URL, and the answer
// is read up to MaxAnswer and no further.
func TestRequestAndAnswerLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "reader" || p != "canary-pw" {
			t.Errorf("basic auth %q %q %v", u, p, ok)
		}
		if r.URL.Path != "/prefix/api/q" || r.URL.Query().Get("query") != "up" {
			t.Errorf("request %s", r.URL)
		}
		if r.URL.Query().Get("big") != "" {
			chunk := strings.Repeat("x", 1<<20)
			for range MaxAnswer>>20 + 1 {
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	s, err := New("Test", strings.Replace(srv.URL, "http://", "http://reader:canary-pw@", 1)+"/prefix")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.At(), "canary") || !strings.HasPrefix(s.At(), "Test at http://") {
		t.Errorf("At() = %q", s.At())
	}
	for _, big := range []bool{false, true} {
		q := map[string][]string{"query": {"up"}}
		if big {
			q["big"] = []string{"1"}
		}
		r, err := s.Request(t.Context(), http.MethodGet, "api/q", q, nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(r.URL.String(), "canary") {
			t.Errorf("the URL %s carries the password", r.URL)
		}
		resp, err := s.Client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case !big && (err != nil || string(body) != "ok"):
			t.Errorf("small answer: %q, %v", body, err)
		case big && (err != ErrTooLarge || len(body) != MaxAnswer):
			t.Errorf("large answer: %d bytes, %v; want %d and ErrTooLarge", len(body), err, MaxAnswer)
		}
		if big {
			if reason, msg, ok := s.Unanswered(t.Context(), err, "narrow it"); !ok || reason != "answer too large" || !strings.HasSuffix(msg, "more than 32 MiB: narrow it") {
				t.Errorf("Unanswered = %q %q %v", reason, msg, ok)
			}
		}
	}
}

// A redirect to another host is not followed, and says where it went.
func TestRedirectElsewhere(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect to another host was followed")
	}))
	defer other.Close()
	srv := httptest.NewServer(http.RedirectHandler(other.URL+"/x", http.StatusFound))
	defer srv.Close()
	s, err := New("Test", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Request(t.Context(), http.MethodGet, "q", nil, nil)
	_, err = s.Client.Do(r)
	reason, msg, ok := s.Unanswered(t.Context(), err, "")
	if !ok || reason != "redirected elsewhere" || !strings.Contains(msg, "redirected to "+other.URL) {
		t.Errorf("Unanswered = %q %q %v", reason, msg, ok)
	}
}

// A server that is not there is unreachable, named; one too slow is no answer in time.
func TestNoAnswer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, err := New("Test", "http://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Request(t.Context(), http.MethodGet, "q", nil, nil)
	_, err = s.Client.Do(r)
	if _, _, ok := s.Unanswered(t.Context(), err, ""); ok {
		t.Errorf("a refused connection counted as unanswered: %v", err)
	}
	if reason, msg := s.Unreachable(err); reason != "Test unreachable" || !strings.Contains(msg, "connection refused (is Test running") {
		t.Errorf("Unreachable = %q %q", reason, msg)
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	s, err = New("Test", slow.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	r, _ = s.Request(ctx, http.MethodGet, "q", nil, nil)
	_, err = s.Client.Do(r)
	if reason, msg, ok := s.Unanswered(ctx, err, ""); !ok || reason != "no answer in time" || !strings.Contains(msg, "did not answer before the check's timeout") {
		t.Errorf("deadline: Unanswered = %q %q %v", reason, msg, ok)
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if reason, _, ok := s.Unanswered(ctx, context.Canceled, ""); !ok || reason != "interrupted" {
		t.Errorf("cancelled: Unanswered = %q %v", reason, ok)
	}
}
