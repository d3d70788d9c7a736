package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/testenv"
)

// TestNoRevokeBeforeAConsumerCanHaveSwitched (issue 12, harm 1): rotate --now proves a
// consumer by its check only once it can have picked up the new value. A partner integration
// that caches the value for 20 s is not proven (and the previous version not revoked) before
// those 20 s have passed; a service that reads at start and has no reload cannot be proven
// by a check at all: revoke waits for its owner's sign-off, named.
func TestNoRevokeBeforeAConsumerCanHaveSwitched(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory")
	rec := testenv.AgeKeys(t, inv, "rotor", "api")
	doc := fmt.Sprintf(`identities:
  rotor: {type: age, recipient: %s, identity_file: keys/rotor.key}
  api: {type: age, recipient: %s, identity_file: keys/api.key}
checks:
  ok: {type: exec, command: ["true"]}
credentials:
  partner-key:
    owner: team-a
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: generated, strategy: overlap}
    consumers:
      partner: {kind: integration, identity: api, reads: cached, ttl: 20s, checks: [ok]}
      legacy: {kind: service, identity: api, reads: at-start, checks: [ok]}
teams:
  team-a: {contact: a@example.test, approvers: [ann]}
`, rec["rotor"], rec["api"])
	if err := os.WriteFile(filepath.Join(inv, "rotor.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "state", "rotor.db")
	now := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	rotor := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := Main(context.Background(), append([]string{"-i", inv, "--db", db}, args...),
			Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }, Now: func() time.Time { return now }})
		return code, out.String()
	}
	status := func() (phase string, next map[string]any) {
		t.Helper()
		code, out := rotor("status", "-o", "json")
		var runs []struct {
			ID    string         `json:"id"`
			Phase string         `json:"phase"`
			Next  map[string]any `json:"next"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &runs) != nil || len(runs) != 1 {
			t.Fatalf("status: exit %d\n%s", code, out)
		}
		return runs[0].Phase, runs[0].Next
	}

	runID := func() string {
		t.Helper()
		code, out := rotor("status", "-o", "json")
		var runs []struct {
			ID string `json:"id"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &runs) != nil || len(runs) != 1 {
			t.Fatalf("status: exit %d\n%s", code, out)
		}
		return runs[0].ID
	}
	// A first rotation, to its end: there is a previous version to revoke from now on.
	if code, out := rotor("rotate", "partner-key", "--now", "--as", "bob"); code != ExitGate {
		t.Fatalf("first rotate: exit %d\n%s", code, out)
	}
	now = now.Add(time.Minute)
	if code, out := rotor("signoff", runID(), "legacy", "--as", "ann", "--reason", "restarted by hand"); code != 0 {
		t.Fatalf("first signoff: exit %d\n%s", code, out)
	}
	if code, out := rotor("rotate", "partner-key", "--as", "bob"); code != 0 {
		t.Fatalf("first rotation's end: exit %d\n%s", code, out)
	}
	now = time.Date(2026, 12, 2, 22, 0, 0, 0, time.UTC)

	code, out := rotor("rotate", "partner-key", "--now", "--as", "bob")
	if code != ExitGate || strings.Contains(out, "→ revoke") {
		t.Fatalf("rotate --now: exit %d, want 3 with no revoke\n%s", code, out)
	}
	for _, want := range []string{"partner (proof after 2026-12-02T22:00:20Z)", "legacy (needs rotor signoff: reads the value at start and has no reload"} {
		if !strings.Contains(out, want) {
			t.Errorf("rotate --now does not say %q:\n%s", want, out)
		}
	}

	// 19 s later the partner's cache may still hold the old value: nothing moves.
	now = now.Add(19 * time.Second)
	if code, out := rotor("rotate", "partner-key", "--as", "bob"); code != ExitGate || strings.Contains(out, "→ proof:partner") {
		t.Fatalf("rotate inside the TTL: exit %d, want 3 and no proof of partner\n%s", code, out)
	}
	// After the TTL its check proves it; legacy still waits for a person.
	now = now.Add(2 * time.Second)
	code, out = rotor("rotate", "partner-key", "--as", "bob")
	if code != ExitGate || !strings.Contains(out, "→ proof:partner … pass") || !strings.Contains(out, "legacy (needs rotor signoff") {
		t.Fatalf("rotate after the TTL: exit %d, want partner proven and legacy waiting\n%s", code, out)
	}
	if phase, _ := status(); phase != "verifying" {
		t.Fatalf("phase %s before the sign-off, want verifying", phase)
	}

	if code, out := rotor("signoff", runID(), "legacy", "--as", "ann", "--reason", "restarted by hand at 22:01"); code != 0 {
		t.Fatalf("signoff: exit %d\n%s", code, out)
	}
	if code, out := rotor("rotate", "partner-key", "--as", "bob"); code != 0 || !strings.Contains(out, "→ revoke … pass") {
		t.Fatalf("rotate after the sign-off: exit %d, want the revoke\n%s", code, out)
	}
}
