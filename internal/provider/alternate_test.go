package provider_test

import (
	"testing"

	"github.com/rotorhq/rotor/internal/provider"
)

// TestAlternating: the account a new value goes to, and the account of a version, for the
// authorities that alternate between two accounts.
func TestAlternating(t *testing.T) {
	p := provider.Alternating{Accounts: [2]string{"app_a", "app_b"}, Noun: "user"}
	for _, tc := range []struct {
		current *provider.Version
		want    string
		kind    provider.ErrorKind
	}{
		{nil, "app_a", 0},
		{&provider.Version{ID: "v1", AuthorityRef: "app_a"}, "app_b", 0},
		{&provider.Version{ID: "v2", AuthorityRef: "app_b"}, "app_a", 0},
		{&provider.Version{ID: "v3"}, "", provider.NeedsHuman},
		{&provider.Version{ID: "v4", AuthorityRef: "root"}, "", provider.Terminal},
	} {
		got, err := p.Next("mint", tc.current)
		if got != tc.want || (tc.want == "") != (err != nil) || (err != nil && provider.KindOf(err) != tc.kind) {
			t.Errorf("Next(%+v) = %q, %v; want %q (kind %v)", tc.current, got, err, tc.want, tc.kind)
		}
		if tc.current == nil {
			continue
		}
		of, err := p.Of("revoke", *tc.current)
		if want := tc.current.AuthorityRef; (tc.kind == 0 && (of != want || err != nil)) || (tc.kind != 0 && (err == nil || provider.KindOf(err) != tc.kind)) {
			t.Errorf("Of(%+v) = %q, %v", tc.current, of, err)
		}
	}
}

// TestAlternatingGuards: revoke and discard never touch the current version's account.
func TestAlternatingGuards(t *testing.T) {
	p := provider.Alternating{Accounts: [2]string{"app_a", "app_b"}, Noun: "user"}
	a := provider.Version{ID: "v1", AuthorityRef: "app_a"}
	b := provider.Version{ID: "v2", AuthorityRef: "app_b"}
	if got, err := p.Revoked("revoke", a, b); got != "app_a" || err != nil {
		t.Errorf("Revoked(a, current b) = %q, %v", got, err)
	}
	if _, err := p.Revoked("revoke", b, b); provider.KindOf(err) != provider.Terminal {
		t.Errorf("Revoked of the current account: %v, want Terminal", err)
	}
	if got, err := p.Discarded("discard", b, &a); got != "app_b" || err != nil {
		t.Errorf("Discarded(b, current a) = %q, %v", got, err)
	}
	if got, err := p.Discarded("discard", a, nil); got != "app_a" || err != nil {
		t.Errorf("Discarded on a first rotation = %q, %v", got, err)
	}
	if _, err := p.Discarded("discard", a, &a); provider.KindOf(err) != provider.Terminal {
		t.Errorf("Discarded of the current account: %v, want Terminal", err)
	}
}
