package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Executor is the Actor of entries written by rotor itself rather than by a
// person.
const Executor = "rotor"

// Entry is one line of a run's journal.
//
// It names versions by id and fingerprint only. Data carries the structured
// details (ids, fingerprints, counts, a check's result with its bins) as a
// JSON object; build it with [MarshalData] so that a [secret.Value] that
// slips into it is encoded as [secret.Redacted] by its own MarshalJSON.
//
// Seq, PrevHash and Hash are set by [Seal] (and by [Decode]); whatever the
// caller puts there before sealing is ignored.
//
// [secret.Value]: github.com/rotorhq/rotor/internal/secret.Value
// [secret.Redacted]: github.com/rotorhq/rotor/internal/secret.Redacted
type Entry struct {
	Seq   int64     `json:"seq"`
	RunID string    `json:"run_id"`
	At    time.Time `json:"at"`
	// Actor is who acted: the person for a start, approval, rejection,
	// sign-off or rollback; [Executor] for what rotor did on its own.
	Actor string `json:"actor"`
	// OSUser is the operating-system account that ran the command a person acted through.
	// The CLI's --as is self-declared; the account beside it is what the host vouches for.
	OSUser   string `json:"os_user,omitempty"`
	Kind     Kind   `json:"kind"`
	Phase    string `json:"phase,omitempty"`
	Step     string `json:"step,omitempty"`
	Consumer string `json:"consumer,omitempty"`
	// Summary is one human line: what happened, as a reviewer would say it.
	Summary string `json:"summary"`
	// Verdict is set on gate and check entries; unknown is never a pass.
	Verdict provider.Verdict `json:"verdict,omitempty"`
	// Data is a JSON object, or nil. Seal stores it in canonical form (keys
	// sorted, no insignificant space, numbers as written), so a sealed entry
	// decodes to exactly the same bytes.
	Data     json.RawMessage `json:"data,omitempty"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// Kind says what an entry records.
type Kind string

// The kinds of entry.
const (
	KindRunStarted      Kind = "run-started"
	KindPhase           Kind = "phase"
	KindStepStarted     Kind = "step-started"
	KindStepDone        Kind = "step-done"
	KindStepFailed      Kind = "step-failed"
	KindGate            Kind = "gate"
	KindCheck           Kind = "check"
	KindApproval        Kind = "approval"
	KindRejection       Kind = "rejection"
	KindSignoff         Kind = "signoff"
	KindExceptionOpened Kind = "exception-opened"
	KindExceptionClosed Kind = "exception-closed"
	KindRollback        Kind = "rollback"
	KindCancel          Kind = "cancel"
	KindFollowUp        Kind = "follow-up"
	KindNote            Kind = "note"
)

var kinds = map[Kind]bool{
	KindRunStarted: true, KindPhase: true, KindStepStarted: true, KindStepDone: true,
	KindStepFailed: true, KindGate: true, KindCheck: true, KindApproval: true,
	KindRejection: true, KindSignoff: true, KindExceptionOpened: true,
	KindExceptionClosed: true, KindRollback: true, KindCancel: true, KindFollowUp: true, KindNote: true,
}

// Known reports whether k is one of the kinds this version of rotor writes.
// Seal refuses others (a typo in the engine); Decode accepts them, so that a
// journal written by a newer rotor still verifies.
func (k Kind) Known() bool { return kinds[k] }

// Evidence is the Data of a check entry: the check's name and its result,
// with the numbers a reviewer needs (query, window, threshold, observed
// value, bins). The ticket's evidence section is built from it.
type Evidence struct {
	Check string `json:"check"`
	provider.CheckResult
}

// CheckEntry returns a check entry for a result, with Verdict, Summary and
// Data filled in. consumer is "" for a credential-wide signal.
func CheckEntry(runID string, at time.Time, phase, consumer, check string, r provider.CheckResult) (Entry, error) {
	data, err := MarshalData(Evidence{Check: check, CheckResult: r})
	if err != nil {
		return Entry{}, err
	}
	summary := fmt.Sprintf("check %s: %s", check, r.Verdict)
	if r.Reason != "" {
		summary += " (" + r.Reason + ")"
	}
	return Entry{
		RunID: runID, At: at, Actor: Executor, Kind: KindCheck,
		Phase: phase, Step: "check", Consumer: consumer,
		Summary: summary, Verdict: r.Verdict, Data: data,
	}, nil
}

// Evidence decodes the Data of a check entry. ok is false for other kinds
// and for check entries whose Data is not an [Evidence].
func (e Entry) Evidence() (ev Evidence, ok bool) {
	if e.Kind != KindCheck || len(e.Data) == 0 {
		return Evidence{}, false
	}
	if err := json.Unmarshal(e.Data, &ev); err != nil || ev.Check == "" {
		return Evidence{}, false
	}
	return ev, true
}

// Head returns the run head after e: its hash and the journal's length.
func (e Entry) Head() Head { return Head{Hash: e.Hash, Len: e.Seq} }

// MarshalData encodes v (a struct or a map) as an entry's Data, in canonical
// form. It uses encoding/json, so a secret.Value anywhere inside v is
// written as "[redacted]" by its own MarshalJSON; still, put fingerprints
// in Data, not values. v must encode to a JSON object (or null, for no
// data).
func MarshalData(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("journal: encode entry data: %w", err)
	}
	return canonicalData(b)
}

// canonicalData re-encodes raw JSON in canonical form. It returns nil for
// empty input or null, and an error unless raw is one JSON object.
func canonicalData(raw []byte) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	v, err := parseJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("journal: entry data is not valid JSON: %w", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("journal: entry data must be a JSON object, not %s", jsonType(v))
	}
	var buf bytes.Buffer
	if err := writeCanonical(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
