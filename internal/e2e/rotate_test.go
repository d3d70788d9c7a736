package e2e

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/store/file"
)

var runLine = regexp.MustCompile(`(?m)^run (r\S+): `)

// runOf is the run id a rotate printed.
func runOf(t *testing.T, r result) string {
	t.Helper()
	m := runLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no run id in rotor's output:\n%s", r)
	}
	return m[1]
}

func wantCode(t *testing.T, r result, code int, what string) {
	t.Helper()
	if r.code != code || r.killed {
		t.Fatalf("%s: want exit %d\n%s", what, code, r)
	}
}

// TestRotateEndToEnd rotates an API key through every phase with real processes: keysvc
// accepts the keys it reads from the file store and logs the key id of every request; "api"
// is that service (reloaded by SIGHUP, checked with a real call), "ops" a script, "reports" a
// job whose proof comes at its next run. A client nobody declared keeps using the old key:
// revoke is blocked, exit 3, naming it; once it stops, the run goes on, the initiator's
// approval is refused, another approver's is taken, and after revoke the old key is refused
// by the service. Every value minted is then searched for in everything rotor wrote.
func TestRotateEndToEnd(t *testing.T) {
	p := newPlatform(t, platformOpts{critical: true, job: true, service: true})
	svc := p.startService(t)
	var outputs []result

	// The first rotation makes the first value: there is nothing to revoke, so no approval.
	r := p.rotor(t, "rotate", credential, "--as", "alice")
	outputs = append(outputs, r)
	wantCode(t, r, 3, "first rotate (the job's proof is a minute away)")
	first := runOf(t, r)
	if !strings.Contains(r.stdout, "follow-ups") || !strings.Contains(r.stdout, "reports") {
		t.Fatalf("first rotate should wait for the job's proof:\n%s", r)
	}
	r = p.rotor(t, "signoff", first, "reports", "--as", "bob", "--reason", "bootstrap: the job has no key yet")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "signoff")
	r = p.rotor(t, "rotate", credential, "--as", "alice")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "first rotate, resumed")
	v1 := p.status(t, first).Run.New.ID

	// A client nobody declared starts with v1 and keeps it.
	legacy := p.client(t, "legacy-batch", "api")
	eventually(t, 10*time.Second, "the legacy client to be served", func() bool {
		return strings.Contains(legacy.output(), "key "+v1+" -> 200")
	})

	// Not due yet (rotate.every 30d): a plain rotate starts nothing; --now does.
	r = p.rotor(t, "rotate", credential, "--as", "alice")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "rotate when not due")
	if !strings.Contains(r.stdout, "is not due") {
		t.Fatalf("want 'not due':\n%s", r)
	}
	// The residual-use window (3 s) fills after the cutover; rotor waits for it (--wait),
	// then sees the legacy client's use of the old key and stops.
	r = p.rotor(t, "rotate", credential, "--now", "--as", "alice", "--wait", "20s")
	outputs = append(outputs, r)
	wantCode(t, r, 3, "rotate with residual use of the previous key")
	run := runOf(t, r)
	if run == first {
		t.Fatal("the second rotate resumed the finished run")
	}
	if !contains(r.stdout, "old-key-unused", "legacy-batch") {
		t.Fatalf("the block must name the residual use and who:\n%s", r)
	}
	st := p.status(t, run)
	v2 := st.Run.New.ID
	if st.Run.Previous == nil || st.Run.Previous.ID != v1 {
		t.Fatalf("previous = %+v, want %s", st.Run.Previous, v1)
	}
	for _, s := range st.Run.Steps {
		if s.Kind == "revoke" {
			t.Fatalf("revoke began with residual use: %+v", s)
		}
	}
	// Both keys are accepted during the overlap: the service reloaded both.
	if ix := p.index(t); !enabled(ix, v1) || !enabled(ix, v2) {
		t.Fatalf("during cutover both versions must be enabled: %+v", ix)
	}
	// Keep both values (read as rotor would) for the canary search at the end.
	values := enabledValues(t, p)
	if len(values) != 2 {
		t.Fatalf("%d enabled versions, want 2", len(values))
	}

	// The undeclared client stops (still holding v1); its use ages out of the window.
	if err := legacy.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond)
	r = p.rotor(t, "rotate", credential, "--as", "alice", "--wait", "90s")
	outputs = append(outputs, r)
	wantCode(t, r, 3, "rotate after the legacy client stopped (awaiting approval)")
	if !strings.Contains(r.stdout, "blocked at: approval") {
		t.Fatalf("want the approval gate:\n%s", r)
	}
	if !strings.Contains(r.stderr, "proof:reports") {
		t.Fatalf("the job's proof step did not run:\n%s", r)
	}

	// Four eyes: the initiator may not approve.
	r = p.rotor(t, "approve", run, "--as", "alice")
	outputs = append(outputs, r)
	if r.code == 0 || !strings.Contains(r.stderr, "four-eyes") {
		t.Fatalf("the initiator's approval must be refused:\n%s", r)
	}
	r = p.rotor(t, "approve", run, "--as", "bob")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "approve by bob")
	r = p.rotor(t, "rotate", credential, "--as", "alice")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "rotate through revoke")
	if !contains(r.stdout, "done", v2, v1+" revoked") {
		t.Fatalf("want done with %s revoked:\n%s", v1, r)
	}
	if ix := p.index(t); enabled(ix, v1) || !enabled(ix, v2) {
		t.Fatalf("after revoke only %s may be enabled: %+v", v2, ix)
	}

	// The old key is refused by the service now.
	if err := legacy.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the old key to be refused", func() bool {
		return strings.Contains(legacy.output(), "key "+v1+" -> 401")
	})

	r = p.rotor(t, "journal", "verify", run)
	outputs = append(outputs, r)
	wantCode(t, r, 0, "journal verify")
	exports := map[string]string{}
	for _, f := range []string{"md", "html", "json"} {
		r = p.rotor(t, "journal", run, "--format", f)
		outputs = append(outputs, r)
		wantCode(t, r, 0, "journal --format "+f)
		exports[f] = r.stdout
	}
	if !contains(exports["md"], "legacy-batch", "bob", "four-eyes") && !contains(exports["md"], "legacy-batch", "bob") {
		t.Fatalf("the change ticket must show the residual use and the approval:\n%s", exports["md"])
	}

	// Canary: no form of any value minted appears in anything rotor printed or wrote.
	var haystacks []string
	for _, o := range outputs {
		haystacks = append(haystacks, o.stdout, o.stderr)
	}
	for _, e := range exports {
		haystacks = append(haystacks, e)
	}
	haystacks = append(haystacks, svc.output(), legacy.output())
	for _, f := range filesUnder(t, filepath.Join(p.dir, "state")) {
		b, _ := os.ReadFile(f)
		haystacks = append(haystacks, string(b))
	}
	b, _ := os.ReadFile(filepath.Join(p.dir, "keysvc.log"))
	haystacks = append(haystacks, string(b))
	b, _ = os.ReadFile(filepath.Join(p.dir, "store", credential, "index.json"))
	haystacks = append(haystacks, string(b))
	for i, v := range values {
		for _, form := range forms(v) {
			for _, h := range haystacks {
				if strings.Contains(h, form) {
					t.Fatalf("value %d leaked (%q form found)", i, form[:4]+"…")
				}
			}
		}
	}
}

func enabledValues(t *testing.T, p *platform) [][]byte {
	t.Helper()
	var out [][]byte
	for _, v := range storeValues(t, p, credential) {
		out = append(out, v)
	}
	return out
}

// storeValues reads every enabled version of a credential as rotor's identity would: id ->
// value. The tests keep them to search for leaks and to log in with old values later.
func storeValues(t *testing.T, p *platform, cred string) map[string][]byte {
	t.Helper()
	rd, err := file.OpenReader(filepath.Join(p.dir, "store"), cred, filepath.Join(p.dir, "inventory", "keys", "rotor.key"))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := rd.Enabled()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, v := range vs {
		out[v.ID] = v.Value.Reveal()
		v.Value.Wipe()
	}
	return out
}

func enabled(ix storeIndex, id string) bool {
	for _, v := range ix.Versions {
		if v.ID == id {
			return v.Enabled
		}
	}
	return false
}

// deleted reports whether the store deleted the version (its record stays, marked, so that
// an id is never reused).
func deleted(ix storeIndex, id string) bool {
	for _, v := range ix.Versions {
		if v.ID == id {
			return v.Deleted
		}
	}
	return false
}

// forms are the encodings in which a value could leak.
func forms(v []byte) []string {
	return []string{string(v), base64.StdEncoding.EncodeToString(v), base64.RawURLEncoding.EncodeToString(v),
		hex.EncodeToString(v), strings.ToUpper(hex.EncodeToString(v))}
}

func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	if len(out) == 0 {
		t.Fatalf("no files under %s", dir)
	}
	return out
}
