package journal

import (
	_ "embed"
	"html/template"
	"io"

	"github.com/rotorhq/rotor/internal/provider"
)

// The HTML ticket is one self-contained page: html/template escapes every
// string from the ticket for where it lands, the CSS is inline, and there is
// no script and nothing fetched from elsewhere, so the page can be attached
// to a change record, opened offline and printed.

//go:embed ticket.html.tmpl
var ticketHTML string

var htmlTemplate = template.Must(template.New("ticket").Funcs(template.FuncMap{
	"verdictClass": verdictClass,
	"foldedNote":   foldedNote,
	"tbl": func(header []string, rows [][]string) htmlTable {
		return htmlTable{Header: header, Rows: rows}
	},
}).Parse(ticketHTML))

type htmlTable struct {
	Header []string
	Rows   [][]string
}

// htmlView adds the fixed table headers to the view.
type htmlView struct {
	view
	ConsumerHeader, DecisionHeader, ExceptionHeader, FollowUpHeader, BinHeader []string
}

// verdictClass maps a verdict to one of a fixed set of CSS classes; the
// verdict itself never becomes markup.
func verdictClass(v string) string {
	switch provider.Verdict(v) {
	case provider.Pass:
		return "pass"
	case provider.Fail:
		return "fail"
	case provider.Unknown:
		return "unknown"
	}
	return ""
}

func writeHTML(w io.Writer, v view) error {
	return htmlTemplate.Execute(w, htmlView{
		view:            v,
		ConsumerHeader:  consumerHeader,
		DecisionHeader:  decisionHeader,
		ExceptionHeader: exceptionHeader,
		FollowUpHeader:  followUpHeader,
		BinHeader:       binHeader,
	})
}
