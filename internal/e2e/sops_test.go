package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/testenv"
)

// sopsCredential is the credential of the SOPS platform: an API key kept in a SOPS file in git.
const sopsCredential = "app-key"

// sopsPlatform is a folder with a git repository holding secrets/app.enc.yaml, encrypted by
// the real sops to rotor, api and ops (not to stranger), and an inventory rotating its key
// app.api_key; with stranger, a consumer reads with a key the file is not encrypted to.
type sopsPlatform struct {
	platform
	file string
	keys string // inventory/keys
}

func newSOPSPlatform(t *testing.T, stranger bool) *sopsPlatform {
	t.Helper()
	p := &sopsPlatform{platform: platform{dir: t.TempDir()}}
	inv := filepath.Join(p.dir, "inventory")
	p.keys = filepath.Join(inv, "keys")
	rec := map[string]string{}
	for _, id := range []string{"rotor", "api", "ops", "stranger"} {
		rec[id] = ageKey(t, filepath.Join(p.keys, id+".key"))
	}
	p.file = filepath.Join(p.dir, "secrets", "app.enc.yaml")
	if err := os.MkdirAll(filepath.Dir(p.file), 0o700); err != nil {
		t.Fatal(err)
	}
	testenv.SOPSEncrypt(t, p.file, "yaml", "app:\n    api_key: legacy-api-key-0f3c\n    db_url: postgres://db.internal/app\n",
		[]string{rec["rotor"], rec["api"], rec["ops"]})
	p.git(t, "init", "--quiet")
	p.git(t, "add", "secrets/app.enc.yaml")
	p.git(t, "commit", "--quiet", "-m", "app secrets")

	sops := testenv.SOPS(t)
	// A consumer's check is the consumer itself reading the key with sops, as its own key
	// alone (no HOME, no other key variable).
	read := func(id string) string {
		return "[" + quoteAll([]string{"/usr/bin/env", "-i", "PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "SOPS_AGE_KEY_FILE=keys/" + id + ".key",
			sops, "decrypt", "--extract", `["app"]["api_key"]`, "../secrets/app.enc.yaml"}) + "]"
	}
	var b strings.Builder
	w := func(s string) { b.WriteString(s + "\n") }
	w("teams:")
	w("  team-api: {contact: api@example.test, approvers: [bob]}")
	w("identities:")
	for _, id := range []string{"rotor", "api", "ops", "stranger"} {
		w("  " + id + ": {type: age, recipient: " + rec[id] + ", identity_file: keys/" + id + ".key}")
	}
	w("checks:")
	w("  api-read: {type: exec, timeout: 20s, command: " + read("api") + "}")
	w("  ops-read: {type: exec, timeout: 20s, command: " + read("ops") + "}")
	w("credentials:")
	w("  " + sopsCredential + ":")
	w("    description: API key the app reads from its SOPS file")
	w("    kind: api-key")
	w("    owner: team-api")
	w("    store: {type: sops, identity: rotor, path: ../secrets/app.enc.yaml, key: app.api_key, binary: " + quoteAll([]string{sops}) +
		", git: {commit: true, author: \"rotor <rotor@example.test>\"}}")
	w("    authority: {type: generated, strategy: overlap}")
	w("    rotate: {every: 30d}")
	w("    consumers:")
	w("      api: {kind: service, identity: api, reads: at-start, reload: {type: exec, command: [\"true\"]}, checks: [api-read]}")
	w("      ops: {kind: script, identity: ops, reads: per-request, checks: [ops-read]}")
	if stranger {
		w("      partner: {kind: integration, identity: stranger, reads: at-start, proof: signoff}")
	}
	writeFile(t, filepath.Join(inv, "rotor.yaml"), b.String())
	return p
}

// git runs git in the platform's folder as a test user.
func (p *sopsPlatform) git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", p.dir, "-c", "user.name=Test", "-c", "user.email=test@example.test", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// decrypt is the real `sops decrypt --extract` as one of the platform's identities.
func (p *sopsPlatform) decrypt(t *testing.T, as, path string) string {
	t.Helper()
	out, err := testenv.SOPSDecrypt(t, p.file, filepath.Join(p.keys, as+".key"), path)
	if err != nil {
		t.Fatalf("sops decrypt %s as %s: %v", path, as, err)
	}
	return out
}

// TestSOPSConsumerNotARecipientStopsInPrepare: a consumer whose age key is not a recipient of
// the file stops the run at readiness, before anything is minted, naming the consumer's
// identity and the file; the file and its git history are untouched.
func TestSOPSConsumerNotARecipientStopsInPrepare(t *testing.T) {
	p := newSOPSPlatform(t, true)
	before, _ := os.ReadFile(p.file)
	r := p.rotor(t, "rotate", sopsCredential, "--now", "--as", "alice")
	wantCode(t, r, 3, "rotate with a consumer that is not a recipient")
	if !contains(r.stdout, "readiness", `identity "stranger"`, "is not a recipient of", p.file) {
		t.Fatalf("readiness must name the identity and the file:\n%s", r)
	}
	if strings.Contains(r.stdout, `identity "api"`) || strings.Contains(r.stdout, `identity "ops"`) {
		t.Fatalf("readiness names a consumer that can read:\n%s", r)
	}
	after, _ := os.ReadFile(p.file)
	if string(before) != string(after) {
		t.Fatal("a run stopped at readiness changed the file")
	}
	if n := strings.Count(p.git(t, "log", "--oneline"), "\n"); n != 1 {
		t.Fatalf("a run stopped at readiness committed: %d commits", n)
	}
}

// TestSOPSRotationEndToEnd rotates an API key kept in a SOPS file in git, twice, with the real
// rotor and sops binaries. The value sops had there before rotor is adopted as the first
// version; each rotation's result is what `sops decrypt` gives every consumer, the file's MAC
// holds, the other secret keeps its ciphertext, each change is one commit naming the run and
// the versions; the second rotation's revoke deletes the version the first one disabled. No
// value appears in anything rotor printed or stored, nor in git's history of messages.
func TestSOPSRotationEndToEnd(t *testing.T) {
	p := newSOPSPlatform(t, false)
	ctOf := func(key string) string {
		raw, _ := os.ReadFile(p.file)
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), key+": ENC[") {
				return strings.TrimSpace(l)
			}
		}
		t.Fatalf("no %s in the file", key)
		return ""
	}
	dbURL := ctOf("db_url")
	var outputs []result

	r := p.rotor(t, "rotate", sopsCredential, "--now", "--as", "alice")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "first rotation")
	first := runOf(t, r)
	st := p.status(t, first)
	if st.Run.Previous == nil || !strings.HasPrefix(st.Run.Previous.ID, "v0000-") || st.Run.New == nil {
		t.Fatalf("the first run must replace the adopted value v0000-…: %+v", st.Run)
	}
	v0, v1 := st.Run.Previous.ID, st.Run.New.ID
	val1 := p.decrypt(t, "api", `["app"]["api_key"]`)
	if val1 == "legacy-api-key-0f3c" || val1 == "" {
		t.Fatal("the key still holds the value from before rotor")
	}
	if got := p.decrypt(t, "ops", `["_rotor"]["app"]["api_key"]["`+v1+`"]`); got != val1 {
		t.Fatal("rotor's copy of the current version differs from the value at the key")
	}
	if got := p.decrypt(t, "ops", `["_rotor"]["app"]["api_key"]["`+v0+`"]`); got != "legacy-api-key-0f3c" {
		t.Fatal("the adopted value is not kept as the previous version")
	}

	r = p.rotor(t, "rotate", sopsCredential, "--now", "--as", "alice")
	outputs = append(outputs, r)
	wantCode(t, r, 0, "second rotation")
	second := runOf(t, r)
	v2 := p.status(t, second).Run.New.ID
	val2 := p.decrypt(t, "api", `["app"]["api_key"]`)
	if val2 == val1 {
		t.Fatal("the second rotation did not change the value")
	}
	if _, err := testenv.SOPSDecrypt(t, p.file, filepath.Join(p.keys, "ops.key"), ""); err != nil {
		t.Fatalf("the whole file must decrypt (MAC valid): %v", err)
	}
	if ctOf("db_url") != dbURL {
		t.Error("db_url's ciphertext changed: rotor must leave other values as they are")
	}
	raw, _ := os.ReadFile(p.file)
	if strings.Contains(string(raw), v0+": ENC[") {
		t.Errorf("%s, disabled by the first run, must be deleted at the second run's revoke", v0)
	}
	if !contains(string(raw), v1+": ENC[", v2+": ENC[", "id: "+v1, "enabled: false") {
		t.Errorf("want %s kept (disabled) and %s current:\n%s", v1, v2, raw)
	}

	log := p.git(t, "log", "--format=%an|%B")
	for _, want := range []string{"Rotor-Run: " + first, "Rotor-Run: " + second, "store " + v1 + " as pending",
		"make " + v2 + " current (" + v1 + " previous)", "disable " + v1, "delete " + v0, "adopt the value already at app.api_key as " + v0} {
		if !strings.Contains(log, want) {
			t.Errorf("git history lacks %q:\n%s", want, log)
		}
	}
	if st := p.git(t, "status", "--porcelain", "--", "secrets"); st != "" {
		t.Errorf("rotor left changes uncommitted: %s", st)
	}
	for _, run := range []string{first, second} {
		wantCode(t, p.rotor(t, "journal", "verify", run), 0, "journal verify")
		r = p.rotor(t, "journal", run, "--format", "json")
		wantCode(t, r, 0, "journal")
		outputs = append(outputs, r)
	}

	var haystacks []string
	for _, o := range outputs {
		haystacks = append(haystacks, o.stdout, o.stderr)
	}
	for _, f := range filesUnder(t, filepath.Join(p.dir, "state")) {
		b, _ := os.ReadFile(f)
		haystacks = append(haystacks, string(b))
	}
	haystacks = append(haystacks, log, string(raw))
	for i, v := range []string{"legacy-api-key-0f3c", val1, val2} {
		for _, form := range forms([]byte(v)) {
			for _, h := range haystacks {
				if strings.Contains(h, form) {
					t.Fatalf("value %d leaked (%q… form found)", i, form[:4])
				}
			}
		}
	}
}
