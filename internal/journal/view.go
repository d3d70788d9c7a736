package journal

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// The markdown and HTML tickets are rendered from one view, built here, so
// that both say the same things in the same order; each renderer only
// decides how to escape and lay out text.

// seg is a piece of text in a cell; Code marks identifiers, hashes and
// queries, shown in monospace.
type seg struct {
	Text string
	Code bool
}

type cell []seg

func txt(s string) seg  { return seg{Text: s} }
func code(s string) seg { return seg{Text: s, Code: true} }

type row struct {
	Label string
	Value cell
}

type view struct {
	Title    string
	RunID    string
	Summary  []row
	Timeline []event
	// Folded counts the intent entries shown only through their outcome.
	Folded int
	// Consumers, Decisions, Exceptions and FollowUps are plain tables.
	Consumers  [][]string
	Evidence   []evidence
	Decisions  [][]string
	Rollbacks  []event
	Exceptions [][]string
	FollowUps  [][]string
	Journal    cell
	Verified   bool
}

// event is a timeline line.
type event struct {
	Seq      int64
	Time     string
	Actor    string
	Event    string // kind, phase/step
	Consumer string
	Summary  string
	Details  []string // key=value pairs from Data
	Verdict  string
}

// evidence is one check result with its numbers.
type evidence struct {
	Seq      int64
	Title    string
	Verdict  string
	Rows     []row
	Bins     [][]string // start, group, count, total
	Fallback string     // the entry's summary, when its data is not a check result
}

var (
	consumerHeader  = []string{"Consumer", "Kind", "Risk", "Proof", "Status", "Proven"}
	decisionHeader  = []string{"Time", "Decision", "By", "Consumer", "Reason"}
	exceptionHeader = []string{"Consumers", "Owner", "Reason", "Opened", "Expires", "Closed", "State"}
	followUpHeader  = []string{"Consumer", "What must be seen", "Owner", "Due", "State"}
	binHeader       = []string{"Bin start", "Group", "Count", "Total"}
)

const none = "—"

// stamp is a time in a table; day is a time in the summary box.
func stamp(t time.Time) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func day(t time.Time) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format("Mon 2 Jan 2006 15:04 UTC")
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

func buildView(t Ticket) view {
	v := view{
		Title:    "Rotation of " + t.Credential,
		RunID:    t.RunID,
		Verified: t.Verified,
	}
	v.Journal = journalCell(t)
	v.Summary = append(summaryRows(t), row{"Journal", v.Journal})

	for i, e := range t.Entries {
		if folded(t.Entries, i) {
			v.Folded++
			continue
		}
		ev := timelineEvent(e)
		v.Timeline = append(v.Timeline, ev)
		switch e.Kind {
		case KindCheck:
			v.Evidence = append(v.Evidence, evidenceOf(e))
		case KindRollback, KindExceptionOpened, KindExceptionClosed:
			v.Rollbacks = append(v.Rollbacks, ev)
		}
	}
	for _, c := range t.Consumers {
		proven := none
		if !c.ProvenAt.IsZero() || c.ProvenBy != "" {
			proven = stamp(c.ProvenAt)
			if c.ProvenBy != "" {
				proven += " by " + c.ProvenBy
			}
		}
		v.Consumers = append(v.Consumers, []string{c.ID, orNone(c.Kind), orNone(c.Risk), orNone(c.Proof), orNone(c.Status), proven})
	}
	for _, d := range t.Approvals {
		v.Decisions = append(v.Decisions, []string{stamp(d.At), string(d.Kind), d.By, orNone(d.Consumer), orNone(d.Reason)})
	}
	for _, x := range t.Exceptions {
		v.Exceptions = append(v.Exceptions, []string{
			orNone(strings.Join(x.Consumers, ", ")), orNone(x.Owner), orNone(x.Reason),
			stamp(x.Opened), stamp(x.Expires), stamp(x.Closed), orNone(x.State),
		})
	}
	for _, f := range t.FollowUps {
		v.FollowUps = append(v.FollowUps, []string{orNone(f.Consumer), orNone(f.What), orNone(f.Owner), stamp(f.Due), orNone(f.State)})
	}
	return v
}

func summaryRows(t Ticket) []row {
	cred := cell{code(t.Credential)}
	if t.Description != "" {
		cred = append(cred, txt(" — "+t.Description))
	}
	owner := orNone(t.Owner)
	if t.Critical {
		owner += " (critical: revocation needs an approval)"
	}
	outcome := orNone(t.Outcome)
	if t.Phase != "" && t.Phase != t.Outcome {
		outcome += " (phase: " + t.Phase + ")"
	}
	started := cell{txt(orNone(t.StartedBy) + " on " + day(t.StartedAt))}

	var approved []string
	for _, d := range t.Approvals {
		if d.Kind == KindApproval {
			approved = append(approved, d.By+" on "+day(d.At))
		}
	}
	if len(approved) == 0 {
		approved = []string{"none"}
	}
	next := "not set"
	if t.NextDue != nil {
		next = day(*t.NextDue)
	}
	return []row{
		{"Credential", cred},
		{"Run", cell{code(t.RunID)}},
		{"Owner", cell{txt(owner)}},
		{"Strategy", cell{txt(orNone(t.Strategy))}},
		{"Outcome", cell{txt(outcome)}},
		{"Previous version", versionCell(t.Previous, "none (first rotation)")},
		{"New version", versionCell(t.New, "not created")},
		{"Started by", started},
		{"Approved by", cell{txt(strings.Join(approved, "; "))}},
		{"Last update", cell{txt(day(t.UpdatedAt))}},
		{"Next rotation due", cell{txt(next)}},
	}
}

func versionCell(r *VersionRef, missing string) cell {
	if r == nil {
		return cell{txt(missing)}
	}
	c := cell{code(r.ID)}
	if r.Fingerprint != "" {
		c = append(c, txt(" fingerprint "), code(r.Fingerprint))
	}
	return c
}

func journalCell(t Ticket) cell {
	c := cell{txt(fmt.Sprintf("%d entries, head ", t.Head.Len))}
	if t.Head.Hash == "" {
		c = append(c, txt("(empty)"))
	} else {
		c = append(c, code(t.Head.Hash))
	}
	if t.Verified {
		return append(c, txt(" — chain verified"))
	}
	msg := " — chain NOT verified"
	if t.VerifyProblem != "" {
		msg += ": " + t.VerifyProblem
	}
	return append(c, txt(msg))
}

// foldedNote says what the timeline left out and where to find it.
func foldedNote(n int) string {
	return fmt.Sprintf("%d step-started entries are shown through their outcome (the numbers skip them); the JSON export lists every entry.", n)
}

// folded reports whether entry i is a step's intent that its outcome follows at once: the
// timeline shows the outcome only, so that a reviewer reads each step once. An intent with no
// outcome after it (a step cut short by a crash, then redone) stays in view.
func folded(entries []Entry, i int) bool {
	e := entries[i]
	if e.Kind != KindStepStarted || i+1 >= len(entries) {
		return false
	}
	n := entries[i+1]
	return (n.Kind == KindStepDone || n.Kind == KindStepFailed) && n.Step == e.Step && n.Consumer == e.Consumer
}

func timelineEvent(e Entry) event {
	label := string(e.Kind)
	switch {
	case e.Phase != "" && e.Step != "":
		label += " " + e.Phase + "/" + e.Step
	case e.Phase != "":
		label += " " + e.Phase
	case e.Step != "":
		label += " " + e.Step
	}
	actor := e.Actor
	if e.OSUser != "" && e.OSUser != e.Actor {
		// --as is self-declared; the account that ran the command is what the host vouches for.
		actor += " (OS user " + e.OSUser + ")"
	}
	ev := event{
		Seq: e.Seq, Time: stamp(e.At), Actor: actor, Event: label,
		Consumer: e.Consumer, Summary: e.Summary, Verdict: string(e.Verdict),
	}
	if e.Kind != KindCheck { // a check's data is shown in full under Evidence
		ev.Details = flatten(e.Data)
	}
	return ev
}

// flatten lists the scalar leaves of a Data object as key=value, keys in
// order and nested keys joined with dots, so that every id and fingerprint
// in it reaches the reader.
func flatten(data json.RawMessage) []string {
	if len(data) == 0 {
		return nil
	}
	v, err := parseJSON(data)
	if err != nil {
		return []string{"(data does not parse)"}
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, v[k])
			}
		case []any:
			if len(v) == 0 {
				out = append(out, prefix+"=[]")
			}
			for i, x := range v {
				walk(prefix+"["+strconv.Itoa(i)+"]", x)
			}
		case nil:
			out = append(out, prefix+"=null")
		default:
			out = append(out, prefix+"="+fmt.Sprint(v))
		}
	}
	walk("", v)
	return out
}

func evidenceOf(e Entry) evidence {
	x := evidence{Seq: e.Seq, Verdict: string(e.Verdict)}
	where := "credential-wide"
	if e.Consumer != "" {
		where = "consumer " + e.Consumer
	}
	ev, ok := e.Evidence()
	if !ok {
		x.Title = fmt.Sprintf("Entry %d — %s", e.Seq, where)
		x.Fallback = e.Summary
		return x
	}
	x.Title = fmt.Sprintf("Entry %d — %s — %s", e.Seq, ev.Check, where)
	r := ev.CheckResult
	if r.Verdict != "" {
		x.Verdict = string(r.Verdict)
	}
	add := func(label string, c cell) { x.Rows = append(x.Rows, row{label, c}) }
	at := r.At
	if at.IsZero() {
		at = e.At
	}
	add("Result", cell{txt(strings.ToUpper(orNone(x.Verdict)) + " at " + stamp(at))})
	if r.Reason != "" {
		add("Reason", cell{txt(r.Reason)})
	}
	if r.Message != "" {
		add("Message", cell{txt(r.Message)})
	}
	if r.Query != "" {
		add("Query", cell{code(r.Query)})
	}
	if r.Window != nil {
		add("Window", cell{txt(windowText(*r.Window))})
	}
	add("Threshold", cell{txt(orNone(r.Threshold))})
	add("Observed", cell{txt(orNone(r.Observed))})
	for _, b := range r.Bins {
		total := none
		if b.Total != 0 {
			total = strconv.Itoa(b.Total)
		}
		x.Bins = append(x.Bins, []string{stamp(b.Start), groupText(b.Group), strconv.Itoa(b.Count), total})
	}
	return x
}

func windowText(w provider.Interval) string {
	return fmt.Sprintf("%s → %s (%s)", stamp(w.From), stamp(w.To), humanDuration(w.To.Sub(w.From)))
}

// humanDuration writes 90*time.Minute as "1h30m", not "1h30m0s".
func humanDuration(d time.Duration) string {
	if d <= 0 || d%time.Second != 0 {
		return d.String()
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func groupText(g map[string]string) string {
	if len(g) == 0 {
		return "all"
	}
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + g[k]
	}
	return strings.Join(parts, ", ")
}
