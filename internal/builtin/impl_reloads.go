package builtin

import (
	"github.com/rotorhq/rotor/internal/provider"
	reloadexec "github.com/rotorhq/rotor/internal/reload/exec"
	reloadhttp "github.com/rotorhq/rotor/internal/reload/http"
	"github.com/rotorhq/rotor/internal/reload/nginx"
	"github.com/rotorhq/rotor/internal/reload/signal"
)

// reloadImpls lists the reloads that can run.
var reloadImpls = map[string]ReloadFactory{
	"exec": func(cfg any, env provider.Env) (provider.Reloader, error) {
		c, err := configAs[reloadexec.Config](provider.KindReload, "exec", cfg)
		if err != nil {
			return nil, err
		}
		return reloadexec.New(c, env)
	},
	"signal": func(cfg any, env provider.Env) (provider.Reloader, error) {
		c, err := configAs[signal.Config](provider.KindReload, "signal", cfg)
		if err != nil {
			return nil, err
		}
		return signal.New(c, env)
	},
	"http": func(cfg any, env provider.Env) (provider.Reloader, error) {
		c, err := configAs[reloadhttp.Config](provider.KindReload, "http", cfg)
		if err != nil {
			return nil, err
		}
		return reloadhttp.New(c, env)
	},
	"nginx": func(cfg any, env provider.Env) (provider.Reloader, error) {
		c, err := configAs[nginx.Config](provider.KindReload, "nginx", cfg)
		if err != nil {
			return nil, err
		}
		return nginx.New(c, env)
	},
}
