package builtin

import (
	checkexec "github.com/rotorhq/rotor/internal/check/exec"
	checkhttp "github.com/rotorhq/rotor/internal/check/http"
	checklog "github.com/rotorhq/rotor/internal/check/log"
	"github.com/rotorhq/rotor/internal/check/pglogin"
	checkpromql "github.com/rotorhq/rotor/internal/check/promql"
	"time"
)

var checks = map[string]func() any{
	"http":           mk[checkhttp.Config](),
	"exec":           mk[checkexec.Config](),
	"log":            mk[checklog.Config](),
	"tls":            mk[TLSCheck](),
	"promql":         mk[checkpromql.Config](),
	"postgres-login": mk[pglogin.Config](),
	"logsql":         mk[LogsQLCheck](),
	"loki":           mk[LokiCheck](),
	"kql":            mk[KQLCheck](),
}

// TLSCheck reads the certificate an endpoint serves.
type TLSCheck struct {
	Address    string `yaml:"address" rotor:"required" doc:"host:port"`
	ServerName string `yaml:"server_name" doc:"SNI (default: the host)."`
	CAFile     string `yaml:"ca_file" doc:"Trust bundle the chain must verify against."`
	Expect     string `yaml:"expect" rotor:"enum=current|previous" doc:"Which version must be served (default current)."`
}

// LogsQLCheck queries VictoriaLogs.
type LogsQLCheck struct {
	URL   string `yaml:"url" rotor:"required"`
	Query string `yaml:"query" rotor:"required"`
	Max   int    `yaml:"max"`
}

// LokiCheck runs a LogQL metric query against Loki's HTTP API.
type LokiCheck struct {
	URL   string  `yaml:"url" rotor:"required"`
	Query string  `yaml:"query" rotor:"required"`
	Max   float64 `yaml:"max"`
}

// KQLCheck queries an Azure Monitor Log Analytics workspace.
type KQLCheck struct {
	WorkspaceID string        `yaml:"workspace_id" rotor:"required"`
	Table       string        `yaml:"table" rotor:"required" doc:"e.g. AppServiceHTTPLogs"`
	Status      []int         `yaml:"status" doc:"ScStatus values that count."`
	By          []string      `yaml:"by" doc:"Columns to group by (CsHost, CsUriStem, ScStatus)."`
	Bin         time.Duration `yaml:"bin" doc:"Default 5m."`
	Max         int           `yaml:"max"`
}
