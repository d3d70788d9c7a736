package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNotBuiltTypeSaysSo (issue 12, CLI): a credential whose store this build declares but
// does not implement stops at readiness with advice that says so — not "fix the inventory or
// grant the access named", which no edit could satisfy — and the advice is printed once, not
// again as the error's hint.
func TestNotBuiltTypeSaysSo(t *testing.T) {
	dir := t.TempDir()
	doc := `credentials:
  ci-token:
    owner: team-a
    store: {type: gitlab-ci, project: group/app, key: DEPLOY_TOKEN}
    authority: {type: generated}
    consumers:
      deploy: {kind: pipeline, reads: per-request, on_demand: true}
teams:
  team-a: {contact: a@example.test, approvers: [ann]}
`
	if err := os.WriteFile(filepath.Join(dir, "rotor.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"-i", dir, "--db", filepath.Join(dir, "state", "rotor.db"), "rotate", "ci-token", "--now", "--as", "bob"},
		Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Now: func() time.Time { return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) }})
	out := stdout.String() + stderr.String()
	if code != ExitGate {
		t.Fatalf("exit %d, want 3\n%s", code, out)
	}
	want := `unblock:    this build of rotor cannot rotate it yet: store "gitlab-ci" not implemented`
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, out)
	}
	if strings.Contains(out, "fix the inventory or grant the access named") {
		t.Errorf("the advice asks for an edit no edit can satisfy:\n%s", out)
	}
	if strings.Count(out, "this build of rotor cannot rotate it yet") != 1 {
		t.Errorf("the advice is printed more than once:\n%s", out)
	}
}
