package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/sqlite"
	"github.com/rotorhq/rotor/internal/state/statetest"
)

// The test binary doubles as a second rotor process: with ROTOR_STATE_HELPER
// set, TestMain runs the named helper instead of the tests.
const helperEnv = "ROTOR_STATE_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "writer":
		n, _ := strconv.Atoi(os.Getenv("ROTOR_STATE_N"))
		exitOn(bumpCounter(os.Getenv("ROTOR_STATE_PATH"), "child", n))
	case "readonly-dir":
		exitOn(readOnlyDirChecks(os.Getenv("ROTOR_STATE_PATH")))
	case "die-writing":
		exitOn(dieWriting(os.Getenv("ROTOR_STATE_PATH")))
	default:
		exitOn(fmt.Errorf("unknown helper %q", os.Getenv(helperEnv)))
	}
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// bumpCounter is a writer's life: n times, read the counter and save a run
// that writes it back through the CAS and records a rotation, retrying when
// another writer won (a lost save writes nothing, so the retry reuses the run id).
func bumpCounter(path, who string, n int) error {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	for i := range n {
		for attempt := 0; ; attempt++ {
			cur, err := db.CredentialState(ctx, "counter")
			if errors.Is(err, state.ErrNotFound) {
				cur = state.CredentialState{ID: "counter"}
			} else if err != nil {
				return err
			}
			id := fmt.Sprintf("%s-%d", who, i)
			cur.CurrentVersion = id
			run := state.RunRecord{ID: id, Credential: "counter", Phase: "done", Data: []byte(`{}`)}
			rec := state.RotationRecord{CredentialID: "counter", RunID: id, ToVersion: id, CompletedAt: epoch}
			if _, err = db.SaveRun(ctx, state.RunSave{Run: run, Credential: &cur, Rotation: &rec}); err == nil {
				break
			}
			if !errors.Is(err, state.ErrConflict) || attempt > 10_000 {
				return err
			}
		}
	}
	return db.Close()
}

// dieWriting is a writer killed (SIGKILL) after its writes returned, before it closed the
// database: the -wal holds them, and the -wal and -shm stay beside the file.
func dieWriting(path string) error {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return err
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := statetest.SaveState(ctx, db, "run-"+id, state.CredentialState{ID: id, CurrentVersion: "v-" + id}); err != nil {
			return err
		}
	}
	return syscall.Kill(os.Getpid(), syscall.SIGKILL)
}

func helperCmd(t *testing.T, bin, helper, path string, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+helper, "ROTOR_STATE_PATH="+path)
	cmd.Env = append(cmd.Env, extra...)
	return cmd
}

// Two processes create, migrate and write the same new file at once. Every
// increment must land exactly once and the file must stay sound.
func TestSecondProcessWritesConcurrently(t *testing.T) {
	const n = 150
	p := filepath.Join(t.TempDir(), "shared", "rotor.db")
	cmd := helperCmd(t, os.Args[0], "writer", p, "ROTOR_STATE_N="+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	mine := bumpCounter(p, "parent", n)
	msg, _ := io.ReadAll(out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child process: %v\n%s", err, msg)
	}
	if mine != nil {
		t.Fatalf("parent: %v", mine)
	}

	db := openRW(t, p) // runs quick_check again
	defer db.Close()
	ctx := context.Background()
	c, err := db.CredentialState(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if c.Revision != 2*n {
		t.Errorf("counter revision = %d, want %d: an increment was lost or doubled", c.Revision, 2*n)
	}
	rs, err := db.Rotations(ctx, "counter", 0)
	if err != nil || len(rs) != 2*n {
		t.Errorf("rotations = %d (%v), want %d", len(rs), err, 2*n)
	}
}

// readOnlyDirChecks runs as the owner of a state directory that is not
// writable (a read-only mount, a snapshot, chmod 0500): reading must work,
// writing must fail with a message that says why, and nothing may change.
func readOnlyDirChecks(path string) error {
	ctx := context.Background()
	ro, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("read-only open in a read-only directory: %w", err)
	}
	all, err := ro.CredentialStates(ctx)
	if err != nil || len(all) != 3 {
		return fmt.Errorf("CredentialStates = %d, %v; want 3", len(all), err)
	}
	if err := ro.Close(); err != nil {
		return err
	}
	rw, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err == nil {
		rw.Close()
		return errors.New("read-write open in a read-only directory succeeded")
	}
	if want := filepath.Dir(path); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "writable") {
		return fmt.Errorf("read-write open error %q does not explain that %s must be writable", err, want)
	}
	fresh, err := sqlite.Open(ctx, filepath.Join(filepath.Dir(path), "other.db"), sqlite.Options{})
	if err == nil {
		fresh.Close()
		return errors.New("creating a database in a read-only directory succeeded")
	}
	if !errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("creating in a read-only directory: %v, want a permission error", err)
	}
	return nil
}

// A read-only directory. Root ignores directory permissions, so as root the
// checks run in a child process with the credentials of an unprivileged user
// (nobody, 65534) that owns the directory; otherwise they run in this process.
func TestReadOnlyDirectory(t *testing.T) {
	base, err := os.MkdirTemp("", "rotor-rodir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.Walk(base, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o755) })
		os.RemoveAll(base)
	})
	dir := filepath.Join(base, "state")
	p := filepath.Join(dir, "rotor.db")
	db := openRW(t, p)
	for _, id := range []string{"a", "b", "c"} {
		if err := statetest.SaveState(context.Background(), db, "run-"+id, state.CredentialState{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before := fileSnapshot(t, dir)

	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		if err := readOnlyDirChecks(p); err != nil {
			t.Fatal(err)
		}
	} else {
		const nobody = 65534
		bin := filepath.Join(base, "helper.test")
		copyFile(t, os.Args[0], bin)
		for _, q := range []string{base, bin} {
			if err := os.Chmod(q, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range []string{dir, p} {
			if err := os.Chown(q, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		cmd := helperCmd(t, bin, "readonly-dir", p)
		cmd.Env = append(cmd.Env, "HOME=/nonexistent")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("checks as uid %d: %v\n%s", nobody, err, out)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, before, fileSnapshot(t, dir))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
