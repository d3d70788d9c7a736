package inventory

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// SchemaID is the $id of the generated schema.
const SchemaID = "https://github.com/rotorhq/rotor/schema/inventory.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of one inventory file, generated from the
// same struct tags the loader decodes with. Provider-specific keys come from the catalog:
// each provider type adds an if/then branch on its `type`.
//
// The schema checks shape, not meaning: references, windows that never open and policies
// that cannot be met are for `rotor validate`.
func Schema(cat Catalog) ([]byte, error) {
	g := &schemaGen{cat: cat, defs: map[string]any{}}
	root := g.object(reflect.TypeFor[fragment]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "rotor inventory"
	root["description"] = "One file of a rotor inventory: rotation as code. See DOMAIN.md for the words."
	root["$defs"] = g.defs
	if g.err != nil {
		return nil, g.err
	}
	return json.MarshalIndent(root, "", "  ")
}

type schemaGen struct {
	cat  Catalog
	defs map[string]any
	err  error // the first config whose key its block hides (see collision)
}

func (g *schemaGen) of(t reflect.Type, f *fieldInfo) map[string]any {
	var s map[string]any
	switch {
	case t == durationType:
		s = (*Duration)(nil).schemaOf()
	case reflect.PointerTo(t).Implements(scalarType):
		s = reflect.New(t).Interface().(scalarDecoder).schemaOf()
	case t.Kind() == reflect.Pointer:
		return g.of(t.Elem(), f)
	case t.Kind() == reflect.Struct:
		s = g.ref(t)
	case t.Kind() == reflect.Slice && f != nil && f.keyed:
		s = map[string]any{"type": "object", "propertyNames": map[string]any{"pattern": idPattern.String()},
			"additionalProperties": g.ref(t.Elem().Elem())}
	case t.Kind() == reflect.Slice:
		s = map[string]any{"type": "array", "items": g.of(t.Elem(), nil)}
	case t.Kind() == reflect.Map:
		s = map[string]any{"type": "object", "additionalProperties": g.of(t.Elem(), nil)}
	case t.Kind() == reflect.String:
		s = map[string]any{"type": "string"}
		if f != nil && f.enum != nil {
			s["enum"] = f.enum
		}
		if f != nil && f.ref != "" {
			s["description"] = "Name of a " + f.ref + "."
		}
	case t.Kind() == reflect.Bool:
		s = map[string]any{"type": "boolean"}
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64 || t.Kind() == reflect.Int32:
		s = map[string]any{"type": "integer"}
	case t.Kind() == reflect.Float64:
		s = map[string]any{"type": "number"}
	default:
		panic("inventory: no schema for " + t.String())
	}
	if f != nil && f.doc != "" {
		if _, isRef := s["$ref"]; isRef {
			s = map[string]any{"allOf": []any{s}, "description": f.doc}
		} else {
			s["description"] = f.doc
		}
	}
	return s
}

// ref names a struct in $defs, so recursive and repeated types are written once.
func (g *schemaGen) ref(t reflect.Type) map[string]any {
	name := t.Name()
	if t.PkgPath() != reflect.TypeFor[fragment]().PkgPath() {
		name = strings.ReplaceAll(t.String(), ".", "_")
	}
	if _, done := g.defs[name]; !done {
		g.defs[name] = true // placeholder: stops recursion
		g.defs[name] = g.object(t)
	}
	return map[string]any{"$ref": "#/$defs/" + name}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	si := infoOf(t)
	props := map[string]any{}
	var required []string
	for i := range si.fields {
		f := &si.fields[i]
		if f.provider != "" {
			props[f.key] = map[string]any{"type": "string", "enum": g.cat.Types(f.provider), "description": f.doc}
		} else {
			props[f.key] = g.of(f.typ, f)
		}
		if f.required {
			required = append(required, f.key)
		}
	}
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	if si.config < 0 || si.typeField < 0 {
		s["additionalProperties"] = false
		return s
	}
	// A provider block: one branch per type adds that type's own keys.
	kind := si.fields[si.typeField].provider
	var branches []any
	for _, typ := range g.cat.Types(kind) {
		cfg, _ := g.cat.NewConfig(kind, typ)
		ct := reflect.TypeOf(cfg).Elem()
		if key := collision(t, ct, si, infoOf(ct)); key != "" && g.err == nil {
			g.err = fmt.Errorf("inventory schema: %s", collisionMsg(kind, typ, key))
		}
		then := g.object(ct)
		delete(then, "additionalProperties")
		branches = append(branches, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"type": map[string]any{"const": typ}}, "required": []string{"type"}},
			"then": then,
		})
	}
	s["allOf"] = branches
	s["unevaluatedProperties"] = false
	return s
}
