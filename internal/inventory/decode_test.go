package inventory

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// validID is the loader's fast form of idPattern, which the JSON Schema publishes: they must
// accept the same ids.
func TestValidIDAgreesWithPattern(t *testing.T) {
	ids := []string{"", "a", "A", "0", "-", "a-", "-a", "a.b", "a_b", "a..b", "a-b-c", "ab.", ".ab",
		"é", "aé", "aéb", "a b", "a\n", "\na", "a\x00b", "db-prod.eu_1",
		strings.Repeat("a", 127), strings.Repeat("a", 128), strings.Repeat("a", 129),
		"a" + strings.Repeat("-", 126) + "a", "a" + strings.Repeat("-", 127) + "a"}
	const alphabet = "az09._-A é\n/"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50000 {
		n := rng.IntN(7)
		if rng.IntN(10) == 0 {
			n = 125 + rng.IntN(6)
		}
		var b strings.Builder
		for range n {
			if rng.IntN(4) == 0 {
				b.WriteByte(alphabet[rng.IntN(len(alphabet))])
			} else {
				b.WriteByte("ab19"[rng.IntN(4)])
			}
		}
		ids = append(ids, b.String())
	}
	for _, id := range ids {
		if got, want := validID(id), idPattern.MatchString(id); got != want {
			t.Errorf("validID(%q) = %v, idPattern says %v", id, got, want)
		}
	}
}
