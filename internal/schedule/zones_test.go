package schedule

import (
	"reflect"
	"testing"
	"time"
)

// Zones builds the same windows as NewWindow, and the windows of one zone share its rules.
func TestZonesNewWindow(t *testing.T) {
	z := Zones{}
	cases := []struct{ spec, tz string }{
		{"0 22 * * 1-4", "Europe/Paris"},
		{"30 5 * * *", "Europe/Paris"},
		{"@daily", "America/New_York"},
		{"0 22 * * 1-4", "Mars/Olympus"},
		{"0 22 * * 1-4", ""},
		{"0 22 * * 1-4", "Local"},
		{"0 25 * * *", "Europe/Paris"},
	}
	for _, c := range cases {
		got, gotErr := z.NewWindow("w", c.spec, time.Hour, c.tz)
		want, wantErr := NewWindow("w", c.spec, time.Hour, c.tz)
		if !reflect.DeepEqual(gotErr, wantErr) {
			t.Errorf("%q in %q: error %v, NewWindow says %v", c.spec, c.tz, gotErr, wantErr)
			continue
		}
		if gotErr != nil {
			continue
		}
		after := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		g, _ := got.NextStart(after)
		w, _ := want.NextStart(after)
		if !g.Equal(w) || got.Location.String() != want.Location.String() {
			t.Errorf("%q in %q: next start %v, NewWindow says %v", c.spec, c.tz, g, w)
		}
	}
	a, _ := z.NewWindow("a", "0 1 * * *", time.Hour, "Europe/Paris")
	b, _ := z.NewWindow("b", "0 2 * * *", time.Hour, "Europe/Paris")
	if a.Location != b.Location {
		t.Error("two windows of one zone loaded it twice")
	}
	if len(z) != 2 {
		t.Errorf("Zones holds %d zones, want the 2 valid ones", len(z))
	}
}
