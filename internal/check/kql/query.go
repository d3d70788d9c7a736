package kql

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The query is generated from the check's fields, never pasted from text, so that a column
// or value written in an inventory can only ever be a name or a value in it. Names are bare
// when they are plain identifiers with a capital letter or a digit (KQL's keywords are all
// lower case: `where`, `in`, `by`…); any other name is bracket-quoted, ['name'], with \ and
// ' escaped. Values are double-quoted string literals with \ and " escaped. What KQL cannot
// hold safely in a literal — control characters, invalid UTF-8 — is refused, not escaped.

// bare is a name KQL reads as one identifier.
var bare = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxName is the longest name accepted; KQL's own limit is 1024 characters.
const maxName = 1024

// countColumn is the name of the count in the summarize; no `by` column may have it.
const countColumn = "rotor_count"

// errUnsafe is a name or value the generator refuses to write into a query.
var errUnsafe = errors.New("cannot be written safely into a query")

// checkText refuses what no KQL literal should carry.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8: %w", errUnsafe)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("holds a control character (%U): %w", r, errUnsafe)
		}
	}
	return nil
}

// quoteName writes a table or column name.
func quoteName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("is empty: %w", errUnsafe)
	}
	if len(name) > maxName {
		return "", fmt.Errorf("is longer than %d bytes: %w", maxName, errUnsafe)
	}
	if err := checkText(name); err != nil {
		return "", err
	}
	if bare.MatchString(name) && strings.ContainsFunc(name, func(r rune) bool { return (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') }) {
		return name, nil
	}
	return "['" + escape(name, '\'') + "']", nil
}

// quoteString writes a string value.
func quoteString(s string) (string, error) {
	if err := checkText(s); err != nil {
		return "", err
	}
	return `"` + escape(s, '"') + `"`, nil
}

func escape(s string, quote byte) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == quote {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// datetime writes an instant as a KQL datetime literal, in UTC to the 100 ns tick.
func datetime(t time.Time) string {
	return "datetime(" + t.UTC().Format("2006-01-02T15:04:05.0000000Z") + ")"
}

// timespan writes a whole number of seconds as a KQL timespan literal.
func timespan(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// spec is what a query is generated from.
type spec struct {
	table, timeColumn, statusColumn string
	status                          []int
	match                           map[string][]string
	by                              []string
	bin                             time.Duration
	from, to                        time.Time
}

// build writes the query, for example
//
//	AppServiceHTTPLogs
//	| where TimeGenerated between (datetime(…) .. datetime(…))
//	| where ScStatus in (401, 403, 500)
//	| summarize rotor_count = count() by bin(TimeGenerated, 5m), CsHost, CsUriStem, ScStatus
//
// on one line. It refuses a name or value it cannot write safely.
func (s spec) build() (string, error) {
	var errs []error
	name := func(what, n string) string {
		q, err := quoteName(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q %w", what, n, err))
		}
		return q
	}
	table := name("table", s.table)
	tc := name("time column", s.timeColumn)
	var b strings.Builder
	fmt.Fprintf(&b, "%s | where %s between (%s .. %s)", table, tc, datetime(s.from), datetime(s.to))
	if len(s.status) > 0 {
		nums := make([]string, len(s.status))
		for i, n := range s.status {
			nums[i] = strconv.Itoa(n)
		}
		fmt.Fprintf(&b, " | where %s in (%s)", name("status column", s.statusColumn), strings.Join(nums, ", "))
	}
	cols := make([]string, 0, len(s.match))
	for c := range s.match {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	for _, c := range cols {
		vals := make([]string, 0, len(s.match[c]))
		for _, v := range s.match[c] {
			q, err := quoteString(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("value %q of %s %w", v, c, err))
			}
			vals = append(vals, q)
		}
		fmt.Fprintf(&b, " | where %s in (%s)", name("column", c), strings.Join(vals, ", "))
	}
	fmt.Fprintf(&b, " | summarize %s = count() by bin(%s, %s)", countColumn, tc, timespan(s.bin))
	for _, c := range s.by {
		b.WriteString(", " + name("column", c))
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return b.String(), nil
}
