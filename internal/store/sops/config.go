package sops

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `sops` store's block in the inventory.
type Config struct {
	Path   string `yaml:"path" rotor:"required" doc:"The SOPS-encrypted file (YAML, JSON or dotenv), relative to the inventory's folder. It must exist, encrypted to the executor and every consumer (age recipients)."`
	Key    string `yaml:"key" rotor:"required" doc:"Dotted path of the value inside the document (bastion.private_key); in a dotenv file, the variable's name."`
	Format string `yaml:"format" rotor:"enum=yaml|json|dotenv" doc:"The file's format (default: from its extension: .yaml or .yml, .json, .env)."`
	Binary string `yaml:"binary" doc:"The sops executable, 3.9 or newer (default: sops in PATH)."`
	Git    Git    `yaml:"git" doc:"Commit each change to the git repository that holds the file."`
}

// Git says whether, and as whom, rotor commits its changes to the file.
type Git struct {
	Commit bool   `yaml:"commit" doc:"Commit every change rotor makes to the file, with a message naming the run and the version ids (never a value)."`
	Author string `yaml:"author" doc:"Author and committer of those commits, as 'Name <email>' (default: git's own user.name and user.email)."`
}

// The formats rotor drives sops with (sops's --input-type and --output-type).
const (
	formatYAML   = "yaml"
	formatJSON   = "json"
	formatDotenv = "dotenv"
)

// format is the file's format: Format, else from the file's extension; "" when neither says.
func (c *Config) format() string {
	if c.Format != "" {
		return c.Format
	}
	switch strings.ToLower(filepath.Ext(c.Path)) {
	case ".yaml", ".yml":
		return formatYAML
	case ".json":
		return formatJSON
	case ".env":
		return formatDotenv
	}
	return ""
}

// keyComponent is one element of a dotted key: sops's tree paths (["a"]["b"]) cannot quote a
// bracket or a quote, and an empty or padded element is a mistake.
var keyComponent = regexp.MustCompile(`^[^\[\]"'\s.]+$`)

// dotenvName is a variable name of a dotenv file that a shell can also source.
var dotenvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// authorPattern is git's "Name <email>".
var authorPattern = regexp.MustCompile(`^[^<>\n]+ <[^<>\s]+>$`)

// path splits the dotted key into the tree path of the value.
func (c *Config) path() []string {
	if c.format() == formatDotenv {
		return []string{c.Key}
	}
	return strings.Split(c.Key, ".")
}

// Validate reports the problems of a config that decoded.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	f := c.format()
	if f == "" {
		out = append(out, provider.FieldError{Field: "format", Msg: fmt.Sprintf("cannot tell the format of %q from its extension: set format to yaml, json or dotenv", c.Path)})
	}
	switch {
	case c.Key == "":
	case f == formatDotenv && !dotenvName.MatchString(c.Key):
		out = append(out, provider.FieldError{Field: "key", Msg: "in a dotenv file, the key is a variable name: letters, digits and '_', not starting with a digit"})
	case f != formatDotenv:
		for _, p := range strings.Split(c.Key, ".") {
			if !keyComponent.MatchString(p) {
				out = append(out, provider.FieldError{Field: "key", Msg: fmt.Sprintf("%q is not a dotted path: each element non-empty, without spaces, brackets or quotes", c.Key)})
				break
			}
		}
	}
	if first, _, _ := strings.Cut(c.Key, "."); first == "sops" || strings.HasPrefix(first, rotorRoot) {
		out = append(out, provider.FieldError{Field: "key", Msg: fmt.Sprintf("%q belongs to sops or rotor itself: name the value elsewhere", first)})
	}
	if c.Git.Author != "" && !authorPattern.MatchString(c.Git.Author) {
		out = append(out, provider.FieldError{Field: "git.author", Msg: "must read 'Name <email>'"})
	}
	return out
}
