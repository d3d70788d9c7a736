package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/sqlite"
	"github.com/rotorhq/rotor/internal/testenv"
)

// TestReadOnlyOnAFullFileSystem: the state folder is a small tmpfs, a writer died (SIGKILL)
// with its writes in the -wal, and the file system filled up. Reading the state works
// whenever the files can be read: with the -shm the dead writer left; and with none (a -shm
// lost, then the disk filled), where SQLite cannot create one and reads the -wal without it.
// Writing fails, saying the disk is full; nothing the reader does changes the database.
func TestReadOnlyOnAFullFileSystem(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if !testenv.SmallFileSystem(t, dir, 2<<20) {
		return
	}
	p := filepath.Join(dir, "rotor.db")
	if out, err := helperCmd(t, os.Args[0], "die-writing", p).CombinedOutput(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the writer should have died by SIGKILL: %v\n%s", err, out)
	}
	for _, f := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(p + f); err != nil {
			t.Fatalf("the dead writer left no %s: %v", f, err)
		}
	}
	filler := filepath.Join(dir, "filler")
	ctx := context.Background()
	read := func(what string) {
		t.Helper()
		ro, err := sqlite.Open(ctx, p, sqlite.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("%s: read-only open: %v", what, err)
		}
		defer ro.Close()
		all, err := ro.CredentialStates(ctx)
		if err != nil || len(all) != 3 || all[2].CurrentVersion != "v-c" {
			t.Fatalf("%s: CredentialStates = %+v, %v; want the 3 the dead writer saved", what, all, err)
		}
	}

	testenv.Fill(t, filler)
	before := fileSnapshot(t, dir)
	read("full, with the -shm the dead writer left")
	after := fileSnapshot(t, dir)
	delete(before, "rotor.db-shm") // SQLite's index of the -wal, rebuilt by the first reader after a crash
	delete(after, "rotor.db-shm")
	sameSnapshot(t, before, after)

	// A write says why it cannot.
	if rw, err := sqlite.Open(ctx, p, sqlite.Options{}); err == nil {
		err = saveOne(ctx, rw)
		rw.Close()
		if err == nil || !strings.Contains(err.Error(), "full") {
			t.Fatalf("a write on a full file system: %v, want it to say the disk is full", err)
		}
	} else if !strings.Contains(err.Error(), "full") {
		t.Fatalf("a read-write open on a full file system: %v, want it to say the disk is full", err)
	}

	// No -shm, and no room for one.
	if err := os.Remove(p + "-shm"); err != nil {
		t.Fatal(err)
	}
	testenv.Fill(t, filler)
	read("full, without a -shm")
	read("full, again") // SQLite's failed attempt at a -shm does not get in the way

	// Everything is still there, and writable, once there is room.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	rw := openRW(t, p)
	if err := saveOne(ctx, rw); err != nil {
		t.Fatalf("a write once there is room: %v", err)
	}
	rw.Close()
}

func saveOne(ctx context.Context, db *sqlite.DB) error {
	_, err := db.SaveRun(ctx, state.RunSave{Run: state.RunRecord{ID: "run-d", Credential: "d", Phase: "done", Data: []byte(`{}`)},
		Credential: &state.CredentialState{ID: "d"}})
	return err
}
