package builtin

import (
	checkexec "github.com/rotorhq/rotor/internal/check/exec"
	checkhttp "github.com/rotorhq/rotor/internal/check/http"
	checkkql "github.com/rotorhq/rotor/internal/check/kql"
	checklog "github.com/rotorhq/rotor/internal/check/log"
	checklogsql "github.com/rotorhq/rotor/internal/check/logsql"
	checkloki "github.com/rotorhq/rotor/internal/check/loki"
	"github.com/rotorhq/rotor/internal/check/pglogin"
	checkpromql "github.com/rotorhq/rotor/internal/check/promql"
)

var checks = map[string]func() any{
	"http":           mk[checkhttp.Config](),
	"exec":           mk[checkexec.Config](),
	"log":            mk[checklog.Config](),
	"tls":            mk[TLSCheck](),
	"promql":         mk[checkpromql.Config](),
	"postgres-login": mk[pglogin.Config](),
	"logsql":         mk[checklogsql.Config](),
	"loki":           mk[checkloki.Config](),
	"kql":            mk[checkkql.Config](),
}

// TLSCheck reads the certificate an endpoint serves.
type TLSCheck struct {
	Address    string `yaml:"address" rotor:"required" doc:"host:port"`
	ServerName string `yaml:"server_name" doc:"SNI (default: the host)."`
	CAFile     string `yaml:"ca_file" doc:"Trust bundle the chain must verify against."`
	Expect     string `yaml:"expect" rotor:"enum=current|previous" doc:"Which version must be served (default current)."`
}
