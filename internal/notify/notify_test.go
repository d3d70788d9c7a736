package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/notify"
)

// receiver is a real HTTP server on 127.0.0.1 that records what it gets and answers with
// the statuses it is given, in turn (the last one repeats).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
	statuses []int
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.bodies)
		rc.bodies = append(rc.bodies, b)
		rc.headers = append(rc.headers, r.Header.Clone())
		st := rc.statuses[min(n, len(rc.statuses)-1)]
		rc.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func event() notify.Event {
	return notify.Event{ID: "r1-7-gate-blocked", Type: notify.GateBlocked, At: time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC),
		Credential: "orders-db", Owner: "team-payments", RunID: "r1", Phase: "verifying", Gate: "signals",
		Verdict: "fail", Reason: "signal over threshold", Message: "orders-auth-errors: 12 > 0 <b>&</b>",
		Unblock: "fix it, then rotor rotate orders-db", Initiator: "alice", Actor: "rotor"}
}

func noSleep(context.Context, time.Duration) error { return nil }

// A webhook gets rotor's JSON event, its id in X-Rotor-Event-Id and a signature that
// verifies under the key — and does not verify under another key or another body.
func TestWebhookSignedAndIdentified(t *testing.T) {
	rc := newReceiver(t, 204)
	key := []byte("hmac-key-for-the-test")
	c := notify.Client{Sleep: noSleep}
	if err := c.Send(context.Background(), notify.Sink{Name: "audit", Kind: notify.KindWebhook, URL: rc.URL + "/hook", Key: key}, event()); err != nil {
		t.Fatal(err)
	}
	if len(rc.bodies) != 1 {
		t.Fatalf("%d deliveries, want 1", len(rc.bodies))
	}
	body, h := rc.bodies[0], rc.headers[0]
	if !notify.Verify(key, body, h.Get("X-Rotor-Signature")) {
		t.Errorf("signature %q does not verify", h.Get("X-Rotor-Signature"))
	}
	if notify.Verify([]byte("another key"), body, h.Get("X-Rotor-Signature")) || notify.Verify(key, append(body, ' '), h.Get("X-Rotor-Signature")) {
		t.Error("the signature verifies under another key or body")
	}
	if got := h.Get("X-Rotor-Event-Id"); got != "r1-7-gate-blocked" {
		t.Errorf("X-Rotor-Event-Id %q", got)
	}
	var ev notify.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != notify.GateBlocked || ev.Gate != "signals" || ev.Credential != "orders-db" || ev.Unblock == "" {
		t.Errorf("event %+v", ev)
	}
}

// The Slack payload is an incoming-webhook message: a text fallback and blocks (header,
// section, fields, context), with mrkdwn's control characters escaped.
func TestSlackPayloadShape(t *testing.T) {
	rc := newReceiver(t, 200)
	c := notify.Client{Sleep: noSleep}
	if err := c.Send(context.Background(), notify.Sink{Name: "on-call", Kind: notify.KindSlack, URL: rc.URL + "/services/T0/B0/x"}, event()); err != nil {
		t.Fatal(err)
	}
	var m struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields   []struct{ Type, Text string } `json:"fields"`
			Elements []struct{ Type, Text string } `json:"elements"`
		} `json:"blocks"`
	}
	dec := json.NewDecoder(strings.NewReader(string(rc.bodies[0])))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("slack body %s: %v", rc.bodies[0], err)
	}
	if !strings.Contains(m.Text, "orders-db: rotation blocked at signals") {
		t.Errorf("text %q", m.Text)
	}
	var types []string
	for _, b := range m.Blocks {
		types = append(types, b.Type)
	}
	if strings.Join(types, ",") != "header,section,section,context" {
		t.Fatalf("blocks %v", types)
	}
	if m.Blocks[0].Text.Type != "plain_text" || m.Blocks[1].Text.Type != "mrkdwn" {
		t.Errorf("text types %+v %+v", m.Blocks[0].Text, m.Blocks[1].Text)
	}
	if s := m.Blocks[1].Text.Text; !strings.Contains(s, "&lt;b&gt;&amp;&lt;/b&gt;") || !strings.Contains(s, "*Unblock:*") {
		t.Errorf("section %q: want escaped message and the unblock hint", s)
	}
	if len(m.Blocks[2].Fields) < 3 || !strings.Contains(m.Blocks[3].Elements[0].Text, "r1-7-gate-blocked") {
		t.Errorf("fields %+v context %+v", m.Blocks[2].Fields, m.Blocks[3].Elements)
	}
	if h := rc.headers[0]; h.Get("X-Rotor-Signature") != "" {
		t.Error("a Slack delivery carries a signature header")
	}
}

// A 500 is retried, with the same event id; the 200 that follows ends it.
func TestRetryAfter500(t *testing.T) {
	rc := newReceiver(t, 500, 200)
	var waits []time.Duration
	c := notify.Client{Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
	if err := c.Send(context.Background(), notify.Sink{Name: "audit", Kind: notify.KindWebhook, URL: rc.URL}, event()); err != nil {
		t.Fatalf("500 then 200: %v", err)
	}
	if len(rc.bodies) != 2 || rc.headers[0].Get("X-Rotor-Event-Id") != rc.headers[1].Get("X-Rotor-Event-Id") {
		t.Fatalf("%d deliveries, ids %q", len(rc.bodies), rc.headers)
	}
	if len(waits) != 1 || waits[0] != notify.Backoff(1) {
		t.Errorf("waits %v", waits)
	}
}

// A 502 forever gives up after 1+Retries attempts, and the error names the sink and the
// status but never the URL's path (a Slack URL's path is its secret). A 400 is not retried.
func TestGiveUpAndNoURLInErrors(t *testing.T) {
	rc := newReceiver(t, 502)
	c := notify.Client{Sleep: noSleep}
	err := c.Send(context.Background(), notify.Sink{Name: "on-call", Kind: notify.KindSlack, URL: rc.URL + "/services/SECRETPATH?token=SECRETQ"}, event())
	if err == nil || len(rc.bodies) != 1+notify.Retries {
		t.Fatalf("err %v after %d deliveries", err, len(rc.bodies))
	}
	if !strings.Contains(err.Error(), "notification on-call failed: 502") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q", err)
	}
	bad := newReceiver(t, 400)
	if err := c.Send(context.Background(), notify.Sink{Name: "x", Kind: notify.KindWebhook, URL: bad.URL}, event()); err == nil || len(bad.bodies) != 1 {
		t.Errorf("400: %v after %d deliveries (want one, no retry)", err, len(bad.bodies))
	}
	// A refused connection names the host only.
	dead := httptest.NewServer(http.NotFoundHandler())
	u := dead.URL
	dead.Close()
	err = c.Send(context.Background(), notify.Sink{Name: "gone", Kind: notify.KindSlack, URL: u + "/services/SECRETPATH"}, event())
	if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "notification gone failed") {
		t.Errorf("refused connection: %v", err)
	}
}

// A receiver that never answers costs one timeout per attempt, and the caller's context cuts
// the whole delivery short.
func TestHangingReceiverTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c := notify.Client{Sleep: noSleep}
	start := time.Now()
	err := c.Send(context.Background(), notify.Sink{Name: "slow", Kind: notify.KindWebhook, URL: srv.URL, Timeout: 100 * time.Millisecond}, event())
	if err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("hanging receiver: %v", err)
	}
	if el := time.Since(start); el > time.Duration(1+notify.Retries)*100*time.Millisecond+time.Second {
		t.Errorf("took %s", el)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := c.Send(ctx, notify.Sink{Name: "slow", Kind: notify.KindWebhook, URL: srv.URL}, event()); err == nil {
		t.Fatal("a cancelled delivery succeeded")
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("the caller's deadline did not stop the delivery: %s", el)
	}
}
