package postgres

import (
	"fmt"
	"slices"

	"github.com/rotorhq/rotor/internal/provider"
)

// The strategies.
const (
	Overlap = "overlap"
	InPlace = "in-place"
)

// maxIdentifier is PostgreSQL's longest identifier (NAMEDATALEN-1 bytes): a longer role name
// is silently truncated by the server, so the role rotor changes would not be the one named.
const maxIdentifier = 63

// Config is the `postgres` authority's block in the inventory. The admin connection string
// never appears in it: it is read from an environment variable, named directly
// (admin_dsn_env) or through an identity of type postgres-dsn (admin).
type Config struct {
	AdminDSNEnv  string   `yaml:"admin_dsn_env" doc:"Environment variable holding the admin connection string (never inline)."`
	Admin        string   `yaml:"admin" rotor:"ref=identity" doc:"Identity of type postgres-dsn whose dsn_env holds the admin connection string."`
	Roles        []string `yaml:"roles" doc:"Two alternating roles (overlap): each rotation sets a new password on the one not in use; the other is made NOLOGIN at revoke."`
	Role         string   `yaml:"role" doc:"One role whose password is changed in place."`
	TemplateRole string   `yaml:"template_role" doc:"With roles: an alternate that does not exist is created as NOLOGIN IN ROLE this role when a value is minted for it; readiness compares the other role with what it will have."`
	Terminate    bool     `yaml:"terminate_sessions" doc:"With roles: at revoke (after its approval), terminate the sessions the previous role still holds once it is NOLOGIN."`
}

// Strategies implements provider.StrategySupporter: one role changes in place; two roles
// alternate.
func (c *Config) Strategies() []string {
	if c.Role != "" {
		return []string{InPlace}
	}
	return []string{Overlap}
}

// EndsSessions tells the engine that, with terminate_sessions, revoke can end the previous
// role's open sessions — which it asks for only after a person approved it.
func (c *Config) EndsSessions() bool { return c.Terminate }

// Target names the server the authority talks to, by where its admin connection comes from:
// the engine bounds parallel runs against one server with it.
func (c *Config) Target() string {
	if c.Admin != "" {
		return "admin=" + c.Admin
	}
	return "admin_dsn_env=" + c.AdminDSNEnv
}

// Validate implements provider.ConfigValidator.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	switch {
	case c.Role == "" && len(c.Roles) == 0:
		out = append(out, provider.FieldError{Field: "roles", Msg: "set roles (two alternating roles, overlap) or role (one role, in-place)"})
	case c.Role != "" && len(c.Roles) > 0:
		out = append(out, provider.FieldError{Field: "role", Msg: "set either role or roles, not both"})
	case len(c.Roles) > 0 && (len(c.Roles) != 2 || c.Roles[0] == c.Roles[1]):
		out = append(out, provider.FieldError{Field: "roles", Msg: "overlap needs exactly two different roles"})
	}
	for _, r := range c.Roles {
		if msg := badIdentifier(r); msg != "" {
			out = append(out, provider.FieldError{Field: "roles", Msg: msg})
			break
		}
	}
	if c.Role != "" {
		if msg := badIdentifier(c.Role); msg != "" {
			out = append(out, provider.FieldError{Field: "role", Msg: msg})
		}
	}
	switch {
	case c.AdminDSNEnv == "" && c.Admin == "":
		out = append(out, provider.FieldError{Field: "admin", Msg: "set admin (an identity) or admin_dsn_env: rotor needs an admin connection"})
	case c.AdminDSNEnv != "" && c.Admin != "":
		out = append(out, provider.FieldError{Field: "admin_dsn_env", Msg: "set either admin or admin_dsn_env, not both"})
	}
	if c.TemplateRole != "" {
		switch {
		case c.Role != "":
			out = append(out, provider.FieldError{Field: "template_role", Msg: "applies to alternating roles (roles), not to one role changed in place"})
		case slices.Contains(c.Roles, c.TemplateRole):
			out = append(out, provider.FieldError{Field: "template_role", Msg: "must be a third role, not one of roles"})
		default:
			if msg := badIdentifier(c.TemplateRole); msg != "" {
				out = append(out, provider.FieldError{Field: "template_role", Msg: msg})
			}
		}
	}
	if c.Terminate && c.Role != "" {
		out = append(out, provider.FieldError{Field: "terminate_sessions", Msg: "applies to alternating roles (roles): with one role changed in place, rotor cannot tell a session that logged in with the old password from one with the new"})
	}
	return out
}

func badIdentifier(name string) string {
	switch {
	case name == "":
		return "a role name cannot be empty"
	case len(name) > maxIdentifier:
		return fmt.Sprintf("role name %q is longer than PostgreSQL's %d bytes", name, maxIdentifier)
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 {
			return "a role name cannot hold a NUL byte"
		}
	}
	return ""
}
