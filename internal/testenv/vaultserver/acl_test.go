package vaultserver

import (
	"strings"
	"testing"
)

// TestACL encodes the documented policy rules the layer enforces, one row per rule
// (https://developer.hashicorp.com/vault/docs/concepts/policies).
func TestACL(t *testing.T) {
	s := &Server{policies: map[string]map[string][]string{
		"|a": {
			"kv/data/app":         {"read"},
			"kv/data/app*":        {"create", "update"},
			"kv/data/+/shared":    {"list"},
			"kv/data/team/*":      {"read"},
			"kv/data/team/secret": {"deny"},
			"kv/metadata/*":       {"read"},
		},
		"|b": {
			"kv/data/app":      {"update"},
			"kv/metadata/*":    {"deny"},
			"kv/data/+/shared": {"read"},
		},
	}}
	tok := &token{policies: []string{"a", "b"}}
	for _, tc := range []struct {
		rule, path, want string
	}{
		{"an exact pattern wins over a glob, and merges across policies", "kv/data/app", "read,update"},
		{"a glob is a prefix", "kv/data/app-2", "create,update"},
		{"a glob matches within a segment too", "kv/data/apple/x", "create,update"},
		{"+ is exactly one segment", "kv/data/x/shared", "list,read"},
		{"+ does not match two segments", "kv/data/x/y/shared", "deny"},
		{"the later first wildcard wins", "kv/data/team/shared", "read"},
		{"deny in any policy wins", "kv/metadata/app", "deny"},
		{"deny on an exact path beats a glob that allows", "kv/data/team/secret", "deny"},
		{"no pattern, no capability", "kv/destroy/app", "deny"},
	} {
		if got := strings.Join(s.capsLocked(tok, "", tc.path), ","); got != tc.want {
			t.Errorf("%s: %s -> %s, want %s", tc.rule, tc.path, got, tc.want)
		}
	}
	if got := s.capsLocked(&token{root: true}, "", "anything"); len(got) != 1 || got[0] != "root" {
		t.Errorf("root token: %v", got)
	}
	// Priority between two wildcards: no trailing glob beats a trailing glob; fewer + wins;
	// longer wins.
	for _, tc := range []struct{ a, b string }{
		{"kv/data/+/x", "kv/data/+/*"},
		{"kv/data/a/+", "kv/data/+/+"},
		{"kv/data/ab*", "kv/data/a*"},
	} {
		if !higher(compile(tc.a), compile(tc.b)) || higher(compile(tc.b), compile(tc.a)) {
			t.Errorf("%s should have priority over %s", tc.a, tc.b)
		}
	}
}
