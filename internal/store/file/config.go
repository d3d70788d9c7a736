package file

import (
	"regexp"

	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `file` store's block in the inventory.
type Config struct {
	Dir  string `yaml:"dir" rotor:"required" doc:"Directory holding the credential's versions."`
	Name string `yaml:"name" doc:"File name stem (default: the credential id)."`
}

// namePattern is what may name a credential's folder: one path element, no dot-dot, nothing a
// shell or another OS would read differently.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Validate reports the problems of a config that decoded.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if c.Name != "" && !validName(c.Name) {
		out = append(out, provider.FieldError{Field: "name", Msg: "must be one path element of letters, digits, '.', '_' or '-' (no '/', no '..')"})
	}
	return out
}

func validName(s string) bool { return namePattern.MatchString(s) && s != "." && s != ".." }
