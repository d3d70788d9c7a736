package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/testenv"
)

// TestStateFileSystemFull injects issue 20's disk faults into a real file system: the state
// folder is a small tmpfs that fills up, before a run, in the middle of one (consumer api's
// reload fills it, like a log growing on the same disk), and after a rotor was killed with
// its writes in the -wal. rotor does no harm — nothing half-done, no second mint, every run
// resumed to done once there is room, every journal verified — and says what happened:
//   - a write that fails names the full file system and says what to do (exit 1);
//   - the next rotate, the disk still full, finds the lock of the rotor that failed, cannot
//     take it over, and says exactly that: never "another rotor" (item 3);
//   - the read commands work all along, with the -wal and -shm a dead writer left, and
//     without a -shm and no room to create one (item 4).
func TestStateFileSystemFull(t *testing.T) {
	p := newPlatform(t, platformOpts{})
	stateDir := filepath.Join(p.dir, "state")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if !testenv.SmallFileSystem(t, stateDir, 8<<20, envBin+"="+binDir) {
		return
	}
	inv := filepath.Join(p.dir, "inventory", "rotor.yaml")
	b, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(b), `reload: {type: exec, command: ["true"]}`,
		`reload: {type: exec, command: ["sh", "-c", "if [ -e ../fill-now ]; then cat /dev/zero > ../state/filler 2>/dev/null; fi; true"]}`, 1)
	writeFile(t, inv, y)
	filler, trigger := filepath.Join(stateDir, "filler"), filepath.Join(p.dir, "fill-now")
	free := func() {
		t.Helper()
		for _, f := range []string{filler, trigger} {
			if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
	}
	reads := func(what, run string) {
		t.Helper()
		for _, args := range [][]string{{"runs", "--all"}, {"status", run}, {"journal", "verify", run}, {"journal", run}} {
			if r := p.rotor(t, args...); r.code != 0 {
				t.Fatalf("%s: rotor %s must work:\n%s", what, strings.Join(args, " "), r)
			}
		}
	}
	versions := func(want int) {
		t.Helper()
		if n := len(p.index(t).Versions); n != want {
			t.Fatalf("%d versions in the store, want %d: one mint per run", n, want)
		}
	}

	r := p.rotor(t, "rotate", credential, "--as", "alice")
	wantCode(t, r, 0, "first rotation")
	first := runOf(t, r)

	// Full before a run: refused at once, nothing minted, and the reads work.
	testenv.Fill(t, filler)
	r = p.rotor(t, "rotate", credential, "--now", "--as", "alice")
	t.Logf("rotate on a full disk:\n%s", r)
	if r.code != 1 || !contains(r.stderr, "database or disk is full", "the file system holding it is full", "hint: free space") {
		t.Fatalf("rotate on a full disk must fail saying so:\n%s", r)
	}
	versions(1)
	reads("full before a run", first)
	free()

	// Full during a run: api's reload fills the disk, the save after it fails.
	writeFile(t, trigger, "")
	r = p.rotor(t, "rotate", credential, "--now", "--as", "alice")
	t.Logf("rotate whose disk fills up mid-run:\n%s", r)
	if r.code != 1 || !contains(r.stderr, "database or disk is full", "not recorded: the state could not be saved", "hint: free space") {
		t.Fatalf("rotate whose disk fills up mid-run must fail saying so:\n%s", r)
	}
	run := p.runID(t)
	if run == first {
		t.Fatal("the run that failed mid-way was not stored")
	}
	reads("full during a run", run)
	t.Logf("status on the full disk:\n%s", p.rotor(t, "status", run))
	if st := p.status(t, run); st.Run.Phase != "cutting-over" {
		t.Fatalf("phase %s, want cutting-over (the reload's intent is saved, its outcome is not)", st.Run.Phase)
	}

	// The retry, the disk still full: the lock is the failed rotor's, whose process is gone.
	r = p.rotor(t, "rotate", credential, "--as", "alice")
	t.Logf("retry on a full disk:\n%s", r)
	if r.code != 1 || strings.Contains(r.stderr, "another rotor") ||
		!contains(r.stderr, "which is no longer running", "taking its lock over failed", "database or disk is full", "the next rotor rotate takes the lock over") {
		t.Fatalf("the retry must say the lock's holder is gone and why the takeover failed, never 'another rotor':\n%s", r)
	}

	// Room again: the run resumes where it stopped and finishes; one mint.
	free()
	r = p.rotor(t, "rotate", credential, "--as", "alice")
	wantCode(t, r, 0, "rotate once there is room")
	if runOf(t, r) != run {
		t.Fatalf("rotate started a new run instead of resuming %s:\n%s", run, r)
	}
	versions(2)
	wantCode(t, p.rotor(t, "journal", "verify", run), 0, "journal verify")

	// A rotor killed mid-run leaves its writes in the -wal, and the -wal and -shm beside the
	// file; then the disk fills. The reads work, with the -shm, and with none.
	r = p.rotorEnv(t, []string{"ROTOR_TEST_CRASH_AT=outcome:promote"}, "rotate", credential, "--now", "--as", "alice")
	if !r.killed {
		t.Fatalf("rotor was not killed at outcome:promote:\n%s", r)
	}
	for _, f := range []string{"rotor.db-wal", "rotor.db-shm"} {
		if _, err := os.Stat(filepath.Join(stateDir, f)); err != nil {
			t.Fatalf("the killed rotor left no %s: %v", f, err)
		}
	}
	testenv.Fill(t, filler)
	crashed := p.runID(t)
	reads("full after a rotor was killed", crashed)
	if err := os.Remove(filepath.Join(stateDir, "rotor.db-shm")); err != nil {
		t.Fatal(err)
	}
	testenv.Fill(t, filler)
	reads("full, the -shm gone and no room for one", crashed)
	if st := p.status(t, crashed); st.Run.Phase != "cutting-over" {
		t.Fatalf("phase %s, want cutting-over: the killed rotor's writes are in the -wal", st.Run.Phase)
	}

	free()
	r = p.rotor(t, "rotate", credential, "--as", "alice")
	wantCode(t, r, 0, "rotate after the crash, once there is room")
	if runOf(t, r) != crashed {
		t.Fatalf("rotate did not resume %s:\n%s", crashed, r)
	}
	versions(3)
	wantCode(t, p.rotor(t, "journal", "verify", crashed), 0, "journal verify")
}
