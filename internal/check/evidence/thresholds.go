package evidence

import (
	"fmt"
	"math"
	"strings"

	"github.com/rotorhq/rotor/internal/provider"
)

// CountLimits are the thresholds of a check that counts matching lines per time bin (log,
// logsql): the most matching lines in any bin and group, the highest matching share of a
// bin's lines, and the highest ratio of matching lines against the same length of time
// before the cutover. A zero MaxRate or MaxIncrease is not set.
type CountLimits struct {
	Max         *int
	MaxRate     float64
	MaxIncrease float64
}

// Problems lists what is wrong with the limits as keys of a check's configuration (max,
// max_rate, max_increase), worded for the check type typ ("log"): at least one must be set,
// max is a count, max_rate a share of a bin's lines and max_increase a ratio. NaN is refused:
// it compares with nothing, so a NaN limit could never be broken.
func (l CountLimits) Problems(typ string) []provider.FieldError {
	var out []provider.FieldError
	add := func(field, msg string) { out = append(out, provider.FieldError{Field: field, Msg: msg}) }
	if l.Max == nil && l.MaxRate == 0 && l.MaxIncrease == 0 {
		add("max", "a "+typ+" check needs a threshold: max, max_rate or max_increase")
	}
	if l.Max != nil && *l.Max < 0 {
		add("max", "is a count, 0 or more")
	}
	if l.MaxRate < 0 || l.MaxRate > 1 || math.IsNaN(l.MaxRate) {
		add("max_rate", "is a fraction of a bin's lines, above 0 and at most 1")
	}
	if l.MaxIncrease < 0 || math.IsNaN(l.MaxIncrease) {
		add("max_increase", "is a ratio, above 0")
	}
	return out
}

// Describe says the limits for a result's Threshold, "; "-separated. grouped says counts are
// per bin and group rather than per bin; before names what max_increase compares with the
// time before ("the cutover", or its instant).
func (l CountLimits) Describe(grouped bool, before string) string {
	var parts []string
	if l.Max != nil {
		per := "bin"
		if grouped {
			per = "bin and group"
		}
		parts = append(parts, fmt.Sprintf("at most %d matching lines per %s", *l.Max, per))
	}
	if l.MaxRate > 0 {
		parts = append(parts, "at most "+Percent(l.MaxRate)+" of a bin's lines matching")
	}
	if l.MaxIncrease > 0 {
		parts = append(parts, "at most "+Ratio(l.MaxIncrease)+"x the matching lines of the same length of time before "+before)
	}
	return strings.Join(parts, "; ")
}

// Judge is the verdict of several thresholds judged on the same evidence: any broken (a
// reason in fails) is a fail naming every one; otherwise any that could not be judged (a
// reason in unknowns) makes it unknown, since missing evidence is never a pass; otherwise
// it is a pass, for the reason pass.
func Judge(fails, unknowns []string, pass string) (provider.Verdict, string) {
	switch {
	case len(fails) > 0:
		return provider.Fail, strings.Join(fails, "; ")
	case len(unknowns) > 0:
		return provider.Unknown, strings.Join(unknowns, "; ")
	}
	return provider.Pass, pass
}
