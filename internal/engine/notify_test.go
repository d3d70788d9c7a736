package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/notify"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/state/sqlite"
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
	// status is what the receiver answers; 0: 204 No Content.
	status atomic.Int32
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
		if st := h.status.Load(); st != 0 {
			w.WriteHeader(int(st))
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
	res, err := nf.engine(actor).Rotate(context.Background(), nf.call(actor), "api-key", rotation.StageRevoke)
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
	rb, err := nf.engine("carol").Rollback(ctx, nf.call("carol"), res.Run.ID, engine.RollbackRequest{Consumers: []string{"api"}, Owner: "team-a", Expires: 6 * time.Hour, Reason: "api fails on the new key"})
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

// newFailingFixture is a platform whose credential-wide check always fails — every rotation
// blocks at signals — with one webhook sink, named name, at url, subscribed to events.
func newFailingFixture(t *testing.T, name, url, events string) *fixture {
	t.Helper()
	return newFixture(t, "    checks: [errors]\n", fmt.Sprintf("---\nchecks:\n  errors: {type: exec, command: [\"false\"]}\n"+
		"notifications:\n  %s: {type: webhook, url: %q, timeout: 1s, events: [%s]}\n", name, url, events))
}

// A receiver that never answers holds the rotation at most its timeout after the run's own
// work, and the journal says the notification failed; the rotation's result is unchanged.
func TestNotifyHangingReceiver(t *testing.T) {
	slow := newHook(t, true)
	f := newFailingFixture(t, "slow", slow.URL, "gate-blocked")
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

// requests is how many requests the receiver got.
func (h *hook) requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

// ids are the X-Rotor-Event-Id of the requests whose event is of type ty.
func (h *hook) ids(t *testing.T, ty notify.Type) []string {
	t.Helper()
	evs := h.events(t)
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for i, ev := range evs {
		if ev.Type == ty {
			out = append(out, h.headers[i].Get("X-Rotor-Event-Id"))
		}
	}
	return out
}

// notes are the run's notification notes of the given status for sink, as journal data.
func (f *fixture) notes(run, sink, status string) []map[string]any {
	f.t.Helper()
	var out []map[string]any
	for _, en := range f.journalOf(run) {
		if en.Kind != journal.KindNote || len(en.Data) == 0 {
			continue
		}
		var d map[string]any
		if err := json.Unmarshal(en.Data, &d); err != nil {
			f.t.Fatalf("note data %s: %v", en.Data, err)
		}
		if d["status"] != status {
			continue
		}
		if sink == "" || d["notification"] == sink || slices.Contains(anyStrings(d["sinks"]), sink) {
			out = append(out, d)
		}
	}
	return out
}

func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// The crash tests kill a real rotor process — this test binary run again, as the child below
// — with the engine's own crash hook (SIGKILL at a named boundary: no deferred function runs),
// then go on in this process against the same inventory, state database and receivers.
const (
	childDir   = "ROTOR_NOTIFY_CHILD_DIR"
	childNow   = "ROTOR_NOTIFY_CHILD_NOW"
	childRun   = "ROTOR_NOTIFY_CHILD_RUN"
	childCrash = "ROTOR_NOTIFY_CHILD_CRASH_AT"
)

// TestNotifyCrashChild is the child: it rolls back the run named in its environment and is
// killed at the crash point named there. Run directly, it has nothing to do.
func TestNotifyCrashChild(t *testing.T) {
	dir := os.Getenv(childDir)
	if dir == "" {
		return // not a child
	}
	now, err := time.Parse(time.RFC3339Nano, os.Getenv(childNow))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: dir, now: now}
	f.inv, err = inventory.Load(filepath.Join(dir, "inventory"), inventory.Options{Catalog: testRegistry(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if f.db, err = sqlite.Open(context.Background(), filepath.Join(dir, "rotor.db"), sqlite.Options{Clock: f.clock}); err != nil {
		t.Fatal(err)
	}
	if f.fp, _, err = secret.LoadOrCreateKey(filepath.Join(dir, "rotor.key"), rand.Reader); err != nil {
		t.Fatal(err)
	}
	e := f.engine("carol")
	e.Getenv = os.Getenv
	e.CrashAt = os.Getenv(childCrash)
	_, err = e.Rollback(context.Background(), f.call("carol"), os.Getenv(childRun), engine.RollbackRequest{Consumers: []string{"api"}, Owner: "team-a", Expires: 6 * time.Hour, Reason: "api fails on the new key"})
	t.Fatalf("the child was not killed at %s (rollback returned %v)", e.CrashAt, err)
}

// rollbackKilledAt runs a rollback of run in a child rotor killed at point.
func (nf *notifyFixture) rollbackKilledAt(run, point string) {
	t := nf.t
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestNotifyCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDir+"="+nf.dir, childNow+"="+nf.clock().Format(time.RFC3339Nano), childRun+"="+run,
		childCrash+"="+point, "TEST_HMAC="+hmacKey, "TEST_SLACK_URL="+nf.slackURL)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child rotor: %v, want killed at %s\n%s", err, point, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child rotor ended with %v, want killed at %s\n%s", err, point, out)
	}
	nf.advance(time.Minute)
}

// awaitingApproval brings the critical credential's second run to awaiting-approval.
func (nf *notifyFixture) awaitingApproval() engine.Result {
	nf.t.Helper()
	nf.rotate("alice")
	res := nf.rotate("alice")
	if res.Run.Phase != rotation.AwaitingApproval {
		nf.t.Fatalf("want awaiting-approval, got %s %+v", res.Run.Phase, res.Action.Gate)
	}
	return res
}

// A rotor killed after it saved the rollback step and before it sent anything: the rollback
// is owed in the journal (saved with the step), and the next rotate delivers it, once per
// sink, with the id the owed note holds; rotating again sends nothing more.
func TestNotifyCrashBeforeSend(t *testing.T) {
	nf := newNotifyFixture(t, "    critical: true\n", "")
	res := nf.awaitingApproval()
	nf.rollbackKilledAt(res.Run.ID, "outcome:rollback")
	if n := len(ofType(nf.audit.events(t), notify.Rollback)); n != 0 {
		t.Fatalf("the killed rotor sent %d rollback events before its crash point", n)
	}
	owed := nf.notes(res.Run.ID, "audit", "owed")
	var id string
	for _, d := range owed {
		if d["event"] == string(notify.Rollback) {
			id, _ = d["event_id"].(string)
		}
	}
	if id == "" {
		t.Fatalf("no rollback owed in the journal after the crash: %v", owed)
	}
	for range 2 {
		if r := nf.rotate("alice"); r.Run.ID != res.Run.ID || r.Run.Phase != rotation.RolledBack {
			t.Fatalf("rotate after the crash: %s %s", r.Run.ID, r.Run.Phase)
		}
	}
	if ids := nf.audit.ids(t, notify.Rollback); len(ids) != 1 || ids[0] != id {
		t.Fatalf("webhook got rollback ids %q, want exactly [%s]", ids, id)
	}
	if ev := ofType(nf.audit.events(t), notify.Rollback)[0]; ev.Actor != "carol" || ev.Exception == nil || ev.Exception.Owner != "team-a" {
		t.Errorf("rollback event %+v", ev)
	}
	slackRollbacks := 0
	for _, s := range nf.slack.slackTexts(t) {
		if strings.Contains(s, "rolled back") {
			slackRollbacks++
		}
	}
	if slackRollbacks != 1 {
		t.Errorf("slack got %d rollback messages, want 1", slackRollbacks)
	}
	if sent := nf.notes(res.Run.ID, "audit", "sent"); len(sent) != 2 { // approval-needed, rollback
		t.Errorf("%d sent notes for audit, want 2: %v", len(sent), sent)
	}
	nf.noLeaks(res.Run.ID)
}

// A rotor killed after the receivers got the rollback and before it journaled that: the next
// command sends it again with the same X-Rotor-Event-Id (at least once: the receiver drops
// the duplicate), journals it, and then nothing is sent again.
func TestNotifyCrashAfterSendSameID(t *testing.T) {
	nf := newNotifyFixture(t, "    critical: true\n", "")
	res := nf.awaitingApproval()
	nf.rollbackKilledAt(res.Run.ID, "notified")
	first := nf.audit.ids(t, notify.Rollback)
	if len(first) != 1 {
		t.Fatalf("before the crash the webhook got %d rollback events, want 1", len(first))
	}
	if err := nf.engine("dave").NotifyExceptions(context.Background()); err != nil { // any command
		t.Fatal(err)
	}
	nf.rotate("alice")
	if ids := nf.audit.ids(t, notify.Rollback); len(ids) != 2 || ids[0] != ids[1] {
		t.Fatalf("rollback ids %q: want the crashed delivery and one retry with the same id", ids)
	}
	if sent := nf.notes(res.Run.ID, "audit", "sent"); len(sent) != 2 {
		t.Errorf("%d sent notes for audit, want 2 (approval-needed, rollback)", len(sent))
	}
	nf.noLeaks(res.Run.ID)
}

// A receiver that fails (500) during the rotation that blocks gets the gate-blocked event
// from the next command — here not a rotate, the scan every command runs — with the same
// event id; a later rotate at the same gate sends nothing more.
func TestNotifyFailedGateRetried(t *testing.T) {
	flaky := newHook(t, false)
	flaky.status.Store(http.StatusInternalServerError)
	f := newFailingFixture(t, "flaky", flaky.URL, "gate-blocked")
	res := f.rotate("alice")
	if !res.Blocked() || res.Action.Gate.Gate != "signals" {
		t.Fatalf("want blocked at signals, got %+v", res.Action)
	}
	failedIDs := flaky.ids(t, notify.GateBlocked)
	if len(failedIDs) == 0 || len(f.notes(res.Run.ID, "flaky", "failed")) != 1 {
		t.Fatalf("first delivery: %d requests, journal %v", len(failedIDs), f.notes(res.Run.ID, "flaky", ""))
	}
	flaky.status.Store(0)
	f.advance(time.Minute)
	if err := f.engine("dave").NotifyExceptions(context.Background()); err != nil {
		t.Fatal(err)
	}
	ids := flaky.ids(t, notify.GateBlocked)
	if len(ids) != len(failedIDs)+1 {
		t.Fatalf("after the receiver recovered: %d requests, want %d", len(ids), len(failedIDs)+1)
	}
	for _, id := range ids {
		if id != failedIDs[0] {
			t.Fatalf("event ids %q differ across attempts", ids)
		}
	}
	f.advance(time.Minute)
	f.rotate("alice")
	if err := f.engine("dave").NotifyExceptions(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := flaky.requests(); n != len(ids) {
		t.Errorf("%d requests after it was delivered, want %d", n, len(ids))
	}
	if sent := f.notes(res.Run.ID, "flaky", "sent"); len(sent) != 1 {
		t.Errorf("%d sent notes, want 1", len(sent))
	}
}

// A receiver that refuses every time is tried MaxDeliveries times across commands; then the
// journal says rotor gave up, and no command calls it again.
func TestNotifyGivesUp(t *testing.T) {
	bad := newHook(t, false)
	bad.status.Store(http.StatusBadRequest)
	f := newFailingFixture(t, "bad", bad.URL, "all")
	res := f.rotate("alice")
	if !res.Blocked() {
		t.Fatalf("want blocked, got %+v", res.Action)
	}
	for range engine.MaxDeliveries + 2 {
		f.advance(time.Minute)
		if err := f.engine("dave").NotifyExceptions(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	f.rotate("alice")
	if n := bad.requests(); n != engine.MaxDeliveries {
		t.Errorf("the refusing receiver got %d requests, want %d (one per attempt: 400 is not retried)", n, engine.MaxDeliveries)
	}
	if n := len(f.notes(res.Run.ID, "bad", "failed")); n != engine.MaxDeliveries {
		t.Errorf("%d failed notes, want %d", n, engine.MaxDeliveries)
	}
	gave := f.notes(res.Run.ID, "bad", "gave-up")
	if len(gave) != 1 || gave[0]["event"] != string(notify.GateBlocked) {
		t.Fatalf("gave-up notes %v, want one for gate-blocked", gave)
	}
	found := false
	for _, en := range f.journalOf(res.Run.ID) {
		if strings.HasPrefix(en.Summary, "gave up notifying bad of gate-blocked after 5 failed deliveries") {
			found = true
		}
	}
	if !found {
		t.Error("the journal does not say rotor gave up")
	}
}
