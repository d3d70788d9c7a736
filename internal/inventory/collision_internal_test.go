package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

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
	dir := t.TempDir()
	p := filepath.Join(dir, "checks.yaml")
	doc := "checks:\n  a: {type: slow, url: http://x, timeout: 90s}\n  b:\n    type: slow\n"
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir, Options{Catalog: oneCheck{}, Now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)})
	var got []string
	for _, e := range errorListOf(t, err) {
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

	if _, err := Schema(oneCheck{}); err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("Schema = %v, want an error saying %s", err, msg)
	}
}

func errorListOf(t *testing.T, err error) ErrorList {
	t.Helper()
	list, ok := err.(ErrorList)
	if !ok {
		t.Fatalf("want an ErrorList, got %v", err)
	}
	return list
}
