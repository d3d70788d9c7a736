package state

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	t.Setenv("ROTOR_STATE_DIR", "/var/lib/rotor-test")
	tests := []struct {
		in         string
		driver     string
		path, url  string
		wantErrHas string
	}{
		{in: "", driver: DriverSQLite, path: "/var/lib/rotor-test/rotor.db"},
		{in: "sqlite:///abs/path/rotor.db", driver: DriverSQLite, path: "/abs/path/rotor.db"},
		{in: "sqlite://localhost/abs/r.db", driver: DriverSQLite, path: "/abs/r.db"},
		{in: "sqlite:///with%20space/r.db", driver: DriverSQLite, path: "/with space/r.db"},
		{in: "sqlite:relative/r.db", driver: DriverSQLite, path: filepath.FromSlash("relative/r.db")},
		{in: "sqlite:r.db", driver: DriverSQLite, path: "r.db"},
		{in: "/abs/plain.db", driver: DriverSQLite, path: "/abs/plain.db"},
		{in: "plain.db", driver: DriverSQLite, path: "plain.db"},
		{in: "./dir:with:colons/r.db", driver: DriverSQLite, path: "./dir:with:colons/r.db"},
		{in: `C:\rotor\r.db`, driver: DriverSQLite, path: `C:\rotor\r.db`},
		{in: "postgres://rotor:s3cret@db.internal:5432/rotor?sslmode=verify-full", driver: DriverPostgres, url: "postgres://rotor:s3cret@db.internal:5432/rotor?sslmode=verify-full"},
		{in: "postgresql://db/rotor", driver: DriverPostgres, url: "postgresql://db/rotor"},
		{in: "sqlite://otherhost/r.db", wantErrHas: "otherhost"},
		{in: "sqlite:", wantErrHas: "empty path"},
		{in: "sqlite:///r.db?mode=ro", wantErrHas: "query"},
		{in: "mysql://db/rotor", wantErrHas: `unknown scheme "mysql"`},
		{in: "file:/x.db", wantErrHas: "unknown scheme"},
		{in: "postgres:rotor", wantErrHas: "malformed PostgreSQL URL"},
	}
	for _, tc := range tests {
		loc, err := ParseURL(tc.in)
		if tc.wantErrHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErrHas) || !strings.Contains(err.Error(), "accepted:") {
				t.Errorf("ParseURL(%q) = %+v, %v; want an error with %q and the accepted forms", tc.in, loc, err, tc.wantErrHas)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.in, err)
			continue
		}
		if loc.Driver != tc.driver || loc.Path != tc.path || loc.URL != tc.url {
			t.Errorf("ParseURL(%q) = %+v, want driver %s path %q url %q", tc.in, loc, tc.driver, tc.path, tc.url)
		}
	}
}

func TestLocationStringHidesPassword(t *testing.T) {
	loc, err := ParseURL("postgres://rotor:s3cret@db.internal/rotor")
	if err != nil {
		t.Fatal(err)
	}
	if s := loc.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "db.internal") {
		t.Errorf("String() = %q: want the host and no password", s)
	}
	_, err = ParseURL("postgres:s3cret")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("parse error %v repeats the URL", err)
	}
}

func TestDefaultPath(t *testing.T) {
	home := func() (string, error) { return "/home/ops", nil }
	noHome := func() (string, error) { return "", errors.New("$HOME is not defined") }
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		getenv func(string) string
		home   func() (string, error)
		want   string
	}{
		{env(), home, "/home/ops/.local/state/rotor/rotor.db"},
		{env("XDG_STATE_HOME", "/xdg"), home, "/xdg/rotor/rotor.db"},
		{env("XDG_STATE_HOME", "relative/ignored"), home, "/home/ops/.local/state/rotor/rotor.db"},
		{env("XDG_STATE_HOME", "/xdg", "ROTOR_STATE_DIR", "/override"), home, "/override/rotor.db"},
		{env("ROTOR_STATE_DIR", "/override"), noHome, "/override/rotor.db"},
	}
	for i, tc := range tests {
		got, err := defaultPath(tc.getenv, tc.home)
		if err != nil || got != tc.want {
			t.Errorf("case %d: defaultPath = %q, %v; want %q", i, got, err, tc.want)
		}
	}
	if _, err := defaultPath(env(), noHome); err == nil || !strings.Contains(err.Error(), "--db") {
		t.Errorf("without a home: %v, want an error suggesting --db", err)
	}
}

func TestFormatErrorMessages(t *testing.T) {
	for _, k := range []FormatKind{NotDatabase, ForeignDatabase, Corrupt, NewerSchema} {
		e := &FormatError{Path: "/s/rotor.db", Kind: k, Detail: "detail"}
		msg := e.Error()
		if !strings.Contains(msg, "/s/rotor.db") || !strings.Contains(msg, "detail") || !strings.Contains(msg, "; ") {
			t.Errorf("kind %d: %q should name the file, the detail and what to do", k, msg)
		}
	}
	inner := errors.New("driver says no")
	var target *FormatError
	if err := error(&FormatError{Path: "p", Kind: Corrupt, Err: inner}); !errors.Is(err, inner) || !errors.As(err, &target) {
		t.Errorf("FormatError does not unwrap to its cause")
	}
}
