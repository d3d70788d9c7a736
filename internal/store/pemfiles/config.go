package pemfiles

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"

	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `pem-files` store's block in the inventory.
type Config struct {
	Dir       string `yaml:"dir" rotor:"required" doc:"Directory the consumers read the files from (relative to the inventory's folder); one credential per directory."`
	Cert      string `yaml:"cert" doc:"File name of the leaf certificate (default cert.pem)."`
	Chain     string `yaml:"chain" doc:"File name of the intermediates, issuer first (default chain.pem)."`
	Fullchain string `yaml:"fullchain" doc:"File name of the leaf followed by the chain (default fullchain.pem)."`
	Key       string `yaml:"key" doc:"File name of the PKCS #8 private key (default key.pem)."`
	Owner     string `yaml:"owner" doc:"User (name or uid) that owns the files; applied when rotor runs as root."`
	Group     string `yaml:"group" doc:"Group (name or gid) of the files; applied when rotor runs as root."`
	CertMode  string `yaml:"cert_mode" doc:"Octal mode of the certificate files (default \"0644\")."`
	KeyMode   string `yaml:"key_mode" doc:"Octal mode of the key file (default \"0600\"); never readable by others."`
	Keep      int    `yaml:"keep" doc:"Version directories kept besides the current one and pending ones, the previous one included (default 3, at least 1)."`
	// Consumers gives a consumer its own view of the files, so that it alone can be pinned to
	// a version (the precise rollback) while the others follow current.
	Consumers map[string]string `yaml:"consumers" doc:"Consumers that read their own copy of the visible names, so that one can be held on a version while the others follow current (rollback of single consumers): consumer id -> subdirectory of dir (one name) where that consumer reads cert, chain, fullchain and key. A consumer not listed reads dir itself and cannot be pinned alone."`
}

// Default file names and modes.
const (
	DefaultCert      = "cert.pem"
	DefaultChain     = "chain.pem"
	DefaultFullchain = "fullchain.pem"
	DefaultKey       = "key.pem"
	defaultCertMode  = 0o644
	defaultKeyMode   = 0o600
	defaultKeep      = 3
)

// fileName is what may name a visible file: one path element that cannot collide with the
// store's own entries (..live, .versions, .lock and temp names all start with a dot).
var fileName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// Validate reports every problem of a config that decoded.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if c.Dir == "" {
		out = append(out, provider.FieldError{Field: "dir", Msg: "needs the directory the consumers read"})
	}
	seen := map[string]string{}
	for _, f := range []struct{ field, value, def string }{
		{"cert", c.Cert, DefaultCert}, {"chain", c.Chain, DefaultChain},
		{"fullchain", c.Fullchain, DefaultFullchain}, {"key", c.Key, DefaultKey},
	} {
		name := f.value
		if name == "" {
			name = f.def
		}
		if !fileName.MatchString(name) {
			out = append(out, provider.FieldError{Field: f.field, Msg: "must be one file name of letters, digits, '.', '_' or '-', not starting with a dot"})
			continue
		}
		if other, dup := seen[name]; dup {
			out = append(out, provider.FieldError{Field: f.field, Msg: fmt.Sprintf("is the same file name as %s (%s)", other, name)})
		}
		seen[name] = f.field
	}
	if _, err := parseMode(c.CertMode, defaultCertMode); err != nil {
		out = append(out, provider.FieldError{Field: "cert_mode", Msg: err.Error()})
	}
	if m, err := parseMode(c.KeyMode, defaultKeyMode); err != nil {
		out = append(out, provider.FieldError{Field: "key_mode", Msg: err.Error()})
	} else if m&0o007 != 0 {
		out = append(out, provider.FieldError{Field: "key_mode", Msg: "gives other users access to the private key; use the owner and group (0600 or 0640)"})
	} else if m&0o400 == 0 {
		out = append(out, provider.FieldError{Field: "key_mode", Msg: "does not let the owner read the key"})
	}
	if c.Keep < 0 {
		out = append(out, provider.FieldError{Field: "keep", Msg: "must be 1 or more (0 for the default, 3)"})
	}
	subdirs := map[string]string{}
	for _, id := range sortedKeys(c.Consumers) {
		sub, field := c.Consumers[id], "consumers."+id
		switch {
		case id == "":
			out = append(out, provider.FieldError{Field: "consumers", Msg: "has an empty consumer id"})
		case !fileName.MatchString(sub):
			out = append(out, provider.FieldError{Field: field, Msg: "must be one directory name of letters, digits, '.', '_' or '-', not starting with a dot"})
		case seen[sub] != "":
			out = append(out, provider.FieldError{Field: field, Msg: fmt.Sprintf("is the file name of %s (%s); give the consumer another directory", seen[sub], sub)})
		case subdirs[sub] != "":
			out = append(out, provider.FieldError{Field: field, Msg: fmt.Sprintf("is consumer %s's directory too (%s); each consumer needs its own to be pinned alone", subdirs[sub], sub)})
		default:
			subdirs[sub] = id
		}
	}
	for _, f := range []struct{ field, value string }{{"owner", c.Owner}, {"group", c.Group}} {
		if f.value != "" && !accountName.MatchString(f.value) {
			out = append(out, provider.FieldError{Field: f.field, Msg: "must be an account name or a number"})
		}
	}
	return out
}

var accountName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\$?$`)

// parseMode parses an octal mode such as "0640" ("" is def).
func parseMode(s string, def uint32) (uint32, error) {
	if s == "" {
		return def, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("must be an octal mode such as \"0640\", got %q", s)
	}
	return uint32(m), nil
}

// names are the resolved file names.
type names struct{ cert, chain, fullchain, key string }

func (c *Config) names() names {
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	return names{or(c.Cert, DefaultCert), or(c.Chain, DefaultChain), or(c.Fullchain, DefaultFullchain), or(c.Key, DefaultKey)}
}

func (n names) all() []string { return []string{n.cert, n.chain, n.fullchain, n.key} }

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
