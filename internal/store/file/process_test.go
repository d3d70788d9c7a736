package file_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/file"
)

// The test binary doubles as a second process: with ROTOR_FILE_HELPER set, TestMain runs the
// named helper instead of the tests.
const helperEnv = "ROTOR_FILE_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "hold-lock":
		exitOn(holdLock(os.Getenv("ROTOR_FILE_DIR")))
	case "writer":
		n, _ := strconv.Atoi(os.Getenv("ROTOR_FILE_N"))
		exitOn(writeMany(os.Getenv("ROTOR_FILE_DIR"), os.Getenv("ROTOR_FILE_RECIPIENT"), "child", n))
	case "check-write-readonly":
		exitOn(checkWriteReadOnly(os.Getenv("ROTOR_FILE_DIR")))
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

// holdLock takes the credential folder's lock the way any process would (flock on .lock),
// says so on stdout, and holds it until stdin closes.
func holdLock(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// helperStore opens the store whose credential folder is dir (dir's parent, name "cred").
func helperStore(dir string) (*file.Store, error) {
	return file.New(file.Config{Dir: filepath.Dir(dir), Name: filepath.Base(dir)},
		provider.Env{Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }, Rand: rand.Reader})
}

func writeMany(dir, recipient, who string, n int) error {
	s, err := helperStore(dir)
	if err != nil {
		return err
	}
	readers := []provider.Identity{{ID: "w", Type: "age", Config: &identity.Age{Recipient: recipient}}}
	for i := range n {
		resp, err := s.Put(context.Background(), provider.PutRequest{Credential: "cred", Key: fmt.Sprintf("%s-%d", who, i),
			Value: secret.FromString(fmt.Sprintf("value-%s-%d-0123456789", who, i)), Readers: readers})
		if err != nil {
			return err
		}
		if !resp.Created {
			return fmt.Errorf("Put %s-%d: not created", who, i)
		}
	}
	return nil
}

func helperCmd(bin, helper, dir string, extra ...string) *exec.Cmd {
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+helper, "ROTOR_FILE_DIR="+dir)
	cmd.Env = append(cmd.Env, extra...)
	return cmd
}

// Another process holds the lock: a change waits, gives up with a Retryable error when its
// context ends (naming the lock file), leaves the index alone, and goes through once the
// other process lets go. Reads never wait.
func TestLockHeldByAnotherProcess(t *testing.T) {
	f := newFixture(t)
	v1 := put(t, f, "run-1", secret.FromString("value-1-0123456789abcdef"))
	dir := filepath.Join(f.storeDir, "cred")
	before := readFile(t, filepath.Join(dir, "index.json"))

	cmd := helperCmd(os.Args[0], "hold-lock", dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = f.store.Put(short, provider.PutRequest{Credential: "cred", Value: secret.FromString("value-2-0123456789abcdef"), Key: "run-2", Readers: f.readers()})
	if provider.KindOf(err) != provider.Retryable || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), filepath.Join(dir, ".lock")) {
		t.Fatalf("Put while another process holds the lock: %v; want Retryable, naming the lock file", err)
	}
	if got := readFile(t, filepath.Join(dir, "index.json")); got != before {
		t.Fatal("the index changed while another process held the lock")
	}
	if vs, err := f.store.Versions(ctx, provider.VersionsRequest{Credential: "cred"}); err != nil || len(vs.Versions) != 1 || vs.Versions[0].ID != v1.ID {
		t.Fatalf("Versions while locked = %v, %v", vs.Versions, err)
	}

	// Let go while a Put waits: it must go through.
	done := make(chan error, 1)
	go func() {
		_, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("value-2-0123456789abcdef"), Key: "run-2", Readers: f.readers()})
		done <- err
	}()
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Put after the other process let go: %v", err)
	}
}

// Two processes write the same credential at once: every Put lands once, with its own
// sequence number, and the index stays sound.
func TestTwoProcessesWrite(t *testing.T) {
	const n = 25
	f := newFixture(t)
	dir := filepath.Join(f.storeDir, "cred")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	recipient := f.executor.Config.(*identity.Age).Recipient
	cmd := helperCmd(os.Args[0], "writer", dir, "ROTOR_FILE_N="+strconv.Itoa(n), "ROTOR_FILE_RECIPIENT="+recipient)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	mine := writeMany(dir, recipient, "parent", n)
	msg, _ := io.ReadAll(out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, msg)
	}
	if mine != nil {
		t.Fatalf("parent: %v", mine)
	}
	vs, err := f.store.Versions(ctx, provider.VersionsRequest{Credential: "cred"})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Versions) != 2*n {
		t.Fatalf("%d versions, want %d: a Put was lost", len(vs.Versions), 2*n)
	}
	var keys []string
	for i, v := range vs.Versions {
		if want := fmt.Sprintf("v%04d-", 2*n-i); !strings.HasPrefix(v.ID, want) {
			t.Errorf("versions[%d] = %s, want %s…", i, v.ID, want)
		}
		keys = append(keys, v.Key)
	}
	slices.Sort(keys)
	if len(slices.Compact(keys)) != 2*n {
		t.Error("a key appears twice")
	}
	ents, err := os.ReadDir(filepath.Join(dir, "versions"))
	if err != nil || len(ents) != 2*n {
		t.Errorf("%d version files (%v), want %d", len(ents), err, 2*n)
	}
}

// checkWriteReadOnly runs as the owner of a credential folder it may not write (a read-only
// mount, chmod 0500): readiness must say Denied, and reading must still work.
func checkWriteReadOnly(dir string) error {
	s, err := helperStore(dir)
	if err != nil {
		return err
	}
	err = s.CheckWrite(context.Background(), provider.CheckWriteRequest{Credential: "cred"})
	if provider.KindOf(err) != provider.Denied {
		return fmt.Errorf("CheckWrite in a read-only folder: %v, want Denied", err)
	}
	if !strings.Contains(err.Error(), dir) {
		return fmt.Errorf("CheckWrite error %q does not name %s", err, dir)
	}
	vs, err := s.Versions(context.Background(), provider.VersionsRequest{Credential: "cred"})
	if err != nil || len(vs.Versions) != 1 {
		return fmt.Errorf("Versions in a read-only folder = %v, %v", vs.Versions, err)
	}
	return nil
}

// A folder the executor cannot write fails readiness as Denied. Root ignores permissions,
// so as root the check runs in a child process as an unprivileged user (nobody) that owns
// the folder.
func TestCheckWriteReadOnlyFolder(t *testing.T) {
	base, err := os.MkdirTemp("", "rotor-file-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.Walk(base, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o755) })
		os.RemoveAll(base)
	})
	s, err := file.New(file.Config{Dir: base, Name: "cred"}, testEnv(t, base))
	if err != nil {
		t.Fatal(err)
	}
	w := ageIdentity(t, base, "w")
	if _, err := s.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("value-0123456789abcdef"), Key: "k", Readers: []provider.Identity{w}}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "cred")
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		if err := checkWriteReadOnly(dir); err != nil {
			t.Fatal(err)
		}
		return
	}
	const nobody = 65534
	bin := filepath.Join(base, "helper.test")
	copyFile(t, os.Args[0], bin)
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, nobody, nobody)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	cmd := helperCmd(bin, "check-write-readonly", dir, "HOME=/nonexistent")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("checks as uid %d: %v\n%s", nobody, err, out)
	}
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

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
