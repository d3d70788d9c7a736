package state

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Drivers a Location can name.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Location is where the state lives, parsed from --db.
type Location struct {
	Driver string // DriverSQLite or DriverPostgres
	Path   string // DriverSQLite: the file, as given (relative paths stay relative)
	URL    string // DriverPostgres: the connection URL as given; may hold a password, print String()
}

// String is safe to print: a password in a PostgreSQL URL is masked.
func (l Location) String() string {
	switch l.Driver {
	case DriverSQLite:
		return "sqlite:" + l.Path
	case DriverPostgres:
		if u, err := url.Parse(l.URL); err == nil {
			return u.Redacted()
		}
		return "postgres://[unparsable url]"
	}
	return l.Driver + ":?"
}

// acceptedForms is quoted in every parse error so the user sees the fix.
const acceptedForms = `accepted: "" (default file), sqlite:///abs/path.db, sqlite:rel/path.db, a plain file path, postgres://… or postgresql://…`

// ParseURL reads the --db flag.
//
//	""                        -> SQLite at DefaultPath()
//	sqlite:///abs/path.db     -> SQLite, absolute path (percent-escapes decoded)
//	sqlite:rel/path.db        -> SQLite, relative to the working directory
//	/abs/path.db, rel.db      -> SQLite, the path as is
//	postgres://…, postgresql://… -> DriverPostgres, URL kept verbatim
//
// Anything else with a scheme is an error naming the accepted forms. Queries
// and fragments on sqlite: URLs are refused rather than silently ignored.
func ParseURL(s string) (Location, error) {
	if s == "" {
		p, err := DefaultPath()
		if err != nil {
			return Location{}, err
		}
		return Location{Driver: DriverSQLite, Path: p}, nil
	}
	scheme, rest, hasScheme := strings.Cut(s, ":")
	// A one-letter "scheme" is a Windows drive (C:\rotor.db); a path separator
	// before the colon means the colon is part of a file name.
	if !hasScheme || len(scheme) == 1 || strings.ContainsAny(scheme, `/\.`) {
		return Location{Driver: DriverSQLite, Path: s}, nil
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		// The URL is not echoed: it may carry a password.
		if _, err := url.Parse(s); err != nil || !strings.HasPrefix(rest, "//") {
			return Location{}, fmt.Errorf("--db: malformed PostgreSQL URL (want postgres://user@host/db); %s", acceptedForms)
		}
		return Location{Driver: DriverPostgres, URL: s}, nil
	case "sqlite":
		p, err := sqlitePath(rest)
		if err != nil {
			return Location{}, fmt.Errorf("--db %q: %w; %s", s, err, acceptedForms)
		}
		return Location{Driver: DriverSQLite, Path: p}, nil
	}
	return Location{}, fmt.Errorf("--db: unknown scheme %q; %s", scheme, acceptedForms)
}

func sqlitePath(rest string) (string, error) {
	if strings.ContainsAny(rest, "?#") {
		return "", errors.New("query and fragment are not supported in a sqlite: URL")
	}
	var p string
	if strings.HasPrefix(rest, "//") {
		// sqlite://host/path: only an empty host (sqlite:///abs) or localhost.
		host, path, _ := strings.Cut(rest[2:], "/")
		if host != "" && host != "localhost" {
			return "", fmt.Errorf("host %q in a sqlite URL (use sqlite:///abs/path or sqlite:rel/path)", host)
		}
		p = "/" + path
	} else {
		p = rest
	}
	p, err := url.PathUnescape(p)
	if err != nil {
		return "", fmt.Errorf("bad escape in path: %w", err)
	}
	if p == "" || p == "/" {
		return "", errors.New("empty path")
	}
	return filepath.FromSlash(p), nil
}

// DefaultPath is where the embedded database lives when --db is not given:
// $ROTOR_STATE_DIR/rotor.db if set (tests, packaging), else
// $XDG_STATE_HOME/rotor/rotor.db if that is an absolute path (the XDG spec
// says to ignore relative ones), else ~/.local/state/rotor/rotor.db.
func DefaultPath() (string, error) {
	return defaultPath(os.Getenv, os.UserHomeDir)
}

func defaultPath(getenv func(string) string, home func() (string, error)) (string, error) {
	if d := getenv("ROTOR_STATE_DIR"); d != "" {
		return filepath.Join(d, "rotor.db"), nil
	}
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "rotor", "rotor.db"), nil
	}
	h, err := home()
	if err != nil {
		return "", fmt.Errorf("locating the default state database: %w; pass --db or set ROTOR_STATE_DIR", err)
	}
	return filepath.Join(h, ".local", "state", "rotor", "rotor.db"), nil
}
