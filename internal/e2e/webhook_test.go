package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const hookCred = "partner-webhook-hmac"

// TestWebhookRotation rotates a webhook signing key (authority `webhook`) with real processes:
// hookrecv, the receiver, verifies with every enabled key and logs the key id that verified
// each event; hooksend "notifier", the declared sender, signs with the current key and is
// reloaded by SIGHUP; the `webhook-test` check sends signed test events in both header
// styles. A forgotten sender nobody declared keeps signing with the previous key: its use,
// read from the receiver's log by the `log` check, blocks revoke, naming it. Once it stops,
// revoke goes on and the receiver refuses the previous key.
func TestWebhookRotation(t *testing.T) {
	p := &platform{dir: t.TempDir()}
	inv := filepath.Join(p.dir, "inventory")
	rec := map[string]string{}
	for _, id := range []string{"rotor", "recv", "send"} {
		rec[id] = ageKey(t, filepath.Join(inv, "keys", id+".key"))
	}
	store := filepath.Join(p.dir, "store")
	recv := start(t, bin.hookrecv, "-dir", store, "-name", hookCred, "-identity", filepath.Join(inv, "keys", "recv.key"),
		"-addr-file", filepath.Join(p.dir, "hookrecv.addr"), "-pid-file", filepath.Join(p.dir, "hookrecv.pid"),
		"-log", filepath.Join(p.dir, "hookrecv.log"))
	sender := func(name, style string, pid bool) *process {
		args := []string{"-dir", store, "-name", hookCred, "-identity", filepath.Join(inv, "keys", "send.key"), "-consumer", "notifier",
			"-addr-file", filepath.Join(p.dir, "hookrecv.addr"), "-sender", name, "-style", style}
		if pid {
			args = append(args, "-pid-file", filepath.Join(p.dir, "hooksend.pid"))
		}
		return start(t, bin.hooksend, args...)
	}
	notifier := sender("notifier", "stripe", true)
	eventually(t, 10*time.Second, "hookrecv and hooksend to start", func() bool {
		_, e1 := os.Stat(filepath.Join(p.dir, "hookrecv.addr"))
		_, e2 := os.Stat(filepath.Join(p.dir, "hooksend.pid"))
		return e1 == nil && e2 == nil
	})
	addr, _ := os.ReadFile(filepath.Join(p.dir, "hookrecv.addr"))
	url := "http://" + string(addr) + "/hook"
	writeFile(t, filepath.Join(inv, "rotor.yaml"), `teams:
  team-payments: {contact: pay@example.test, approvers: [bob]}
identities:
  rotor: {type: age, recipient: `+rec["rotor"]+`, identity_file: keys/rotor.key}
  recv: {type: age, recipient: `+rec["recv"]+`, identity_file: keys/recv.key}
  send: {type: age, recipient: `+rec["send"]+`, identity_file: keys/send.key}
checks:
  hook-accepted: {type: webhook-test, url: "`+url+`", retry_for: 5s}
  hook-accepted-hex: {type: webhook-test, url: "`+url+`", style: hex, retry_for: 5s}
  old-key-unused:
    type: log
    source: {type: file, path: ../hookrecv.log, format: json, fields: {time: ts, host: sender}}
    match: {key_id: previous}
    by: [host]
    bin: 1m
    window: 3s
    max: 0
credentials:
  `+hookCred+`:
    description: HMAC key of the shipping webhooks we send to a partner
    kind: webhook-secret
    owner: team-payments
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: webhook, strategy: overlap, encoding: whsec, sender: notifier, receiver: partner}
    rotate: {every: 30d}
    checks: [old-key-unused]
    consumers:
      partner:
        kind: service
        identity: recv
        reads: at-start
        accepts: true
        reload: {type: signal, pid_file: ../hookrecv.pid}
        checks: [hook-accepted]
      notifier:
        kind: service
        identity: send
        reads: at-start
        reload: {type: signal, pid_file: ../hooksend.pid}
        checks: [hook-accepted-hex]
`)
	var outputs []result
	r := p.rotor(t, "validate")
	wantCode(t, r, 0, "validate")
	if strings.Contains(r.stdout+r.stderr, "not implemented") {
		t.Fatalf("the webhook authority and check must run:\n%s", r)
	}

	// The first rotation makes the first key; the sender picks it up at its reload.
	r = p.rotor(t, "rotate", hookCred, "--as", "alice")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "first rotate")
	v1 := p.status(t, runOf(t, r)).Run.New.ID
	eventually(t, 10*time.Second, "the notifier to sign with "+v1, func() bool {
		return strings.Contains(notifier.output(), "key "+v1+" -> 204")
	})

	// A sender nobody declared starts with v1 (plain hex header) and is never reloaded.
	legacy := sender("legacy-notifier", "hex", false)
	eventually(t, 10*time.Second, "the forgotten sender to be accepted", func() bool {
		return strings.Contains(legacy.output(), "key "+v1+" -> 204")
	})

	// Cutover: the receiver accepts both keys, the notifier switches to the new one; the
	// forgotten sender's use of the previous key blocks revoke, named.
	r = p.rotor(t, "rotate", hookCred, "--now", "--as", "alice", "--wait", "20s")
	outputs = append(outputs, r)
	wantCode(t, r, 3, "rotate with residual use of the previous key")
	run := runOf(t, r)
	if !contains(r.stdout, "old-key-unused", "legacy-notifier") {
		t.Fatalf("the block must name the residual use and who:\n%s", r)
	}
	st := p.status(t, run)
	v2 := st.Run.New.ID
	if ix := readIndex(t, p.dir, hookCred); !enabled(ix, v1) || !enabled(ix, v2) {
		t.Fatalf("during the overlap both keys must be enabled: %+v", ix)
	}
	for _, s := range st.Run.Steps {
		if s.Kind == "revoke" {
			t.Fatalf("revoke began with residual use: %+v", s)
		}
	}
	eventually(t, 10*time.Second, "the notifier to sign with "+v2, func() bool {
		return strings.Contains(notifier.output(), "key "+v2+" -> 204")
	})
	// The receiver's log: v2 from the notifier and v1 from the forgotten sender, both accepted.
	eventually(t, 10*time.Second, "both keys accepted by the receiver", func() bool {
		seen := receiverLog(t, p.dir)
		return seen["notifier "+v2+" 200"] && seen["legacy-notifier "+v1+" 200"]
	})
	values := storeValues(t, p, hookCred)
	if len(values) != 2 {
		t.Fatalf("%d enabled versions, want 2", len(values))
	}

	// The forgotten sender stops; its use ages out of the window; revoke goes on.
	if err := legacy.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond)
	r = p.rotor(t, "rotate", hookCred, "--as", "alice", "--wait", "30s")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "rotate through revoke")
	if !contains(r.stdout, "done", v1+" revoked") {
		t.Fatalf("want done with %s revoked:\n%s", v1, r)
	}
	if ix := readIndex(t, p.dir, hookCred); enabled(ix, v1) || !enabled(ix, v2) {
		t.Fatalf("after revoke only %s may be enabled: %+v", v2, ix)
	}
	// The receiver, reloaded at revoke, refuses the previous key and accepts the current one.
	if err := legacy.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the previous key to be refused", func() bool {
		return strings.Contains(legacy.output(), "key "+v1+" -> 401")
	})
	n := strings.Count(notifier.output(), "key "+v2+" -> 204")
	eventually(t, 10*time.Second, "the notifier to be accepted still", func() bool {
		return strings.Count(notifier.output(), "key "+v2+" -> 204") > n
	})

	// Canary: no form of either key in anything rotor printed or wrote, nor in the logs.
	var haystacks []string
	for _, o := range outputs {
		haystacks = append(haystacks, o.stdout, o.stderr)
	}
	haystacks = append(haystacks, recv.output(), notifier.output(), legacy.output())
	for _, f := range append(filesUnder(t, filepath.Join(p.dir, "state")), filepath.Join(p.dir, "hookrecv.log"),
		filepath.Join(store, hookCred, "index.json")) {
		b, _ := os.ReadFile(f)
		haystacks = append(haystacks, string(b))
	}
	for id, v := range values {
		for _, form := range append(forms(v), strings.TrimPrefix(string(v), "whsec_")) {
			for _, h := range haystacks {
				if strings.Contains(h, form) {
					t.Fatalf("key %s leaked (%q form found)", id, form[:4]+"…")
				}
			}
		}
	}
}

// receiverLog is the set of "sender key_id status" seen in hookrecv's log.
func receiverLog(t *testing.T, dir string) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "hookrecv.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	seen := map[string]bool{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		var l struct {
			Sender string `json:"sender"`
			KeyID  string `json:"key_id"`
			Status int    `json:"status"`
		}
		if json.Unmarshal(s.Bytes(), &l) == nil {
			seen[l.Sender+" "+l.KeyID+" "+strconv.Itoa(l.Status)] = true
		}
	}
	return seen
}
