package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCancelCrashAtEveryBoundary (issue 12, items 4 to 6, through the real binary): a
// consumer whose key does not match its declared recipient stops the rotate at readiness and
// nothing is stored; once fixed, a run prepared (--through prepare) is abandoned with
// `rotor cancel RUN --reason`, journaled with who asked. rotor is killed with SIGKILL at
// every durable boundary of the cancel, and a plain `rotor rotate` finishes it: the pending
// version is removed from the store, the old one stays current, the run is cancelled (not
// active), and a new run then starts and finishes. A cancel after cutover is refused, naming
// rollback.
func TestCancelCrashAtEveryBoundary(t *testing.T) {
	base := newPlatform(t, platformOpts{})
	key := filepath.Join(base.dir, "inventory", "keys", "api.key")
	good, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	ageKey(t, key) // api's key file no longer matches the recipient the inventory declares
	r := base.rotor(t, "rotate", credential, "--as", "alice")
	wantCode(t, r, 3, "rotate with a consumer key that does not match its recipient")
	if !contains(r.stdout, "readiness", "identity api") {
		t.Fatalf("readiness must name the identity that does not fit:\n%s", r)
	}
	if r := base.rotor(t, "runs", "--all"); r.code != 0 || !strings.Contains(r.stdout, "no runs") {
		t.Fatalf("a rotate stopped at readiness left a run behind:\n%s", r)
	}
	writeFile(t, key, string(good))

	wantCode(t, base.rotor(t, "rotate", credential, "--as", "alice"), 0, "first rotation")
	r = base.rotor(t, "rotate", credential, "--now", "--through", "prepare", "--as", "alice")
	wantCode(t, r, 0, "rotate through prepare")
	run := runOf(t, r)
	st := base.status(t, run)
	if st.Run.Phase != "prepared" || st.Run.New == nil || st.Run.Previous == nil {
		t.Fatalf("after prepare: %+v", st.Run)
	}
	pending, current := st.Run.New.ID, st.Run.Previous.ID

	list := base.copyTo(t, filepath.Join(t.TempDir(), "list"))
	r = list.rotorEnv(t, []string{"ROTOR_TEST_CRASH_AT=list"}, "cancel", run, "--reason", "pasted in a ticket", "--as", "alice")
	wantCode(t, r, 0, "cancel, listing crash points")
	var points []string
	for _, m := range crashPointLine.FindAllStringSubmatch(r.stderr, -1) {
		points = append(points, m[1])
	}
	if !contains(strings.Join(points, " ")+" ", "cancel-requested ", "intent:discard ", "effect:discard ", "intent:remove-pending ", "effect:remove-pending ") {
		t.Fatalf("crash points of a cancel: %v", points)
	}
	t.Logf("%d crash points", len(points))

	for i, point := range append([]string{""}, points...) {
		t.Run(fmt.Sprintf("%02d-%s", i, strings.ReplaceAll(point, ":", "_")), func(t *testing.T) {
			p := base.copyTo(t, filepath.Join(t.TempDir(), "p"))
			if point == "" { // no crash: the cancel finishes by itself
				r := p.rotor(t, "cancel", run, "--reason", "pasted in a ticket", "--as", "alice")
				wantCode(t, r, 0, "cancel")
				if !contains(r.stdout, run, "cancelled", pending, current) {
					t.Fatalf("cancel must say what it removed and what stays current:\n%s", r)
				}
			} else {
				r := p.rotorEnv(t, []string{"ROTOR_TEST_CRASH_AT=" + point}, "cancel", run, "--reason", "pasted in a ticket", "--as", "alice")
				if !r.killed {
					t.Fatalf("rotor was not killed at %s:\n%s", point, r)
				}
				// The next rotate of the credential finishes the cancel (and starts nothing).
				r = p.rotor(t, "rotate", credential, "--as", "alice")
				wantCode(t, r, 0, "rotate after a crash at "+point)
			}
			if st := p.status(t, run); st.Run.Phase != "cancelled" {
				t.Fatalf("phase %s after the cancel, want cancelled", st.Run.Phase)
			}
			ix := p.index(t)
			if !deleted(ix, pending) || !enabled(ix, current) {
				t.Fatalf("after the cancel %s must be removed and %s still current: %+v", pending, current, ix)
			}
			if files, _ := filepath.Glob(filepath.Join(p.dir, "store", credential, "versions", pending+".*")); len(files) > 0 {
				t.Fatalf("the removed version's files are still there: %v", files)
			}
			if r := p.rotor(t, "runs"); !strings.Contains(r.stdout, "no runs") {
				t.Fatalf("a cancelled run is still listed as active:\n%s", r)
			}
			if r := p.rotor(t, "runs", "--all"); !contains(r.stdout, run, "cancelled") {
				t.Fatalf("runs --all must show the cancelled run:\n%s", r)
			}
			if en := cancelEntry(t, p, run); en.Actor != "alice" || en.OSUser == "" || !strings.Contains(en.Summary, "pasted in a ticket") {
				t.Fatalf("the journal does not record who cancelled, as which OS account, and why: %+v", en)
			}
			wantCode(t, p.rotor(t, "journal", "verify", run), 0, "journal verify of the cancelled run")

			// The way is clear: a new run starts and finishes, minting exactly one version.
			before := len(p.index(t).Versions)
			r = p.rotor(t, "rotate", credential, "--now", "--as", "alice")
			wantCode(t, r, 0, "a new run after the cancel")
			next := runOf(t, r)
			if next == run || len(p.index(t).Versions) != before+1 {
				t.Fatalf("new run %s, %d versions minted", next, len(p.index(t).Versions)-before)
			}
			if i == 0 {
				r := p.rotor(t, "rotate", credential, "--now", "--through", "cutover", "--as", "alice")
				wantCode(t, r, 0, "rotate through cutover")
				r = p.rotor(t, "cancel", runOf(t, r), "--reason", "too late", "--as", "alice")
				wantCode(t, r, 3, "cancel after cutover")
				if !contains(r.stderr, "cutover", "rotor rollback") {
					t.Fatalf("a cancel after cutover must name rollback:\n%s", r)
				}
			}
		})
	}
}

// cancelEntry is the journal entry of a run's cancel request.
func cancelEntry(t *testing.T, p *platform, run string) (en struct {
	Kind, Actor, Summary string
	OSUser               string `json:"os_user"`
}) {
	t.Helper()
	r := p.rotor(t, "journal", run, "--format", "json")
	wantCode(t, r, 0, "journal json")
	var tk struct {
		Entries []struct {
			Kind, Actor, Summary string
			OSUser               string `json:"os_user"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tk); err != nil {
		t.Fatalf("journal json: %v", err)
	}
	for _, e := range tk.Entries {
		if e.Kind == "cancel" {
			return e
		}
	}
	t.Fatalf("no cancel entry in the journal of %s", run)
	return
}
