package nats

import (
	"net/url"
	"path/filepath"
	"strings"

	"github.com/rotorhq/rotor/internal/provider"
)

// Overlap is the one strategy: two alternating users (NATS holds one password per user).
const Overlap = "overlap"

// Config is the `nats` authority's block in the inventory. Rotor needs no credential of its
// own: it writes the auth file, signals the server (the pid in pid_file) to reload, and reads
// the monitoring endpoint.
type Config struct {
	Config     string   `yaml:"config" rotor:"required" doc:"The auth file rotor edits: NATS configuration holding the users' entries, included from the server's configuration (authorization { include users.conf })."`
	Users      []string `yaml:"users" doc:"Two alternating users with the same permissions (overlap): each rotation gives the one not in use a new password (bcrypt hash); the other's is replaced by a hash of a password nobody knows at revoke."`
	PIDFile    string   `yaml:"pid_file" rotor:"required" doc:"The server's pid file (pid_file in its configuration): rotor sends SIGHUP to that pid to reload it."`
	MonitorURL string   `yaml:"monitor_url" rotor:"required" doc:"The server's monitoring endpoint (http: in its configuration), as http://127.0.0.1:8222: /varz confirms a reload, /connz?auth=true shows who is connected."`
}

// Strategies implements provider.StrategySupporter.
func (c *Config) Strategies() []string { return []string{Overlap} }

// Target names the server by its auth file: runs editing one file are kept apart.
func (c *Config) Target() string { return "config=" + c.Config }

// Validate implements provider.ConfigValidator.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if c.Config == "" || !filepath.IsAbs(c.Config) {
		out = append(out, provider.FieldError{Field: "config", Msg: "set config to the absolute path of the auth file rotor edits"})
	}
	if len(c.Users) != 2 || c.Users[0] == c.Users[1] {
		out = append(out, provider.FieldError{Field: "users", Msg: "overlap needs exactly two different users"})
	}
	for _, u := range c.Users {
		if u == "" || strings.ContainsAny(u, " \t\r\n\"'{}[]:=,;#\x00") {
			out = append(out, provider.FieldError{Field: "users", Msg: "a user name cannot be empty or hold blanks, quotes or NATS configuration punctuation"})
			break
		}
	}
	if c.PIDFile == "" || !filepath.IsAbs(c.PIDFile) {
		out = append(out, provider.FieldError{Field: "pid_file", Msg: "set pid_file to the absolute path of the server's pid file"})
	}
	if u, err := url.Parse(c.MonitorURL); c.MonitorURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		out = append(out, provider.FieldError{Field: "monitor_url", Msg: "set monitor_url to the server's monitoring endpoint, as http://127.0.0.1:8222"})
	}
	return out
}
