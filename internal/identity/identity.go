// Package identity declares the configurations of the identities an inventory names — who
// acts: the executor that writes stores and authorities, and the identity each consumer reads
// with. Stores and authorities that can act as an identity (decrypt as it, log in as it)
// assert these types; the package has no dependencies so that every provider may import it.
package identity

// Age reads the file store with an age X25519 identity.
type Age struct {
	Recipient    string `yaml:"recipient" rotor:"required" doc:"age1… public key: new versions are encrypted to it."`
	IdentityFile string `yaml:"identity_file" doc:"Private key file, for proving readiness as this identity."`
}

// OSUser is a local system user.
type OSUser struct {
	User string `yaml:"user" rotor:"required"`
}

// VaultAppRole logs in to Vault/OpenBao with an AppRole.
type VaultAppRole struct {
	Role        string `yaml:"role" rotor:"required"`
	Mount       string `yaml:"mount" doc:"Default approle."`
	RoleIDEnv   string `yaml:"role_id_env"`
	SecretIDEnv string `yaml:"secret_id_env"`
}

// VaultToken uses a token from the environment.
type VaultToken struct {
	TokenEnv string `yaml:"token_env" rotor:"required"`
}

// KubernetesServiceAccount is a workload's service account.
type KubernetesServiceAccount struct {
	Namespace string `yaml:"namespace" rotor:"required"`
	Name      string `yaml:"name" rotor:"required"`
}

// AWSRole is an IAM role.
type AWSRole struct {
	ARN string `yaml:"arn" rotor:"required"`
}

// AzureManaged is a managed identity.
type AzureManaged struct {
	ClientID string `yaml:"client_id" rotor:"required"`
}

// AzureServicePrincipal is an application identity.
type AzureServicePrincipal struct {
	TenantID string `yaml:"tenant_id" rotor:"required"`
	ClientID string `yaml:"client_id" rotor:"required"`
}

// GCPServiceAccount is a Google service account.
type GCPServiceAccount struct {
	Email string `yaml:"email" rotor:"required"`
}

// GitHubActionsOIDC is a workflow's OIDC identity.
type GitHubActionsOIDC struct {
	Repository  string `yaml:"repository" rotor:"required"`
	Environment string `yaml:"environment"`
}

// GitLabCIJob is a CI job's identity.
type GitLabCIJob struct {
	Project string `yaml:"project" rotor:"required"`
}

// PostgresDSN is a database connection whose DSN is in an environment variable.
type PostgresDSN struct {
	DSNEnv string `yaml:"dsn_env" rotor:"required"`
}

// External is a party outside the platform (a SaaS vendor, a partner).
type External struct {
	Party   string `yaml:"party" rotor:"required"`
	Contact string `yaml:"contact"`
}
