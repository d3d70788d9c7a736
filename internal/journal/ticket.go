package journal

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Ticket is a run as a change ticket: the header the engine fills from the
// run record and the inventory, and the run's journal entries. It holds ids,
// fingerprints, names and times only.
type Ticket struct {
	RunID       string `json:"run_id"`
	Credential  string `json:"credential"`
	Description string `json:"description,omitempty"`
	Owner       string `json:"owner,omitempty"`
	Critical    bool   `json:"critical"`
	Strategy    string `json:"strategy,omitempty"`
	// Phase is where the run stands; Outcome says it in a word (done,
	// halted, rolled-back, in progress).
	Phase     string    `json:"phase"`
	Outcome   string    `json:"outcome"`
	StartedBy string    `json:"started_by"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Previous is the version the run replaced (nil on a first rotation);
	// New the version it created (nil before the mint).
	Previous   *VersionRef `json:"previous,omitempty"`
	New        *VersionRef `json:"new,omitempty"`
	NextDue    *time.Time  `json:"next_due,omitempty"`
	Consumers  []Consumer  `json:"consumers"`
	Approvals  []Decision  `json:"approvals"`
	Exceptions []Exception `json:"exceptions"`
	FollowUps  []FollowUp  `json:"follow_ups"`
	// Head is the run's journal head; Verified says whether [Verify]
	// accepted the entries against it, and VerifyProblem what it said if
	// not.
	Head          Head    `json:"head"`
	Verified      bool    `json:"verified"`
	VerifyProblem string  `json:"verify_problem,omitempty"`
	Entries       []Entry `json:"entries"`
}

// VersionRef names a version without its value.
type VersionRef struct {
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Consumer is one consumer of the credential and how it was proven.
type Consumer struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Risk is why it could fail (e.g. "delayed: runs daily at 02:00").
	Risk string `json:"risk,omitempty"`
	// Proof is what proves it works with the new value (its checks, the
	// next run, a sign-off).
	Proof    string    `json:"proof,omitempty"`
	ProvenAt time.Time `json:"proven_at,omitzero"`
	ProvenBy string    `json:"proven_by,omitempty"`
	// Status is proven, signed-off, waiting, failed or rolled-back.
	Status string `json:"status"`
}

// Decision is a human decision on the run: an approval or rejection of the
// revocation, or an owner's sign-off of a delayed consumer.
type Decision struct {
	Kind     Kind      `json:"kind"` // KindApproval, KindRejection or KindSignoff
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	Consumer string    `json:"consumer,omitempty"` // for a sign-off
	Reason   string    `json:"reason,omitempty"`
}

// Exception is a bounded rollback: the previous version re-enabled for some
// consumers, owned, with a reason and an expiry.
type Exception struct {
	Consumers []string  `json:"consumers"`
	Owner     string    `json:"owner"`
	Reason    string    `json:"reason"`
	Opened    time.Time `json:"opened"`
	Expires   time.Time `json:"expires"`
	Closed    time.Time `json:"closed,omitzero"`
	// State is open, closed or expired.
	State string `json:"state"`
}

// FollowUp is an open item for a delayed consumer.
type FollowUp struct {
	Consumer string    `json:"consumer"`
	What     string    `json:"what"` // what must be seen
	Owner    string    `json:"owner,omitempty"`
	Due      time.Time `json:"due"`
	State    string    `json:"state"` // open, done, overdue
}

// The export formats [Write] accepts.
const (
	FormatMarkdown = "md"
	FormatHTML     = "html"
	FormatJSON     = "json"
)

// Formats lists the export formats, for flag help and validation.
var Formats = []string{FormatMarkdown, FormatHTML, FormatJSON}

// Write renders t to w as a change ticket in format md, html or json.
//
// md and html are for a reviewer: a summary box, the timeline, the
// consumers and their proof, the evidence with its numbers, the decisions,
// rollback and exceptions, follow-ups and the journal head; times are in
// UTC, written for people. The html page is self-contained (inline CSS, no
// script, nothing loaded from elsewhere) and prints well. json is the same
// ticket as data, times in RFC 3339 UTC, with every entry including its
// hashes.
func Write(w io.Writer, format string, t Ticket) error {
	t = t.inUTC()
	var err error
	switch format {
	case FormatMarkdown:
		err = writeMarkdown(w, buildView(t))
	case FormatHTML:
		err = writeHTML(w, buildView(t))
	case FormatJSON:
		err = writeJSON(w, t)
	default:
		return fmt.Errorf("journal: unknown export format %q (want md, html or json)", format)
	}
	if err != nil {
		return fmt.Errorf("journal: write %s ticket for run %s: %w", format, t.RunID, err)
	}
	return nil
}

// ticketFormat tags the json export so that readers can tell its version.
const ticketFormat = "rotor-change-ticket/v1"

func writeJSON(w io.Writer, t Ticket) error {
	// Empty lists are written as [] rather than null: a reader should not
	// have to tell "none" from "not reported".
	t.Consumers = orEmpty(t.Consumers)
	t.Approvals = orEmpty(t.Approvals)
	t.Exceptions = orEmpty(t.Exceptions)
	t.FollowUps = orEmpty(t.FollowUps)
	t.Entries = orEmpty(t.Entries)
	for i := range t.Exceptions {
		t.Exceptions[i].Consumers = orEmpty(t.Exceptions[i].Consumers)
	}
	doc := struct {
		Format string `json:"format"`
		Ticket
	}{ticketFormat, t}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func orEmpty[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

// inUTC returns a copy of t with every time in UTC, sharing nothing mutable
// with t.
func (t Ticket) inUTC() Ticket {
	t.StartedAt = t.StartedAt.UTC()
	t.UpdatedAt = t.UpdatedAt.UTC()
	if t.NextDue != nil {
		d := t.NextDue.UTC()
		t.NextDue = &d
	}
	t.Consumers = append([]Consumer(nil), t.Consumers...)
	for i := range t.Consumers {
		t.Consumers[i].ProvenAt = t.Consumers[i].ProvenAt.UTC()
	}
	t.Approvals = append([]Decision(nil), t.Approvals...)
	for i := range t.Approvals {
		t.Approvals[i].At = t.Approvals[i].At.UTC()
	}
	t.Exceptions = append([]Exception(nil), t.Exceptions...)
	for i := range t.Exceptions {
		x := &t.Exceptions[i]
		x.Consumers = append([]string(nil), x.Consumers...)
		x.Opened, x.Expires, x.Closed = x.Opened.UTC(), x.Expires.UTC(), x.Closed.UTC()
	}
	t.FollowUps = append([]FollowUp(nil), t.FollowUps...)
	for i := range t.FollowUps {
		t.FollowUps[i].Due = t.FollowUps[i].Due.UTC()
	}
	t.Entries = append([]Entry(nil), t.Entries...)
	for i := range t.Entries {
		t.Entries[i].At = t.Entries[i].At.UTC()
	}
	return t
}
