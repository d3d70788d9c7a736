package provider_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rotorhq/rotor/internal/provider"
)

// An authority refuses a request whose strategy its config does not support, naming those
// it does; a supported one is no problem.
func TestStrategyProblems(t *testing.T) {
	if errs := provider.StrategyProblems("overlap", []string{"overlap", "in-place"}); errs != nil {
		t.Errorf("supported strategy: %v", errs)
	}
	for _, tc := range []struct {
		strategy  string
		supported []string
		want      string
	}{
		{"in-place", []string{"overlap"}, `strategy "in-place" is not one of overlap`},
		{"", []string{"overlap", "in-place"}, `strategy "" is not one of overlap, in-place`},
	} {
		errs := provider.StrategyProblems(tc.strategy, tc.supported)
		if len(errs) != 1 || errs[0].Error() != tc.want {
			t.Errorf("StrategyProblems(%q, %q) = %v, want %q", tc.strategy, tc.supported, errs, tc.want)
		}
	}
}

// Whether a failed request may have changed something: only a provider that knows says it
// did not (NotStarted); everything else — an unclassified error, a classified one that says
// nothing, a failure after part of the request took effect — may have.
func TestMayHaveChanged(t *testing.T) {
	refused := provider.NotStarted(provider.Errorf(provider.Retryable, "revoke password", "connect: connection refused"))
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"unclassified", errors.New("boom"), true},
		{"classified, silent", provider.Errorf(provider.Retryable, "alter role", "connection lost"), true},
		{"not started", refused, false},
		{"not started, wrapped", fmt.Errorf("revoke: %w", refused), false},
		{"unclassified, marked", provider.NotStarted(errors.New("refused")), false},
		{"a request refused before it was made", provider.Refuse("revoke", []error{errors.New("no run id")}), false},
		{"after part of the request", provider.PartlyDone(refused), true},
	} {
		if got := provider.MayHaveChanged(tc.err); got != tc.want {
			t.Errorf("%s: MayHaveChanged(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	// Marking keeps the kind and the message.
	if provider.KindOf(refused) != provider.Retryable || refused.Error() != "revoke password: connect: connection refused" {
		t.Errorf("NotStarted changed the error: %v (%v)", refused, provider.KindOf(refused))
	}
	if p := provider.PartlyDone(refused); provider.KindOf(p) != provider.Retryable || p.Error() != refused.Error() {
		t.Errorf("PartlyDone changed the error: %v (%v)", p, provider.KindOf(p))
	}
}
