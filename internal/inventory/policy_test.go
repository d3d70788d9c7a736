package inventory_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/inventory"
)

func policyInv(rotate string) map[string]string {
	return map[string]string{"inv.yaml": "teams: {t: {approvers: [x]}}\ncredentials:\n  c:\n    owner: t\n    store: {type: file, dir: /d}\n    authority: {type: generated}\n    rotate: " + rotate + "\n"}
}

func TestRenewAtAndJitterDecode(t *testing.T) {
	tests := []struct {
		rotate string
		renew  float64
		jitter func(span time.Duration) time.Duration
	}{
		{"{renew_at: 2/3}", 2.0 / 3, func(s time.Duration) time.Duration { return time.Duration(0.02 * float64(s)) }},
		{"{renew_at: 0.66, jitter: 6h}", 0.66, func(time.Duration) time.Duration { return 6 * time.Hour }},
		{`{renew_at: "66%", jitter: 5%}`, 0.66, func(s time.Duration) time.Duration { return time.Duration(0.05 * float64(s)) }},
		{"{renew_at: 66%, jitter: 0}", 0.66, func(time.Duration) time.Duration { return 0 }},
		{"{every: 30d}", 0, func(time.Duration) time.Duration { return 0 }}, // no default jitter without renew_at
	}
	for _, tc := range tests {
		inv, err := inventory.Load(write(t, policyInv(tc.rotate)), opts())
		if err != nil {
			t.Errorf("%s: %v", tc.rotate, err)
			continue
		}
		c, _ := inv.Credential("c")
		if math.Abs(c.Rotate.RenewAt.Value-tc.renew) > 1e-9 {
			t.Errorf("%s: renew_at = %v, want %v", tc.rotate, c.Rotate.RenewAt.Value, tc.renew)
		}
		span := 90 * 24 * time.Hour
		if got, want := c.Rotate.JitterFor(span), tc.jitter(span); got != want {
			t.Errorf("%s: jitter = %v, want %v", tc.rotate, got, want)
		}
	}
}

// Bad values are reported at their own line and column.
func TestRenewAtAndJitterErrors(t *testing.T) {
	tests := []struct{ rotate, want string }{
		{"{renew_at: 3/2}", `inv.yaml:7:24: credentials.c.rotate.renew_at: "3/2" is not strictly between 0 and 1`},
		{"{renew_at: 1}", `inv.yaml:7:24: credentials.c.rotate.renew_at: "1" is not strictly between 0 and 1`},
		{"{renew_at: 0%}", `inv.yaml:7:24: credentials.c.rotate.renew_at: "0%" is not strictly between 0 and 1`},
		{"{renew_at: soon}", `inv.yaml:7:24: credentials.c.rotate.renew_at: expected a fraction such as 2/3, 0.66 or 66%, got "soon"`},
		{"{renew_at: 2/0}", `inv.yaml:7:24: credentials.c.rotate.renew_at: expected a fraction`},
		{"{jitter: 1/1}", `inv.yaml:7:22: credentials.c.rotate.jitter: jitter "1/1" must be a share from 0 up to (not including) 1`},
		{"{jitter: later}", `inv.yaml:7:22: credentials.c.rotate.jitter: expected a duration such as 6h`},
		{"{every: 1d, jitter: 2d}", `inv.yaml:7:33: credentials.c.rotate.jitter: a jitter of 2d is not shorter than rotate.every 1d`},
	}
	for _, tc := range tests {
		_, err := inventory.Load(write(t, policyInv(tc.rotate)), opts())
		if err == nil {
			t.Errorf("%s: loaded", tc.rotate)
			continue
		}
		found := false
		for _, e := range errorList(t, err) {
			s := fmt.Sprintf("%s:%d:%d: %s", e.Pos.File[strings.LastIndex(e.Pos.File, "/")+1:], e.Pos.Line, e.Pos.Col, e.Msg)
			found = found || strings.HasPrefix(s, tc.want)
		}
		if !found {
			t.Errorf("%s: errors %v, want one starting %q", tc.rotate, err, tc.want)
		}
	}
}

func retentionInv(line string) map[string]string {
	return map[string]string{"inv.yaml": "teams: {t: {approvers: [x]}}\ncredentials:\n  c:\n    owner: t\n    store: {type: file, dir: /d}\n    authority: {type: generated}\n" + line}
}

// delete_after: a duration after the revoke, or next-revoke, the default, which is the zero
// After (rotation.Spec.DeleteAfter); anything else is reported where it is written.
func TestDeleteAfter(t *testing.T) {
	for _, tc := range []struct {
		line string
		want time.Duration
		text string
	}{
		{"", 0, "next-revoke"},
		{"    delete_after: next-revoke\n", 0, "next-revoke"},
		{"    delete_after: 7d\n", 7 * 24 * time.Hour, "7d"},
		{"    delete_after: 1d12h\n", 36 * time.Hour, "1d12h"},
	} {
		inv, err := inventory.Load(write(t, retentionInv(tc.line)), opts())
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		c, _ := inv.Credential("c")
		if c.DeleteAfter.After != tc.want || c.DeleteAfter.String() != tc.text {
			t.Errorf("%q: delete_after = %v (%s), want %v (%s)", tc.line, c.DeleteAfter.After, c.DeleteAfter, tc.want, tc.text)
		}
	}
	for _, tc := range []struct{ line, want string }{
		{"    delete_after: never\n", `inv.yaml:7:19: credentials.c.delete_after: expected next-revoke, or a duration after the revoke such as 7d or 12h, got "never"`},
		{"    delete_after: 0s\n", `inv.yaml:7:19: credentials.c.delete_after: delete_after must be a positive duration (or next-revoke), got "0s"`},
		{"    delete_after: [7d]\n", `inv.yaml:7:19: credentials.c.delete_after: expected a single value, got a list`},
	} {
		_, err := inventory.Load(write(t, retentionInv(tc.line)), opts())
		if err == nil {
			t.Errorf("%q: loaded", tc.line)
			continue
		}
		found := false
		for _, e := range errorList(t, err) {
			s := fmt.Sprintf("%s:%d:%d: %s", e.Pos.File[strings.LastIndex(e.Pos.File, "/")+1:], e.Pos.Line, e.Pos.Col, e.Msg)
			found = found || s == tc.want
		}
		if !found {
			t.Errorf("%q: errors %v, want %q", tc.line, err, tc.want)
		}
	}
}
