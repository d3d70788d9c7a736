package inventory

import (
	"fmt"
	"time"

	"github.com/rotorhq/rotor/internal/schedule"
	"go.yaml.in/yaml/v3"
)

// scalarDecoder is implemented by model types that decode themselves from one YAML scalar.
type scalarDecoder interface {
	decodeScalar(n *yaml.Node) error
	schemaOf() map[string]any
}

// Duration is elapsed time written as 30m, 24h, 90d or 2w.
type Duration struct {
	time.Duration
	Set bool
}

func (d *Duration) decodeScalar(n *yaml.Node) error {
	if n.Tag != "!!str" && n.Tag != "!!int" {
		return fmt.Errorf("expected a duration such as 30m, 24h, 90d or 2w, got %s", describe(n))
	}
	v, err := schedule.ParseDuration(n.Value)
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("duration must be positive, got %q", n.Value)
	}
	d.Duration, d.Set = v, true
	return nil
}

func (*Duration) schemaOf() map[string]any {
	return map[string]any{"type": "string", "pattern": `^([0-9]+(s|m|h|d|w))+$`,
		"examples": []string{"30m", "4h", "90d", "2w"}}
}

func (d Duration) String() string { return schedule.FormatDuration(d.Duration) }

// MarshalText prints the duration the way it is written in the inventory.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Retention is delete_after: when a version retired at revoke is deleted from the store.
type Retention struct {
	// After is how long after its revoke; 0 is RetainUntilNextRevoke, the default.
	After time.Duration
	Text  string
	Set   bool
}

// RetainUntilNextRevoke is delete_after's default policy, by name: a version retired at a
// revoke is deleted at the next rotation's revoke, so the store always keeps one previous
// version (disabled) besides the current one.
const RetainUntilNextRevoke = "next-revoke"

func (r *Retention) decodeScalar(n *yaml.Node) error {
	const want = "expected next-revoke, or a duration after the revoke such as 7d or 12h"
	if n.Tag != "!!str" && n.Tag != "!!int" {
		return fmt.Errorf("%s, got %s", want, describe(n))
	}
	if n.Value == RetainUntilNextRevoke {
		*r = Retention{Text: n.Value, Set: true}
		return nil
	}
	d, err := schedule.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%s, got %q", want, n.Value)
	}
	if d <= 0 {
		return fmt.Errorf("delete_after must be a positive duration (or next-revoke), got %q", n.Value)
	}
	*r = Retention{After: d, Text: n.Value, Set: true}
	return nil
}

func (*Retention) schemaOf() map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"const": RetainUntilNextRevoke},
		map[string]any{"type": "string", "pattern": `^([0-9]+(s|m|h|d|w))+$`},
	}, "examples": []string{RetainUntilNextRevoke, "7d", "12h"}}
}

func (r Retention) String() string {
	if !r.Set {
		return RetainUntilNextRevoke
	}
	return r.Text
}

// Date is a freeze boundary: a whole day (YYYY-MM-DD) or an exact RFC 3339 instant.
type Date struct {
	Day     schedule.Date
	Instant time.Time // set when an RFC 3339 instant was given
	Set     bool
}

func (d *Date) decodeScalar(n *yaml.Node) error {
	if n.Tag != "!!str" && n.Tag != "!!timestamp" {
		return fmt.Errorf("expected a date (YYYY-MM-DD) or an RFC 3339 instant, got %s", describe(n))
	}
	if t, err := time.Parse(time.RFC3339, n.Value); err == nil {
		d.Instant, d.Set = t, true
		return nil
	}
	day, err := schedule.ParseDate(n.Value)
	if err != nil {
		return fmt.Errorf("expected a date (YYYY-MM-DD) or an RFC 3339 instant, got %q", n.Value)
	}
	d.Day, d.Set = day, true
	return nil
}

func (*Date) schemaOf() map[string]any {
	return map[string]any{"type": "string", "anyOf": []any{
		map[string]any{"format": "date"}, map[string]any{"format": "date-time"}}}
}

// describe names a node's type the way a person would, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!null":
		return "nothing (null)"
	case "!!bool":
		return fmt.Sprintf("the boolean %s", n.Value)
	case "!!int":
		return fmt.Sprintf("the number %s", n.Value)
	case "!!float":
		return fmt.Sprintf("the number %s", n.Value)
	case "!!str":
		return fmt.Sprintf("the string %q", truncate(n.Value, 40))
	}
	return fmt.Sprintf("%q (%s)", truncate(n.Value, 40), n.Tag)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
