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
	"github.com/rotorhq/rotor/internal/provider"
)

// checkImpls lists the checks that can run.
var checkImpls = map[string]CheckFactory{
	"http": func(cfg any, env provider.Env) (provider.Checker, error) {
		c, err := configAs[checkhttp.Config](provider.KindCheck, "http", cfg)
		if err != nil {
			return nil, err
		}
		return checkhttp.New(c, env)
	},
	"exec": func(cfg any, env provider.Env) (provider.Checker, error) {
		c, err := configAs[checkexec.Config](provider.KindCheck, "exec", cfg)
		if err != nil {
			return nil, err
		}
		return checkexec.New(c, env)
	},
	"log": func(cfg any, env provider.Env) (provider.Checker, error) {
		c, err := configAs[checklog.Config](provider.KindCheck, "log", cfg)
		if err != nil {
			return nil, err
		}
		return checklog.New(c, env)
	},
	"promql": func(cfg any, env provider.Env) (provider.Checker, error) {
		c, err := configAs[checkpromql.Config](provider.KindCheck, "promql", cfg)
		if err != nil {
			return nil, err
		}
		return checkpromql.New(c, env)
	},
	"postgres-login": func(cfg any, env provider.Env) (provider.Checker, error) {
		c, err := configAs[pglogin.Config](provider.KindCheck, "postgres-login", cfg)
		if err != nil {
			return nil, err
		}
		return pglogin.New(c, env)
	},
	"logsql": func(cfg any, env provider.Env) (provider.Checker, error) {
		c, err := configAs[checklogsql.Config](provider.KindCheck, "logsql", cfg)
		if err != nil {
			return nil, err
		}
		return checklogsql.New(c, env)
	},
	"loki": func(cfg any, env provider.Env) (provider.Checker, error) {
		c, err := configAs[checkloki.Config](provider.KindCheck, "loki", cfg)
		if err != nil {
			return nil, err
		}
		return checkloki.New(c, env)
	},
	"kql": func(cfg any, env provider.Env) (provider.Checker, error) {
		c, err := configAs[checkkql.Config](provider.KindCheck, "kql", cfg)
		if err != nil {
			return nil, err
		}
		return checkkql.New(c, env)
	},
	"tls": func(cfg any, env provider.Env) (provider.Checker, error) {
		c, err := configAs[checktls.Config](provider.KindCheck, "tls", cfg)
		if err != nil {
			return nil, err
		}
		return checktls.New(c, env)
	},
}
