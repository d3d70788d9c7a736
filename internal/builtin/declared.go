package builtin

import "time"

// The configs of provider types that validate but do not run in this build yet (see Declare
// in New). When a type is implemented, its config moves into its own package and New
// registers it from there.

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

// AzureKeyVaultStore is an Azure Key Vault secret.
type AzureKeyVaultStore struct {
	VaultURL string `yaml:"vault_url" rotor:"required" doc:"https://NAME.vault.azure.net"`
	Name     string `yaml:"name" rotor:"required" doc:"Secret name."`
}

// AWSSecretsManagerStore is an AWS Secrets Manager secret.
type AWSSecretsManagerStore struct {
	Region   string `yaml:"region" rotor:"required"`
	SecretID string `yaml:"secret_id" rotor:"required" doc:"Name or ARN."`
}

// GCPSecretManagerStore is a Google Secret Manager secret.
type GCPSecretManagerStore struct {
	Project string `yaml:"project" rotor:"required"`
	Secret  string `yaml:"secret" rotor:"required"`
}

// KubernetesSecretStore is one key of a Kubernetes Secret.
type KubernetesSecretStore struct {
	Context   string `yaml:"context" doc:"kubeconfig context (default: current)."`
	Namespace string `yaml:"namespace" rotor:"required"`
	Name      string `yaml:"name" rotor:"required"`
	Key       string `yaml:"key" rotor:"required"`
}

// GitHubActionsStore is a GitHub Actions secret (repository or environment).
type GitHubActionsStore struct {
	Repository  string `yaml:"repository" rotor:"required" doc:"OWNER/REPO"`
	Environment string `yaml:"environment"`
	Name        string `yaml:"name" rotor:"required"`
}

// GitLabCIStore is a GitLab CI/CD variable.
type GitLabCIStore struct {
	Project          string `yaml:"project" rotor:"required" doc:"Project path or id."`
	Key              string `yaml:"key" rotor:"required"`
	EnvironmentScope string `yaml:"environment_scope" doc:"Default *."`
	Protected        bool   `yaml:"protected"`
	Masked           bool   `yaml:"masked"`
}

// SystemdReload restarts or reloads a unit.
type SystemdReload struct {
	Unit   string `yaml:"unit" rotor:"required"`
	Action string `yaml:"action" rotor:"enum=restart|reload|try-reload-or-restart" doc:"Default restart."`
}

// KubernetesRolloutReload restarts a workload's pods.
type KubernetesRolloutReload struct {
	Context   string `yaml:"context"`
	Namespace string `yaml:"namespace" rotor:"required"`
	Kind      string `yaml:"kind" rotor:"enum=deployment|statefulset|daemonset" doc:"Default deployment."`
	Name      string `yaml:"name" rotor:"required"`
}

// ManualReload is a step a person performs (a vendor portal, a partner's deploy); rotor waits
// for their confirmation.
type ManualReload struct {
	Instructions string `yaml:"instructions" rotor:"required"`
}
