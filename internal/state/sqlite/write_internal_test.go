package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/statetest"
)

// TestGroupCommit holds the first write open until seven others are queued behind it, so the
// seven must share one transaction; two of them lose their CAS. The losers change nothing,
// the winners are all stored, and the writes took two commits, not eight.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "r.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 8 {
		if err := statetest.SaveState(ctx, db, fmt.Sprintf("c%d-v1", i), state.CredentialState{ID: fmt.Sprintf("c%d", i), CurrentVersion: "v1"}); err != nil {
			t.Fatal(err)
		}
	}
	before := db.WriteStats()

	release, started := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- db.write(ctx, "held", func(ctx context.Context, tx *sql.Tx) error {
			close(started)
			<-release
			_, err := db.exec(ctx, tx, qUpdateCredentialState, "v2", "", nil, nil, formatTime(time.Now()), "c0", 1)
			return err
		})
	}()
	waitQueued := func(n int) {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			db.batch.mu.Lock()
			q := len(db.batch.queue)
			db.batch.mu.Unlock()
			if q == n {
				return
			}
		}
		t.Fatalf("never saw %d queued writes", n)
	}
	<-started // the held write runs in its own batch, holding the writer
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := 1; i < 8; i++ {
		rev := int64(1)
		if i == 3 || i == 6 {
			rev = 7 // stale: loses the CAS
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = statetest.SaveState(ctx, db, fmt.Sprintf("c%d-v2", i), state.CredentialState{ID: fmt.Sprintf("c%d", i), CurrentVersion: "v2", Revision: rev})
		}()
	}
	waitQueued(7)
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 8; i++ {
		got, err := db.CredentialState(ctx, fmt.Sprintf("c%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if i == 3 || i == 6 {
			if !errors.Is(errs[i], state.ErrConflict) || got.CurrentVersion != "v1" || got.Revision != 1 {
				t.Fatalf("c%d: stale write: err %v, stored %s rev %d", i, errs[i], got.CurrentVersion, got.Revision)
			}
			continue
		}
		if errs[i] != nil || got.CurrentVersion != "v2" || got.Revision != 2 {
			t.Fatalf("c%d: err %v, stored %s rev %d", i, errs[i], got.CurrentVersion, got.Revision)
		}
	}
	st := db.WriteStats()
	if w, c := st.Writes-before.Writes, st.Commits-before.Commits; w != 8 || c != 2 {
		t.Fatalf("8 writes took %d commits (counted %d writes); want 2: the seven queued writes share one", c, w)
	}
}

// TestCancelledWriteWritesNothing: a caller whose context ends before its turn gets the
// error and its write never runs.
func TestCancelledWriteWritesNothing(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "r.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err = db.write(ctx, "cancelled", func(context.Context, *sql.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("err %v, ran %v", err, ran)
	}
}
