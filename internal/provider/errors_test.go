package provider_test

import (
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
