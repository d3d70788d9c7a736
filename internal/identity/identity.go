// Package identity declares the configurations of the identities an inventory names — who
// acts: the executor that writes stores and authorities, and the identity each consumer reads
// with. Stores and authorities that can act as an identity (decrypt as it, log in as it)
// assert these types; the package depends on the provider contracts only, so that every
// provider may import it.
package identity

import "github.com/rotorhq/rotor/internal/provider"

// Age reads the file store with an age X25519 identity.
type Age struct {
	Recipient    string `yaml:"recipient" rotor:"required" doc:"age1… public key: new versions are encrypted to it."`
	IdentityFile string `yaml:"identity_file" doc:"Private key file, for proving readiness as this identity."`
}

// OSUser is a local system user.
type OSUser struct {
	User string `yaml:"user" rotor:"required"`
}

// VaultAppRole logs in to Vault/OpenBao with an AppRole (auth/MOUNT/login): its role_id and
// secret_id come from the environment or from files (a file written by an orchestrator,
// such as Vault Agent's or a Kubernetes Secret's), never from the inventory.
type VaultAppRole struct {
	Role         string `yaml:"role" rotor:"required" doc:"The AppRole's name, for people (login uses role_id)."`
	Mount        string `yaml:"mount" doc:"Mount path of the AppRole auth method (default approle)."`
	Namespace    string `yaml:"namespace" doc:"Namespace of the auth mount, when it is not the secret's (Vault Enterprise, OpenBao)."`
	RoleIDEnv    string `yaml:"role_id_env" doc:"Environment variable holding the role_id."`
	RoleIDFile   string `yaml:"role_id_file" doc:"File holding the role_id."`
	SecretIDEnv  string `yaml:"secret_id_env" doc:"Environment variable holding the secret_id."`
	SecretIDFile string `yaml:"secret_id_file" doc:"File holding the secret_id (omit both for a role that binds no secret_id)."`
}

// Validate implements provider.ConfigValidator.
func (c *VaultAppRole) Validate() []provider.FieldError {
	var out []provider.FieldError
	switch {
	case c.RoleIDEnv == "" && c.RoleIDFile == "":
		out = append(out, provider.FieldError{Field: "role_id_env", Msg: "set role_id_env or role_id_file: AppRole logs in with the role_id"})
	case c.RoleIDEnv != "" && c.RoleIDFile != "":
		out = append(out, provider.FieldError{Field: "role_id_file", Msg: "set either role_id_env or role_id_file, not both"})
	}
	if c.SecretIDEnv != "" && c.SecretIDFile != "" {
		out = append(out, provider.FieldError{Field: "secret_id_file", Msg: "set either secret_id_env or secret_id_file, not both"})
	}
	return out
}

// VaultToken uses a Vault/OpenBao token from the environment or from a file (Vault Agent's
// sink, for example).
type VaultToken struct {
	TokenEnv  string `yaml:"token_env" doc:"Environment variable holding the token."`
	TokenFile string `yaml:"token_file" doc:"File holding the token."`
}

// Validate implements provider.ConfigValidator.
func (c *VaultToken) Validate() []provider.FieldError {
	switch {
	case c.TokenEnv == "" && c.TokenFile == "":
		return []provider.FieldError{{Field: "token_env", Msg: "set token_env or token_file"}}
	case c.TokenEnv != "" && c.TokenFile != "":
		return []provider.FieldError{{Field: "token_file", Msg: "set either token_env or token_file, not both"}}
	}
	return nil
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

// MySQLDSN is a MySQL or MariaDB connection whose DSN (go-sql-driver/mysql's
// user:password@tcp(host:port)/ form) is in an environment variable.
type MySQLDSN struct {
	DSNEnv string `yaml:"dsn_env" rotor:"required"`
}

// External is a party outside the platform (a SaaS vendor, a partner).
type External struct {
	Party   string `yaml:"party" rotor:"required"`
	Contact string `yaml:"contact"`
}
