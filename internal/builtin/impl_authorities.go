package builtin

import (
	acmeauthority "github.com/rotorhq/rotor/internal/authority/acme"
	"github.com/rotorhq/rotor/internal/authority/generated"
	pgauthority "github.com/rotorhq/rotor/internal/authority/postgres"
	"github.com/rotorhq/rotor/internal/authority/x509ca"
	"github.com/rotorhq/rotor/internal/provider"
)

// authorityImpls lists the authorities that can run.
var authorityImpls = map[string]AuthorityFactory{
	"generated": func(cfg any, env provider.Env) (provider.Authority, error) {
		c, err := configAs[generated.Config](provider.KindAuthority, "generated", cfg)
		if err != nil {
			return nil, err
		}
		a, err := generated.New(*c, env)
		if err != nil {
			return nil, err
		}
		return a, nil
	},
	"none": func(cfg any, env provider.Env) (provider.Authority, error) {
		c, err := configAs[generated.NoneConfig](provider.KindAuthority, "none", cfg)
		if err != nil {
			return nil, err
		}
		a, err := generated.NewNone(*c, env)
		if err != nil {
			return nil, err
		}
		return a, nil
	},
	"postgres": func(cfg any, env provider.Env) (provider.Authority, error) {
		c, err := configAs[pgauthority.Config](provider.KindAuthority, "postgres", cfg)
		if err != nil {
			return nil, err
		}
		a, err := pgauthority.New(*c, env)
		if err != nil {
			return nil, err
		}
		return a, nil
	},
	"x509-ca": func(cfg any, env provider.Env) (provider.Authority, error) {
		c, err := configAs[x509ca.Config](provider.KindAuthority, "x509-ca", cfg)
		if err != nil {
			return nil, err
		}
		a, err := x509ca.New(*c, env)
		if err != nil {
			return nil, err
		}
		return a, nil
	},
	"acme": func(cfg any, env provider.Env) (provider.Authority, error) {
		c, err := configAs[acmeauthority.Config](provider.KindAuthority, "acme", cfg)
		if err != nil {
			return nil, err
		}
		a, err := acmeauthority.New(*c, env)
		if err != nil {
			return nil, err
		}
		return a, nil
	},
}
