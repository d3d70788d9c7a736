package builtin

import (
	"github.com/rotorhq/rotor/internal/store/file"
	"github.com/rotorhq/rotor/internal/store/pemfiles"
)

var stores = map[string]func() any{
	"file":                mk[file.Config](),
	"vault-kv":            mk[VaultKVStore](),
	"azure-keyvault":      mk[AzureKeyVaultStore](),
	"aws-secrets-manager": mk[AWSSecretsManagerStore](),
	"gcp-secret-manager":  mk[GCPSecretManagerStore](),
	"kubernetes-secret":   mk[KubernetesSecretStore](),
	"sops":                mk[SOPSStore](),
	"github-actions":      mk[GitHubActionsStore](),
	"gitlab-ci":           mk[GitLabCIStore](),
	"pem-files":           mk[pemfiles.Config](),
}

// VaultKVStore is a Vault or OpenBao KV version 2 secret.
type VaultKVStore struct {
	Address   string `yaml:"address" doc:"Server address (default: VAULT_ADDR)."`
	Namespace string `yaml:"namespace" doc:"Enterprise/OpenBao namespace."`
	Mount     string `yaml:"mount" rotor:"required" doc:"KV v2 mount path."`
	Path      string `yaml:"path" rotor:"required" doc:"Secret path under the mount."`
	Field     string `yaml:"field" doc:"Key inside the secret's data (default: value)."`
}

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

// SOPSStore is one key of a SOPS-encrypted file kept in git.
type SOPSStore struct {
	Path string `yaml:"path" rotor:"required" doc:"The encrypted file."`
	Key  string `yaml:"key" rotor:"required" doc:"Dotted path of the value inside the document."`
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
