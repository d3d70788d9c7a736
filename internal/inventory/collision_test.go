package inventory_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

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

// hidingCheck is a check config written the way the loki check once was: with a key of its
// own that the check block already has.
type hidingCheck struct {
	URL     string        `yaml:"url"`
	Timeout time.Duration `yaml:"timeout"`
}

// oneCheck is a catalog with one check type, "slow", whose config is hidingCheck.
type oneCheck struct{}

func (oneCheck) NewConfig(kind provider.Kind, typ string) (any, bool) {
	if kind == provider.KindCheck && typ == "slow" {
		return new(hidingCheck), true
	}
	return nil, false
}

func (oneCheck) Types(kind provider.Kind) []string {
	if kind == provider.KindCheck {
		return []string{"slow"}
	}
	return nil
}

// A provider config that has a key of its block is refused loudly — where its type is named,
// and by the schema generator — instead of never receiving that key's value.
func TestConfigKeyHiddenByItsBlock(t *testing.T) {
	dir := write(t, map[string]string{"checks.yaml": "checks:\n  a: {type: slow, url: http://x, timeout: 90s}\n  b:\n    type: slow\n"})
	p := filepath.Join(dir, "checks.yaml")
	_, err := inventory.Load(dir, inventory.Options{Catalog: oneCheck{}, Now: now})
	var got []string
	for _, e := range errorList(t, err) {
		got = append(got, e.Error())
	}
	msg := `check type "slow" has a key "timeout" of its own, which is also a key of the check block: the block's would hide it; this is a bug in rotor, not in the inventory`
	want := []string{
		p + ":2:13: checks.a.type: " + msg,
		p + ":4:11: checks.b.type: " + msg,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if _, err := inventory.Schema(oneCheck{}); err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("Schema = %v, want an error saying %s", err, msg)
	}
}
