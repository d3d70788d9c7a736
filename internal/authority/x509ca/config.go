package x509ca

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
)

// Overlap is the authority's one strategy: a new certificate is valid as soon as it is
// issued, beside the old one, which stays valid until it expires (or, for a CA, until its
// certificate leaves the trust bundle at revoke).
const Overlap = "overlap"

// Defaults.
const (
	DefaultKeyType  = "ecdsa-p256"
	DefaultValidity = 90 * 24 * time.Hour
	NewKeyAlways    = "always"
	NewKeyNever     = "never"
)

// Bounds on validity: shorter than an hour cannot survive a soak; longer than 100 years is
// a typo (and past what some verifiers parse).
const (
	minValidity = time.Hour
	maxValidity = 100 * 365 * 24 * time.Hour
)

// Config is the `x509-ca` authority's block in the inventory.
type Config struct {
	CA          string        `yaml:"ca" rotor:"ref=credential" doc:"Id of the credential holding the issuing CA: its certificate, chain and key as one PEM bundle, read from its store at each mint. Empty only for a self-signed root (is_ca: true)."`
	CommonName  string        `yaml:"common_name" rotor:"required" doc:"Subject common name of the issued certificate."`
	SANs        []string      `yaml:"sans" doc:"Subject alternative names: DNS names (a leading *. for a wildcard) and IP addresses."`
	KeyType     string        `yaml:"key_type" rotor:"enum=ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072|rsa-4096|ed25519" doc:"Key type of a new key (default ecdsa-p256)."`
	Validity    time.Duration `yaml:"validity" doc:"Lifetime of a new certificate (default 90d); never past the issuing CA's own not-after."`
	NewKey      string        `yaml:"new_key" rotor:"enum=always|never" doc:"always (default): a new key on each rotation; never: the new certificate keeps the current version's key."`
	IsCA        bool          `yaml:"is_ca" doc:"Issue a CA certificate (an intermediate, or with no ca a self-signed root) instead of a leaf."`
	CRL         string        `yaml:"crl" doc:"A PEM CRL file that rotor maintains, signed by the issuing CA (ca): revoke adds the previous certificate, restore removes it. Without it, revoking a certificate has no effect outside rotor: it stays valid until its not-after. Relative to the inventory's folder."`
	TrustBundle string        `yaml:"trust_bundle" doc:"With is_ca: a PEM file of trusted CA certificates that rotor maintains: enable adds the new CA certificate, revoke removes the previous one, so both are trusted during the overlap. Relative to the inventory's folder."`
}

// Strategies implements provider.StrategySupporter.
func (*Config) Strategies() []string { return []string{Overlap} }

// Validate implements provider.ConfigValidator.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	add := func(field, format string, args ...any) {
		out = append(out, provider.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.CA == "" && !c.IsCA {
		add("ca", "name the credential of the issuing CA; only a self-signed root (is_ca: true) has none")
	}
	if strings.TrimSpace(c.CommonName) == "" {
		add("common_name", "cannot be empty")
	} else if len(c.CommonName) > 64 {
		add("common_name", "is longer than the 64 characters X.509 allows")
	}
	for _, s := range c.SANs {
		if msg := pki.NameProblem(s); msg != "" {
			add("sans", "%q %s", s, msg)
		}
	}
	if c.KeyType != "" && !slices.Contains(pki.KeyTypes, c.KeyType) {
		add("key_type", "must be one of %s", strings.Join(pki.KeyTypes, ", "))
	}
	switch {
	case c.Validity < 0:
		add("validity", "cannot be negative")
	case c.Validity != 0 && c.Validity < minValidity:
		add("validity", "must be at least %s", minValidity)
	case c.Validity > maxValidity:
		add("validity", "must be at most 100 years")
	}
	if c.NewKey != "" && c.NewKey != NewKeyAlways && c.NewKey != NewKeyNever {
		add("new_key", "must be always or never")
	}
	if c.TrustBundle != "" && !c.IsCA {
		add("trust_bundle", "applies to a CA (is_ca: true): a leaf certificate is trusted through its issuer, not listed in a bundle")
	}
	if c.CRL != "" && c.CA == "" {
		add("crl", "needs ca: a CRL is signed by the issuing CA")
	}
	if c.CRL != "" && c.TrustBundle != "" && filepath.Clean(c.CRL) == filepath.Clean(c.TrustBundle) {
		add("crl", "must be another file than trust_bundle")
	}
	return out
}

func (c *Config) keyType() string {
	if c.KeyType == "" {
		return DefaultKeyType
	}
	return c.KeyType
}

func (c *Config) validity() time.Duration {
	if c.Validity == 0 {
		return DefaultValidity
	}
	return c.Validity
}

// splitSANs returns the DNS names and the IP addresses of sans (validated already).
func splitSANs(sans []string) (dns []string, ips []net.IP) {
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, s)
		}
	}
	return dns, ips
}
