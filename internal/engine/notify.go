package engine

// Notifications: the engine tells the inventory's notification sinks that a run needs
// someone — a gate that blocks, an approval to give, a rollback, an exception that expires.
//
// The rules, and why:
//   - An event is sent only after the journal entry it reports is saved: a receiver never
//     hears of a step the database does not have. Its id is the run id, the journal sequence
//     of that entry and the event type, so a retried delivery carries the same id.
//   - Delivery starts at once, in the background, while the run goes on; when the operation
//     ends (still under the credential's lock) the engine waits for the deliveries at most one
//     sink timeout more, then journals one note per delivery: "notified on-call: …" or
//     "notification on-call failed: 502 Bad Gateway". A receiver that hangs therefore holds a
//     rotation for at most its timeout, and a failed notification never fails a rotation.
//   - What was sent is read back from the journal (the notes carry a dedupe key), so that
//     rotating again at the same blocked gate does not notify again: a gate is notified once
//     per run, gate, reason and evidence period (a rollback starts a new one); an exception
//     once per event type. A failed delivery is not a sent one: the next operation on the run
//     that meets the same condition tries again.
//   - A crash between the save and the delivery loses that notification (at most once, not
//     at least once): the journal, not the notification, is the record.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/notify"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/state"
)

// outbox holds the deliveries of one operation on one run.
type outbox struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	grace  time.Duration

	mu   sync.Mutex
	done []delivery
	// sent are the dedupe keys (key + "\x00" + sink) already delivered, read from the
	// journal, plus those started in this operation.
	sent map[string]bool
}

type delivery struct {
	sink, kind string
	ev         notify.Event
	key        string
	err        error
}

// notifyData is the Data of a journal note that records a delivery.
type notifyData struct {
	Notification string `json:"notification"`
	Event        string `json:"event"`
	EventID      string `json:"event_id"`
	Key          string `json:"key"`
	Status       string `json:"status"` // sent or failed
}

// sinksFor are the inventory's notifications that want events of type t about c: those the
// credential names (all when it names none) that subscribe to t or to all.
func (e *Engine) sinksFor(c *inventory.Credential, t notify.Type) []*inventory.Notification {
	var out []*inventory.Notification
	for _, n := range e.Inv.Notifications {
		if len(c.Notify) > 0 && !slices.Contains(c.Notify, n.ID) {
			continue
		}
		if slices.Contains(n.Events, string(t)) || slices.Contains(n.Events, string(notify.All)) {
			out = append(out, n)
		}
	}
	return out
}

// resolve reads a sink's URL and signing key from the environment. The error names the
// variable, never its value.
func (e *Engine) resolve(n *inventory.Notification) (notify.Sink, error) {
	s := notify.Sink{Name: n.ID, Kind: n.Type, URL: n.URL, Timeout: n.Timeout.Duration}
	if n.URLEnv != "" {
		if s.URL = e.Getenv(n.URLEnv); s.URL == "" {
			return s, &notify.Error{Sink: n.ID, Err: fmt.Errorf("environment variable %s (url_env) is not set", n.URLEnv)}
		}
	}
	if n.SecretEnv != "" {
		k := e.Getenv(n.SecretEnv)
		if k == "" {
			// Sending unsigned would teach the receiver to accept unsigned bodies.
			return s, &notify.Error{Sink: n.ID, Err: fmt.Errorf("environment variable %s (secret_env) is not set: not sending unsigned", n.SecretEnv)}
		}
		s.Key = []byte(k)
	}
	return s, nil
}

// sinkTimeout is one attempt's bound for n.
func sinkTimeout(n *inventory.Notification) time.Duration {
	if n.Timeout.Duration > 0 {
		return n.Timeout.Duration
	}
	return notify.DefaultTimeout
}

// event is an event of this run, reporting the journal entry just saved.
func (rs *runState) event(t notify.Type, actor string) notify.Event {
	ev := notify.Event{
		ID: rs.run.ID + "-" + strconv.FormatInt(rs.rec.JournalLen, 10) + "-" + string(t), Type: t, At: rs.e.now(),
		Credential: rs.cred.ID, Owner: rs.cred.Owner, Critical: rs.cred.Critical, RunID: rs.run.ID,
		Phase: string(rs.run.Phase), Initiator: rs.run.StartedBy, Actor: actor,
	}
	for _, k := range rs.cred.Consumers {
		ev.Consumers = append(ev.Consumers, k.ID)
	}
	if ex := rs.run.OpenException(); ex != nil {
		ev.Exception = exceptionOf(*ex)
		ev.Consumers = ex.Consumers
	}
	return ev
}

func exceptionOf(ex rotation.Exception) *notify.Exception {
	return &notify.Exception{Consumers: ex.Consumers, Owner: ex.Owner, Reason: ex.Reason, OpenedBy: ex.OpenedBy,
		Expires: ex.Expires, State: ex.State}
}

// notify starts delivering ev to every sink that wants it and has not been sent key yet.
// Call it only after the journal entry that ev reports is saved.
func (rs *runState) notify(ctx context.Context, ev notify.Event, key string) {
	sinks := rs.e.sinksFor(rs.cred, ev.Type)
	if len(sinks) == 0 {
		return
	}
	// Scrubbed twice, like everything that leaves rotor: the texts come from gates and steps
	// that were scrubbed already.
	ev.Message, ev.Reason, ev.Unblock = rs.scrub.text(ev.Message), rs.scrub.text(ev.Reason), rs.scrub.text(ev.Unblock)
	if ev.Exception != nil {
		ev.Exception.Reason = rs.scrub.text(ev.Exception.Reason)
	}
	ob := rs.outbox(ctx)
	for _, n := range sinks {
		ob.grace = max(ob.grace, sinkTimeout(n))
		ob.mu.Lock()
		dup := ob.sent[key+"\x00"+n.ID]
		ob.sent[key+"\x00"+n.ID] = true
		ob.mu.Unlock()
		if dup {
			continue
		}
		d := delivery{sink: n.ID, kind: n.Type, ev: ev, key: key}
		s, err := rs.e.resolve(n)
		if err != nil {
			d.err = err
			ob.add(d)
			continue
		}
		ob.wg.Go(func() {
			c := notify.Client{}
			d.err = c.Send(ob.ctx, s, ev)
			clear(s.Key)
			ob.add(d)
		})
	}
}

func (ob *outbox) add(d delivery) {
	ob.mu.Lock()
	ob.done = append(ob.done, d)
	ob.mu.Unlock()
}

// outbox returns the run's outbox of this operation, reading what was already sent from the
// journal the first time.
func (rs *runState) outbox(ctx context.Context) *outbox {
	if rs.out != nil {
		return rs.out
	}
	ob := &outbox{sent: map[string]bool{}}
	ob.ctx, ob.cancel = context.WithCancel(ctx)
	if sent, err := sentKeys(ctx, rs.e.State, rs.run.ID); err == nil {
		ob.sent = sent
	} else {
		rs.e.Log.Warn("notifications: reading what was sent", "run", rs.run.ID, "err", err)
	}
	rs.out = ob
	return ob
}

// sentKeys are the dedupe keys of the deliveries the run's journal records as sent.
func sentKeys(ctx context.Context, st state.Store, runID string) (map[string]bool, error) {
	entries, err := st.Journal(ctx, runID)
	if err != nil {
		return nil, err
	}
	sent := map[string]bool{}
	for _, je := range entries {
		if je.Kind != string(journal.KindNote) {
			continue
		}
		en, err := journal.Decode(je.Body)
		if err != nil || len(en.Data) == 0 {
			continue
		}
		var d notifyData
		if json.Unmarshal(en.Data, &d) == nil && d.Notification != "" && d.Status == "sent" {
			sent[d.Key+"\x00"+d.Notification] = true
		}
	}
	return sent, nil
}

// flushNotifications ends the operation's deliveries: it notices an exception near or past
// its expiry, waits for the deliveries at most one sink timeout, cancels what is left, and
// journals one note per delivery. Nothing here fails the operation: problems are logged.
func (rs *runState) flushNotifications(ctx context.Context) {
	rs.exceptionEvents(ctx)
	ob := rs.out
	if ob == nil {
		return
	}
	rs.out = nil
	finished := make(chan struct{})
	go func() { ob.wg.Wait(); close(finished) }()
	t := time.NewTimer(ob.grace)
	select {
	case <-finished:
	case <-t.C:
		ob.cancel() // every request returns at once, as a failure that says it was cut short
		<-finished
	}
	t.Stop()
	ob.cancel()
	ob.mu.Lock()
	done := ob.done
	ob.mu.Unlock()
	if len(done) == 0 {
		return
	}
	entries := make([]journal.Entry, 0, len(done))
	for _, d := range done {
		nd := notifyData{Notification: d.sink, Event: string(d.ev.Type), EventID: d.ev.ID, Key: d.key, Status: "sent"}
		line := fmt.Sprintf("notified %s (%s): %s — %s", d.sink, d.kind, d.ev.Type, notify.Title(d.ev))
		if d.err != nil {
			nd.Status = "failed"
			line = fmt.Sprintf("%s — %s not delivered", d.err, d.ev.Type)
			rs.e.Log.Warn("notification failed", "run", rs.run.ID, "notification", d.sink, "event", d.ev.Type, "err", d.err)
		}
		en := rs.entry(journal.KindNote, "", "", line)
		en.Data, _ = journal.MarshalData(nd)
		entries = append(entries, en)
	}
	if err := rs.save(context.WithoutCancel(ctx), entries...); err != nil {
		rs.e.Log.Warn("notifications: journaling the deliveries", "run", rs.run.ID, "err", err)
	}
}

// gateEvent notifies a gate that was just journaled. A gate that clears by itself at a known
// time (a soak, a window, a retry backoff, an open exception) needs nobody and is not sent;
// an approval to give is approval-needed; any other block is gate-blocked.
func (rs *runState) gateEvent(ctx context.Context, a rotation.Action) {
	g := a.Gate
	t := notify.GateBlocked
	switch {
	case g.Gate == "approval" && g.Verdict != provider.Fail:
		t = notify.ApprovalNeeded
	case g.Gate == "exception":
		return // the rollback was notified; expiry and overdue have their own events
	case g.Verdict != provider.Fail && !g.Until.IsZero():
		return
	}
	ev := rs.event(t, journal.Executor)
	ev.Gate, ev.Verdict, ev.Reason, ev.Message, ev.Unblock = g.Gate, string(g.Verdict), g.Reason, g.Message, g.Unblock
	rs.notify(ctx, ev, fmt.Sprintf("%s:%s:%s:%s", t, g.Gate, g.Reason, rs.run.EvidenceSince().UTC().Format(time.RFC3339)))
}

// stepEvents notifies what the step just saved brought: a halt, a rollback, an exception
// found overdue at its expiry.
func (rs *runState) stepEvents(ctx context.Context, a rotation.Action) {
	r := &rs.run
	switch a.Step {
	case rotation.StepRollback:
		if ex := r.OpenException(); ex != nil {
			ev := rs.event(notify.Rollback, ex.OpenedBy)
			prev := ""
			if r.Previous != nil {
				prev = r.Previous.ID
			}
			ev.Message = fmt.Sprintf("%s rolled back %s to version %s until %s: %s", ex.OpenedBy, joinOr(ex.Consumers),
				prev, ex.Expires.UTC().Format(time.RFC3339), ex.Reason)
			if st := r.Step(rotation.StepRollback, ""); st.Detail != "" {
				ev.Message += " (" + st.Detail + ")"
			}
			ev.Unblock = "fix those consumers before " + ex.Expires.UTC().Format(time.RFC3339) + "; at expiry rotor switches them to the new version and re-revokes if their checks pass"
			rs.notify(ctx, ev, "rollback:"+ex.Opened.UTC().Format(time.RFC3339Nano))
		}
	case rotation.StepExceptionExpiry:
		if ex := r.OpenException(); ex != nil && ex.State == "overdue" {
			ev := rs.event(notify.ExceptionExpired, journal.Executor)
			ev.Gate, ev.Verdict, ev.Reason, ev.Message = "exception", string(provider.Fail), "exception overdue", ex.Note
			ev.Unblock = "fix the consumers still on the previous version, then run rotor rotate " + r.ID + " again"
			rs.notify(ctx, ev, "exception-expired:"+ex.Opened.UTC().Format(time.RFC3339Nano))
		}
	}
	if h := r.Halt; h != nil {
		ev := rs.event(notify.GateBlocked, journal.Executor)
		ev.Gate, ev.Verdict, ev.Reason = "halted", string(provider.Fail), h.Kind
		ev.Message = fmt.Sprintf("halted in a safe state at %s: %s", h.Step, h.Reason)
		ev.Unblock = h.Next
		rs.notify(ctx, ev, "gate-blocked:halted:"+h.Step+":"+h.Kind+":"+r.EvidenceSince().UTC().Format(time.RFC3339))
	}
}

// exceptionEvents notifies an open exception within the warning lead time of its expiry
// (exception-expiring) or past it (exception-expired), once each.
func (rs *runState) exceptionEvents(ctx context.Context) {
	ex := rs.run.OpenException()
	if ex == nil || len(rs.e.Inv.Notifications) == 0 {
		return
	}
	now := rs.e.now()
	opened := ex.Opened.UTC().Format(time.RFC3339Nano)
	exp := ex.Expires.UTC().Format(time.RFC3339)
	switch {
	case !now.Before(ex.Expires):
		ev := rs.event(notify.ExceptionExpired, journal.Executor)
		ev.Gate, ev.Reason = "exception", "exception expired"
		ev.Message = fmt.Sprintf("the exception for %s (owner %s) expired at %s", joinOr(ex.Consumers), ex.Owner, exp)
		if ex.State == "overdue" {
			ev.Message += "; it is overdue: " + ex.Note
		}
		ev.Unblock = "rotor rotate " + rs.run.Credential + ": switches them to the new version and re-revokes if their checks pass"
		rs.notify(ctx, ev, "exception-expired:"+opened)
	case !now.Before(ex.Expires.Add(-rs.e.exceptionWarning())):
		ev := rs.event(notify.ExceptionExpiring, journal.Executor)
		ev.Gate, ev.Reason = "exception", "exception expiring"
		ev.Message = fmt.Sprintf("the exception for %s (owner %s) expires at %s, in %s: %s", joinOr(ex.Consumers), ex.Owner, exp,
			ex.Expires.Sub(now).Round(time.Minute), ex.Reason)
		ev.Unblock = "fix those consumers before it expires; then rotor switches them to the new version and re-revokes if their checks pass"
		rs.notify(ctx, ev, "exception-expiring:"+opened)
	}
}

func (e *Engine) exceptionWarning() time.Duration {
	if w := e.Inv.Defaults.ExceptionWarning; w.Set && w.Duration > 0 {
		return w.Duration
	}
	return inventory.DefaultExceptionWarning
}

func joinOr(ids []string) string {
	if len(ids) == 0 {
		return "(no consumer)"
	}
	out := ids[0]
	for _, id := range ids[1:] {
		out += ", " + id
	}
	return out
}

// NotifyExceptions looks at every rolled-back run and notifies the exceptions that expire
// within the warning lead time or have expired, once each. Every rotor command that opens the
// state calls it, so an exception is announced even when nobody rotates its credential: an
// exception must never lapse silently. A run whose credential another rotor holds is left to
// that rotor. It changes nothing but the journal and returns the problems it met (none stop
// the command that called it).
func (e *Engine) NotifyExceptions(ctx context.Context) error {
	if len(e.Inv.Notifications) == 0 {
		return nil
	}
	recs, err := e.State.Runs(ctx, state.RunFilter{Phases: []string{string(rotation.RolledBack)}})
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range recs {
		var r rotation.Run
		if json.Unmarshal(rec.Data, &r) != nil {
			continue // status reports a run that does not decode
		}
		ex := r.OpenException()
		if ex == nil || e.now().Before(ex.Expires.Add(-e.exceptionWarning())) {
			continue
		}
		if e.notifiedAll(ctx, rec.ID, &r, ex) {
			continue // the common case: said already, no lock taken
		}
		if err := e.notifyRun(ctx, rec.ID); err != nil && !errors.Is(err, ErrLocked) {
			errs = append(errs, fmt.Errorf("notifying run %s: %w", rec.ID, err))
		}
	}
	return errors.Join(errs...)
}

// notifiedAll reports whether every sink that wants the exception's current event has it.
func (e *Engine) notifiedAll(ctx context.Context, runID string, r *rotation.Run, ex *rotation.Exception) bool {
	c, ok := e.Inv.Credential(r.Credential)
	if !ok {
		return true
	}
	t, key := notify.ExceptionExpiring, "exception-expiring:"
	if !e.now().Before(ex.Expires) {
		t, key = notify.ExceptionExpired, "exception-expired:"
	}
	key += ex.Opened.UTC().Format(time.RFC3339Nano)
	sent, err := sentKeys(ctx, e.State, runID)
	if err != nil {
		return false
	}
	for _, n := range e.sinksFor(c, t) {
		if !sent[key+"\x00"+n.ID] {
			return false
		}
	}
	return true
}

// notifyRun takes the run's lock, notifies its exception and journals the deliveries.
func (e *Engine) notifyRun(ctx context.Context, runID string) error {
	rs, unlock, err := e.open(ctx, runID)
	if err != nil {
		return err
	}
	defer unlock()
	rs.flushNotifications(ctx)
	return nil
}
