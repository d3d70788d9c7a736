package builtin

import (
	reloadexec "github.com/rotorhq/rotor/internal/reload/exec"
	reloadhttp "github.com/rotorhq/rotor/internal/reload/http"
	"github.com/rotorhq/rotor/internal/reload/nginx"
	"github.com/rotorhq/rotor/internal/reload/signal"
)

var reloads = map[string]func() any{
	"exec":               mk[reloadexec.Config](),
	"signal":             mk[signal.Config](),
	"http":               mk[reloadhttp.Config](),
	"nginx":              mk[nginx.Config](),
	"systemd":            mk[SystemdReload](),
	"kubernetes-rollout": mk[KubernetesRolloutReload](),
	"manual":             mk[ManualReload](),
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
