package schedule

import "time"

// Opening is the next usable stretch of a window once freezes are applied.
type Opening struct {
	Window     string
	Start, End time.Time
	// Trimmed is set when a freeze begins before the occurrence would have
	// ended: End is then that freeze's From.
	Trimmed bool
	// SkippedFor lists, once each and in the order met, the freezes that
	// removed earlier occurrences between the search start and Start.
	SkippedFor []Freeze
}

// NextOpening returns the first occurrence of w usable at or after from and
// starting before limit, with freezes applied:
//
//   - an occurrence open at from, and not frozen at from, is returned with its
//     own Start (before from): the caller is "open now, until End";
//   - an occurrence whose start lies in a freeze is skipped whole, even if the
//     freeze ends before the occurrence would: nothing starts in a freeze;
//   - an occurrence that starts before a freeze and would run into it ends at
//     the freeze's From (Trimmed). If that is already past at from, it is
//     skipped.
//
// When nothing opens before limit (or within five years) it returns false;
// the Opening still carries Window and SkippedFor so the caller can say why.
func NextOpening(w Window, freezes []Freeze, from, limit time.Time) (Opening, bool) {
	op := Opening{Window: w.Name}
	if w.Duration <= 0 {
		return op, false
	}
	skipped := make([]bool, len(freezes))
	skip := func(i int) {
		if !skipped[i] {
			skipped[i] = true
			op.SkippedFor = append(op.SkippedFor, freezes[i])
		}
	}
	searchEnd := limit
	if span := from.Add(searchSpan); span.Before(searchEnd) {
		searchEnd = span
	}
	for s := range w.starts(from.Add(-w.Duration), searchEnd) {
		if !s.Before(limit) {
			break
		}
		end := s.Add(w.Duration)
		if !end.After(from) {
			continue // over before from
		}
		if i := freezeAt(freezes, s); i >= 0 {
			skip(i)
			continue
		}
		trimmedBy := -1
		for i, f := range freezes {
			if f.From.After(s) && f.From.Before(end) && f.From.Before(f.To) {
				end, trimmedBy = f.From, i
			}
		}
		if !end.After(from) {
			skip(trimmedBy) // cut short by a freeze that has already begun
			continue
		}
		op.Start, op.End, op.Trimmed = s, end, trimmedBy >= 0
		return op, true
	}
	return op, false
}

// freezeAt returns the index of the first freeze containing t, or -1.
func freezeAt(freezes []Freeze, t time.Time) int {
	for i, f := range freezes {
		if f.Contains(t) {
			return i
		}
	}
	return -1
}
