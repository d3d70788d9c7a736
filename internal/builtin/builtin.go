// Package builtin is the explicit list of every provider type rotor knows — stores,
// authorities, reloads, checks and identities — as one provider.Registry.
//
// Only the composition roots (internal/cli, and tests and benchmarks that run rotor whole)
// import it: they call New once and hand the registry down to the inventory loader, the
// engine and the read-only views. It is the one list that `rotor validate` and a real run
// share, so a key that validates is a key the provider reads.
//
// A type is either registered with its builder (it runs) or declared with its config only (it
// validates; `rotor validate` warns that it cannot run, and readiness refuses it). The configs
// of declared provider types live in declared.go until their implementation lands in a
// package of its own.
package builtin

import (
	acmeauthority "github.com/rotorhq/rotor/internal/authority/acme"
	mysqlauthority "github.com/rotorhq/rotor/internal/authority/mysql"
	natsauthority "github.com/rotorhq/rotor/internal/authority/nats"
	pgauthority "github.com/rotorhq/rotor/internal/authority/postgres"
	"github.com/rotorhq/rotor/internal/authority/randomvalue"
	redisauthority "github.com/rotorhq/rotor/internal/authority/redis"
	webhookauthority "github.com/rotorhq/rotor/internal/authority/webhook"
	"github.com/rotorhq/rotor/internal/authority/x509ca"
	checkexec "github.com/rotorhq/rotor/internal/check/exec"
	checkhttp "github.com/rotorhq/rotor/internal/check/http"
	checkkql "github.com/rotorhq/rotor/internal/check/kql"
	checklog "github.com/rotorhq/rotor/internal/check/log"
	checklogsql "github.com/rotorhq/rotor/internal/check/logsql"
	checkloki "github.com/rotorhq/rotor/internal/check/loki"
	"github.com/rotorhq/rotor/internal/check/pglogin"
	checkpromql "github.com/rotorhq/rotor/internal/check/promql"
	checktls "github.com/rotorhq/rotor/internal/check/tls"
	checkwebhook "github.com/rotorhq/rotor/internal/check/webhook"
	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	reloadexec "github.com/rotorhq/rotor/internal/reload/exec"
	reloadhttp "github.com/rotorhq/rotor/internal/reload/http"
	"github.com/rotorhq/rotor/internal/reload/nginx"
	"github.com/rotorhq/rotor/internal/reload/signal"
	"github.com/rotorhq/rotor/internal/store/file"
	"github.com/rotorhq/rotor/internal/store/pemfiles"
	sopsstore "github.com/rotorhq/rotor/internal/store/sops"
	"github.com/rotorhq/rotor/internal/store/vaultkv"
)

// New returns the registry of every built-in provider type.
func New() *provider.Registry {
	r := provider.NewRegistry()

	provider.RegisterStore(r, "file", provider.ByValue(file.New))
	provider.RegisterStore(r, "pem-files", provider.ByValue(pemfiles.New))
	provider.RegisterStore(r, "vault-kv", provider.ByValue(vaultkv.New))
	provider.Declare[AzureKeyVaultStore](r, provider.KindStore, "azure-keyvault")
	provider.Declare[AWSSecretsManagerStore](r, provider.KindStore, "aws-secrets-manager")
	provider.Declare[GCPSecretManagerStore](r, provider.KindStore, "gcp-secret-manager")
	provider.Declare[KubernetesSecretStore](r, provider.KindStore, "kubernetes-secret")
	provider.RegisterStore(r, "sops", provider.ByValue(sopsstore.New))
	provider.Declare[GitHubActionsStore](r, provider.KindStore, "github-actions")
	provider.Declare[GitLabCIStore](r, provider.KindStore, "gitlab-ci")

	provider.RegisterAuthority(r, "generated", provider.ByValue(randomvalue.New))
	provider.RegisterAuthority(r, "none", provider.ByValue(randomvalue.NewNone))
	provider.RegisterAuthority(r, "postgres", provider.ByValue(pgauthority.New))
	provider.RegisterAuthority(r, "mysql", provider.ByValue(mysqlauthority.New))
	provider.RegisterAuthority(r, "x509-ca", provider.ByValue(x509ca.New))
	provider.RegisterAuthority(r, "acme", provider.ByValue(acmeauthority.New))
	provider.RegisterAuthority(r, "webhook", provider.ByValue(webhookauthority.New))
	provider.Declare[ManualAuthority](r, provider.KindAuthority, "manual")
	provider.RegisterAuthority(r, "redis", provider.ByValue(redisauthority.New))
	provider.RegisterAuthority(r, "nats", provider.ByValue(natsauthority.New))
	provider.Declare[RabbitMQAuthority](r, provider.KindAuthority, "rabbitmq")
	provider.Declare[EntraAppAuthority](r, provider.KindAuthority, "entra-app")
	provider.Declare[AWSIAMAuthority](r, provider.KindAuthority, "aws-iam")

	provider.RegisterReload(r, "exec", reloadexec.New)
	provider.RegisterReload(r, "signal", signal.New)
	provider.RegisterReload(r, "http", reloadhttp.New)
	provider.RegisterReload(r, "nginx", nginx.New)
	provider.Declare[SystemdReload](r, provider.KindReload, "systemd")
	provider.Declare[KubernetesRolloutReload](r, provider.KindReload, "kubernetes-rollout")
	provider.Declare[ManualReload](r, provider.KindReload, "manual")

	provider.RegisterCheck(r, "http", checkhttp.New)
	provider.RegisterCheck(r, "exec", checkexec.New)
	provider.RegisterCheck(r, "log", checklog.New)
	provider.RegisterCheck(r, "tls", checktls.New)
	provider.RegisterCheck(r, "promql", checkpromql.New)
	provider.RegisterCheck(r, "postgres-login", pglogin.New)
	provider.RegisterCheck(r, "logsql", checklogsql.New)
	provider.RegisterCheck(r, "loki", checkloki.New)
	provider.RegisterCheck(r, "kql", checkkql.New)
	provider.RegisterCheck(r, "webhook-test", checkwebhook.New)

	// Identities are configs that stores, authorities and checks read; none is built alone.
	provider.Declare[identity.Age](r, provider.KindIdentity, "age")
	provider.Declare[identity.OSUser](r, provider.KindIdentity, "os-user")
	provider.Declare[identity.VaultAppRole](r, provider.KindIdentity, "vault-approle")
	provider.Declare[identity.VaultToken](r, provider.KindIdentity, "vault-token")
	provider.Declare[identity.KubernetesServiceAccount](r, provider.KindIdentity, "kubernetes-service-account")
	provider.Declare[identity.AWSRole](r, provider.KindIdentity, "aws-role")
	provider.Declare[identity.AzureManaged](r, provider.KindIdentity, "azure-managed-identity")
	provider.Declare[identity.AzureServicePrincipal](r, provider.KindIdentity, "azure-service-principal")
	provider.Declare[identity.GCPServiceAccount](r, provider.KindIdentity, "gcp-service-account")
	provider.Declare[identity.GitHubActionsOIDC](r, provider.KindIdentity, "github-actions-oidc")
	provider.Declare[identity.GitLabCIJob](r, provider.KindIdentity, "gitlab-ci-job")
	provider.Declare[identity.PostgresDSN](r, provider.KindIdentity, "postgres-dsn")
	provider.Declare[identity.MySQLDSN](r, provider.KindIdentity, "mysql-dsn")
	provider.Declare[identity.External](r, provider.KindIdentity, "external")
	return r
}
