package engine

// Notifications: the engine tells the inventory's notification sinks that a run needs
// someone — a gate that blocks, an approval to give, a rollback, an exception that expires.
// Delivery is at least once, by construction (a transactional outbox in the run's journal):
//
//   - An event is owed in the same transaction as the journal entry it reports: the engine
//     builds it before the save, and save appends a note "notification owed" that holds the
//     event (ids and scrubbed messages, never a value), its dedupe key and the sinks that want
//     it. A process killed after the save still owes it; one killed before never saved the
//     step, so there is nothing to tell. Conditions that hold over time (an exception near or
//     past its expiry) are owed by the first operation that sees them.
//   - What is owed and what is done is read back from the journal: a note "notified …"
//     (delivered) or "gave up …" ends a delivery; a note "notification … failed" counts one
//     attempt. Every operation that holds the run's lock — rotate, rollback, approve, sign-off,
//     and the scan every command runs (NotifyExceptions) — sends what its run owes, oldest
//     first per sink, after its own steps, and journals the outcome. After MaxDeliveries
//     failed attempts of one event to one sink the engine journals that it gave up.
//   - The event id (X-Rotor-Event-Id) is the run id, the type and a hash of the dedupe key,
//     stored in the owed note: a retry — in this process or the next, after a lost answer or
//     a crash between the send and its note — carries the same id, so a receiver drops
//     duplicates. The dedupe key makes a gate owed once per run, gate, reason and evidence
//     period (a rollback starts a new one); an exception event once per exception.
//   - Deliveries run when the operation ends, still under the credential's lock, each sink's
//     events in order and the sinks in parallel, for at most one sink timeout: a receiver
//     that hangs holds a command for at most its timeout, and a failed notification never
//     fails a rotation. The journal, not the notification, is the record.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/notify"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/state"
)

// MaxDeliveries bounds the failed deliveries of one event to one sink, across commands
// (each delivery is itself notify.Client's few retries): a receiver that is gone for good
// costs each command at most its timeout, and only this many times.
const MaxDeliveries = 5

// The statuses of a notification note's data.
const (
	statusOwed   = "owed"
	statusSent   = "sent"
	statusFailed = "failed"
	statusGaveUp = "gave-up"
)

// notifyData is the Data of a journal note about a notification: an owed event (Sinks,
// Payload) or the outcome of one delivery to one sink (Notification, Attempt).
type notifyData struct {
	Notification string        `json:"notification,omitempty"`
	Sinks        []string      `json:"sinks,omitempty"`
	Event        string        `json:"event"`
	EventID      string        `json:"event_id"`
	Key          string        `json:"key"`
	Status       string        `json:"status"`
	Attempt      int           `json:"attempt,omitempty"`
	Payload      *notify.Event `json:"payload,omitempty"`
}

// owedEvent is an event the run owes to some sinks.
type owedEvent struct {
	key   string
	ev    notify.Event
	sinks []string
}

// outbox is a run's notification ledger during one operation: what its journal owes and
// what it records as done, plus the events queued for the operation's next save.
type outbox struct {
	owed    []*owedEvent
	known   map[string]bool // key\x00sink owed (saved or queued) or delivered: never owed again
	ended   map[string]bool // key\x00sink delivered or given up
	failed  map[string]int  // key\x00sink failed attempts
	pending []*owedEvent
}

func pairKey(key, sink string) string { return key + "\x00" + sink }

// ledgerOf reads a run's journal into an outbox.
func ledgerOf(ctx context.Context, st state.Store, runID string) (*outbox, error) {
	ob := &outbox{known: map[string]bool{}, ended: map[string]bool{}, failed: map[string]int{}}
	entries, err := st.Journal(ctx, runID)
	if err != nil {
		return ob, err
	}
	for _, je := range entries {
		if je.Kind != string(journal.KindNote) {
			continue
		}
		en, err := journal.Decode(je.Body)
		if err != nil || len(en.Data) == 0 {
			continue
		}
		var d notifyData
		if json.Unmarshal(en.Data, &d) != nil || d.Key == "" {
			continue
		}
		switch d.Status {
		case statusOwed:
			if d.Payload == nil {
				continue
			}
			ob.owed = append(ob.owed, &owedEvent{key: d.Key, ev: *d.Payload, sinks: d.Sinks})
			for _, s := range d.Sinks {
				ob.known[pairKey(d.Key, s)] = true
			}
		case statusSent, statusGaveUp:
			// A "sent" note without an owed one was written by an older rotor: still done.
			ob.ended[pairKey(d.Key, d.Notification)] = true
			ob.known[pairKey(d.Key, d.Notification)] = true
		case statusFailed:
			ob.failed[pairKey(d.Key, d.Notification)]++
		}
	}
	return ob, nil
}

// delivery is one owed event to one sink, and how sending it went.
type delivery struct {
	o       *owedEvent
	sink    *inventory.Notification
	attempt int
	err     error
	tried   bool
}

// due are the deliveries still owed, oldest first, to the sinks the inventory still has.
func (ob *outbox) due(inv *inventory.Inventory) []*delivery {
	var out []*delivery
	for _, o := range ob.owed {
		for _, s := range o.sinks {
			k := pairKey(o.key, s)
			if ob.ended[k] || ob.failed[k] >= MaxDeliveries {
				continue
			}
			n := sinkByID(inv, s)
			if n == nil {
				continue // removed from the inventory: there is nobody to send it to
			}
			out = append(out, &delivery{o: o, sink: n, attempt: ob.failed[k] + 1})
		}
	}
	return out
}

func sinkByID(inv *inventory.Inventory, id string) *inventory.Notification {
	for _, n := range inv.Notifications {
		if n.ID == id {
			return n
		}
	}
	return nil
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

// eventID is the id of the event of a run with a dedupe key: the same in every process that
// derives it, so a receiver recognises a retry even if the owed note had to be derived again.
func eventID(runID string, t notify.Type, key string) string {
	h := sha256.Sum256([]byte(key))
	return runID + "-" + string(t) + "-" + hex.EncodeToString(h[:6])
}

// event is an event of this run as it stands now.
func (rs *runState) event(t notify.Type, actor string) notify.Event {
	ev := notify.Event{
		Type: t, At: rs.e.now(),
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

// notify owes ev to every sink that wants it and does not owe or have key yet. The event is
// journaled with the run's next save — call it before the save of the entry it reports, so
// that both are in one transaction — or, failing one, when the operation ends.
func (rs *runState) notify(ctx context.Context, ev notify.Event, key string) {
	sinks := rs.e.sinksFor(rs.cred, ev.Type)
	if len(sinks) == 0 {
		return
	}
	ob := rs.outbox(ctx)
	var want []string
	for _, n := range sinks {
		if !ob.known[pairKey(key, n.ID)] {
			want = append(want, n.ID)
			ob.known[pairKey(key, n.ID)] = true
		}
	}
	if len(want) == 0 {
		return
	}
	// Scrubbed twice, like everything that leaves rotor: the texts come from gates and steps
	// that were scrubbed already.
	ev.Message, ev.Reason, ev.Unblock = rs.scrub.text(ev.Message), rs.scrub.text(ev.Reason), rs.scrub.text(ev.Unblock)
	if ev.Exception != nil {
		ev.Exception.Reason = rs.scrub.text(ev.Exception.Reason)
	}
	ev.ID = eventID(rs.run.ID, ev.Type, key)
	ob.pending = append(ob.pending, &owedEvent{key: key, ev: ev, sinks: want})
}

// owedNotes are the journal notes of the events queued since the last save, for commit to
// append to its transaction; done(true) after the save makes them owed, done(false) forgets
// them (the entry they report was not saved either).
func (rs *runState) owedNotes() ([]journal.Entry, func(saved bool)) {
	ob := rs.out
	if ob == nil || len(ob.pending) == 0 {
		return nil, func(bool) {}
	}
	pending := ob.pending
	ob.pending = nil
	entries := make([]journal.Entry, 0, len(pending))
	for _, o := range pending {
		ev := o.ev
		en := rs.entry(journal.KindNote, "", "", fmt.Sprintf("notification owed to %s: %s — %s", strings.Join(o.sinks, ", "), ev.Type, notify.Title(ev)))
		en.Data, _ = journal.MarshalData(notifyData{Sinks: o.sinks, Event: string(ev.Type), EventID: ev.ID, Key: o.key, Status: statusOwed, Payload: &ev})
		entries = append(entries, en)
	}
	return entries, func(saved bool) {
		for _, o := range pending {
			if saved {
				ob.owed = append(ob.owed, o)
				continue
			}
			for _, s := range o.sinks {
				delete(ob.known, pairKey(o.key, s))
			}
		}
	}
}

// outbox returns the run's ledger for this operation, read from the journal the first time.
func (rs *runState) outbox(ctx context.Context) *outbox {
	if rs.out != nil {
		return rs.out
	}
	ob, err := ledgerOf(ctx, rs.e.State, rs.run.ID)
	if err != nil {
		rs.e.Log.Warn("notifications: reading the journal", "run", rs.run.ID, "err", err)
	}
	rs.out = ob
	return ob
}

// flushNotifications ends the operation's notifications: it owes an exception near or past
// its expiry, saves what is still queued, sends everything the run owes — each sink's events
// oldest first, the sinks in parallel, for at most one sink timeout — and journals one note
// per delivery tried. Nothing here fails the operation: problems are logged.
func (rs *runState) flushNotifications(ctx context.Context) {
	if len(rs.e.Inv.Notifications) == 0 || rs.unstored() {
		// A run stopped before its first effect is not stored (startRun): it has no journal
		// to owe a notification in, and a gate met by every rotate (a freeze) would be sent
		// by each of them. What stopped it is the rotate's answer.
		rs.out = nil
		return
	}
	rs.exceptionEvents(ctx)
	ob := rs.outbox(ctx)
	defer func() { rs.out = nil }()
	if len(ob.pending) > 0 {
		if err := rs.appendNotes(context.WithoutCancel(ctx)); err != nil {
			rs.e.Log.Warn("notifications: journaling what is owed", "run", rs.run.ID, "err", err)
			return
		}
	}
	due := ob.due(rs.e.Inv)
	if len(due) == 0 || ctx.Err() != nil { // interrupted: what is owed stays owed, no attempt counted
		return
	}
	rs.deliver(ctx, due)
	rs.e.crashPoint("notified")
	var entries []journal.Entry
	for _, d := range due {
		if !d.tried {
			continue // cut short before its turn: still owed, no attempt counted
		}
		ev := d.o.ev
		nd := notifyData{Notification: d.sink.ID, Event: string(ev.Type), EventID: ev.ID, Key: d.o.key, Status: statusSent, Attempt: d.attempt}
		line := fmt.Sprintf("notified %s (%s): %s — %s", d.sink.ID, d.sink.Type, ev.Type, notify.Title(ev))
		if d.err != nil {
			nd.Status = statusFailed
			line = fmt.Sprintf("%s — %s not delivered (attempt %d of %d)", d.err, ev.Type, d.attempt, MaxDeliveries)
			rs.e.Log.Warn("notification failed", "run", rs.run.ID, "notification", d.sink.ID, "event", ev.Type, "attempt", d.attempt, "err", d.err)
		}
		en := rs.entry(journal.KindNote, "", "", line)
		en.Data, _ = journal.MarshalData(nd)
		entries = append(entries, en)
		if d.err != nil && d.attempt >= MaxDeliveries {
			gd := nd
			gd.Status = statusGaveUp
			g := rs.entry(journal.KindNote, "", "", fmt.Sprintf("gave up notifying %s of %s after %d failed deliveries — %s", d.sink.ID, ev.Type, d.attempt, notify.Title(ev)))
			g.Data, _ = journal.MarshalData(gd)
			entries = append(entries, g)
		}
	}
	if len(entries) == 0 {
		return
	}
	if err := rs.appendNotes(context.WithoutCancel(ctx), entries...); err != nil {
		rs.e.Log.Warn("notifications: journaling the deliveries", "run", rs.run.ID, "err", err)
	}
}

// appendNotes appends notes (and the queued owed notes) to the run's journal and leaves the
// run as last saved: the operation may end on an error with changes it did not save, and a
// notification must not save them behind its back.
func (rs *runState) appendNotes(ctx context.Context, entries ...journal.Entry) error {
	return rs.commit(ctx, rs.rec, entries, state.RunSave{})
}

// deliver sends due, one goroutine per sink sending its events in order, and returns when
// all are done or the longest sink timeout has passed (the rest is cancelled: a delivery cut
// short fails, one not begun stays owed untried).
func (rs *runState) deliver(ctx context.Context, due []*delivery) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bySink := map[string][]*delivery{}
	var order []string
	var grace time.Duration
	for _, d := range due {
		if _, ok := bySink[d.sink.ID]; !ok {
			order = append(order, d.sink.ID)
			grace = max(grace, sinkTimeout(d.sink))
		}
		bySink[d.sink.ID] = append(bySink[d.sink.ID], d)
	}
	var wg sync.WaitGroup
	for _, id := range order {
		ds := bySink[id]
		wg.Go(func() {
			s, err := rs.e.resolve(ds[0].sink)
			defer clear(s.Key)
			for _, d := range ds {
				if ctx.Err() != nil {
					return
				}
				d.tried = true
				if err != nil {
					d.err = err
					continue
				}
				c := notify.Client{}
				d.err = c.Send(ctx, s, d.o.ev)
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		cancel() // every request returns at once, as a failure that says it was cut short
		<-finished
	}
}

// gateEvent owes the notification of a gate about to be journaled (or met again). A gate that clears by itself at a known
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

// stepEvents owes what the step about to be saved brought: a halt, a rollback, an exception
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

// exceptionEvents owes an open exception within the warning lead time of its expiry
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
	return strings.Join(ids, ", ")
}

// NotifyExceptions sends what the active runs owe (see above) and owes the exceptions that
// expire within the warning lead time or have expired, once each. Every rotor command that
// opens the state calls it, so an exception is announced — and a notification that failed or
// was cut short by a crash is sent again — even when nobody rotates the credential: an
// exception must never lapse silently. A run whose credential another rotor holds is left to
// that rotor. It changes nothing but the journal and returns the problems it met (none stop
// the command that called it).
func (e *Engine) NotifyExceptions(ctx context.Context) error {
	if len(e.Inv.Notifications) == 0 {
		return nil
	}
	recs, err := e.State.Runs(ctx, state.RunFilter{Phases: activePhases})
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range recs {
		r, err := rotation.DecodeRun(rec.ID, rec.Data)
		if err != nil {
			continue // status reports a run that does not decode
		}
		if !e.owes(ctx, rec.ID, &r) {
			continue // the common case: nothing to say, no lock taken
		}
		if err := e.notifyRun(ctx, rec.ID); err != nil && !errors.Is(err, ErrLocked) {
			errs = append(errs, fmt.Errorf("notifying run %s: %w", rec.ID, err))
		}
	}
	return errors.Join(errs...)
}

// owes reports whether a run has a delivery due, or an exception event that a sink wants and
// that is not owed yet. It reads without the lock; notifyRun decides under it.
func (e *Engine) owes(ctx context.Context, runID string, r *rotation.Run) bool {
	c, ok := e.Inv.Credential(r.Credential)
	if !ok {
		return false
	}
	ob, err := ledgerOf(ctx, e.State, runID)
	if err != nil {
		return true // let the locked path read it again and log what is wrong
	}
	if len(ob.due(e.Inv)) > 0 {
		return true
	}
	ex := r.OpenException()
	if ex == nil || e.now().Before(ex.Expires.Add(-e.exceptionWarning())) {
		return false
	}
	t, key := notify.ExceptionExpiring, "exception-expiring:"
	if !e.now().Before(ex.Expires) {
		t, key = notify.ExceptionExpired, "exception-expired:"
	}
	key += ex.Opened.UTC().Format(time.RFC3339Nano)
	for _, n := range e.sinksFor(c, t) {
		if !ob.known[pairKey(key, n.ID)] {
			return true
		}
	}
	return false
}

// notifyRun takes the run's lock, owes its exception events and sends what the run owes.
func (e *Engine) notifyRun(ctx context.Context, runID string) error {
	rs, unlock, err := e.open(ctx, Call{Actor: journal.Executor}, runID)
	if err != nil {
		return err
	}
	defer unlock()
	rs.flushNotifications(ctx)
	return nil
}
