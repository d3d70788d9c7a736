package engine_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/rotation"
)

// TestRollbackRecordsWhatHappened (issue 12, dead end 8): the exception-opened entry holds
// the exception as opened — its opening time and state, not a zero time and an empty state —
// and the first rollback is attempt 1.
func TestRollbackRecordsWhatHappened(t *testing.T) {
	f := newFixture(t, "    soak: 1h\n")
	f.rotate("alice")
	call := f.call("alice")
	call.MaxWait = 0
	res, err := f.engine("alice").Rotate(context.Background(), call, "api-key", rotation.StageRevoke)
	if err != nil || res.Action.Gate.Gate != "soak" {
		t.Fatalf("second rotation: %v, at %+v; want the soak", err, res.Action.Gate)
	}
	opened := f.clock()
	rb, err := f.engine("bob").Rollback(context.Background(), f.call("bob"), res.Run.ID,
		engine.RollbackRequest{Consumers: []string{"api"}, Owner: "team-a", Expires: 2 * time.Hour, Reason: "api fails on the new key"})
	if err != nil {
		t.Fatal(err)
	}
	if st := rb.Run.Step(rotation.StepRollback, ""); st.Status != rotation.OK || st.Attempt != 1 {
		t.Errorf("rollback step %s, attempt %d; want done at attempt 1", st.Status, st.Attempt)
	}
	var ex *rotation.Exception
	for _, en := range f.journalOf(res.Run.ID) {
		if en.Kind == journal.KindExceptionOpened {
			ex = new(rotation.Exception)
			if err := json.Unmarshal(en.Data, ex); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ex == nil || !ex.Opened.Equal(opened) || ex.State != "open" || ex.OpenedBy != "bob" {
		t.Fatalf("exception-opened entry holds %+v; want opened at %s, state open, by bob", ex, opened)
	}
}
