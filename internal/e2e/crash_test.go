package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/rotation"
)

var crashPointLine = regexp.MustCompile(`crash-point (\S+)`)

// TestCrashAtEveryBoundary kills a real rotor process with SIGKILL at every durable step
// boundary of a rotation (the engine lists them under ROTOR_TEST_CRASH_AT=list), then resumes
// it with a plain `rotor rotate`. Each crash runs on its own copy of a platform whose first
// two rotations are done, so every run has a previous version to revoke, and its revoke makes
// the deletion of the version the run before it retired due (delete_after's default: the
// next rotation's revoke). After the resume: the run is done, exactly one version was minted
// by it, the previous version is disabled only after every check passed, the version two
// behind is deleted and the previous one kept, and the journals' chains verify.
func TestCrashAtEveryBoundary(t *testing.T) {
	base := newPlatform(t, platformOpts{})
	wantCode(t, base.rotor(t, "rotate", credential, "--as", "alice"), 0, "first rotation")
	r := base.rotor(t, "rotate", credential, "--now", "--as", "alice")
	wantCode(t, r, 0, "second rotation")
	retiring := runOf(t, r) // its previous version is deleted by the next rotation's revoke
	retired := base.status(t, retiring).Run.Previous.ID
	if st := base.rotor(t, "status", retiring); !contains(st.stdout, "delete:", retired, "next rotation's revoke") {
		t.Fatalf("status must say when %s is deleted:\n%s", retired, st)
	}

	list := base.copyTo(t, filepath.Join(t.TempDir(), "list"))
	r = list.rotorEnv(t, []string{"ROTOR_TEST_CRASH_AT=list"}, "rotate", credential, "--now", "--as", "alice")
	wantCode(t, r, 0, "listing crash points")
	var points []string
	// Progress lines share stderr, and a step's line is still open at its effect boundary.
	for _, m := range crashPointLine.FindAllStringSubmatch(r.stderr, -1) {
		points = append(points, m[1])
	}
	// The effect of every step, the saved intent of every step with an effect, and the
	// outcome saves, from the run's first save on: the run is stored with readiness's outcome
	// and mint's intent (engine.startRun), and a crash before that leaves nothing to resume.
	// A local step (read-access, a check, residual use, record) has no save of its own: its
	// intent and the outcome before it are saved with its outcome (engine.do), so a crash at
	// its effect loses that outcome too, and the resume must repeat the step before it
	// without a second mint.
	listed := strings.Join(points, " ") + " "
	if strings.Contains(listed, "effect:readiness ") {
		t.Fatalf("a crash point before the run's first save:\n%s", strings.Join(points, "\n"))
	}
	var missing []string
	for _, s := range []string{"mint", "enable", "read-access", "promote", "reload:api", "check:api", "check:ops",
		"revoke", "reload-accepting:api", "record", "delete"} {
		want := []string{"effect:" + s}
		if !rotation.StepKindOf(s).Local() {
			want = append(want, "intent:"+s)
		}
		for _, w := range want {
			if !strings.Contains(listed, w+" ") {
				missing = append(missing, w)
			}
		}
	}
	if len(missing) > 0 || len(points) < 26 {
		t.Fatalf("%d crash points listed, missing %v:\n%s", len(points), missing, strings.Join(points, "\n"))
	}
	t.Logf("%d crash points", len(points))

	for i, point := range points {
		t.Run(fmt.Sprintf("%02d-%s", i, strings.ReplaceAll(point, ":", "_")), func(t *testing.T) {
			p := base.copyTo(t, filepath.Join(t.TempDir(), "p"))
			before := len(p.index(t).Versions)
			r := p.rotorEnv(t, []string{"ROTOR_TEST_CRASH_AT=" + point}, "rotate", credential, "--now", "--as", "alice")
			if !r.killed {
				t.Fatalf("rotor was not killed at %s:\n%s", point, r)
			}
			r = p.rotor(t, "rotate", credential, "--as", "alice")
			wantCode(t, r, 0, "resume after a crash at "+point)
			run := runOf(t, r) // after a crash once the run was done: "not due", and the last run
			if r2 := p.rotor(t, "rotate", credential, "--as", "alice"); r2.code != 0 || !strings.Contains(r2.stdout, "is not due") {
				t.Fatalf("a finished run must not be followed by a new one when nothing is due:\n%s", r2)
			}
			st := p.status(t, run)
			if st.Run.Phase != "done" {
				t.Fatalf("phase %s after resume", st.Run.Phase)
			}
			ix := p.index(t)
			if got := len(ix.Versions) - before; got != 1 {
				t.Fatalf("%d versions minted by one run, want exactly 1: %+v", got, ix.Versions)
			}
			minted := 0
			for _, v := range ix.Versions {
				if v.Key == run {
					minted++
				}
			}
			if minted != 1 {
				t.Fatalf("%d versions carry the run's idempotency key, want 1", minted)
			}
			if enabled(ix, st.Run.Previous.ID) || !enabled(ix, st.Run.New.ID) {
				t.Fatalf("after the run only the new version may be enabled: %+v", ix)
			}
			if !deleted(ix, retired) || deleted(ix, st.Run.Previous.ID) {
				t.Fatalf("after the run %s (two behind) must be deleted and %s (previous) kept: %+v", retired, st.Run.Previous.ID, ix)
			}
			if files, _ := filepath.Glob(filepath.Join(p.dir, "store", credential, "versions", retired+".*")); len(files) > 0 {
				t.Fatalf("the deleted version's files are still there: %v", files)
			}
			if ds := p.status(t, retiring).Run.Steps; !slices.ContainsFunc(ds, func(s stepStatus) bool { return s.Kind == "delete" && s.Status == "done" }) {
				t.Fatalf("run %s does not record its deletion of %s: %+v", retiring, retired, ds)
			}
			wantCode(t, p.rotor(t, "journal", "verify", retiring), 0, "journal verify of the run that retired the deleted version")
			assertRevokeAfterGates(t, p, run)
			wantCode(t, p.rotor(t, "journal", "verify", run), 0, "journal verify")
		})
	}
}

// assertRevokeAfterGates reads the journal: the revoke step may start only after every check
// step has passed, and it must have started exactly once per attempt recorded.
func assertRevokeAfterGates(t *testing.T, p *platform, run string) {
	t.Helper()
	r := p.rotor(t, "journal", run, "--format", "json")
	wantCode(t, r, 0, "journal json")
	var tk struct {
		Entries []struct {
			Seq      int    `json:"seq"`
			Kind     string `json:"kind"`
			Step     string `json:"step"`
			Consumer string `json:"consumer"`
			Verdict  string `json:"verdict"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tk); err != nil {
		t.Fatalf("journal json: %v", err)
	}
	passed := map[string]bool{}
	revoked := false
	for _, e := range tk.Entries {
		name := e.Step
		if e.Consumer != "" {
			name += ":" + e.Consumer
		}
		switch {
		case e.Kind == "step-done" && e.Verdict == "pass":
			passed[name] = true
		case e.Kind == "step-started" && e.Step == "revoke":
			for _, need := range []string{"readiness", "read-access", "promote", "check:api", "check:ops"} {
				if !passed[need] {
					t.Fatalf("revoke started (entry %d) before %s passed", e.Seq, need)
				}
			}
			revoked = true
		}
	}
	if !revoked {
		t.Fatal("the journal has no revoke")
	}
	if !slices.ContainsFunc(tk.Entries, func(e struct {
		Seq      int    `json:"seq"`
		Kind     string `json:"kind"`
		Step     string `json:"step"`
		Consumer string `json:"consumer"`
		Verdict  string `json:"verdict"`
	}) bool {
		return e.Kind == "step-done" && e.Step == "record"
	}) {
		t.Fatal("the journal has no record step")
	}
}
