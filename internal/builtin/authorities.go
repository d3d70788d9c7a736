package builtin

import (
	"time"

	acmeauthority "github.com/rotorhq/rotor/internal/authority/acme"
	"github.com/rotorhq/rotor/internal/authority/generated"
	pgauthority "github.com/rotorhq/rotor/internal/authority/postgres"
	"github.com/rotorhq/rotor/internal/authority/x509ca"
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
	"x509-ca":   mk[x509ca.Config](),
	"acme":      mk[acmeauthority.Config](),
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

// WebhookAuthority is an HMAC signing key shared by a sender and a receiver that accepts
// several keys during a cutover.
type WebhookAuthority struct {
	Algorithm string `yaml:"algorithm" rotor:"enum=hmac-sha256|hmac-sha512" doc:"Default hmac-sha256."`
	Length    int    `yaml:"length" doc:"Key bytes (default 32)."`
	Sender    string `yaml:"sender" doc:"Who signs (a consumer id or an external party)."`
	Receiver  string `yaml:"receiver" doc:"Who verifies."`
}

func (WebhookAuthority) Strategies() []string { return []string{"overlap", "in-place"} }
