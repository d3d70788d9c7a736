package journal

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func render(t *testing.T, format string, tk Ticket) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, format, tk); err != nil {
		t.Fatalf("Write %s: %v", format, err)
	}
	return b.String()
}

// TestGolden compares each export of both fixture tickets with its golden
// file. Run `go test ./internal/journal -update` after an intended change
// and read the diff.
func TestGolden(t *testing.T) {
	tickets := map[string]Ticket{"api-key": apiKeyTicket(t), "webhook-rollback": webhookTicket(t)}
	for name, tk := range tickets {
		for _, format := range Formats {
			t.Run(name+"."+format, func(t *testing.T) {
				got := render(t, format, tk)
				path := filepath.Join("testdata", name+"."+format+".golden")
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs from the golden file; run with -update and review the diff.\n%s", path, firstDiff(string(want), got))
				}
			})
		}
	}
}

// firstDiff shows the first differing line, enough to see what moved.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\nwant: " + a + "\n got: " + b
		}
	}
	return ""
}

// TestExportSections checks what a reviewer must find in the markdown and
// HTML tickets, independently of the golden files.
func TestExportSections(t *testing.T) {
	api, hook := apiKeyTicket(t), webhookTicket(t)
	for _, format := range []string{FormatMarkdown, FormatHTML} {
		out := render(t, format, api)
		for _, want := range []string{
			"partner-api-key", "done", fpV41, fpV42, "alice", "bob on Thu 26 Nov 2026 08:12 UTC",
			"Tue 23 Feb 2027 21:00 UTC", "chain verified", api.Head.Hash,
			"Timeline", "Consumers and their proof", "Evidence", "checkout-api", "payout-worker",
			"acme-auth-errors", "at most 2 per 5m bin", "at most 1 per bin (1 in total)",
			"2026-11-24 21:05:00 UTC", "1242", "(30m)", "CHG-4821",
			"2026-11-24 21:00:00 UTC", // the start given in CET, shown in UTC
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s api-key ticket lacks %q", format, want)
			}
		}
		out = render(t, format, hook)
		for _, want := range []string{
			"rolled-back", "carrier-gateway", "carol", "open", "2026-11-25 01:40:00 UTC",
			"carrier caches our keys; they flush tonight", "label-printer-job", "one successful run signed with version 7",
			"127 in 20m (61 in the worst bin)", "rollback of carrier-gateway to version 6",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s webhook ticket lacks %q", format, want)
			}
		}
	}

	api.Verified, api.VerifyProblem = false, "journal does not verify at entry 8: hash mismatch"
	for _, format := range []string{FormatMarkdown, FormatHTML} {
		out := render(t, format, api)
		if strings.Contains(out, "chain verified") || !strings.Contains(out, "chain NOT verified: journal does not verify at entry 8: hash mismatch") {
			t.Errorf("%s: an unverified chain is not shown as such", format)
		}
	}
}

// TestJSONExport reads the json ticket back: it is the same ticket, with
// times in RFC 3339 UTC, and its entries still verify.
func TestJSONExport(t *testing.T) {
	tk := apiKeyTicket(t)
	out := render(t, FormatJSON, tk)
	var doc struct {
		Format string `json:"format"`
		Ticket
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Format != ticketFormat {
		t.Errorf("format = %q", doc.Format)
	}
	if !doc.StartedAt.Equal(tk.StartedAt) || !strings.Contains(out, `"started_at": "2026-11-24T21:00:00Z"`) {
		t.Errorf("started_at not in UTC RFC 3339:\n%s", out[:400])
	}
	// Every time in the document is RFC 3339 UTC.
	times := regexp.MustCompile(`"\d{4}-\d\d-\d\dT[^"]*"`).FindAllString(out, -1)
	if len(times) < 20 {
		t.Fatalf("only %d times found", len(times))
	}
	for _, s := range times {
		if !strings.HasSuffix(s, `Z"`) {
			t.Errorf("time %s is not UTC", s)
		}
		if _, err := time.Parse(time.RFC3339Nano, strings.Trim(s, `"`)); err != nil {
			t.Errorf("time %s: %v", s, err)
		}
	}
	// The entries in the export are the journal: re-sealing them gives the
	// same hashes, so a reader can verify the export on its own.
	var head Head
	var stored []Stored
	for i, e := range doc.Entries {
		s, body, err := Seal(head, e)
		if err != nil {
			t.Fatal(err)
		}
		if s.Hash != tk.Entries[i].Hash || s.Hash != e.Hash {
			t.Fatalf("entry %d: exported entry reseals to %s, want %s", e.Seq, s.Hash, e.Hash)
		}
		stored = append(stored, Stored{Seq: s.Seq, PrevHash: s.PrevHash, Hash: s.Hash, Body: body})
		head = s.Head()
	}
	if err := Verify(doc.RunID, stored, doc.Head); err != nil {
		t.Fatal(err)
	}
	// Empty lists are [], not null.
	empty := render(t, FormatJSON, Ticket{RunID: "r", Credential: "c"})
	for _, k := range []string{"consumers", "approvals", "exceptions", "follow_ups", "entries"} {
		if !strings.Contains(empty, `"`+k+`": []`) {
			t.Errorf("empty ticket: %s is not []", k)
		}
	}
}

// hostile strings a consumer id, an actor or a message could hold.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(2)>`,
	"a | b\n| injected | row |",
	"`code` **bold** [link](javascript:alert(3)) <b>",
}

// TestHostileStrings puts markup into every kind of field and checks that
// the HTML page stays inert (html/template escapes it) and that markdown
// shows it as text.
func TestHostileStrings(t *testing.T) {
	const run = "run-hostile"
	var entries []Entry
	for i, h := range hostile {
		entries = append(entries,
			Entry{RunID: run, At: at(time.Duration(i) * time.Minute), Actor: h, Kind: KindStepDone, Phase: h, Step: h, Consumer: h, Summary: h,
				Data: data(t, map[string]any{h: h})},
			check(t, run, at(time.Duration(i)*time.Minute), "cutover", h, h, provider.CheckResult{
				Verdict: provider.Fail, Reason: h, Message: h, Query: h, Threshold: h, Observed: h,
				Bins: []provider.Bin{{Start: t0, Group: map[string]string{h: h}, Count: 1}},
			}),
		)
	}
	sealed, stored, head := chain(t, entries)
	if err := Verify(run, stored, head); err != nil {
		t.Fatal(err)
	}
	h := hostile[0]
	tk := Ticket{
		RunID: run, Credential: h, Description: h, Owner: h, Strategy: h, Phase: h, Outcome: h, StartedBy: h,
		Previous: &VersionRef{ID: h, Fingerprint: h}, New: &VersionRef{ID: h, Fingerprint: h},
		Consumers:     []Consumer{{ID: h, Kind: h, Risk: h, Proof: h, ProvenBy: h, Status: h}},
		Approvals:     []Decision{{Kind: KindRejection, By: h, Consumer: h, Reason: h}},
		Exceptions:    []Exception{{Consumers: []string{h}, Owner: h, Reason: h, State: h}},
		FollowUps:     []FollowUp{{Consumer: h, What: h, Owner: h, State: h}},
		VerifyProblem: h, Head: head, Entries: sealed,
	}

	page := render(t, FormatHTML, tk)
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("html does not show the hostile string as text")
	}
	assertSelfContained(t, page)

	md := render(t, FormatMarkdown, tk)
	if text := stripCodeSpans(md); strings.Contains(text, "<") || regexp.MustCompile(`(^|[^\\])\]\(`).MatchString(text) {
		t.Errorf("markdown outside code spans carries raw HTML or a link:\n%s", text)
	}
	// A newline or a | in a field must not add table rows: every table
	// line has as many unescaped | as its header.
	for _, line := range strings.Split(md, "\n") {
		if strings.Contains(line, "| injected | row |") {
			t.Errorf("markdown table was split by a field: %q", line)
		}
	}
	checkTables(t, md)

	js := render(t, FormatJSON, tk)
	if !json.Valid([]byte(js)) {
		t.Fatal("json export is not valid JSON")
	}
}

// checkTables checks that each markdown table row has the same number of
// cells as its header, counting only unescaped pipes outside code spans
// the way GFM does (a \| is never a separator).
func checkTables(t *testing.T, md string) {
	t.Helper()
	cells := func(line string) int {
		n := 0
		for i := 0; i < len(line); i++ {
			switch line[i] {
			case '\\':
				i++
			case '|':
				n++
			}
		}
		return n
	}
	want := -1
	for i, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			want = -1
			continue
		}
		if want < 0 {
			want = cells(line)
			continue
		}
		if got := cells(line); got != want {
			t.Errorf("markdown line %d has %d separators, its table %d: %q", i+1, got, want, line)
		}
	}
}

var (
	tagRE  = regexp.MustCompile(`<(/?)([a-zA-Z0-9!]+)([^>]*)>`)
	attrRE = regexp.MustCompile(`\s([a-zA-Z-]+)(="[^"]*")?`)
	// The only markup the ticket template writes.
	allowedTags  = map[string]bool{"!doctype": true, "html": true, "head": true, "meta": true, "title": true, "style": true, "body": true, "h1": true, "h2": true, "h3": true, "div": true, "p": true, "span": true, "table": true, "thead": true, "tbody": true, "tr": true, "th": true, "td": true, "code": true}
	allowedAttrs = map[string]bool{"lang": true, "charset": true, "name": true, "content": true, "class": true, "scope": true, "html": true}
)

// assertSelfContained checks that the HTML page is made only of the
// template's own tags and attributes — so nothing from the ticket became
// markup, nothing is loaded from elsewhere and nothing runs — and that the
// inline CSS fetches nothing.
func assertSelfContained(t *testing.T, page string) {
	t.Helper()
	if strings.Count(page, "<") != len(tagRE.FindAllString(page, -1)) {
		t.Errorf("html page has a '<' that is not one of its tags")
	}
	for _, m := range tagRE.FindAllStringSubmatch(page, -1) {
		if !allowedTags[strings.ToLower(m[2])] {
			t.Errorf("html page has a <%s> tag", m[2])
		}
		for _, a := range attrRE.FindAllStringSubmatch(m[3], -1) {
			if !allowedAttrs[strings.ToLower(a[1])] {
				t.Errorf("html page has attribute %q in <%s>", a[1], m[2])
			}
		}
	}
	style := page[strings.Index(page, "<style>"):strings.Index(page, "</style>")]
	for _, bad := range []string{"url(", "@import", "expression("} {
		if strings.Contains(style, bad) {
			t.Errorf("inline CSS contains %q", bad)
		}
	}
}

// stripCodeSpans removes markdown code spans: inside them markup is shown,
// not interpreted.
func stripCodeSpans(md string) string {
	var b strings.Builder
	for i := 0; i < len(md); {
		if md[i] == '\\' && i+1 < len(md) { // an escaped character is text
			b.WriteString(md[i : i+2])
			i += 2
			continue
		}
		if md[i] != '`' {
			b.WriteByte(md[i])
			i++
			continue
		}
		n := 0
		for i+n < len(md) && md[i+n] == '`' {
			n++
		}
		fence := strings.Repeat("`", n)
		rest := md[i+n:]
		end := -1
		for off := 0; ; {
			j := strings.Index(rest[off:], fence)
			if j < 0 {
				break
			}
			j += off
			if j+n < len(rest) && rest[j+n] == '`' { // a longer run is not the closing fence
				for j < len(rest) && rest[j] == '`' {
					j++
				}
				off = j
				continue
			}
			end = j
			break
		}
		if end < 0 {
			b.WriteString(fence)
			i += n
			continue
		}
		i += n + end + n
	}
	return b.String()
}

func TestHTMLSelfContained(t *testing.T) {
	for _, tk := range []Ticket{apiKeyTicket(t), webhookTicket(t), {}} {
		page := render(t, FormatHTML, tk)
		assertSelfContained(t, page)
		if !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.Contains(page, "@media print") {
			t.Errorf("page does not start as a document with print CSS")
		}
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	var b bytes.Buffer
	err := Write(&b, "pdf", apiKeyTicket(t))
	if err == nil || !strings.Contains(err.Error(), `"pdf"`) || b.Len() != 0 {
		t.Fatalf("Write pdf = %v, wrote %d bytes", err, b.Len())
	}
}

// TestWriteDoesNotModifyTicket: exports normalise times on a copy.
func TestWriteDoesNotModifyTicket(t *testing.T) {
	tk := apiKeyTicket(t)
	loc := tk.StartedAt.Location()
	tk.Consumers[0].ProvenAt = tk.Consumers[0].ProvenAt.In(loc)
	for _, f := range Formats {
		render(t, f, tk)
	}
	if tk.StartedAt.Location() != loc || tk.Consumers[0].ProvenAt.Location() != loc {
		t.Fatal("Write changed the caller's ticket")
	}
}

func TestMdCode(t *testing.T) {
	for in, want := range map[string]string{
		"plain":     "`plain`",
		"a`b":       "``a`b``",
		"`x":        "`` `x ``",
		"a``b":      "```a``b```",
		"a|b":       "`a\\|b`",
		"l1\nl2":    "`l1 l2`",
		" padded ":  "`  padded  `",
		"<script>":  "`<script>`",
		"":          "",
		"x ` y ` z": "``x ` y ` z``",
	} {
		if got := mdCode(in); got != want {
			t.Errorf("mdCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Minute: "30m", 24 * time.Hour: "24h", 90 * time.Minute: "1h30m",
		45 * time.Second: "45s", 1500 * time.Millisecond: "1.5s", 3*time.Hour + 5*time.Second: "3h0m5s",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestTicketShowsTheOSUser: an entry a person caused names, beside the self-declared actor,
// the operating-system account that ran the command, in markdown and HTML alike.
func TestTicketShowsTheOSUser(t *testing.T) {
	const run = "run-os-user"
	sealed, stored, head := chain(t, []Entry{
		{RunID: run, At: at(0), Actor: "bob", OSUser: "ops-jump", Kind: KindApproval, Summary: "bob approved revocation"},
		{RunID: run, At: at(time.Minute), Actor: "alice", OSUser: "alice", Kind: KindNote, Summary: "same name: shown once"},
	})
	if err := Verify(run, stored, head); err != nil {
		t.Fatal(err)
	}
	tk := Ticket{RunID: run, Credential: "c", Head: head, Entries: sealed, Verified: true}
	for _, format := range []string{FormatMarkdown, FormatHTML} {
		out := render(t, format, tk)
		if !strings.Contains(out, "bob (OS user ops-jump)") || strings.Contains(out, "alice (OS user") {
			t.Errorf("%s ticket does not show the OS account beside the actor (once, when it differs):\n%s", format, out)
		}
	}
}
