package engine_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/notify"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/store/file"
)

// The notification tests drive real rotations (fixture) with two real HTTP receivers on
// 127.0.0.1: a generic webhook signed with a key from the environment, and a Slack-style
// receiver whose URL (a secret, as a Slack webhook URL is) comes from the environment too.

const hmacKey = "test-hmac-key-0123456789"

type hook struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	hang    bool
}

func newHook(t *testing.T, hang bool) *hook {
	h := &hook{hang: hang}
	release := make(chan struct{})
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.headers = append(h.headers, r.Header.Clone())
		h.mu.Unlock()
		if h.hang {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(func() { close(release); h.Close() })
	return h
}

// events are the webhook events received, decoded.
func (h *hook) events(t *testing.T) []notify.Event {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []notify.Event
	for _, b := range h.bodies {
		var ev notify.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("webhook body %s: %v", b, err)
		}
		out = append(out, ev)
	}
	return out
}

func ofType(evs []notify.Event, ty notify.Type) []notify.Event {
	var out []notify.Event
	for _, e := range evs {
		if e.Type == ty {
			out = append(out, e)
		}
	}
	return out
}

// slackTexts are the Slack messages' fallback texts.
func (h *hook) slackTexts(t *testing.T) []string {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, b := range h.bodies {
		var m struct {
			Text   string            `json:"text"`
			Blocks []json.RawMessage `json:"blocks"`
		}
		if err := json.Unmarshal(b, &m); err != nil || m.Text == "" || len(m.Blocks) == 0 {
			t.Fatalf("slack body %s: %v", b, err)
		}
		out = append(out, m.Text)
	}
	return out
}

type notifyFixture struct {
	*fixture
	audit, slack *hook
	slackURL     string
}

// newNotifyFixture: the fixture's credential with extra lines, the two notifications, and
// more top-level YAML in a second document.
func newNotifyFixture(t *testing.T, extra, top string) *notifyFixture {
	nf := &notifyFixture{audit: newHook(t, false), slack: newHook(t, false)}
	nf.slackURL = nf.slack.URL + "/services/T000/B000/SLACKSECRETPATH"
	doc := fmt.Sprintf("---\nnotifications:\n  audit: {type: webhook, url: %q, secret_env: TEST_HMAC, events: [all]}\n"+
		"  on-call: {type: slack, url_env: TEST_SLACK_URL, events: [gate-blocked, approval-needed, rollback, exception-expiring, exception-expired]}\n%s",
		nf.audit.URL+"/rotor", top)
	nf.fixture = newFixture(t, extra, doc)
	return nf
}

func (nf *notifyFixture) engine(actor string) *engine.Engine {
	e := nf.fixture.engine(actor)
	e.Getenv = func(k string) string {
		switch k {
		case "TEST_HMAC":
			return hmacKey
		case "TEST_SLACK_URL":
			return nf.slackURL
		}
		return ""
	}
	return e
}

func (nf *notifyFixture) rotate(actor string) engine.Result {
	nf.t.Helper()
	res, err := nf.engine(actor).Rotate(context.Background(), "api-key", rotation.StageRevoke)
	if err != nil {
		nf.t.Fatalf("rotate: %v", err)
	}
	return res
}

// noLeaks scans every body and header received, and every journal line, for every value the
// store holds (in the encodings a leak would take), the signing key and the Slack URL's path.
func (nf *notifyFixture) noLeaks(runs ...string) {
	t := nf.t
	t.Helper()
	rd, err := file.OpenReader(filepath.Join(nf.dir, "store"), "api-key", filepath.Join(nf.dir, "inventory", "keys", "rotor.key"))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := rd.Enabled()
	if err != nil || len(vs) == 0 {
		t.Fatalf("store values: %v (%d)", err, len(vs))
	}
	canaries := []string{hmacKey, "SLACKSECRETPATH"}
	for _, v := range vs {
		b := v.Value.Reveal()
		canaries = append(canaries, string(b), base64.StdEncoding.EncodeToString(b), hex.EncodeToString(b))
		v.Value.Wipe()
	}
	var texts []string
	for _, h := range []*hook{nf.audit, nf.slack} {
		h.mu.Lock()
		for i, b := range h.bodies {
			texts = append(texts, string(b), fmt.Sprint(h.headers[i]))
		}
		h.mu.Unlock()
	}
	for _, r := range runs {
		for _, en := range nf.journalOf(r) {
			texts = append(texts, en.Summary, string(en.Data))
		}
	}
	for _, s := range texts {
		for _, c := range canaries {
			if strings.Contains(s, c) {
				t.Fatalf("a secret (%d bytes) appears in %q", len(c), s)
			}
		}
	}
}

// A rotation stopped at a failing signal sends one gate-blocked event to each sink, signed
// for the webhook, and rotating again at the same gate sends nothing more. The journal says
// what was notified.
func TestNotifyGateBlockedOnce(t *testing.T) {
	nf := newNotifyFixture(t, "    checks: [errors]\n", "checks:\n  errors: {type: exec, command: [\"false\"]}\n")
	res := nf.rotate("alice")
	if !res.Blocked() || res.Action.Gate.Gate != "signals" {
		t.Fatalf("want blocked at signals, got %s %+v", res.Run.Phase, res.Action.Gate)
	}
	nf.advance(time.Minute)
	if res2 := nf.rotate("alice"); !res2.Blocked() || res2.Run.ID != res.Run.ID {
		t.Fatalf("second rotate: %+v", res2.Action)
	}
	evs := nf.audit.events(t)
	if got := ofType(evs, notify.GateBlocked); len(got) != 1 {
		t.Fatalf("webhook got %d gate-blocked events, want 1: %+v", len(got), evs)
	}
	ev := ofType(evs, notify.GateBlocked)[0]
	if ev.Gate != "signals" || ev.RunID != res.Run.ID || ev.Credential != "api-key" || ev.Owner != "team-a" ||
		ev.Initiator != "alice" || ev.Unblock == "" || ev.Message == "" || len(ev.Consumers) != 1 {
		t.Errorf("event %+v", ev)
	}
	if !strings.HasPrefix(ev.ID, res.Run.ID+"-") {
		t.Errorf("event id %q does not name the run", ev.ID)
	}
	for i, b := range nf.audit.bodies {
		if !notify.Verify([]byte(hmacKey), b, nf.audit.headers[i].Get("X-Rotor-Signature")) {
			t.Errorf("delivery %d: signature %q does not verify", i, nf.audit.headers[i].Get("X-Rotor-Signature"))
		}
		if nf.audit.headers[i].Get("X-Rotor-Event-Id") == "" {
			t.Errorf("delivery %d has no X-Rotor-Event-Id", i)
		}
	}
	if texts := nf.slack.slackTexts(t); len(texts) != 1 || !strings.Contains(texts[0], "blocked at signals") {
		t.Errorf("slack got %q", texts)
	}
	notes := 0
	for _, en := range nf.journalOf(res.Run.ID) {
		if en.Kind == journal.KindNote && strings.HasPrefix(en.Summary, "notified ") {
			notes++
		}
	}
	if notes != 2 {
		t.Errorf("journal has %d notification notes, want 2 (one per sink)", notes)
	}
	nf.noLeaks(res.Run.ID)
}

// A critical credential that reaches awaiting-approval asks for an approval, once, naming
// the initiator who may not give it.
func TestNotifyApprovalNeeded(t *testing.T) {
	nf := newNotifyFixture(t, "    critical: true\n", "")
	if res := nf.rotate("alice"); res.Run.Phase != rotation.Done {
		t.Fatalf("first rotation: %s %+v", res.Run.Phase, res.Action.Gate)
	}
	res := nf.rotate("alice")
	if res.Run.Phase != rotation.AwaitingApproval {
		t.Fatalf("want awaiting-approval, got %s %+v", res.Run.Phase, res.Action.Gate)
	}
	nf.rotate("alice")
	got := ofType(nf.audit.events(t), notify.ApprovalNeeded)
	if len(got) != 1 {
		t.Fatalf("%d approval-needed events, want 1", len(got))
	}
	if ev := got[0]; ev.Gate != "approval" || !ev.Critical || ev.Initiator != "alice" || !strings.Contains(ev.Unblock, "rotor approve "+res.Run.ID) {
		t.Errorf("event %+v", ev)
	}
	if len(ofType(nf.audit.events(t), notify.GateBlocked)) != 0 {
		t.Error("awaiting approval was also sent as gate-blocked")
	}
	nf.noLeaks(res.Run.ID)
}

// A rollback sends its owner and expiry; as the expiry nears, any rotor command that looks
// at the state sends exception-expiring once, and exception-expired once it passed.
func TestNotifyRollbackAndException(t *testing.T) {
	nf := newNotifyFixture(t, "    critical: true\n", "defaults: {exception_warning: 2h}\n")
	nf.rotate("alice")
	res := nf.rotate("alice")
	if res.Run.Phase != rotation.AwaitingApproval {
		t.Fatalf("want awaiting-approval, got %s", res.Run.Phase)
	}
	ctx := context.Background()
	rb, err := nf.engine("carol").Rollback(ctx, res.Run.ID, engine.RollbackRequest{Consumers: []string{"api"}, Owner: "team-a", Expires: 6 * time.Hour, Reason: "api fails on the new key"})
	if err != nil {
		t.Fatal(err)
	}
	if rb.Run.Phase != rotation.RolledBack {
		t.Fatalf("rollback: %s %+v", rb.Run.Phase, rb.Action.Gate)
	}
	got := ofType(nf.audit.events(t), notify.Rollback)
	if len(got) != 1 {
		t.Fatalf("%d rollback events, want 1", len(got))
	}
	ev := got[0]
	expires := rb.Run.Exceptions[0].Expires
	if ev.Exception == nil || ev.Exception.Owner != "team-a" || !ev.Exception.Expires.Equal(expires) || ev.Actor != "carol" ||
		strings.Join(ev.Exception.Consumers, ",") != "api" || !strings.Contains(ev.Message, "api fails on the new key") {
		t.Errorf("rollback event %+v (exception %+v)", ev, ev.Exception)
	}

	countType := func(ty notify.Type) int { return len(ofType(nf.audit.events(t), ty)) }
	if err := nf.engine("dave").NotifyExceptions(ctx); err != nil || countType(notify.ExceptionExpiring) != 0 {
		t.Fatalf("4h before expiry (warning 2h): %v, %d expiring", err, countType(notify.ExceptionExpiring))
	}
	nf.advance(4*time.Hour + 30*time.Minute)
	for range 2 {
		if err := nf.engine("dave").NotifyExceptions(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := countType(notify.ExceptionExpiring); n != 1 {
		t.Fatalf("%d exception-expiring events, want 1", n)
	}
	nf.advance(2 * time.Hour)
	for range 2 {
		if err := nf.engine("dave").NotifyExceptions(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := countType(notify.ExceptionExpired); n != 1 {
		t.Fatalf("%d exception-expired events, want 1", n)
	}
	if ex := ofType(nf.audit.events(t), notify.ExceptionExpired)[0]; ex.Exception == nil || ex.Exception.Owner != "team-a" {
		t.Errorf("expired event %+v", ex)
	}
	if texts := nf.slack.slackTexts(t); len(texts) != 4 { // approval-needed, rollback, expiring, expired
		t.Errorf("slack got %d messages: %q", len(texts), texts)
	}
	nf.noLeaks(res.Run.ID)
}

// A receiver that never answers holds the rotation at most its timeout after the run's own
// work, and the journal says the notification failed; the rotation's result is unchanged.
func TestNotifyHangingReceiver(t *testing.T) {
	slow := newHook(t, true)
	f := newFixture(t, "    checks: [errors]\n", fmt.Sprintf("---\nchecks:\n  errors: {type: exec, command: [\"false\"]}\n"+
		"notifications:\n  slow: {type: webhook, url: %q, timeout: 1s, events: [gate-blocked]}\n", slow.URL))
	start := time.Now()
	res := f.rotate("alice")
	el := time.Since(start)
	if !res.Blocked() || res.Action.Gate.Gate != "signals" {
		t.Fatalf("want blocked at signals, got %+v", res.Action)
	}
	if el > 3*time.Second {
		t.Errorf("rotate took %s with a hanging receiver (timeout 1s)", el)
	}
	failed := ""
	for _, en := range f.journalOf(res.Run.ID) {
		if strings.HasPrefix(en.Summary, "notification slow failed") {
			failed = en.Summary
		}
	}
	if failed == "" {
		t.Fatal("the journal does not say the notification failed")
	}
	if strings.Contains(failed, slow.URL) && !strings.Contains(failed, "http://127.0.0.1") {
		t.Errorf("failure line %q", failed)
	}
	slow.mu.Lock()
	n := len(slow.bodies)
	slow.mu.Unlock()
	if n == 0 {
		t.Error("the hanging receiver was never called")
	}
}
