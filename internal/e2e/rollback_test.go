package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestRollbackIsBoundedAndExpires rolls one consumer back after cutover: the previous
// version is enabled again, only that consumer is pinned to it, reloaded and its check
// replayed on the previous version; the new version stays current for everyone else. The
// exception has an owner and an expiry that rotor enforces: before it, rotate waits at the
// exception gate (exit 3); after it, rotor switches the consumer to the new version, proves
// it, closes the exception and finishes the revoke.
func TestRollbackIsBoundedAndExpires(t *testing.T) {
	p := newPlatform(t, platformOpts{service: true})
	p.startService(t)
	wantCode(t, p.rotor(t, "rotate", credential, "--as", "alice"), 0, "first rotation")

	r := p.rotor(t, "rotate", credential, "--now", "--through", "cutover", "--as", "alice")
	wantCode(t, r, 0, "rotate through cutover")
	run := runOf(t, r)
	st := p.status(t, run)
	v1, v2 := st.Run.Previous.ID, st.Run.New.ID

	// Refused: unknown consumer, missing reason — and nothing changes.
	r = p.rotor(t, "rollback", run, "--consumers", "nobody", "--owner", "bob", "--expires", "4s", "--reason", "x")
	if r.code == 0 || !strings.Contains(r.stderr, "nobody") {
		t.Fatalf("a rollback naming an unknown consumer must be refused:\n%s", r)
	}
	if ix := p.index(t); len(ix.Pins) != 0 {
		t.Fatalf("a refused rollback pinned %v", ix.Pins)
	}

	r = p.rotor(t, "rollback", run, "--consumers", "api", "--owner", "bob", "--expires", "5s", "--reason", "api 5xx after cutover")
	wantCode(t, r, 0, "rollback of api")
	ix := p.index(t)
	if ix.Pins["api"] != v1 || len(ix.Pins) != 1 {
		t.Fatalf("pins = %v, want only api on %s", ix.Pins, v1)
	}
	if !enabled(ix, v1) || !enabled(ix, v2) {
		t.Fatalf("both versions must stay enabled during the exception: %+v", ix)
	}
	for _, v := range ix.Versions {
		if v.ID == v2 && v.Stage != "current" {
			t.Fatalf("the new version must stay current for everyone else: %+v", v)
		}
	}
	r = p.rotor(t, "status", run)
	if !contains(r.stdout, "exception", "bob", "pinned to "+v1) {
		t.Fatalf("status must show the exception and the pin:\n%s", r)
	}

	r = p.rotor(t, "rotate", credential, "--as", "alice")
	wantCode(t, r, 3, "rotate during the exception")
	if !strings.Contains(r.stdout, "blocked at: exception") {
		t.Fatalf("want the exception gate:\n%s", r)
	}

	// After the expiry (and once the rolled-back consumer's use of v1 has left the
	// residual-use window), rotor moves api to v2, proves it, and revokes v1.
	// The residual-use signal is read again over the time since the exception closed: rotor
	// waits (--wait) for its 3 s window to fill.
	time.Sleep(5500 * time.Millisecond)
	r = p.rotor(t, "rotate", credential, "--as", "alice", "--wait", "20s")
	wantCode(t, r, 0, "rotate after the exception expired")
	if !strings.Contains(r.stderr, "exception-expiry") {
		t.Fatalf("the exception-expiry step did not run:\n%s", r)
	}
	ix = p.index(t)
	if len(ix.Pins) != 0 || enabled(ix, v1) {
		t.Fatalf("after expiry and revoke: pins %v, %s enabled=%v", ix.Pins, v1, enabled(ix, v1))
	}
	st = p.status(t, run)
	if st.Run.Phase != "done" || len(st.Run.Exceptions) != 1 || st.Run.Exceptions[0].State != "closed" {
		t.Fatalf("phase %s, exceptions %+v", st.Run.Phase, st.Run.Exceptions)
	}
	r = p.rotor(t, "journal", run, "--format", "md")
	if !contains(r.stdout, "api 5xx after cutover", "bob", "closed") {
		t.Fatalf("the ticket must show the rollback and its exception:\n%s", r.stdout)
	}
	wantCode(t, p.rotor(t, "journal", "verify", run), 0, "journal verify")
}
