package vaultkv

import (
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `vault-kv` store's block in the inventory.
type Config struct {
	Address   string `yaml:"address" doc:"Server address, https://vault.example:8200 (default: the VAULT_ADDR environment variable). TLS trusts VAULT_CACERT / VAULT_CAPATH when set, as the vault CLI does."`
	Namespace string `yaml:"namespace" doc:"Vault Enterprise or OpenBao namespace of the mount (default: the root namespace)."`
	Mount     string `yaml:"mount" rotor:"required" doc:"KV version 2 mount path."`
	Path      string `yaml:"path" rotor:"required" doc:"Secret path under the mount: what consumers read."`
	Field     string `yaml:"field" doc:"Key inside the secret's data that holds the value (default: value)."`
	Staging   string `yaml:"staging_path" doc:"Secret path under the mount where a pending value waits until cutover (default: the path followed by .rotor-pending). Only the executor and readiness read it."`
	AuditLog  Audit  `yaml:"audit_log" doc:"A file audit device's log: residual use of the previous version is read from it before revoke."`
}

// Audit names a Vault file audit device and where its log can be read.
type Audit struct {
	Path   string        `yaml:"path" doc:"The audit device's log file (JSON lines), as rotor can read it."`
	Device string        `yaml:"device" doc:"The audit device's path in Vault, for sys/audit-hash (default: file)."`
	Bin    time.Duration `yaml:"bin" doc:"Time bin of the residual-use report (default 5m)."`
	Window time.Duration `yaml:"window" doc:"How far back from now reads of the previous version count (default: all since the cutover): a reader that stopped longer ago than this no longer blocks revoke."`
}

// Defaults.
const (
	defaultField   = "value"
	defaultDevice  = "file"
	defaultBin     = 5 * time.Minute
	stagingSuffix  = ".rotor-pending"
	maxPathLength  = 512
	maxFieldLength = 128
)

// field is the key of the value in the secret's data.
func (c *Config) field() string {
	if c.Field == "" {
		return defaultField
	}
	return c.Field
}

// staging is the path of the pending values.
func (c *Config) staging() string {
	if c.Staging == "" {
		return c.Path + stagingSuffix
	}
	return c.Staging
}

// ReportsUsage implements provider.UsageSwitch: the store reports residual use only with an
// audit log to read.
func (c *Config) ReportsUsage() bool { return c.AuditLog.Path != "" }

// Validate implements provider.ConfigValidator.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if c.Address != "" {
		if u, err := url.Parse(c.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			out = append(out, provider.FieldError{Field: "address", Msg: "must be an http:// or https:// URL with a host"})
		} else if u.User != nil || u.RawQuery != "" {
			out = append(out, provider.FieldError{Field: "address", Msg: "must not carry user info or a query (a token never goes in the inventory)"})
		}
	}
	if msg := badSegments(c.Namespace, true); msg != "" {
		out = append(out, provider.FieldError{Field: "namespace", Msg: msg})
	}
	if msg := badSegments(c.Mount, false); msg != "" {
		out = append(out, provider.FieldError{Field: "mount", Msg: msg})
	}
	if msg := badSegments(c.Path, false); msg != "" {
		out = append(out, provider.FieldError{Field: "path", Msg: msg})
	}
	if c.Staging != "" {
		if msg := badSegments(c.Staging, false); msg != "" {
			out = append(out, provider.FieldError{Field: "staging_path", Msg: msg})
		} else if c.Staging == c.Path {
			out = append(out, provider.FieldError{Field: "staging_path", Msg: "must differ from path: a pending value must never be what consumers read"})
		}
	}
	if len(c.Field) > maxFieldLength || strings.ContainsAny(c.Field, "\x00") {
		out = append(out, provider.FieldError{Field: "field", Msg: "must be a key of at most 128 bytes"})
	}
	if c.Field == stagingKeyField {
		out = append(out, provider.FieldError{Field: "field", Msg: stagingKeyField + " is rotor's own key in the staged data"})
	}
	a := c.AuditLog
	switch {
	case a.Path == "" && (a.Device != "" || a.Bin != 0 || a.Window != 0):
		out = append(out, provider.FieldError{Field: "audit_log.path", Msg: "required with audit_log: the audit device's log file"})
	case a.Bin < 0:
		out = append(out, provider.FieldError{Field: "audit_log.bin", Msg: "must be positive"})
	case a.Window < 0:
		out = append(out, provider.FieldError{Field: "audit_log.window", Msg: "must be positive"})
	}
	if a.Device != "" {
		if msg := badSegments(a.Device, false); msg != "" {
			out = append(out, provider.FieldError{Field: "audit_log.device", Msg: msg})
		}
	}
	return out
}

// badSegments says what is wrong with a Vault path ("" when nothing): slash-separated
// segments, no empty, "." or ".." segment, no leading or trailing slash, nothing a URL would
// read differently.
func badSegments(p string, emptyOK bool) string {
	if p == "" {
		if emptyOK {
			return ""
		}
		return "must not be empty"
	}
	p = strings.TrimSuffix(p, "/") // a namespace or mount may be written with its trailing slash
	if len(p) > maxPathLength {
		return "is too long"
	}
	if strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "." {
		return "must be a relative path without empty, '.' or '..' segments"
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return "must be a relative path without empty, '.' or '..' segments"
		}
	}
	if strings.ContainsAny(p, "?#%\\\x00 \t\r\n") {
		return "must not contain spaces, '?', '#', '%' or '\\'"
	}
	return ""
}

func trimSlash(s string) string { return strings.Trim(s, "/") }
