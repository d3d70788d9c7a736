package builtin

import (
	reloadexec "github.com/rotorhq/rotor/internal/reload/exec"
	reloadhttp "github.com/rotorhq/rotor/internal/reload/http"
	"github.com/rotorhq/rotor/internal/reload/signal"
)

var reloads = map[string]func() any{
	"exec":               mk[reloadexec.Config](),
	"signal":             mk[signal.Config](),
	"http":               mk[reloadhttp.Config](),
	"nginx":              mk[NginxReload](),
	"systemd":            mk[SystemdReload](),
	"kubernetes-rollout": mk[KubernetesRolloutReload](),
	"manual":             mk[ManualReload](),
}

// NginxReload tests the configuration, then reloads nginx.
type NginxReload struct {
	Binary  string `yaml:"binary" doc:"Default nginx."`
	Config  string `yaml:"config" doc:"nginx.conf path passed to -c."`
	Prefix  string `yaml:"prefix" doc:"Prefix passed to -p."`
	PIDFile string `yaml:"pid_file" doc:"Signal this master pid instead of running nginx -s reload."`
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
