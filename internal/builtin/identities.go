package builtin

var identities = map[string]func() any{
	"age":                        mk[AgeIdentity](),
	"os-user":                    mk[OSUserIdentity](),
	"vault-approle":              mk[VaultAppRoleIdentity](),
	"vault-token":                mk[VaultTokenIdentity](),
	"kubernetes-service-account": mk[KubernetesServiceAccountIdentity](),
	"aws-role":                   mk[AWSRoleIdentity](),
	"azure-managed-identity":     mk[AzureManagedIdentity](),
	"azure-service-principal":    mk[AzureServicePrincipalIdentity](),
	"gcp-service-account":        mk[GCPServiceAccountIdentity](),
	"github-actions-oidc":        mk[GitHubActionsOIDCIdentity](),
	"gitlab-ci-job":              mk[GitLabCIJobIdentity](),
	"postgres-dsn":               mk[PostgresDSNIdentity](),
	"external":                   mk[ExternalIdentity](),
}

// AgeIdentity reads the file store with an age X25519 identity.
type AgeIdentity struct {
	Recipient    string `yaml:"recipient" rotor:"required" doc:"age1… public key: new versions are encrypted to it."`
	IdentityFile string `yaml:"identity_file" doc:"Private key file, for proving readiness as this identity."`
}

// OSUserIdentity is a local system user.
type OSUserIdentity struct {
	User string `yaml:"user" rotor:"required"`
}

// VaultAppRoleIdentity logs in to Vault/OpenBao with an AppRole.
type VaultAppRoleIdentity struct {
	Role        string `yaml:"role" rotor:"required"`
	Mount       string `yaml:"mount" doc:"Default approle."`
	RoleIDEnv   string `yaml:"role_id_env"`
	SecretIDEnv string `yaml:"secret_id_env"`
}

// VaultTokenIdentity uses a token from the environment.
type VaultTokenIdentity struct {
	TokenEnv string `yaml:"token_env" rotor:"required"`
}

// KubernetesServiceAccountIdentity is a workload's service account.
type KubernetesServiceAccountIdentity struct {
	Namespace string `yaml:"namespace" rotor:"required"`
	Name      string `yaml:"name" rotor:"required"`
}

// AWSRoleIdentity is an IAM role.
type AWSRoleIdentity struct {
	ARN string `yaml:"arn" rotor:"required"`
}

// AzureManagedIdentity is a managed identity.
type AzureManagedIdentity struct {
	ClientID string `yaml:"client_id" rotor:"required"`
}

// AzureServicePrincipalIdentity is an application identity.
type AzureServicePrincipalIdentity struct {
	TenantID string `yaml:"tenant_id" rotor:"required"`
	ClientID string `yaml:"client_id" rotor:"required"`
}

// GCPServiceAccountIdentity is a Google service account.
type GCPServiceAccountIdentity struct {
	Email string `yaml:"email" rotor:"required"`
}

// GitHubActionsOIDCIdentity is a workflow's OIDC identity.
type GitHubActionsOIDCIdentity struct {
	Repository  string `yaml:"repository" rotor:"required"`
	Environment string `yaml:"environment"`
}

// GitLabCIJobIdentity is a CI job's identity.
type GitLabCIJobIdentity struct {
	Project string `yaml:"project" rotor:"required"`
}

// PostgresDSNIdentity is a database connection whose DSN is in an environment variable.
type PostgresDSNIdentity struct {
	DSNEnv string `yaml:"dsn_env" rotor:"required"`
}

// ExternalIdentity is a party outside the platform (a SaaS vendor, a partner).
type ExternalIdentity struct {
	Party   string `yaml:"party" rotor:"required"`
	Contact string `yaml:"contact"`
}
