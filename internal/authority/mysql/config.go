package mysql

import (
	"fmt"
	"strings"

	"github.com/rotorhq/rotor/internal/provider"
)

// Overlap is the one strategy: two alternating users.
const Overlap = "overlap"

// maxUserName is the longest user name MySQL 8 accepts (MariaDB takes 80): a longer one
// would be refused at the server.
const maxUserName = 32

// Config is the `mysql` authority's block in the inventory. The admin connection string
// never appears in it: it is read from an environment variable, named directly
// (admin_dsn_env) or through an identity of type mysql-dsn (admin).
type Config struct {
	AdminDSNEnv string   `yaml:"admin_dsn_env" doc:"Environment variable holding the admin connection string, go-sql-driver/mysql form user:password@tcp(host:port)/ (never inline)."`
	Admin       string   `yaml:"admin" rotor:"ref=identity" doc:"Identity of type mysql-dsn whose dsn_env holds the admin connection string."`
	Users       []string `yaml:"users" doc:"Two alternating users (overlap): each rotation sets a new password on the one not in use and unlocks it; the other is locked (ACCOUNT LOCK) at revoke."`
	Host        string   `yaml:"host" doc:"The host part of both accounts ('%' when unset): the users are 'name'@'host'."`
}

// Strategies implements provider.StrategySupporter.
func (c *Config) Strategies() []string { return []string{Overlap} }

// Target names the server the authority talks to, by where its admin connection comes from.
func (c *Config) Target() string {
	if c.Admin != "" {
		return "admin=" + c.Admin
	}
	return "admin_dsn_env=" + c.AdminDSNEnv
}

// Validate implements provider.ConfigValidator.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if len(c.Users) != 2 || c.Users[0] == c.Users[1] {
		out = append(out, provider.FieldError{Field: "users", Msg: "overlap needs exactly two different users"})
	}
	for _, u := range c.Users {
		if msg := badName("user", u, maxUserName); msg != "" {
			out = append(out, provider.FieldError{Field: "users", Msg: msg})
			break
		}
	}
	if c.Host != "" {
		if msg := badName("host", c.Host, 255); msg != "" {
			out = append(out, provider.FieldError{Field: "host", Msg: msg})
		}
	}
	switch {
	case c.AdminDSNEnv == "" && c.Admin == "":
		out = append(out, provider.FieldError{Field: "admin", Msg: "set admin (an identity) or admin_dsn_env: rotor needs an admin connection"})
	case c.AdminDSNEnv != "" && c.Admin != "":
		out = append(out, provider.FieldError{Field: "admin_dsn_env", Msg: "set either admin or admin_dsn_env, not both"})
	}
	return out
}

func badName(what, name string, max int) string {
	switch {
	case name == "":
		return "a " + what + " name cannot be empty"
	case len(name) > max:
		return fmt.Sprintf("%s name %q is longer than %d characters", what, name, max)
	case strings.ContainsAny(name, "\x00'\\`"):
		return fmt.Sprintf("%s name %q holds a quote, a backslash or a NUL byte", what, name)
	}
	return ""
}

func (c *Config) host() string {
	if c.Host == "" {
		return "%"
	}
	return c.Host
}
