package redis

import (
	"net"
	"strings"

	"github.com/rotorhq/rotor/internal/provider"
)

// The strategies.
const (
	Overlap = "overlap"
	InPlace = "in-place"
)

// Config is the `redis` authority's block in the inventory. The admin credentials never
// appear in it: admin_env names the environment variable that holds them, as user:password.
type Config struct {
	Address  string `yaml:"address" rotor:"required" doc:"host:port of the Redis server."`
	AdminEnv string `yaml:"admin_env" rotor:"required" doc:"Environment variable holding the admin user:password (never inline)."`
	User     string `yaml:"user" rotor:"required" doc:"The ACL user whose password rotates; Redis keeps several passwords per user, so overlap works with one user."`
	TLS      bool   `yaml:"tls" doc:"Connect over TLS (verified against the system's roots)."`
}

// Strategies implements provider.StrategySupporter: one user holds two passwords during the
// cutover (overlap), or its password is replaced at cutover (in-place).
func (c *Config) Strategies() []string { return []string{Overlap, InPlace} }

// Target names the server: the engine bounds parallel runs against one server with it.
func (c *Config) Target() string { return "address=" + c.Address }

// Validate implements provider.ConfigValidator.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if c.Address == "" {
		out = append(out, provider.FieldError{Field: "address", Msg: "set address (host:port of the Redis server)"})
	} else if _, _, err := net.SplitHostPort(c.Address); err != nil {
		out = append(out, provider.FieldError{Field: "address", Msg: "want host:port, as in redis.internal.example:6379"})
	}
	if c.AdminEnv == "" {
		out = append(out, provider.FieldError{Field: "admin_env", Msg: "set admin_env: the environment variable holding the admin user:password"})
	}
	switch {
	case c.User == "":
		out = append(out, provider.FieldError{Field: "user", Msg: "set user: the ACL user whose password rotates"})
	case strings.ContainsAny(c.User, " \t\r\n\x00"):
		out = append(out, provider.FieldError{Field: "user", Msg: "an ACL user name cannot hold spaces or control characters"})
	case c.User == "default":
		out = append(out, provider.FieldError{Field: "user", Msg: "the default user is the one unauthenticated connections get: give the consumers a named user"})
	}
	return out
}
