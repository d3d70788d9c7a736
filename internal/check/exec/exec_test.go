package exec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

var (
	now   = time.Date(2026, 3, 10, 22, 0, 0, 0, time.UTC)
	since = now.Add(-time.Hour)
)

func check(t *testing.T, ctx context.Context, dir, body string, expect int) provider.CheckResult {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "probe.sh"), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := New(&Config{Command: []string{"./probe.sh", "arg"}, ExpectExit: expect}, provider.Env{BaseDir: dir, Getenv: os.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Check(ctx, provider.CheckRequest{Check: "smoke", Credential: "orders-db", Consumer: "orders-api",
		Current: provider.Version{ID: "8"}, Previous: &provider.Version{ID: "7"}, Since: since, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestCheckExitStatus(t *testing.T) {
	dir := t.TempDir()
	res := check(t, context.Background(), dir, `echo "$ROTOR_CHECK $ROTOR_CREDENTIAL $ROTOR_CONSUMER $ROTOR_VERSION $ROTOR_PREVIOUS_VERSION $ROTOR_SINCE $1"`, 0)
	if res.Verdict != provider.Pass || res.Observed != "exit 0" || !res.At.Equal(now) {
		t.Fatalf("got %+v", res)
	}
	if want := "smoke orders-db orders-api 8 7 2026-03-10T21:00:00Z arg"; !strings.Contains(res.Message, want) {
		t.Fatalf("message %q lacks %q", res.Message, want)
	}

	res = check(t, context.Background(), dir, `echo "login failed" >&2; exit 2`, 0)
	if res.Verdict != provider.Fail || res.Observed != "exit 2" || !strings.Contains(res.Message, "login failed") {
		t.Fatalf("got %+v", res)
	}

	res = check(t, context.Background(), dir, `exit 3`, 3)
	if res.Verdict != provider.Pass {
		t.Fatalf("expect_exit 3: got %+v", res)
	}
	res = check(t, context.Background(), dir, `exit 0`, 3)
	if res.Verdict != provider.Fail {
		t.Fatalf("expect_exit 3, exit 0: got %+v", res)
	}
}

func TestCheckUnknowns(t *testing.T) {
	dir := t.TempDir()
	c, err := New(&Config{Command: []string{"./missing-probe"}}, provider.Env{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Check(context.Background(), provider.CheckRequest{Now: now})
	if err != nil || res.Verdict != provider.Unknown || res.Reason != "cannot start" {
		t.Fatalf("missing program: %+v, %v", res, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res = check(t, ctx, dir, `trap '' TERM; sleep 300`, 0)
	if res.Verdict != provider.Unknown || res.Reason != "timed out" || time.Since(start) > 5*time.Second {
		t.Fatalf("timeout: %+v after %v", res, time.Since(start))
	}

	res = check(t, context.Background(), dir, `kill -KILL $$`, 0)
	if res.Verdict != provider.Unknown || res.Observed != "signal killed" {
		t.Fatalf("killed: %+v", res)
	}
}

func TestValidate(t *testing.T) {
	_, err := New(&Config{ExpectExit: 300}, provider.Env{})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.Terminal {
		t.Fatalf("err %v", err)
	}
	if n := len((&Config{ExpectExit: 300}).Validate()); n != 2 {
		t.Fatalf("%d errors, want 2", n)
	}
}
