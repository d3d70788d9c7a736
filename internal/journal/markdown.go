package journal

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// writeMarkdown renders the ticket as GitHub-flavoured markdown. Every
// string from the ticket goes through mdText or mdCode: a consumer id or a
// message can hold markdown or HTML that must show as text, not act.
func writeMarkdown(w io.Writer, v view) error {
	b := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }

	p("# %s\n\n", mdText(v.Title))
	table(b, []string{"", ""}, rowsAsCells(v.Summary))

	p("\n## Timeline\n\n")
	if len(v.Timeline) == 0 {
		p("No entries.\n")
	} else {
		var rows [][]string
		for _, e := range v.Timeline {
			what := mdText(e.Summary)
			if len(e.Details) > 0 {
				parts := make([]string, len(e.Details))
				for i, d := range e.Details {
					parts[i] = mdCode(d)
				}
				what += " — " + strings.Join(parts, " ")
			}
			rows = append(rows, []string{
				fmt.Sprint(e.Seq), mdText(e.Time), mdText(e.Actor), mdText(e.Event),
				mdText(orNone(e.Consumer)), what, mdText(e.Verdict),
			})
		}
		table(b, []string{"#", "Time", "Actor", "Event", "Consumer", "What", "Result"}, rows)
		if v.Folded > 0 {
			p("\n%s\n", foldedNote(v.Folded))
		}
	}

	p("\n## Consumers and their proof\n\n")
	plainTable(b, consumerHeader, v.Consumers, "No consumers.")

	p("\n## Evidence\n")
	if len(v.Evidence) == 0 {
		p("\nNo check results.\n")
	}
	for _, x := range v.Evidence {
		p("\n### %s — %s\n\n", mdText(x.Title), mdText(strings.ToUpper(orNone(x.Verdict))))
		if x.Fallback != "" {
			p("%s (no structured result recorded)\n", mdText(x.Fallback))
			continue
		}
		table(b, []string{"", ""}, rowsAsCells(x.Rows))
		if len(x.Bins) > 0 {
			p("\n")
			plainTable(b, binHeader, x.Bins, "")
		}
	}

	p("\n## Approvals, rejections and sign-offs\n\n")
	plainTable(b, decisionHeader, v.Decisions, "None.")

	p("\n## Rollback and exceptions\n\n")
	if len(v.Rollbacks) == 0 {
		p("No rollback.\n\n")
	} else {
		var rows [][]string
		for _, e := range v.Rollbacks {
			rows = append(rows, []string{mdText(e.Time), mdText(e.Actor), mdText(e.Event), mdText(orNone(e.Consumer)), mdText(e.Summary)})
		}
		table(b, []string{"Time", "Actor", "Event", "Consumer", "What"}, rows)
		p("\n")
	}
	plainTable(b, exceptionHeader, v.Exceptions, "No exceptions.")

	p("\n## Follow-ups\n\n")
	plainTable(b, followUpHeader, v.FollowUps, "None.")

	p("\n## Journal\n\n%s\n", mdCell(v.Journal))
	return b.Flush()
}

func rowsAsCells(rows []row) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = []string{"**" + mdText(r.Label) + "**", mdCell(r.Value)}
	}
	return out
}

// plainTable writes a table of plain text, or empty when there are no rows.
func plainTable(w io.Writer, header []string, rows [][]string, empty string) {
	if len(rows) == 0 {
		if empty != "" {
			fmt.Fprintf(w, "%s\n", empty)
		}
		return
	}
	esc := make([][]string, len(rows))
	for i, r := range rows {
		esc[i] = make([]string, len(r))
		for j, c := range r {
			esc[i][j] = mdText(c)
		}
	}
	table(w, header, esc)
}

// table writes a table whose cells are already markdown.
func table(w io.Writer, header []string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(header, " | "))
	seps := make([]string, len(header))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(seps, " | "))
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
}

func mdCell(c cell) string {
	var b strings.Builder
	for _, s := range c {
		if s.Code {
			b.WriteString(mdCode(s.Text))
		} else {
			b.WriteString(mdText(s.Text))
		}
	}
	return b.String()
}

// mdEscaper makes text inert in markdown: the characters that start
// emphasis, links, code, tables and raw HTML are escaped, and line breaks
// become spaces so that a cell stays on its row.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`,
	`|`, `\|`, `~`, `\~`, `#`, `\#`,
	`<`, `&lt;`, `>`, `&gt;`, `&`, `&amp;`,
	"\r\n", " ", "\n", " ", "\r", " ",
)

func mdText(s string) string { return mdEscaper.Replace(s) }

// mdCode writes s as a code span. Inside one nothing is markdown or HTML,
// except that a table cell ends at an unescaped "|", and the span at a run
// of backticks as long as its fence, so the fence is made longer than any
// run in s.
func mdCode(s string) string {
	if s == "" {
		return ""
	}
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "|", `\|`).Replace(s)
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || strings.HasPrefix(s, " ") && strings.HasSuffix(s, " ") {
		s = " " + s + " "
	}
	return fence + s + fence
}
