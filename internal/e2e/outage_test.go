package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/internal/testenv"
)

// TestPostgresStoppedAtRevoke injects issue 20's database outage into a real PostgreSQL
// (scram-sha-256): the cluster is stopped after the revocation was approved. rotor does no
// harm — the previous role keeps working, the run resumes to done once the cluster is back,
// with one mint, and its journal verifies — and says what happened at every step:
//   - item 1: the first rotate names the step, the attempt of how many, the error with its
//     endpoint ("connect as admin postgres to 127.0.0.1:PORT: connection refused"), that
//     nothing changed and when the next attempt is due — on its progress line and at its gate;
//     status and the journal say the same;
//   - item 2: after five refused connections the halt says that nothing was changed and to
//     retry when the database is back, not that the previous value may be revoked.
func TestPostgresStoppedAtRevoke(t *testing.T) {
	pg := testenv.StartPostgreSQL(t, testenv.PostgreSQLOptions{LogConnections: true}) // its own: the test stops it
	o := pgOpts{roles: "outage", critical: true, noPool: true}
	setupRoles(t, pg, o)
	p := newPGPlatform(t, pg, o)
	wantCode(t, p.rotor(t, "rotate", pgCredential, "--as", "alice"), 0, "first rotation")
	r := p.rotor(t, "rotate", pgCredential, "--now", "--as", "alice")
	wantCode(t, r, 3, "rotate up to the approval")
	run := runOf(t, r)
	wantCode(t, p.rotor(t, "approve", run, "--as", "bob"), 0, "approve")
	values := p.values(t)
	st := p.status(t, run)
	prevRole, prevValue := "outage_a", string(values[st.Run.Previous.ID])

	pg.Stop(t)
	endpoint := fmt.Sprintf("connect as admin postgres to 127.0.0.1:%d: connection refused", pg.Port)
	attempt1 := "attempt 1 of 5 failed (retryable, nothing changed): revoke password: " + endpoint
	r = p.rotor(t, "rotate", pgCredential, "--as", "alice")
	t.Logf("the first rotate with the cluster stopped:\n%s", r)
	wantCode(t, r, 3, "rotate with the cluster stopped (a retry is due)")
	if !contains(r.stderr, "→ revoke … error", attempt1, "attempt 2 is due at") {
		t.Fatalf("rotate's progress must name the error, its endpoint, the attempt and the next:\n%s", r)
	}
	if !contains(r.stdout, "blocked at: retry", "why:        revoke: "+attempt1, "until:") {
		t.Fatalf("rotate's gate must say why it waits:\n%s", r)
	}
	for _, args := range [][]string{{"status", run}, {"journal", run}} {
		out := p.rotor(t, args...)
		if out.code != 0 || !contains(out.stdout, attempt1, "attempt 2 is due at") {
			t.Fatalf("rotor %s must say the same:\n%s", strings.Join(args, " "), out)
		}
	}

	// Four more attempts, in-process (backoff 2 s, 4 s, 8 s, 16 s), every connection refused.
	r = p.rotor(t, "rotate", pgCredential, "--as", "alice", "--wait", "60s")
	t.Logf("the halt:\n%s", r)
	wantCode(t, r, 1, "rotate until the halt")
	if !contains(r.stdout, "blocked at: halted", "why:        revoke: attempt 5 of 5 failed (retryable, nothing changed): revoke password: "+endpoint+"; halted\n") {
		t.Fatalf("the halt must say which attempt failed and how:\n%s", r)
	}
	// The advice is the halt's unblock line (printed once: not again as the error's hint).
	if !contains(r.stdout, "unblock:    Nothing was changed", "nothing was revoked", "Retry once what the error names is reachable again") ||
		strings.Contains(r.stdout+r.stderr, "may already be revoked") || strings.Contains(r.stdout+r.stderr, "part way") {
		t.Fatalf("the halt's advice must follow from the refused connections, nothing more alarming:\n%s", r)
	}
	if out := p.rotor(t, "status", run); !contains(out.stdout, "HALTED at revoke", "Nothing was changed") {
		t.Fatalf("status of the halted run:\n%s", out)
	}

	// Nothing was changed indeed: the previous role still logs in. Back up, the run resumes.
	pg.Start(t)
	ctx := context.Background()
	if err := pg.CanLogin(ctx, prevRole, prevValue); err != nil {
		t.Fatalf("the previous role no longer logs in, although nothing was revoked: %v", err)
	}
	r = p.rotor(t, "rotate", pgCredential, "--as", "alice")
	wantCode(t, r, 0, "rotate once the cluster is back")
	if err := pg.CanLogin(ctx, prevRole, prevValue); err == nil {
		t.Fatal("the previous role still logs in after the revoke")
	}
	if n := len(p.index(t).Versions); n != 2 {
		t.Fatalf("%d versions after two rotations, want 2: one mint per run", n)
	}
	wantCode(t, p.rotor(t, "journal", "verify", run), 0, "journal verify")
}

// TestPostgresStoppedDuringInPlaceCutover stops the cluster while rotor's ALTER ROLE of an
// in-place cutover is running at the server (it waits there for another session's lock on the
// role, so the stop comes after the statement was sent, as an outage would). The step cannot
// tell whether the statement committed before the connection was lost, and says so:
// "may have changed something", where a refused connection says "nothing changed". Once the
// cluster is back, rotor resumes: the enable is performed again, nobody is locked out, one
// mint.
func TestPostgresStoppedDuringInPlaceCutover(t *testing.T) {
	pg := testenv.StartPostgreSQL(t, testenv.PostgreSQLOptions{LogConnections: true}) // its own: the test stops it
	o := pgOpts{roles: "cutover", inPlace: true, noPool: true}
	setupRoles(t, pg, o)
	p := newPGPlatform(t, pg, o)
	wantCode(t, p.rotor(t, "rotate", pgCredential, "--as", "alice"), 0, "first rotation")
	before := p.values(t)

	// Another session holds the role's row: rotor's ALTER ROLE will wait for it at the server.
	ctx := context.Background()
	holder, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	if _, err := holder.Exec(ctx, "BEGIN; ALTER ROLE "+o.roles+" CONNECTION LIMIT 50"); err != nil {
		t.Fatal(err)
	}
	done := make(chan result, 1)
	go func() { done <- p.rotor(t, "rotate", pgCredential, "--now", "--as", "alice") }()
	eventually(t, 30*time.Second, "rotor's ALTER ROLE to wait at the server", func() bool {
		var n int
		query(t, pg, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rotor' AND wait_event_type = 'Lock'", &n)
		return n == 1
	})
	pg.Stop(t)
	r := <-done
	t.Logf("the rotate whose ALTER ROLE was cut off:\n%s", r)
	wantCode(t, r, 3, "rotate with the connection lost during ALTER ROLE (a retry is due)")
	if !contains(r.stderr, "→ enable … error", "attempt 1 of 5 failed (retryable, may have changed something): enable password: alter role "+o.roles, "attempt 2 is due at") ||
		strings.Contains(r.stderr, "retryable, nothing changed") {
		t.Fatalf("a connection lost after ALTER ROLE was sent may have changed something, and rotate must say so:\n%s", r)
	}
	run := runOf(t, r)
	if out := p.rotor(t, "status", run); !contains(out.stdout, "may have changed something", "alter role "+o.roles) {
		t.Fatalf("status must say the same:\n%s", out)
	}

	// It had not committed: the previous value still logs in. Back up, the run resumes.
	pg.Start(t)
	var prev string
	for _, v := range before {
		prev = string(v)
	}
	if err := pg.CanLogin(ctx, o.roles, prev); err != nil {
		t.Fatalf("the previous value no longer logs in: %v", err)
	}
	r = p.rotor(t, "rotate", pgCredential, "--as", "alice", "--wait", "10s")
	wantCode(t, r, 0, "rotate once the cluster is back")
	st := p.status(t, run)
	now := p.values(t)
	if err := pg.CanLogin(ctx, o.roles, string(now[st.Run.New.ID])); err != nil {
		t.Fatalf("locked out: the current value does not log in: %v", err)
	}
	if n := len(p.index(t).Versions); n != 2 {
		t.Fatalf("%d versions after two rotations, want 2: one mint per run", n)
	}
	wantCode(t, p.rotor(t, "journal", "verify", run), 0, "journal verify")
}
