package schedule

import (
	"errors"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	for in, want := range map[string]Date{
		"2026-12-19": {2026, time.December, 19},
		"2027-01-04": {2027, time.January, 4},
		"2028-02-29": {2028, time.February, 29},
	} {
		got, err := ParseDate(in)
		if err != nil || got != want {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("Date(%q).String() = %q", in, got.String())
		}
	}
	for _, in := range []string{"", "2026-02-30", "2027-02-29", "2026-13-01", "2026-00-10", "26-12-19", "2026-12-19T00:00:00Z", "2026/12/19", "2026-1-4", " 2026-12-19"} {
		if got, err := ParseDate(in); err == nil {
			t.Errorf("ParseDate(%q) = %v, want an error", in, got)
		}
	}
}

func TestFreezeDates(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	tests := []struct {
		name     string
		from, to Date
		loc      *time.Location
		want     [2]string
	}{
		{"year-end", Date{2026, 12, 19}, Date{2027, 1, 4}, paris, [2]string{"2026-12-19T00:00:00+01:00", "2027-01-05T00:00:00+01:00"}},
		{"one day", Date{2026, 6, 2}, Date{2026, 6, 2}, paris, [2]string{"2026-06-02T00:00:00+02:00", "2026-06-03T00:00:00+02:00"}},
		// Whole days in the zone, so a spring-forward day is 23 hours long.
		{"spring-forward day", Date{2026, 3, 29}, Date{2026, 3, 29}, paris, [2]string{"2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"}},
		{"end of month", Date{2026, 2, 28}, Date{2026, 2, 28}, time.UTC, [2]string{"2026-02-28T00:00:00Z", "2026-03-01T00:00:00Z"}},
		// In Santiago 2026-09-06 has no midnight: the day starts at 01:00 -03.
		{"day without midnight", Date{2026, 9, 5}, Date{2026, 9, 5}, mustLoc(t, "America/Santiago"), [2]string{"2026-09-05T00:00:00-04:00", "2026-09-06T01:00:00-03:00"}},
	}
	for _, tt := range tests {
		f, err := FreezeDates(tt.from, tt.to, tt.loc, "because")
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !f.From.Equal(ts(t, tt.want[0])) || !f.To.Equal(ts(t, tt.want[1])) || f.Reason != "because" {
			t.Errorf("%s: FreezeDates = [%v, %v) %q; want [%s, %s)", tt.name, f.From, f.To, f.Reason, tt.want[0], tt.want[1])
		}
	}
}

func TestFreezeDatesErrors(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	tests := []struct {
		name     string
		from, to Date
		field    string
	}{
		{"reversed", Date{2027, 1, 4}, Date{2026, 12, 19}, "to"},
		{"one day reversed", Date{2026, 6, 3}, Date{2026, 6, 2}, "to"},
		{"bad from", Date{2026, 2, 30}, Date{2026, 3, 2}, "from"},
		{"bad to", Date{2026, 2, 1}, Date{2026, 4, 31}, "to"},
		{"zero dates", Date{}, Date{}, "from"},
	}
	for _, tt := range tests {
		_, err := FreezeDates(tt.from, tt.to, paris, "x")
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: FreezeDates(%v, %v) = %v, want a *FieldError on %q", tt.name, tt.from, tt.to, err, tt.field)
		}
	}
	if _, err := FreezeDates(Date{2026, 1, 1}, Date{2026, 1, 2}, nil, "x"); err == nil {
		t.Error("FreezeDates with no zone succeeded")
	}
}

func TestActiveFreeze(t *testing.T) {
	a := Freeze{ts(t, "2026-12-19T00:00:00+01:00"), ts(t, "2027-01-05T00:00:00+01:00"), "year-end"}
	b := Freeze{ts(t, "2027-01-01T00:00:00+01:00"), ts(t, "2027-01-10T00:00:00+01:00"), "migration"}
	freezes := []Freeze{a, b}
	tests := []struct {
		at     string
		want   string
		active bool
	}{
		{"2026-12-18T23:59:59+01:00", "", false},
		{"2026-12-19T00:00:00+01:00", "year-end", true}, // From is included
		{"2026-12-31T12:00:00Z", "year-end", true},
		{"2027-01-02T00:00:00+01:00", "migration", true}, // both: the one that ends last
		{"2027-01-05T00:00:00+01:00", "migration", true}, // a's To is excluded
		{"2027-01-10T00:00:00+01:00", "", false},
	}
	for _, tt := range tests {
		got, ok := ActiveFreeze(freezes, ts(t, tt.at))
		if ok != tt.active || got.Reason != tt.want {
			t.Errorf("ActiveFreeze(%s) = %q, %v; want %q, %v", tt.at, got.Reason, ok, tt.want, tt.active)
		}
	}
	if _, ok := ActiveFreeze(nil, ts(t, "2026-12-31T12:00:00Z")); ok {
		t.Error("ActiveFreeze(nil) found a freeze")
	}
}
