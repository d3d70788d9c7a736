// Package builtin is the explicit list of every provider type rotor knows — stores,
// authorities, reloads, checks and identities — with the configuration each one accepts.
//
// It is the one registry that `rotor validate` and a real run share, so a key that validates
// is a key the provider reads. The configs of provider types whose implementation has not
// landed yet are declared here so inventories can be written and validated today; as each
// provider is implemented, its config moves into its own package and is listed from there.
package builtin

import (
	"slices"

	"github.com/rotorhq/rotor/internal/provider"
)

// Catalog maps provider types to their configs. The zero value is not usable; call New.
type Catalog struct {
	types map[provider.Kind]map[string]func() any
}

// New returns the catalog of every built-in provider type.
func New() *Catalog {
	c := &Catalog{types: map[provider.Kind]map[string]func() any{}}
	add := func(k provider.Kind, name string, f func() any) {
		if c.types[k] == nil {
			c.types[k] = map[string]func() any{}
		}
		c.types[k][name] = f
	}
	for name, f := range stores {
		add(provider.KindStore, name, f)
	}
	for name, f := range authorities {
		add(provider.KindAuthority, name, f)
	}
	for name, f := range reloads {
		add(provider.KindReload, name, f)
	}
	for name, f := range checks {
		add(provider.KindCheck, name, f)
	}
	for name, f := range identities {
		add(provider.KindIdentity, name, f)
	}
	return c
}

// NewConfig returns a pointer to a new zero config for the provider type.
func (c *Catalog) NewConfig(kind provider.Kind, typ string) (any, bool) {
	f, ok := c.types[kind][typ]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Types lists the provider types of a kind, sorted.
func (c *Catalog) Types(kind provider.Kind) []string {
	out := make([]string, 0, len(c.types[kind]))
	for name := range c.types[kind] {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Kinds lists the provider kinds, in the order the schema documents them.
func (c *Catalog) Kinds() []provider.Kind {
	return []provider.Kind{provider.KindStore, provider.KindAuthority, provider.KindReload, provider.KindCheck, provider.KindIdentity}
}

func mk[T any]() func() any { return func() any { return new(T) } }
