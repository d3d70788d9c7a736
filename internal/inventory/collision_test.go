package inventory_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/provider"
)

// yamlKeys maps the YAML keys of a struct's fields to the fields' names, as the decoder
// reads them: the yaml tag's name, or the lower-cased field name when the tag gives none;
// "-" is not a key.
func yamlKeys(t reflect.Type) map[string]string {
	keys := map[string]string{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		keys[name] = f.Name
	}
	return keys
}

// No provider's config has a key of the block it is written in: the block decodes its own
// keys first, so such a key would silently never reach the provider (a check's `timeout`
// once meant the block's bound, and the loki, logsql and kql checks' own timeout went
// unread). Every registered config of every kind is held to its block.
func TestNoProviderKeyCollidesWithItsBlock(t *testing.T) {
	cat := builtin.New()
	for _, b := range []struct {
		kind  provider.Kind
		block reflect.Type
	}{
		{provider.KindStore, reflect.TypeFor[inventory.Store]()},
		{provider.KindAuthority, reflect.TypeFor[inventory.Authority]()},
		{provider.KindReload, reflect.TypeFor[inventory.Reload]()},
		{provider.KindCheck, reflect.TypeFor[inventory.Check]()},
		{provider.KindIdentity, reflect.TypeFor[inventory.Identity]()},
	} {
		kind, block := b.kind, b.block
		own := yamlKeys(block)
		types := cat.Types(kind)
		if len(types) == 0 {
			t.Errorf("the catalog has no %s type: is the kind still %q?", kind, kind)
		}
		for _, typ := range types {
			cfg, ok := cat.NewConfig(kind, typ)
			if !ok {
				t.Errorf("%s %q is listed by Types but NewConfig has no config for it", kind, typ)
				continue
			}
			ct := reflect.TypeOf(cfg)
			if ct.Kind() != reflect.Pointer || ct.Elem().Kind() != reflect.Struct {
				t.Errorf("%s %q: config is a %s, not a pointer to a struct", kind, typ, ct)
				continue
			}
			for key, field := range yamlKeys(ct.Elem()) {
				if blockField, clash := own[key]; clash {
					t.Errorf("%s type %q: config field %s.%s has key %q, which is the %s block's own (inventory.%s.%s): the provider would never see it",
						kind, typ, ct.Elem(), field, key, kind, block.Name(), blockField)
				}
			}
		}
	}
}
