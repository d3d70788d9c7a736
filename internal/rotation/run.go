// Package rotation holds the lifecycle of a run as persisted data, and the pure functions
// that move it: Next(run, spec, now) says what to do next — a durable step, a wait at a gate,
// or nothing — Begin and Finish record a step's intent and outcome, and Decide, SignOff and
// the rollback functions record what people do. None does I/O, so every decision the engine
// makes is table-tested here without a store, an authority or a clock. DecodeRun is the one
// place a stored run becomes a Run again.
//
// A run goes planned → preparing → prepared → cutting-over → verifying → awaiting-approval →
// revoking → done, may halt anywhere in a safe state (the old value still valid), may be
// rolled back from cutover or verify, which opens a bounded exception, and may be cancelled
// before cutover: cancelling → cancelled, what it minted disabled and removed, the old value
// still current.
package rotation

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Phase is where a run stands.
type Phase string

// The phases, from DOMAIN.md.
const (
	Planned          Phase = "planned"
	Preparing        Phase = "preparing"
	Prepared         Phase = "prepared"
	CuttingOver      Phase = "cutting-over"
	Verifying        Phase = "verifying"
	AwaitingApproval Phase = "awaiting-approval"
	Revoking         Phase = "revoking"
	Done             Phase = "done"
	Halted           Phase = "halted"
	RolledBack       Phase = "rolled-back"
	// Cancelling: a person abandoned the run before cutover; what it minted is being disabled
	// at the authority and removed from the store (durable steps, resumed by any rotate).
	Cancelling Phase = "cancelling"
	// Cancelled: the run is over without a rotation; the old value stayed current throughout.
	Cancelled Phase = "cancelled"
)

// Terminal reports whether a run in this phase is over: done, or cancelled. A credential
// whose runs are all over may start a new one.
func (p Phase) Terminal() bool { return p == Done || p == Cancelled }

// ActivePhases are the phases of a run that is not over, as strings for state queries.
func ActivePhases() []string {
	return []string{string(Planned), string(Preparing), string(Prepared), string(CuttingOver), string(Verifying),
		string(AwaitingApproval), string(Revoking), string(Halted), string(RolledBack), string(Cancelling)}
}

// Stage is the user-facing phase group of --through: prepare, cutover, verify, revoke.
type Stage string

// The stages a rotate may stop after.
const (
	StagePrepare Stage = "prepare"
	StageCutover Stage = "cutover"
	StageVerify  Stage = "verify"
	StageRevoke  Stage = "revoke"
)

// ParseStage reads a --through value.
func ParseStage(s string) (Stage, error) {
	switch Stage(s) {
	case StagePrepare, StageCutover, StageVerify, StageRevoke:
		return Stage(s), nil
	}
	return "", fmt.Errorf("%q is not a phase: use prepare, cutover, verify or revoke", s)
}

// Run is one rotation of one credential. It holds version ids and fingerprints, never a value.
type Run struct {
	ID         string    `json:"id"`
	Credential string    `json:"credential"`
	Strategy   string    `json:"strategy"`
	Critical   bool      `json:"critical"`
	Phase      Phase     `json:"phase"`
	StartedBy  string    `json:"started_by"`
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`

	// Previous is the version current when the run started (nil on a first rotation); New
	// is the version this run minted.
	Previous *provider.Version `json:"previous,omitempty"`
	New      *provider.Version `json:"new,omitempty"`
	// CutoverAt is when New became current.
	CutoverAt time.Time `json:"cutover_at,omitzero"`
	// Readers names the readers New was written for in the store (Spec.Readers when it was
	// written; empty when unknown): read-access failing after they changed writes New again
	// for the current ones (StepReseal).
	Readers string `json:"readers,omitempty"`
	// Cancel is the person's request that abandoned the run before cutover (nil if none).
	Cancel *Cancellation `json:"cancel,omitempty"`

	Steps      []Step          `json:"steps"`
	Consumers  []ConsumerState `json:"consumers"`
	Gates      []GateResult    `json:"gates,omitempty"`
	Approvals  []Decision      `json:"approvals,omitempty"`
	Signoffs   []Signoff       `json:"signoffs,omitempty"`
	Exceptions []Exception     `json:"exceptions,omitempty"`
	Halt       *Halt           `json:"halt,omitempty"`
	// RetryAt delays the next attempt of a step that failed with a retryable error:
	// RetryStep (its StepName).
	RetryAt   time.Time `json:"retry_at,omitzero"`
	RetryStep string    `json:"retry_step,omitempty"`
}

// StepStatus is where a durable step stands. A step found in Intent after a crash is
// reconciled: its effect is idempotent, so it is simply performed again.
type StepStatus string

// The step statuses.
const (
	Intent StepStatus = "intent"
	OK     StepStatus = "done"
	Failed StepStatus = "failed"
)

// StepKind names what a durable step does.
type StepKind string

// The steps, in the order a run meets them.
const (
	StepReadiness       StepKind = "readiness"        // executor can write store and authority
	StepMint            StepKind = "mint"             // new value minted and stored pending
	StepEnable          StepKind = "enable"           // new value valid at the authority
	StepReadAccess      StepKind = "read-access"      // each consumer identity reads the new version
	StepPromote         StepKind = "promote"          // new version current
	StepReload          StepKind = "reload"           // one consumer reloaded
	StepCheck           StepKind = "check"            // one consumer's immediate checks
	StepSignals         StepKind = "signals"          // credential-wide error signals
	StepProof           StepKind = "proof"            // one delayed consumer's proof
	StepResidualUse     StepKind = "residual-use"     // no use of the previous version
	StepRevoke          StepKind = "revoke"           // previous version invalid
	StepReloadAccepting StepKind = "reload-accepting" // an accepting consumer drops the previous version
	StepRecord          StepKind = "record"           // credential state and history updated
	StepDelete          StepKind = "delete"           // the version the run retired deleted from the store, later
	StepRollback        StepKind = "rollback"         // previous valid again, named consumers switched back
	StepExceptionExpiry StepKind = "exception-expiry" // an expired exception re-revoked or flagged
	StepReseal          StepKind = "reseal"           // pending version written again for the current readers
	StepDiscard         StepKind = "discard"          // a cancelled run's new value disabled at the authority
	StepRemovePending   StepKind = "remove-pending"   // a cancelled run's pending version removed from the store
)

// Local reports whether a step changes nothing outside rotor's state: an observation, which
// only looks (a read, a login, a query, a handshake), or record, whose writes to rotor's own
// state land in the same transaction as its outcome (engine.record). Such a step needs no
// durable intent before it: a crash during it leaves nothing to reconcile, and the resume
// simply performs it again. The engine saves its intent and outcome with the next durable
// save (see engine.do), so the intents that matter, those of steps with effects outside
// rotor, still reach the disk before their effect. Readiness counts: its probes (a write
// check's temporary file, a directory created if missing) leave nothing behind that a second
// readiness would not leave.
func (k StepKind) Local() bool {
	switch k {
	case StepReadiness, StepReadAccess, StepCheck, StepSignals, StepProof, StepResidualUse, StepRecord:
		return true
	}
	return false
}

// Step is one durable step of the run.
type Step struct {
	Kind       StepKind          `json:"kind"`
	Consumer   string            `json:"consumer,omitempty"`
	Status     StepStatus        `json:"status"`
	Attempt    int               `json:"attempt"`
	StartedAt  time.Time         `json:"started_at"`
	FinishedAt time.Time         `json:"finished_at,omitzero"`
	Detail     string            `json:"detail,omitempty"`
	Verdict    provider.Verdict  `json:"verdict,omitempty"`
	Data       map[string]string `json:"data,omitempty"`
	// ErrorKind is the kind (provider.ErrorKind's name) of the error the last attempt failed
	// with, whose message is Detail; empty when it did not fail with an error.
	ErrorKind string `json:"error_kind,omitempty"`
	// NothingChanged says that no attempt of the step can have changed anything outside
	// rotor: every one that failed, failed before it could act (provider.MayHaveChanged), and
	// none was cut short by a crash. What a halt advises follows from it. False when unknown.
	NothingChanged bool `json:"nothing_changed,omitempty"`
}

// Name is the step's unique name within a run: "reload:orders-api".
func (s Step) Name() string { return StepName(s.Kind, s.Consumer) }

// StepName names a step.
func StepName(k StepKind, consumer string) string {
	if consumer == "" {
		return string(k)
	}
	return string(k) + ":" + consumer
}

// StepKindOf is the kind of a step named by StepName.
func StepKindOf(name string) StepKind {
	k, _, _ := strings.Cut(name, ":")
	return StepKind(k)
}

// ConsumerState is what the run knows of one consumer.
type ConsumerState struct {
	ID string `json:"id"`
	// ProofAfter is the earliest instant its proof can come (cutover + TTL, next run…).
	ProofAfter time.Time `json:"proof_after,omitzero"`
	Proven     bool      `json:"proven"`
	ProvenAt   time.Time `json:"proven_at,omitzero"`
	ProvenBy   string    `json:"proven_by,omitempty"` // "check …", "signoff by …", "no check (immediate)"
	// FollowUp is set for a delayed consumer: what must be seen, by when.
	FollowUp string `json:"follow_up,omitempty"`
	// PinnedTo is the version a rollback pinned it to.
	PinnedTo string `json:"pinned_to,omitempty"`
}

// GateResult is the latest verdict of one gate.
type GateResult struct {
	Gate    string           `json:"gate"`
	Verdict provider.Verdict `json:"verdict"`
	Reason  string           `json:"reason"`
	Message string           `json:"message"`
	Unblock string           `json:"unblock,omitempty"`
	Until   time.Time        `json:"until,omitzero"`
	At      time.Time        `json:"at"`
}

// Decision is an approval or a rejection of revocation.
type Decision struct {
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Approve bool      `json:"approve"`
	Reason  string    `json:"reason,omitempty"`
}

// Signoff is an owner's acceptance of a delayed consumer without its proof.
type Signoff struct {
	Consumer string    `json:"consumer"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason"`
}

// Exception is a bounded rollback: the previous version valid again for named consumers,
// with an owner and an expiry that rotor enforces.
type Exception struct {
	Consumers []string  `json:"consumers"`
	Owner     string    `json:"owner"`
	Reason    string    `json:"reason"`
	OpenedBy  string    `json:"opened_by"`
	Opened    time.Time `json:"opened"`
	Expires   time.Time `json:"expires"`
	Closed    time.Time `json:"closed,omitzero"`
	// State is open, overdue (expired and the evidence did not allow re-revoking) or closed.
	State string `json:"state"`
	Note  string `json:"note,omitempty"`
}

// Cancellation is a person's request to abandon a run before cutover.
type Cancellation struct {
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// Halt says why a run stopped in a safe state and what to do next.
type Halt struct {
	Step   string    `json:"step"`
	Reason string    `json:"reason"`
	Kind   string    `json:"kind"`
	Next   string    `json:"next"`
	At     time.Time `json:"at"`
}

// step returns the step with the given name, or nil.
func (r *Run) step(kind StepKind, consumer string) *Step {
	for i := range r.Steps {
		if r.Steps[i].Kind == kind && r.Steps[i].Consumer == consumer {
			return &r.Steps[i]
		}
	}
	return nil
}

// HasEffect reports whether a step with an effect outside rotor (a step that is not Local)
// has begun: before that the run has done nothing, and nothing of it needs storing.
func (r *Run) HasEffect() bool {
	for _, st := range r.Steps {
		if !st.Kind.Local() {
			return true
		}
	}
	return false
}

// Done reports whether the step finished successfully.
func (r *Run) done(kind StepKind, consumer string) bool {
	s := r.step(kind, consumer)
	return s != nil && s.Status == OK
}

// Consumer returns the state of a consumer, or nil.
func (r *Run) Consumer(id string) *ConsumerState {
	for i := range r.Consumers {
		if r.Consumers[i].ID == id {
			return &r.Consumers[i]
		}
	}
	return nil
}

// OpenException returns the exception still open (or overdue), or nil.
func (r *Run) OpenException() *Exception {
	for i := range r.Exceptions {
		if r.Exceptions[i].State != "closed" {
			return &r.Exceptions[i]
		}
	}
	return nil
}

// Approved reports whether a valid approval (not by the initiator) exists and no rejection
// came after it. A rollback voids the decisions before it: they judged evidence that the
// rollback proved wrong.
func (r *Run) Approved() (Decision, bool) {
	var last Decision
	ok := false
	for _, d := range r.Approvals {
		switch {
		case d.At.Before(r.lastRollback()):
			continue
		case !d.Approve:
			ok = false
		case d.By != r.StartedBy:
			last, ok = d, true
		}
	}
	return last, ok
}

// lastRollback is when the latest exception was opened (zero if none).
func (r *Run) lastRollback() time.Time {
	var t time.Time
	for _, ex := range r.Exceptions {
		if ex.Opened.After(t) {
			t = ex.Opened
		}
	}
	return t
}

// EvidenceSince is the start of the time range whose evidence counts: the cutover, or the
// close of the latest exception (before it, rolled-back consumers used the previous version
// on purpose).
func (r *Run) EvidenceSince() time.Time {
	t := r.CutoverAt
	for _, ex := range r.Exceptions {
		if ex.Closed.After(t) {
			t = ex.Closed
		}
	}
	return t
}

// Rejected reports the latest rejection when no approval came after it (a rollback voids
// both).
func (r *Run) Rejected() (Decision, bool) {
	for i := len(r.Approvals) - 1; i >= 0; i-- {
		if r.Approvals[i].At.Before(r.lastRollback()) {
			return Decision{}, false
		}
		if r.Approvals[i].Approve {
			return Decision{}, false
		}
		return r.Approvals[i], true
	}
	return Decision{}, false
}

// SetGate records a gate's latest result.
func (r *Run) SetGate(g GateResult) {
	for i := range r.Gates {
		if r.Gates[i].Gate == g.Gate {
			r.Gates[i] = g
			return
		}
	}
	r.Gates = append(r.Gates, g)
}

// Gate returns the latest result of a gate (zero when never recorded).
func (r *Run) Gate(name string) GateResult { return r.gate(name) }

// Step returns a copy of the step with the given name (zero when never begun).
func (r *Run) Step(kind StepKind, consumer string) Step {
	if s := r.step(kind, consumer); s != nil {
		return *s
	}
	return Step{}
}

// DecodeRun reads a run as the engine stored it (state.RunRecord.Data, the JSON of a Run).
// Every reader of stored runs decodes through it, so a run that does not decode is reported
// the same way everywhere, naming the run.
func DecodeRun(id string, data []byte) (Run, error) {
	var r Run
	if err := json.Unmarshal(data, &r); err != nil {
		return Run{}, fmt.Errorf("run %s: stored data does not decode (%v): the database was edited or written by a newer rotor", id, err)
	}
	return r, nil
}
