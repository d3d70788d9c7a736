package cli

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the golden sections of testdata/script/*.txtar")

// TestMain makes the test binary double as the rotor executable for the scripts, so they run
// the CLI in its own process, with its own working directory, environment and exit code.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"rotor-under-test": func() {
			env := Env{Stdout: os.Stdout, Stderr: os.Stderr}
			// The clock is fixed by ROTOR_TEST_NOW, so outputs that depend on "now" can be
			// pinned. Only this test entry point reads it; cmd/rotor does not.
			if s := os.Getenv("ROTOR_TEST_NOW"); s != "" {
				now, err := time.Parse(time.RFC3339, s)
				if err != nil {
					panic(err)
				}
				env.Now = func() time.Time { return now }
			}
			os.Exit(Main(context.Background(), os.Args[1:], env))
		},
	})
}

// TestScripts runs the CLI contract: each testdata/script/*.txtar is a shell-like script with
// its own files. `rotor ARGS` runs the CLI as a process and records its exit code; `exits N`
// asserts it. Golden outputs live in the scripts; refresh them with
// `go test ./internal/cli -run TestScripts -update` and review the diff.
func TestScripts(t *testing.T) {
	examples, err := filepath.Abs("../../examples/platform")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(e *testscript.Env) error {
			e.Setenv("EXAMPLES", examples)
			e.Setenv("ROTOR_STATE_DIR", filepath.Join(e.WorkDir, ".state"))
			e.Setenv("XDG_STATE_HOME", filepath.Join(e.WorkDir, ".xdg"))
			return nil
		},
		Cmds: scriptCmds,
	})
}

// scriptCmds are the commands of the CLI's test scripts: `rotor ARGS…` runs the binary under
// test and records its exit code (a failure fails the script unless negated with !), and
// `exits CODE` asserts that code.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"rotor": func(ts *testscript.TestScript, neg bool, args []string) {
		err := ts.Exec("rotor-under-test", args...)
		code := 0
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			ts.Fatalf("rotor: %v", err)
		}
		ts.Setenv("EXIT", strconv.Itoa(code))
		if (code != 0) != neg {
			ts.Fatalf("rotor %v: exit %d", args, code)
		}
	},
	"exits": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: exits CODE")
		}
		if got := ts.Getenv("EXIT"); got != args[0] {
			ts.Fatalf("rotor exited %s, want %s", got, args[0])
		}
	},
}
