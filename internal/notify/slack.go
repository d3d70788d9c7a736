package notify

import (
	"strings"
	"time"
)

// Slack's documented limits: a header's plain text holds 150 characters, a section's text
// 3000, a field 2000, and a section at most 10 fields. Longer text is cut, never refused.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
)

type slackText struct {
	Type string `json:"type"` // plain_text or mrkdwn
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackMessage struct {
	// Text is the fallback shown in notifications and by clients without blocks.
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// slackPayload is an incoming-webhook message: a header, the message, the facts as fields,
// and a context line with the run and event ids.
func slackPayload(ev Event) slackMessage {
	title := Title(ev)
	body := ev.Message
	if ev.Unblock != "" {
		body += "\n*Unblock:* " + escape(ev.Unblock)
	}
	var fields []slackText
	field := func(name, value string) {
		if value != "" && len(fields) < 10 {
			fields = append(fields, slackText{Type: "mrkdwn", Text: cut("*"+name+"*\n"+escape(value), slackFieldMax)})
		}
	}
	field("Credential", ev.Credential)
	field("Owner", ev.Owner)
	field("Phase", ev.Phase)
	field("Gate", ev.Gate)
	field("Started by", ev.Initiator)
	if ev.Actor != "" && ev.Actor != ev.Initiator {
		field("By", ev.Actor)
	}
	if ex := ev.Exception; ex != nil {
		field("Exception owner", ex.Owner)
		field("Expires", ex.Expires.UTC().Format(time.RFC3339))
	}
	field("Consumers", strings.Join(ev.Consumers, ", "))
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: cut(title, slackHeaderMax)}},
		{Type: "section", Text: &slackText{Type: "mrkdwn", Text: cut(escapeKeepBold(ev.Message, body), slackSectionMax)}},
	}
	if len(fields) > 0 {
		blocks = append(blocks, slackBlock{Type: "section", Fields: fields})
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn",
		Text: escape("run " + ev.RunID + " · " + string(ev.Type) + " · event " + ev.ID)}}})
	return slackMessage{Text: cut(title+": "+ev.Message, slackSectionMax), Blocks: blocks}
}

// escapeKeepBold escapes the message (it comes from outside: a check's detail) but keeps the
// formatting rotor added after it.
func escapeKeepBold(msg, body string) string {
	return escape(msg) + strings.TrimPrefix(body, msg)
}

// escape makes text literal in Slack's mrkdwn: &, < and > are its control characters.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func cut(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
