package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/rotation"
)

// TestFirstVerifyWaitsForTheFirstBin (issue 12, dead end 7): a log check with no window of
// its own, evaluated right at cutover, has seen nothing yet. Its evidence is complete once it
// spans one bin, so a rotate that may wait (--wait) waits for that bin and then judges the
// lines in it — instead of stopping at "no log lines in the window" for good.
func TestFirstVerifyWaitsForTheFirstBin(t *testing.T) {
	f := newFixture(t, "    checks: [auth-errors]\n", `---
checks:
  auth-errors:
    type: log
    source: {type: file, path: access.log, format: combined}
    match: {status: [401]}
    bin: 10s
    max: 0
`)
	// The service's access log, already holding its requests of the seconds after the cutover
	// (the fake clock stands still at 14:00:00 until rotor waits).
	line := `10.0.0.7 - - [10/Mar/2026:14:00:05 +0000] "GET /api HTTP/1.1" 200 12 "-" "curl"` + "\n"
	if err := os.WriteFile(filepath.Join(f.dir, "inventory", "access.log"), []byte(strings.Repeat(line, 3)), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := f.engine("alice").Rotate(context.Background(), f.call("alice"), "api-key", rotation.StageRevoke)
	if err != nil {
		t.Fatal(err)
	}
	if res.Run.Phase != rotation.Done {
		t.Fatalf("phase %s, stopped at %+v: want the first bin waited for and the run done", res.Run.Phase, res.Action.Gate)
	}
	st := res.Run.Step(rotation.StepSignals, "")
	binEnd := time.Date(2026, 3, 10, 14, 0, 10, 0, time.UTC)
	if st.Verdict != "pass" || st.FinishedAt.Before(binEnd) || !st.FinishedAt.Before(binEnd.Add(time.Second)) {
		t.Errorf("signals %s at %s, want pass at 14:00:10 (the first bin's end)", st.Verdict, st.FinishedAt)
	}
}
