package acme

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
)

// Overlap is the authority's one strategy: a new certificate is valid once issued, beside
// the previous one, which is revoked at the CA after verify.
const Overlap = "overlap"

// Defaults.
const (
	DefaultChallenge = "http-01"
	DefaultKeyType   = "ecdsa-p256"
	DefaultHTTP01    = ":80"
	DefaultTLSALPN01 = ":443"
	DefaultTimeout   = 2 * time.Minute
	// maxRequest bounds each HTTP request to the ACME server within a call's timeout.
	maxRequest = 30 * time.Second
)

// keyTypes are the key types ACME CAs accept for certificates (no Ed25519: the Web PKI's
// CAs do not issue for it).
var keyTypes = []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"}

// Config is the `acme` authority's block in the inventory.
type Config struct {
	Directory        string        `yaml:"directory" rotor:"required" doc:"ACME directory URL (https). rotor registers an account there on first use and agrees to the CA's terms of service, as an unattended client must: read them before naming a directory."`
	Email            string        `yaml:"email" doc:"Contact address of the ACME account."`
	Domains          []string      `yaml:"domains" rotor:"required" doc:"Names the certificate covers: DNS names and IP addresses. No wildcards: ACME CAs validate those with dns-01 only, which rotor does not answer."`
	Challenge        string        `yaml:"challenge" rotor:"enum=http-01|tls-alpn-01" doc:"How the CA validates control of the names (default http-01); rotor answers it itself."`
	HTTP01Address    string        `yaml:"http01_address" doc:"host:port where rotor answers http-01 challenges while it mints (default :80, which the CA reaches on port 80 of each name)."`
	TLSALPN01Address string        `yaml:"tls_alpn01_address" doc:"host:port where rotor answers tls-alpn-01 challenges while it mints (default :443)."`
	KeyType          string        `yaml:"key_type" rotor:"enum=ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072|rsa-4096" doc:"Key type of a new certificate's key (default ecdsa-p256)."`
	CABundle         string        `yaml:"ca_bundle" doc:"PEM file of the CAs trusted for the ACME server's own TLS (default: the system's roots). Relative to the inventory's folder."`
	AccountDir       string        `yaml:"account_dir" doc:"Folder of the ACME account key (created on first use, mode 0600) and of a copy of each issued certificate (public, kept to revoke it later). Default: .rotor/acme/<directory host>/ in the inventory's folder."`
	Timeout          time.Duration `yaml:"timeout" doc:"Bound on one mint, revoke or readiness check, from the first request to the certificate (default 2m)."`
}

// Strategies implements provider.StrategySupporter.
func (*Config) Strategies() []string { return []string{Overlap} }

// Validate implements provider.ConfigValidator.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	add := func(field, format string, args ...any) {
		out = append(out, provider.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if u, err := url.Parse(c.Directory); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		add("directory", "must be an https URL of an ACME directory")
	} else if u.User != nil {
		add("directory", "must not hold credentials")
	}
	if len(c.Domains) == 0 {
		add("domains", "needs at least one domain")
	}
	seen := map[string]bool{}
	for _, d := range c.Domains {
		switch {
		case pki.NameProblem(d) != "":
			add("domains", "%q %s", d, pki.NameProblem(d))
		case strings.HasPrefix(d, "*."):
			add("domains", "%q is a wildcard: ACME CAs validate wildcards with dns-01 only, which rotor does not answer; list the names", d)
		case seen[strings.ToLower(d)]:
			add("domains", "%q is listed twice", d)
		}
		seen[strings.ToLower(d)] = true
	}
	if c.Email != "" && (!strings.Contains(c.Email, "@") || strings.ContainsAny(c.Email, " \t\r\n,<>")) {
		add("email", "is not an email address")
	}
	if c.Challenge != "" && c.Challenge != "http-01" && c.Challenge != "tls-alpn-01" {
		add("challenge", "must be http-01 or tls-alpn-01")
	}
	for field, addr := range map[string]string{"http01_address": c.HTTP01Address, "tls_alpn01_address": c.TLSALPN01Address} {
		if addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			add(field, "must be host:port (or :port)")
		}
	}
	if c.KeyType != "" && !slices.Contains(keyTypes, c.KeyType) {
		add("key_type", "must be one of %s", strings.Join(keyTypes, ", "))
	}
	if c.Timeout < 0 || (c.Timeout > 0 && c.Timeout < time.Second) {
		add("timeout", "must be at least 1s")
	}
	return out
}

func (c *Config) challenge() string { return or(c.Challenge, DefaultChallenge) }
func (c *Config) keyType() string   { return or(c.KeyType, DefaultKeyType) }
func (c *Config) http01() string    { return or(c.HTTP01Address, DefaultHTTP01) }
func (c *Config) tlsALPN01() string { return or(c.TLSALPN01Address, DefaultTLSALPN01) }
func (c *Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
