package builtin

import "github.com/rotorhq/rotor/internal/identity"

var identities = map[string]func() any{
	"age":                        mk[identity.Age](),
	"os-user":                    mk[identity.OSUser](),
	"vault-approle":              mk[identity.VaultAppRole](),
	"vault-token":                mk[identity.VaultToken](),
	"kubernetes-service-account": mk[identity.KubernetesServiceAccount](),
	"aws-role":                   mk[identity.AWSRole](),
	"azure-managed-identity":     mk[identity.AzureManaged](),
	"azure-service-principal":    mk[identity.AzureServicePrincipal](),
	"gcp-service-account":        mk[identity.GCPServiceAccount](),
	"github-actions-oidc":        mk[identity.GitHubActionsOIDC](),
	"gitlab-ci-job":              mk[identity.GitLabCIJob](),
	"postgres-dsn":               mk[identity.PostgresDSN](),
	"external":                   mk[identity.External](),
}
