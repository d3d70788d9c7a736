package builtin

import "github.com/rotorhq/rotor/internal/provider"

var reloads = map[string]func() any{
	"exec":               mk[ExecReload](),
	"signal":             mk[SignalReload](),
	"http":               mk[HTTPReload](),
	"nginx":              mk[NginxReload](),
	"systemd":            mk[SystemdReload](),
	"kubernetes-rollout": mk[KubernetesRolloutReload](),
	"manual":             mk[ManualReload](),
}

// ExecReload runs a command (argv, no shell).
type ExecReload struct {
	Command []string          `yaml:"command" rotor:"required" doc:"Program and arguments; no shell is involved."`
	Dir     string            `yaml:"dir"`
	Env     map[string]string `yaml:"env" doc:"Extra environment (names of values, never values themselves)."`
}

func (e *ExecReload) Validate() []provider.FieldError {
	if len(e.Command) == 0 || e.Command[0] == "" {
		return []provider.FieldError{{Field: "command", Msg: "needs a program to run"}}
	}
	return nil
}

// SignalReload signals the process whose pid is in a file.
type SignalReload struct {
	PIDFile string `yaml:"pid_file" rotor:"required"`
	Signal  string `yaml:"signal" rotor:"enum=HUP|USR1|USR2|TERM" doc:"Default HUP."`
}

// HTTPReload calls an admin endpoint.
type HTTPReload struct {
	URL          string `yaml:"url" rotor:"required"`
	Method       string `yaml:"method" rotor:"enum=GET|POST|PUT" doc:"Default POST."`
	ExpectStatus int    `yaml:"expect_status" doc:"Default 200."`
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
