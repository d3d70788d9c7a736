package inventory_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/inventory"
)

// Notifications are validated whole: url or url_env (one of them), an http(s) URL that is
// never echoed, known events, signing only for webhooks, and credentials naming only
// notifications that exist.
func TestNotificationsValidated(t *testing.T) {
	dir := t.TempDir()
	yaml := `notifications:
  a: {type: webhook, events: [all]}
  b: {type: slack, url: "ftp://SECRETHOST/x", url_env: B_URL, events: [rollback]}
  c: {type: slack, url_env: C_URL, secret_env: C_KEY, events: [gate-blocked, nope]}
  ok: {type: webhook, url: "https://hooks.example.test/rotor", secret_env: K, events: [all], timeout: 5s}
teams:
  t: {}
credentials:
  x:
    owner: t
    store: {type: file, dir: store}
    authority: {type: generated}
    notify: [ok, missing]
`
	if err := os.WriteFile(filepath.Join(dir, "i.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := inventory.Load(dir, inventory.Options{Catalog: builtin.New(), Now: time.Now()})
	if err == nil {
		t.Fatal("invalid notifications loaded")
	}
	msg := err.Error()
	for _, want := range []string{"notifications.a: set url, or url_env", "notifications.b: set url or url_env, not both",
		"notifications.c.secret_env: Slack does not check signatures", `"nope" is not one of`, `credentials.x.notify: unknown notification "missing"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "SECRETHOST") {
		t.Errorf("a URL is echoed:\n%s", msg)
	}
}
