package builtin

import (
	"fmt"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/store/file"
	"github.com/rotorhq/rotor/internal/store/pemfiles"
)

// storeImpls lists the stores that can run.
var storeImpls = map[string]StoreFactory{
	"file": func(cfg any, env provider.Env) (provider.Store, error) {
		c, err := configAs[file.Config](provider.KindStore, "file", cfg)
		if err != nil {
			return nil, err
		}
		s, err := file.New(*c, env)
		if err != nil {
			return nil, err
		}
		return s, nil
	},
	"pem-files": func(cfg any, env provider.Env) (provider.Store, error) {
		c, err := configAs[pemfiles.Config](provider.KindStore, "pem-files", cfg)
		if err != nil {
			return nil, err
		}
		s, err := pemfiles.New(*c, env)
		if err != nil {
			return nil, err
		}
		return s, nil
	},
}

// configAs asserts the config the catalog made for a provider type. A mismatch is a bug in
// the caller, said plainly rather than panicking.
func configAs[T any](kind provider.Kind, typ string, cfg any) (*T, error) {
	c, ok := cfg.(*T)
	if !ok || c == nil {
		var want *T
		return nil, fmt.Errorf("%s type %q: config is %T, want %T", kind, typ, cfg, want)
	}
	return c, nil
}
