package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/testenv"
)

// TestReadCommandsOnlyRead: status, runs, journal and journal verify change nothing and send
// nothing, even when a run owes a notification (an exception about to expire) that any
// command acting on the state would send and journal. The state folder is compared byte for
// byte before and after, and the webhook receiver counts what arrives; an acting command run
// afterwards proves the notification was indeed owed.
func TestReadCommandsOnlyRead(t *testing.T) {
	dir := t.TempDir()
	var (
		mu       sync.Mutex
		received []string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Type string `json:"event"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		received = append(received, ev.Type)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(received) }

	inv := filepath.Join(dir, "inventory")
	rec := testenv.AgeKeys(t, inv, "rotor", "api")
	doc := fmt.Sprintf(`identities:
  rotor: {type: age, recipient: %s, identity_file: keys/rotor.key}
  api: {type: age, recipient: %s, identity_file: keys/api.key}
checks:
  api-ok: {type: exec, command: ["true"]}
notifications:
  audit: {type: webhook, url: %q, events: [all]}
credentials:
  api-key:
    owner: team-a
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: generated, strategy: overlap}
    rotate: {every: 30d}
    soak: 24h
    consumers:
      api:
        kind: service
        identity: api
        reads: at-start
        reload: {type: exec, command: ["true"]}
        checks: [api-ok]
teams:
  team-a: {contact: a@example.test}
`, rec["rotor"], rec["api"], hook.URL)
	if err := os.WriteFile(filepath.Join(inv, "rotor.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(dir, "state")
	db := filepath.Join(stateDir, "rotor.db")
	now := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	rotor := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), append([]string{"-i", inv, "--db", db}, args...),
			Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }, Now: func() time.Time { return now }})
		return code, out.String() + errOut.String()
	}

	// A first rotation to its end, then a second one rolled back: an open exception.
	if code, out := rotor("rotate", "api-key", "--now", "--as", "alice"); code != ExitGate {
		t.Fatalf("rotate: exit %d, want 3 (in the soak)\n%s", code, out)
	}
	now = now.Add(25 * time.Hour)
	if code, out := rotor("rotate", "api-key", "--as", "alice"); code != 0 {
		t.Fatalf("rotate after the soak: exit %d\n%s", code, out)
	}
	now = now.Add(time.Hour)
	if code, out := rotor("rotate", "api-key", "--now", "--as", "alice"); code != ExitGate {
		t.Fatalf("second rotate: exit %d, want 3 (in the soak)\n%s", code, out)
	}
	code, out := rotor("status", "-o", "json")
	var runs []struct {
		ID string `json:"id"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &runs) != nil || len(runs) != 1 {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	run := runs[0].ID
	if code, out := rotor("rollback", run, "--consumers", "api", "--owner", "bob", "--expires", "2h", "--reason", "api fails", "--as", "bob"); code != 0 {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}
	if count() == 0 {
		t.Fatalf("the rollback sent no notification: the receiver is not reached")
	}

	// 90 minutes later the exception expires within the hour: owed, not yet sent.
	now = now.Add(90 * time.Minute)
	before, sent := snapshot(t, stateDir), count()
	for _, args := range [][]string{{"status"}, {"status", run}, {"runs", "--all"}, {"journal", run},
		{"journal", run, "--format", "json"}, {"journal", "verify", run}} {
		if code, out := rotor(args...); code != 0 {
			t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		if got := count(); got != sent {
			t.Errorf("%s sent %d notification(s): %q", strings.Join(args, " "), got-sent, received[sent:])
			sent = got
		}
		if after := snapshot(t, stateDir); after != before {
			t.Errorf("%s changed the state folder:\nbefore %s\nafter  %s", strings.Join(args, " "), before, after)
			before = after
		}
	}

	// An acting command sends what was owed.
	if code, out := rotor("rotate", "api-key", "--as", "alice"); code != 0 && code != ExitGate {
		t.Fatalf("rotate: exit %d\n%s", code, out)
	}
	mu.Lock()
	got := strings.Join(received, " ")
	mu.Unlock()
	if !strings.Contains(got, "exception-expiring") {
		t.Errorf("an acting command did not send the owed exception-expiring; received %q", got)
	}
}

// TestReadCommandsNeedADatabase: a read command pointed at a database that does not exist
// says so and creates nothing, neither the file nor its folders.
func TestReadCommandsNeedADatabase(t *testing.T) {
	dir := t.TempDir()
	examples, err := filepath.Abs("../../examples/platform")
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "no", "such", "rotor.db")
	for _, args := range [][]string{{"status"}, {"runs"}, {"journal", "r1"}, {"journal", "verify", "r1"}, {"plan"}} {
		var out bytes.Buffer
		code := Main(context.Background(), append([]string{"-i", examples, "--db", db}, args...), Env{Stdout: &out, Stderr: &out})
		if code != ExitError || !strings.Contains(out.String(), "no state database at "+db) {
			t.Errorf("%s: exit %d, want 1 naming the database\n%s", strings.Join(args, " "), code, out.String())
		}
		if _, err := os.Stat(filepath.Join(dir, "no")); !os.IsNotExist(err) {
			t.Fatalf("%s created %s", strings.Join(args, " "), filepath.Join(dir, "no"))
		}
	}
}

// snapshot is a digest of every file under dir with its size and modification time.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
