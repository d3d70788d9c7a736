package inventory_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite schema/inventory.schema.json")

const schemaFile = "../../schema/inventory.schema.json"

// The shipped schema is the generated one.
func TestSchemaShippedIsCurrent(t *testing.T) {
	got, err := inventory.Schema(builtin.New())
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(schemaFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./internal/inventory -run TestSchema -update", schemaFile)
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := inventory.Schema(builtin.New())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(inventory.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(inventory.SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// yamlToJSON turns a YAML document into the JSON value a YAML language server validates.
func yamlToJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Every example file is valid against the schema, as the loader says it is.
func TestSchemaAcceptsExamples(t *testing.T) {
	s := compileSchema(t)
	files, _ := filepath.Glob("../../examples/platform/*.yaml")
	more, _ := filepath.Glob("../../examples/platform/*/*.yaml")
	for _, p := range append(files, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(yamlToJSON(t, b)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// The schema rejects what the loader rejects for shape: unknown keys (also a provider's),
// wrong enums, wrong types, missing required keys.
func TestSchemaRejects(t *testing.T) {
	s := compileSchema(t)
	base := "credentials:\n  c:\n    owner: t\n    store: {type: file, dir: /d}\n    authority: {type: generated}\n"
	cases := map[string]string{
		"unknown top key":      "colour: red\n",
		"unknown provider key": strings.Replace(base, "dir: /d", "dir: /d, mount: kv", 1),
		"unknown type":         strings.Replace(base, "type: file", "type: floppy", 1),
		"missing provider key": strings.Replace(base, "dir: /d", "name: x", 1),
		"bad enum":             base + "    consumers: {a: {kind: daemon, reads: at-start}}\n",
		"bad duration":         base + "    soak: 3 days\n",
		"bad name":             strings.Replace(base, "  c:", "  Bad Name:", 1),
		"missing owner":        strings.Replace(base, "    owner: t\n", "", 1),
	}
	if err := s.Validate(yamlToJSON(t, []byte(base))); err != nil {
		t.Fatalf("the base case must be valid: %v", err)
	}
	for name, doc := range cases {
		if err := s.Validate(yamlToJSON(t, []byte(doc))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
