package inventory

import (
	"fmt"
	"strings"

	"github.com/agnivade/levenshtein"
)

// nearest returns the candidate closest to s when it is close enough to be a plausible typo,
// so that messages can say `did you mean "weeknights"?`.
func nearest(s string, candidates []string) (string, bool) {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := levenshtein.ComputeDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	// A third of the word, at least 1 and at most 3 edits: beyond that a suggestion misleads.
	limit := min(max(len(s)/3, 1), 3)
	if best == "" || bestD > limit {
		return "", false
	}
	return best, true
}

// hint formats the tail of an "unknown name" message: the nearest name, or the valid ones
// when there are few enough to list.
func hint(s string, candidates []string) string {
	if n, ok := nearest(s, candidates); ok {
		return fmt.Sprintf(" (did you mean %q?)", n)
	}
	if len(candidates) == 0 {
		return " (none are defined)"
	}
	if len(candidates) <= 12 {
		return " (valid: " + strings.Join(candidates, ", ") + ")"
	}
	return ""
}
