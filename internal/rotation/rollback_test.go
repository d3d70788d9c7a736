package rotation

import (
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Rollback: from cutover or verify, the previous version valid again for named consumers,
// under an exception with an owner and an expiry that rotor enforces.

// rollback asks for a rollback of consumers, owned by bob, expiring after d.
func (h *harness) rollback(consumers []string, d time.Duration) error {
	ex := Exception{Consumers: consumers, Owner: "bob", Reason: "api 5xx after cutover", OpenedBy: "bob", Expires: h.now.Add(d)}
	return BeginRollback(h.r, ex, h.known(), h.now)
}

func (h *harness) known() []string {
	var ids []string
	for _, c := range h.s.Consumers {
		ids = append(ids, c.ID)
	}
	return ids
}

// doRollback performs the rollback step Next asks for, the way the engine does.
func (h *harness) doRollback(err error) {
	h.t.Helper()
	a := h.expect("do rollback @rolled-back")
	Begin(h.r, a, h.now)
	h.advance(h.stepTime)
	ex := h.r.OpenException()
	if ex == nil {
		h.t.Fatal("rollback step with no open exception")
	}
	FinishRollback(h.r, ex.Consumers, "back on v1", err, h.now)
}

// doExpiry performs the exception-expiry step with the given verdict, the way the engine
// does (a failing expiry is recorded by FinishExceptionOverdue).
func (h *harness) doExpiry(v provider.Verdict) {
	h.t.Helper()
	a := h.expect("do exception-expiry @rolled-back")
	Begin(h.r, a, h.now)
	h.advance(h.stepTime)
	if v == provider.Pass {
		Finish(h.r, StepExceptionExpiry, "", Outcome{Detail: "consumers back on v2 and proven"}, h.s, h.now)
		return
	}
	FinishExceptionOverdue(h.r, "api still fails on v2: kept on v1", h.now)
}

func rollbackSpec() Spec {
	return newSpec().signals("auth-errors").soak(time.Hour).
		consumer("api", reload, checks("api-health"), accepts).
		consumer("web", reload, checks("web-health")).
		consumer("job", delayedAt(2*time.Hour), checks("job-ok")).build()
}

// TestBeginRollbackRefusals: every refused rollback leaves the run exactly as it was.
func TestBeginRollbackRefusals(t *testing.T) {
	type setup func(t *testing.T) *harness
	cutOver := func(t *testing.T) *harness {
		h := newHarness(t, rollbackSpec(), t0)
		h.drive()
		return h
	}
	cases := []struct {
		name    string
		setup   setup
		ex      func(h *harness) Exception
		wrong   bool   // ErrWrongPhase
		message string // substring of the error otherwise
	}{
		{"before cutover", func(t *testing.T) *harness {
			h := newHarness(t, rollbackSpec(), t0)
			h.driveUntil("do promote @cutting-over")
			return h
		}, nil, true, "before cutover"},
		{"after revoke started", func(t *testing.T) *harness {
			h := newHarness(t, newSpec().consumer("api", reload, checks("c")).build(), t0)
			a := h.driveUntil("do revoke @revoking")
			Begin(h.r, a, h.now) // crashed mid-revoke
			return h
		}, nil, true, "revocation has started"},
		{"after revoke", func(t *testing.T) *harness {
			h := newHarness(t, newSpec().consumer("api", reload, checks("c")).build(), t0)
			h.drive()
			return h
		}, nil, true, "revocation has started"},
		{"first rotation", func(t *testing.T) *harness {
			h := newHarness(t, newSpec().consumer("api", reload, checks("c")).soak(time.Hour).build(), t0)
			h.first = true
			h.drive()
			return h
		}, nil, true, "first rotation"},
		{"unknown consumer", cutOver, func(h *harness) Exception {
			return Exception{Consumers: []string{"api", "ghost"}, Owner: "bob", Reason: "x", Expires: h.now.Add(time.Hour)}
		}, false, `no consumer "ghost"`},
		{"no consumers", cutOver, func(h *harness) Exception {
			return Exception{Owner: "bob", Reason: "x", Expires: h.now.Add(time.Hour)}
		}, false, "--consumers"},
		{"no owner", cutOver, func(h *harness) Exception {
			return Exception{Consumers: []string{"api"}, Reason: "x", Expires: h.now.Add(time.Hour)}
		}, false, "owner"},
		{"no reason", cutOver, func(h *harness) Exception {
			return Exception{Consumers: []string{"api"}, Owner: "bob", Reason: "  ", Expires: h.now.Add(time.Hour)}
		}, false, "reason"},
		{"expires now", cutOver, func(h *harness) Exception {
			return Exception{Consumers: []string{"api"}, Owner: "bob", Reason: "x", Expires: h.now}
		}, false, "future"},
		{"expired", cutOver, func(h *harness) Exception {
			return Exception{Consumers: []string{"api"}, Owner: "bob", Reason: "x", Expires: h.now.Add(-time.Minute)}
		}, false, "future"},
		{"no expiry", cutOver, func(h *harness) Exception {
			return Exception{Consumers: []string{"api"}, Owner: "bob", Reason: "x"}
		}, false, "future"},
		{"second exception", func(t *testing.T) *harness {
			h := cutOver(t)
			if err := h.rollback([]string{"api"}, time.Hour); err != nil {
				t.Fatal(err)
			}
			h.doRollback(nil)
			return h
		}, nil, true, "already open"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.setup(t)
			ex := Exception{Consumers: []string{"api"}, Owner: "bob", Reason: "x", Expires: h.now.Add(time.Hour)}
			if c.ex != nil {
				ex = c.ex(h)
			}
			before := snapshot(h.r)
			err := BeginRollback(h.r, ex, h.known(), h.now)
			if err == nil {
				t.Fatal("rollback accepted")
			}
			if c.wrong {
				wantErr(t, err, ErrWrongPhase)
			}
			if !strings.Contains(err.Error(), c.message) {
				t.Errorf("err %q, want %q", err, c.message)
			}
			if after := snapshot(h.r); after != before {
				t.Errorf("a refused rollback changed the run:\n  before %s\n  after  %s", before, after)
			}
		})
	}
}

func snapshot(r *Run) string {
	var b strings.Builder
	b.WriteString(string(r.Phase))
	for _, s := range r.Steps {
		b.WriteString(" " + s.Name() + "=" + string(s.Status))
	}
	for _, e := range r.Exceptions {
		b.WriteString(" ex:" + strings.Join(e.Consumers, ",") + "=" + e.State)
	}
	return b.String()
}

// TestRollbackPinsConsumersUntilExpiry: after the rollback step, the named consumers are on
// the previous version and unproven; the run waits at the exception until it expires, then
// asks for the expiry step. A rollback from verify is allowed even while waiting for a proof.
func TestRollbackPinsConsumersUntilExpiry(t *testing.T) {
	h := newHarness(t, rollbackSpec(), t0)
	h.drive() // soaking
	if err := h.rollback([]string{"api", "job"}, 4*time.Hour); err != nil {
		t.Fatal(err)
	}
	expires := h.now.Add(4 * time.Hour)
	if h.r.Phase != RolledBack {
		t.Fatalf("phase %s", h.r.Phase)
	}
	ex := h.r.OpenException()
	if ex == nil || ex.State != "open" || !ex.Opened.Equal(h.now) || ex.Owner != "bob" {
		t.Fatalf("exception %+v", ex)
	}
	h.doRollback(nil)
	if st := h.r.Step(StepRollback, ""); st.Status != OK || st.Verdict != provider.Pass {
		t.Fatalf("rollback step %+v", st)
	}
	for _, id := range []string{"api", "job"} {
		c := h.r.Consumer(id)
		if c.PinnedTo != "v1" || c.Proven || c.ProvenBy != "" {
			t.Errorf("%s after rollback: %+v, want pinned to v1 and unproven", id, c)
		}
	}
	if c := h.r.Consumer("web"); c.PinnedTo != "" || !c.Proven {
		t.Errorf("web, not named: %+v, want untouched", c)
	}

	a := h.expect("wait exception/unknown" + until(expires))
	wantWait(t, a, "exception", provider.Unknown, RolledBack)
	for _, want := range []string{"api, job", "bob", "api 5xx after cutover"} {
		if !strings.Contains(a.Gate.Message, want) {
			t.Errorf("message %q does not say %q", a.Gate.Message, want)
		}
	}
	// Long after the soak and the job's proof time, nothing moves until expiry.
	h.at(expires.Add(-time.Nanosecond))
	h.expect("wait exception/unknown" + until(expires))
	h.at(expires)
	h.expect("do exception-expiry @rolled-back")
}

// TestExceptionExpiryPassReturnsToVerify: an expiry whose checks pass closes the exception,
// unpins the consumers, and the run goes back to verify and on to revoke.
func TestExceptionExpiryPassReturnsToVerify(t *testing.T) {
	h := newHarness(t, rollbackSpec(), t0)
	h.drive()
	if err := h.rollback([]string{"api", "job"}, 4*time.Hour); err != nil {
		t.Fatal(err)
	}
	h.doRollback(nil)
	h.at(h.r.Exceptions[0].Expires)
	h.doExpiry(provider.Pass)

	ex := h.r.Exceptions[0]
	if ex.State != "closed" || !ex.Closed.Equal(h.now) || h.r.OpenException() != nil {
		t.Fatalf("exception after a passing expiry: %+v", ex)
	}
	if h.r.Phase != Verifying {
		t.Errorf("phase %s, want verifying", h.r.Phase)
	}
	for _, c := range h.r.Consumers {
		if c.PinnedTo != "" {
			t.Errorf("%s still pinned to %s", c.ID, c.PinnedTo)
		}
		if !c.Proven {
			t.Errorf("%s unproven after the expiry's checks passed", c.ID)
		}
	}
	// The soak ended during the exception: the signals are read again; api and job are
	// proven by the expiry's checks, web by its own.
	wantSeq(t, h.drive(), "do signals @verifying", "do revoke @revoking", "do reload-accepting:api @revoking", "do record @revoking", "finished")
}

// TestExceptionOverdueBlocks: an expiry that cannot re-revoke marks the exception overdue,
// and the run blocks with verdict fail; it never reaches revoke, and never reads as open.
// A later invocation tries again.
func TestExceptionOverdueBlocks(t *testing.T) {
	h := newHarness(t, rollbackSpec(), t0)
	h.drive()
	if err := h.rollback([]string{"api"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.doRollback(nil)
	h.at(h.r.Exceptions[0].Expires)
	h.doExpiry(provider.Fail)

	ex := h.r.OpenException()
	if ex == nil || ex.State != "overdue" || !strings.Contains(ex.Note, "still fails") {
		t.Fatalf("exception %+v, want overdue with the reason", ex)
	}
	for _, d := range []time.Duration{0, time.Hour, 30 * 24 * time.Hour} {
		h.advance(d)
		a := h.next()
		wantWait(t, a, "exception", provider.Fail, RolledBack)
		if a.Gate.Reason != "exception overdue" {
			t.Errorf("reason %q", a.Gate.Reason)
		}
	}
	if h.r.started(StepRevoke) || h.r.Phase != RolledBack {
		t.Fatalf("phase %s, revoke started %v", h.r.Phase, h.r.started(StepRevoke))
	}
	if c := h.r.Consumer("api"); c.PinnedTo != "v1" {
		t.Errorf("api %+v: still on v1 while overdue", c)
	}

	// The next rotate retries; still failing, still overdue; then passing, closed.
	h.at(h.now.Add(time.Minute))
	h.doExpiry(provider.Fail)
	wantWait(t, h.next(), "exception", provider.Fail, RolledBack)
	h.at(h.now.Add(time.Minute))
	h.doExpiry(provider.Pass)
	if h.r.OpenException() != nil || h.r.Exceptions[0].State != "closed" {
		t.Fatalf("exceptions %+v", h.r.Exceptions)
	}
	got := h.drive()
	if got[len(got)-1] != "finished" || !h.r.done(StepRevoke, "") {
		t.Fatalf("after the exception closed: %v", got)
	}
}

// TestRollbackFromCutover: a rollback may come during the cutover itself (after promote);
// the remaining cutover steps wait until the exception is resolved.
func TestRollbackFromCutover(t *testing.T) {
	h := newHarness(t, rollbackSpec(), t0)
	h.driveUntil("do reload:web @cutting-over")
	if err := h.rollback([]string{"api"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.doRollback(nil)
	h.expect("wait exception/unknown" + until(h.r.Exceptions[0].Expires))
	h.at(h.r.Exceptions[0].Expires)
	h.doExpiry(provider.Pass)
	h.expect("do reload:web @cutting-over")
}

// TestFailedRollbackIsRetried: a rollback step that fails halts the run; a later rotate
// resumes it and performs the rollback again (it is idempotent), rather than waiting on an
// exception whose consumers were never switched back.
func TestFailedRollbackIsRetried(t *testing.T) {
	h := newHarness(t, rollbackSpec(), t0)
	h.drive()
	if err := h.rollback([]string{"api"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.doRollback(retryable("store timeout"))
	if h.r.Halt == nil || h.r.Halt.Step != "rollback" {
		t.Fatalf("halt %+v", h.r.Halt)
	}
	h.expect("stopped halted")
	if c := h.r.Consumer("api"); c.PinnedTo != "" {
		t.Errorf("api pinned by a failed rollback: %+v", c)
	}

	h.at(h.now.Add(time.Minute))
	Resume(h.r, h.now)
	h.doRollback(nil)
	if st := h.r.Step(StepRollback, ""); st.Status != OK || st.Attempt != 1 {
		t.Errorf("rollback step %+v, want done at attempt 1 after resume", st)
	}
	if c := h.r.Consumer("api"); c.PinnedTo != "v1" {
		t.Errorf("api %+v, want pinned to v1", c)
	}
	h.expect("wait exception/unknown" + until(h.r.Exceptions[0].Expires))
}

// TestSecondRollbackAfterClosedException: once an exception closed, a new rollback (before
// revoke) opens a second one; its rollback step runs once and the run waits at it.
func TestSecondRollbackAfterClosedException(t *testing.T) {
	h := newHarness(t, rollbackSpec(), t0)
	h.drive()
	if err := h.rollback([]string{"api"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.doRollback(nil)
	h.at(h.r.Exceptions[0].Expires)
	h.doExpiry(provider.Pass)

	if err := h.rollback([]string{"web"}, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	h.doRollback(nil)
	ex := h.r.OpenException()
	if ex == nil || len(h.r.Exceptions) != 2 || ex.Consumers[0] != "web" {
		t.Fatalf("exceptions %+v", h.r.Exceptions)
	}
	h.expect("wait exception/unknown" + until(ex.Expires))
	if c := h.r.Consumer("web"); c.PinnedTo != "v1" || c.Proven {
		t.Errorf("web %+v", c)
	}
	// The expiry runs again for the second exception.
	h.at(ex.Expires)
	h.doExpiry(provider.Pass)
	if h.r.OpenException() != nil {
		t.Fatalf("exceptions %+v", h.r.Exceptions)
	}
	got := h.drive()
	if got[len(got)-1] != "finished" {
		t.Fatalf("after the second exception: %v", got)
	}
}
