package builtin

import (
	"fmt"

	"github.com/rotorhq/rotor/internal/provider"
)

// Factories build a provider from its decoded config (a pointer to the type the catalog
// gave for it). A provider type with a config but no factory yet is declared, not
// implemented: the engine refuses to run it, at readiness, and says so.
type (
	StoreFactory     func(cfg any, env provider.Env) (provider.Store, error)
	AuthorityFactory func(cfg any, env provider.Env) (provider.Authority, error)
	ReloadFactory    func(cfg any, env provider.Env) (provider.Reloader, error)
	CheckFactory     func(cfg any, env provider.Env) (provider.Checker, error)
)

// ErrNotImplemented is returned for provider types that are declared but not implemented.
type ErrNotImplemented struct {
	Kind provider.Kind
	Type string
}

func (e *ErrNotImplemented) Error() string {
	return fmt.Sprintf("%s type %q is declared but not implemented in this build yet", e.Kind, e.Type)
}

// Store builds the store of the given type.
func (c *Catalog) Store(typ string, cfg any, env provider.Env) (provider.Store, error) {
	f, ok := storeImpls[typ]
	if !ok {
		return nil, &ErrNotImplemented{provider.KindStore, typ}
	}
	return f(cfg, env)
}

// Authority builds the authority of the given type.
func (c *Catalog) Authority(typ string, cfg any, env provider.Env) (provider.Authority, error) {
	f, ok := authorityImpls[typ]
	if !ok {
		return nil, &ErrNotImplemented{provider.KindAuthority, typ}
	}
	return f(cfg, env)
}

// Reloader builds the reload of the given type.
func (c *Catalog) Reloader(typ string, cfg any, env provider.Env) (provider.Reloader, error) {
	f, ok := reloadImpls[typ]
	if !ok {
		return nil, &ErrNotImplemented{provider.KindReload, typ}
	}
	return f(cfg, env)
}

// Checker builds the check of the given type.
func (c *Catalog) Checker(typ string, cfg any, env provider.Env) (provider.Checker, error) {
	f, ok := checkImpls[typ]
	if !ok {
		return nil, &ErrNotImplemented{provider.KindCheck, typ}
	}
	return f(cfg, env)
}

// Implemented reports whether a provider type can run (not only validate).
func (c *Catalog) Implemented(kind provider.Kind, typ string) bool {
	switch kind {
	case provider.KindStore:
		_, ok := storeImpls[typ]
		return ok
	case provider.KindAuthority:
		_, ok := authorityImpls[typ]
		return ok
	case provider.KindReload:
		_, ok := reloadImpls[typ]
		return ok
	case provider.KindCheck:
		_, ok := checkImpls[typ]
		return ok
	}
	return false
}
