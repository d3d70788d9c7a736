package inventory

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/schedule"
	"go.yaml.in/yaml/v3"
)

// The scalar types of the rotation policy (rotate: {renew_at, jitter}). They decode
// themselves, so a bad value is reported at its own file:line:col.

// Fraction is a share of something strictly between 0 and 1, written "2/3", "0.66" or
// "66%". Text keeps what was written, for messages and plan reasons.
type Fraction struct {
	Value float64
	Text  string
	Set   bool
}

// parseFraction reads "2/3", "0.66" or "66%". Range checks are the caller's.
func parseFraction(s string) (float64, error) {
	bad := fmt.Errorf("expected a fraction such as 2/3, 0.66 or 66%%, got %q", s)
	s = strings.TrimSpace(s)
	var v float64
	switch {
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil {
			return 0, bad
		}
		v = p / 100
	case strings.Contains(s, "/"):
		num, den, _ := strings.Cut(s, "/")
		n, err1 := strconv.ParseFloat(strings.TrimSpace(num), 64)
		d, err2 := strconv.ParseFloat(strings.TrimSpace(den), 64)
		if err1 != nil || err2 != nil || d == 0 {
			return 0, bad
		}
		v = n / d
	default:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, bad
		}
		v = f
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, bad
	}
	return v, nil
}

func (f *Fraction) decodeScalar(n *yaml.Node) error {
	if n.Tag != "!!str" && n.Tag != "!!float" && n.Tag != "!!int" {
		return fmt.Errorf("expected a fraction such as 2/3, 0.66 or 66%%, got %s", describe(n))
	}
	v, err := parseFraction(n.Value)
	if err != nil {
		return err
	}
	if v <= 0 || v >= 1 {
		return fmt.Errorf("%q is not strictly between 0 and 1: renew at a share of the lifetime, such as 2/3", n.Value)
	}
	f.Value, f.Text, f.Set = v, strings.TrimSpace(n.Value), true
	return nil
}

func (*Fraction) schemaOf() map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"type": "string", "pattern": `^\s*([0-9]+\s*/\s*[0-9]+|[0-9]*\.?[0-9]+\s*%|0?\.[0-9]+)\s*$`},
		map[string]any{"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
	}, "examples": []string{"2/3", "0.66", "66%"}}
}

func (f Fraction) String() string { return f.Text }

// Jitter is how far a due date may be moved earlier, per credential: a duration ("6h", "0"
// to turn it off) or a share of the span the due date was computed over ("2%", "1/50":
// the lifetime for renew_at and before_expiry, rotate.every for every).
type Jitter struct {
	Duration time.Duration // when written as a duration
	Fraction float64       // when written as a share; 0 with Duration 0 is "off"
	Text     string
	Set      bool
}

func (j *Jitter) decodeScalar(n *yaml.Node) error {
	const want = "expected a duration such as 6h or 1d, a share of the lifetime such as 2%, or 0 for none"
	if n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float" {
		return fmt.Errorf("%s, got %s", want, describe(n))
	}
	s := strings.TrimSpace(n.Value)
	switch {
	case s == "0" || s == "0s":
		*j = Jitter{Text: s, Set: true}
		return nil
	case strings.HasSuffix(s, "%") || strings.Contains(s, "/") || strings.Contains(s, "."):
		v, err := parseFraction(s)
		if err != nil {
			return fmt.Errorf("%s, got %q", want, s)
		}
		if v < 0 || v >= 1 {
			return fmt.Errorf("jitter %q must be a share from 0 up to (not including) 1", s)
		}
		*j = Jitter{Fraction: v, Text: s, Set: true}
		return nil
	}
	d, err := schedule.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%s, got %q", want, s)
	}
	if d < 0 {
		return fmt.Errorf("jitter must not be negative, got %q", s)
	}
	*j = Jitter{Duration: d, Text: s, Set: true}
	return nil
}

func (*Jitter) schemaOf() map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"type": "string", "pattern": `^(0|([0-9]+(s|m|h|d|w))+|[0-9]*\.?[0-9]+\s*%|[0-9]+\s*/\s*[0-9]+)$`},
		map[string]any{"type": "number", "minimum": 0, "exclusiveMaximum": 1},
	}, "examples": []string{"6h", "1d", "2%", "0"}}
}

func (j Jitter) String() string { return j.Text }

// DefaultRenewJitter is the jitter of a policy with renew_at and no jitter: 2% of the
// lifetime (about 43 hours for a 90-day certificate), so certificates issued together do not
// all come due in the same window. Policies without renew_at have no jitter unless asked.
const DefaultRenewJitter = 0.02

// JitterFor returns how far earlier a due date may move for a rule computed over span: the
// written duration, the share of span, or the default.
func (p Policy) JitterFor(span time.Duration) time.Duration {
	switch {
	case p.Jitter.Set && p.Jitter.Fraction > 0:
		return time.Duration(p.Jitter.Fraction * float64(span))
	case p.Jitter.Set:
		return p.Jitter.Duration
	case p.RenewAt.Set:
		return time.Duration(DefaultRenewJitter * float64(span))
	}
	return 0
}

func (p *Policy) notePositions(m keyPositions) {
	p.jitterPos = m.lineCol("jitter")
}
