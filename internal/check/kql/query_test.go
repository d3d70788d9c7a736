package kql

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// token is one lexical token of a KQL query, as lex reads it.
type token struct {
	kind string // name, string, number, datetime, punct
	text string // a name or string decoded; the text otherwise
}

// lex splits a query into tokens following KQL's lexical rules (identifiers, ['bracketed
// names'], "string" and 'string' literals with backslash escapes, numbers and timespans,
// datetime(…) literals, punctuation), written from the language reference, not from the
// generator: if the generator's quoting let a name or value escape its literal, the tokens
// would differ.
func lex(q string) ([]token, error) {
	var out []token
	i := 0
	isIdentStart := func(c byte) bool { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	quoted := func(quote byte) (string, error) { // q[i] is the opening quote
		var b strings.Builder
		for i++; i < len(q); i++ {
			switch c := q[i]; {
			case c == quote:
				i++
				return b.String(), nil
			case c == '\\':
				i++
				if i == len(q) {
					return "", errors.New("escape at the end")
				}
				switch q[i] {
				case '\\', '\'', '"':
					b.WriteByte(q[i])
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				default:
					return "", fmt.Errorf("unknown escape \\%c", q[i])
				}
			case c == '\n' || c == '\r':
				return "", errors.New("line break in a string literal")
			default:
				b.WriteByte(c)
			}
		}
		return "", errors.New("unterminated string literal")
	}
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ':
			i++
		case c == '[' && i+1 < len(q) && (q[i+1] == '\'' || q[i+1] == '"'):
			i++
			s, err := quoted(q[i])
			if err != nil {
				return nil, err
			}
			if i >= len(q) || q[i] != ']' {
				return nil, errors.New("bracketed name without ]")
			}
			i++
			out = append(out, token{"name", s})
		case c == '"' || c == '\'':
			s, err := quoted(c)
			if err != nil {
				return nil, err
			}
			out = append(out, token{"string", s})
		case isIdentStart(c):
			j := i
			for j < len(q) && (isIdentStart(q[j]) || isDigit(q[j])) {
				j++
			}
			name := q[i:j]
			i = j
			if name == "datetime" && strings.HasPrefix(q[i:], "(") {
				end := strings.IndexByte(q[i:], ')')
				if end < 0 {
					return nil, errors.New("unterminated datetime")
				}
				out = append(out, token{"datetime", q[i+1 : i+end]})
				i += end + 1
				continue
			}
			out = append(out, token{"name", name})
		case isDigit(c):
			j := i
			for j < len(q) && (isDigit(q[j]) || (q[j] >= 'a' && q[j] <= 'z')) {
				j++
			}
			out = append(out, token{"number", q[i:j]})
			i = j
		case strings.HasPrefix(q[i:], ".."):
			out = append(out, token{"punct", ".."})
			i += 2
		case strings.IndexByte("|(),=", c) >= 0:
			out = append(out, token{"punct", string(c)})
			i++
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return out, nil
}

func testSpec(table, col, val string) spec {
	at := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	return spec{table: table, timeColumn: "TimeGenerated", statusColumn: "ScStatus", status: []int{401, 500},
		match: map[string][]string{col: {val, "x"}}, by: []string{col}, bin: 5 * time.Minute, from: at, to: at.Add(time.Hour)}
}

// unsafe reports whether s is text the generator must refuse.
func unsafe(s string, name bool) bool {
	if !utf8.ValidString(s) || (name && (s == "" || len(s) > maxName)) {
		return true
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}

// FuzzQuery proves the generator safe: for any table, column and value, either it refuses
// (and only text no literal should hold), or its query reads back, token for token, as the
// query of plain names — with the table, column and value decoded exactly as given. No input
// can add an operator, end a literal early or change the query's shape.
func FuzzQuery(f *testing.F) {
	for _, s := range [][3]string{
		{"AppServiceHTTPLogs", "CsHost", "orders.example.com"},
		{"x']) | take 1 //", `a"b`, `") | project secret | where ("`},
		{`back\slash\`, "where", `\`},
		{"in", "by", "'"},
		{"Ünïcödé 表", "a-b", "tab\there"},
		{"T", "C", "v"},
		{"", "C", "v"},
		{"a]b", "['c']", `\"`},
	} {
		f.Add(s[0], s[1], s[2])
	}
	ref, err := testSpec("T", "C", "v").build()
	if err != nil {
		f.Fatal(err)
	}
	refTokens, err := lex(ref)
	if err != nil {
		f.Fatalf("lex %s: %v", ref, err)
	}
	f.Fuzz(func(t *testing.T, table, col, val string) {
		q, err := testSpec(table, col, val).build()
		if err != nil {
			if !errors.Is(err, errUnsafe) {
				t.Fatalf("build: %v, want errUnsafe", err)
			}
			if !unsafe(table, true) && !unsafe(col, true) && !unsafe(val, false) {
				t.Fatalf("build refused safe input %q %q %q: %v", table, col, val, err)
			}
			return
		}
		if unsafe(table, true) || unsafe(col, true) || unsafe(val, false) {
			t.Fatalf("build accepted unsafe input %q %q %q: %s", table, col, val, q)
		}
		got, err := lex(q)
		if err != nil {
			t.Fatalf("lex %s: %v", q, err)
		}
		if len(got) != len(refTokens) {
			t.Fatalf("%d tokens, want %d\nquery %s\n  ref %s", len(got), len(refTokens), q, ref)
		}
		for i, r := range refTokens {
			g := got[i]
			want := r
			switch {
			case r == token{"name", "T"}:
				want = token{"name", table}
			case r == token{"name", "C"}:
				want = token{"name", col}
			case r == token{"string", "v"}:
				want = token{"string", val}
			}
			if g != want {
				t.Fatalf("token %d is %+v, want %+v\nquery %s", i, g, want, q)
			}
		}
	})
}

// The example of the check's documentation, exactly.
func TestBuildExample(t *testing.T) {
	at := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	q, err := spec{table: "AppServiceHTTPLogs", timeColumn: "TimeGenerated", statusColumn: "ScStatus", status: []int{401, 403, 500},
		by: []string{"CsHost", "CsUriStem", "ScStatus"}, bin: 5 * time.Minute, from: at, to: at.Add(30 * time.Minute)}.build()
	want := "AppServiceHTTPLogs | where TimeGenerated between (datetime(2026-11-30T22:00:00.0000000Z) .. datetime(2026-11-30T22:30:00.0000000Z))" +
		" | where ScStatus in (401, 403, 500) | summarize rotor_count = count() by bin(TimeGenerated, 5m), CsHost, CsUriStem, ScStatus"
	if err != nil || q != want {
		t.Errorf("build:\n got %s (%v)\nwant %s", q, err, want)
	}
	for name, quoted := range map[string]string{"status": "['status']", "CsHost": "CsHost", "it's": `['it\'s']`, `a\b`: `['a\\b']`, "R2": "R2", "_x": "['_x']"} {
		if got, err := quoteName(name); err != nil || got != quoted {
			t.Errorf("quoteName(%q) = %s, %v; want %s", name, got, err, quoted)
		}
	}
}
