package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
)

// syncBuffer is a bytes.Buffer that a serving command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rotatable writes an inventory whose credential rotor can really rotate here: an
// age-encrypted file store and a generated value.
func rotatable(t *testing.T) (inv, db string) {
	t.Helper()
	dir := t.TempDir()
	inv = filepath.Join(dir, "inventory")
	if err := os.MkdirAll(filepath.Join(inv, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	k, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inv, "keys", "rotor.key"), []byte(k.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`identities:
  rotor: {type: age, recipient: %s, identity_file: keys/rotor.key}
teams:
  team-a: {contact: a@example.test}
credentials:
  api-key:
    owner: team-a
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: generated, strategy: overlap}
    rotate: {every: 30d}
`, k.Recipient())
	if err := os.WriteFile(filepath.Join(inv, "rotor.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return inv, filepath.Join(dir, "state", "rotor.db")
}

func run(t *testing.T, ctx context.Context, now time.Time, stdout, stderr io.Writer, args ...string) int {
	t.Helper()
	return Main(ctx, args, Env{Stdout: stdout, Stderr: stderr, Now: func() time.Time { return now },
		Getenv: func(k string) string {
			if k == "ROTOR_ACTOR" {
				return "alice"
			}
			return ""
		}})
}

// TestMetricsAfterRotation: after a real rotation, --once shows its date and the next due
// date; --listen serves the same on /metrics and stops cleanly when its context ends (as on
// SIGINT or SIGTERM).
func TestMetricsAfterRotation(t *testing.T) {
	inv, db := rotatable(t)
	now := time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)
	var out, errs bytes.Buffer
	if code := run(t, context.Background(), now, &out, &errs, "rotate", "api-key", "--now", "-i", inv, "--db", db); code != 0 {
		t.Fatalf("rotate: exit %d\n%s\n%s", code, out.String(), errs.String())
	}

	out.Reset()
	errs.Reset()
	later := now.Add(time.Hour)
	if code := run(t, context.Background(), later, &out, &errs, "metrics", "--once", "-i", inv, "--db", db); code != 0 || errs.Len() > 0 {
		t.Fatalf("metrics --once: exit %d\n%s", code, errs.String())
	}
	labels := `{credential="api-key",critical="false",owner="team-a"}`
	for _, want := range []string{
		"rotor_state_up 1",
		"rotor_credential_last_rotation_timestamp_seconds" + labels + " 1.7731512e+09",
		"rotor_credential_next_due_timestamp_seconds" + labels + fmt.Sprintf(" %g", float64(now.Add(30*24*time.Hour).Unix())),
		`rotor_credential_plan_status{credential="api-key",critical="false",owner="team-a",status="ok"} 1`,
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("missing %q in\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "rotor_run_phase{") {
		t.Errorf("a finished run shows as in progress:\n%s", out.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(t, ctx, later, io.Discard, stderr, "metrics", "--listen", "127.0.0.1:0", "-i", inv, "--db", db)
	}()
	addr := regexp.MustCompile(`serving metrics on (http://\S+/metrics)`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := addr.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("metrics --listen exited %d before serving:\n%s", code, stderr.String())
		default:
		}
	}
	if url == "" {
		t.Fatalf("metrics --listen never said where it serves:\n%s", stderr.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != out.String() {
		t.Errorf("GET /metrics: %d, want the --once exposition; got\n%s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(stderr.String(), "metrics: stopped") {
			t.Errorf("stopping: exit %d\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("metrics --listen did not stop when its context ended")
	}
}
