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
	checktls "github.com/rotorhq/rotor/internal/check/tls"
)

var checks = map[string]func() any{
	"http":           mk[checkhttp.Config](),
	"exec":           mk[checkexec.Config](),
	"log":            mk[checklog.Config](),
	"tls":            mk[checktls.Config](),
	"promql":         mk[checkpromql.Config](),
	"postgres-login": mk[pglogin.Config](),
	"logsql":         mk[checklogsql.Config](),
	"loki":           mk[checkloki.Config](),
	"kql":            mk[checkkql.Config](),
}
