package builtin

import (
	"time"

	"github.com/rotorhq/rotor/internal/authority/generated"
	pgauthority "github.com/rotorhq/rotor/internal/authority/postgres"
	"github.com/rotorhq/rotor/internal/provider"
)

var authorities = map[string]func() any{
	"none":      mk[generated.NoneConfig](),
	"generated": mk[generated.Config](),
	"manual":    mk[ManualAuthority](),
	"postgres":  mk[pgauthority.Config](),
	"redis":     mk[RedisAuthority](),
	"rabbitmq":  mk[RabbitMQAuthority](),
	"entra-app": mk[EntraAppAuthority](),
	"aws-iam":   mk[AWSIAMAuthority](),
	"x509-ca":   mk[X509CAAuthority](),
	"acme":      mk[ACMEAuthority](),
	"webhook":   mk[WebhookAuthority](),
}

// ManualAuthority is a value minted and revoked by a person at a vendor's portal: rotor
// records, waits for confirmation, and checks.
type ManualAuthority struct {
	Instructions string `yaml:"instructions" rotor:"required" doc:"What the person must do, step by step."`
	URL          string `yaml:"url" doc:"Where to do it."`
	Overlap      bool   `yaml:"overlap" doc:"The vendor keeps two values valid at once."`
}

func (m *ManualAuthority) Strategies() []string {
	if m.Overlap {
		return []string{"overlap", "in-place"}
	}
	return []string{"in-place"}
}

// RedisAuthority is a Redis ACL user.
type RedisAuthority struct {
	Address  string   `yaml:"address" rotor:"required" doc:"host:port"`
	AdminEnv string   `yaml:"admin_env" doc:"Environment variable holding the admin user:password."`
	Users    []string `yaml:"users" doc:"Two alternating ACL users (overlap)."`
	User     string   `yaml:"user" doc:"One ACL user; Redis keeps several passwords per user, so overlap works in place."`
	TLS      bool     `yaml:"tls"`
}

func (RedisAuthority) Strategies() []string { return []string{"overlap", "in-place"} }

// RabbitMQAuthority is a RabbitMQ user.
type RabbitMQAuthority struct {
	ManagementURL string   `yaml:"management_url" rotor:"required"`
	AdminEnv      string   `yaml:"admin_env" doc:"Environment variable holding the admin user:password."`
	Users         []string `yaml:"users" doc:"Two alternating users (overlap)."`
	User          string   `yaml:"user" doc:"One user, changed in place."`
}

func (r *RabbitMQAuthority) Strategies() []string {
	if len(r.Users) == 2 {
		return []string{"overlap"}
	}
	return []string{"in-place"}
}

// EntraAppAuthority is a client secret of an Entra ID (Azure AD) application, which may hold
// several secrets at once.
type EntraAppAuthority struct {
	TenantID       string        `yaml:"tenant_id" rotor:"required"`
	ApplicationID  string        `yaml:"application_id" rotor:"required" doc:"The application's object or client id."`
	SecretLifetime time.Duration `yaml:"secret_lifetime" doc:"Validity of a new client secret (default 180d)."`
}

func (EntraAppAuthority) Strategies() []string { return []string{"overlap"} }

// AWSIAMAuthority is an access key of an IAM user, which may hold two keys at once.
type AWSIAMAuthority struct {
	User string `yaml:"user" rotor:"required"`
}

func (AWSIAMAuthority) Strategies() []string { return []string{"overlap"} }

// X509CAAuthority issues leaf certificates from an internal CA whose key lives in a store.
type X509CAAuthority struct {
	CA         string        `yaml:"ca" rotor:"required,ref=credential" doc:"Id of the credential holding the issuing CA."`
	CommonName string        `yaml:"common_name" rotor:"required"`
	SANs       []string      `yaml:"sans" doc:"DNS names and IP addresses."`
	KeyType    string        `yaml:"key_type" rotor:"enum=ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072|rsa-4096|ed25519" doc:"Default ecdsa-p256."`
	Validity   time.Duration `yaml:"validity" doc:"Lifetime of a new certificate (default 90d)."`
	NewKey     string        `yaml:"new_key" rotor:"enum=always|never" doc:"Generate a new key on each rotation (default always)."`
	IsCA       bool          `yaml:"is_ca" doc:"Issue an intermediate CA certificate."`
}

func (X509CAAuthority) Strategies() []string { return []string{"overlap"} }

// ACMEAuthority obtains certificates from an ACME server.
type ACMEAuthority struct {
	Directory string   `yaml:"directory" rotor:"required" doc:"ACME directory URL."`
	Email     string   `yaml:"email"`
	Domains   []string `yaml:"domains" rotor:"required"`
	Challenge string   `yaml:"challenge" rotor:"enum=http-01|tls-alpn-01|dns-01" doc:"Default http-01."`
	KeyType   string   `yaml:"key_type" rotor:"enum=ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072|rsa-4096" doc:"Default ecdsa-p256."`
	CABundle  string   `yaml:"ca_bundle" doc:"PEM file trusted for the ACME server's own TLS."`
}

func (ACMEAuthority) Strategies() []string { return []string{"overlap"} }

func (a *ACMEAuthority) Validate() []provider.FieldError {
	if len(a.Domains) == 0 {
		return []provider.FieldError{{Field: "domains", Msg: "needs at least one domain"}}
	}
	return nil
}

// WebhookAuthority is an HMAC signing key shared by a sender and a receiver that accepts
// several keys during a cutover.
type WebhookAuthority struct {
	Algorithm string `yaml:"algorithm" rotor:"enum=hmac-sha256|hmac-sha512" doc:"Default hmac-sha256."`
	Length    int    `yaml:"length" doc:"Key bytes (default 32)."`
	Sender    string `yaml:"sender" doc:"Who signs (a consumer id or an external party)."`
	Receiver  string `yaml:"receiver" doc:"Who verifies."`
}

func (WebhookAuthority) Strategies() []string { return []string{"overlap", "in-place"} }
