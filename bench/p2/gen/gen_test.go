package gen

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/inventory"
)

// now is the instant the loader judges windows from; fixed so the test means the same thing
// every day.
var now = time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)

// TestGeneratedInventoryIsValid loads a generated inventory with rotor's own loader and the
// built-in catalog: a benchmark input that fails validation would measure an early exit.
// 2,500 credentials in files of 1,000 also covers a partial last file.
func TestGeneratedInventoryIsValid(t *testing.T) {
	dir := t.TempDir()
	st, err := Generate(dir, Options{Credentials: 2500})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 4 || st.Credentials != 2500 || st.Consumers != 5*2500 {
		t.Errorf("stats = %+v, want 4 files (shared + 3), 2500 credentials, 12500 consumers", st)
	}
	inv, err := inventory.Load(dir, inventory.Options{Catalog: builtin.New(), Now: now})
	if err != nil {
		if list, ok := err.(inventory.ErrorList); ok && len(list) > 20 {
			err = append(list[:20:20], inventory.Error{Msg: "…"})
		}
		t.Fatalf("generated inventory does not validate:\n%v", err)
	}
	consumers := 0
	kinds := map[string]int{}
	for _, c := range inv.Credentials {
		consumers += len(c.Consumers)
		for _, k := range c.Consumers {
			kinds[k.Kind]++
		}
	}
	if len(inv.Credentials) != 2500 || consumers != 12500 {
		t.Errorf("loaded %d credentials, %d consumers; want 2500, 12500", len(inv.Credentials), consumers)
	}
	for _, k := range []string{"service", "job", "pipeline", "script", "integration"} {
		if kinds[k] < 500 {
			t.Errorf("only %d consumers of kind %s: the mix is not realistic (%v)", kinds[k], k, kinds)
		}
	}
}

// TestDeterministic: the same options give byte-identical files, whatever the scheduling of
// the writers.
func TestDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if _, err := Generate(d, Options{Credentials: 3000, PerFile: 700}); err != nil {
			t.Fatal(err)
		}
	}
	files := 0
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		rel, _ := filepath.Rel(a, p)
		x, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two generations", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 6 {
		t.Errorf("%d files, want 6 (shared + 5 of 700)", files)
	}
	// A different seed gives a different inventory.
	c := t.TempDir()
	if _, err := Generate(c, Options{Credentials: 3000, PerFile: 700, Seed: 42}); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(filepath.Join(a, "rotor.yaml"))
	y, _ := os.ReadFile(filepath.Join(c, "rotor.yaml"))
	if bytes.Equal(x, y) {
		t.Error("seed 42 gave the same shared file as the default seed")
	}
}
