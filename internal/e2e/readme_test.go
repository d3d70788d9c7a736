package e2e

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

var updateReadme = flag.Bool("update", false, "rewrite the README's sample of rotor rotate with the demo's real output")

// demoCommand is the command of scripts/demo.sh whose output the README shows.
const demoCommand = "$ rotor rotate partner-key --now --as alice --wait 20s"

// TestReadmeShowsRealOutput runs scripts/demo.sh — a fresh clone's first command — and holds
// the README's sample of `rotor rotate` to what rotor really prints there, line for line, the
// one short clause after each step included. Run ids, version ids, fingerprints, times, pids,
// counts and the demo's temporary folder differ from run to run and are compared as what
// they are; a clause rotor cut short (…) is compared up to the cut. With -update the README's
// block is rewritten from this run's output: review the diff.
func TestReadmeShowsRealOutput(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..")
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "demo.sh"))
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/demo.sh: %v\n%s", err, out)
	}
	real := demoBlock(t, ansi.ReplaceAllString(string(out), ""))

	readme := filepath.Join(root, "README.md")
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(b), "```\n"+demoCommand+"\n")
	if start < 0 {
		t.Fatalf("README.md has no sample block starting with %q", demoCommand)
	}
	start += len("```\n")
	end := start + strings.Index(string(b[start:]), "```\n")
	shown := string(b[start:end])
	if *updateReadme {
		if err := os.WriteFile(readme, []byte(string(b[:start])+real+string(b[end:])), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("README.md's sample rewritten:\n%s", real)
		return
	}
	got, want := strings.Split(strings.TrimSuffix(real, "\n"), "\n"), strings.Split(strings.TrimSuffix(shown, "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("README.md shows %d lines of %q, rotor prints %d (go test ./internal/e2e -run TestReadmeShowsRealOutput -update):\n--- README\n%s--- rotor\n%s",
			len(want), demoCommand, len(got), shown, real)
	}
	for i := range got {
		if !sameLine(got[i], want[i]) {
			t.Errorf("line %d differs (go test ./internal/e2e -run TestReadmeShowsRealOutput -update):\n README: %s\n  rotor: %s", i+1, want[i], got[i])
		}
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// demoBlock is the demo's output from demoCommand to its exit line, inclusive.
func demoBlock(t *testing.T, out string) string {
	t.Helper()
	i := strings.Index(out, demoCommand+"\n")
	if i < 0 {
		t.Fatalf("the demo did not run %q:\n%s", demoCommand, out)
	}
	rest := out[i:]
	j := strings.Index(rest, "\n(exit ")
	if j < 0 {
		t.Fatalf("the demo's %q did not end with an exit line:\n%s", demoCommand, rest)
	}
	k := strings.Index(rest[j+1:], "\n")
	return rest[:j+1+k+1]
}

// What changes from run to run, and what it is compared as.
var variable = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`r\d{8}T\d{6}-[0-9a-f]{6}`), "RUN"},
	{regexp.MustCompile(`v\d{4}-[0-9a-f]{8}`), "VERSION"},
	{regexp.MustCompile(`hmac-sha256:[0-9a-f]+`), "FINGERPRINT"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "TIME"},
	{regexp.MustCompile(`\d\d:\d\d UTC`), "HH:MM UTC"},
	{regexp.MustCompile(`/[^\s()]*/rotor-demo\.[A-Za-z0-9]+`), "DEMO"},
	{regexp.MustCompile(`\d+(\.\d+)?(ms|µs|s)\b`), "DURATION"},
	{regexp.MustCompile(`\d+`), "N"},
}

func normalize(s string) string {
	for _, v := range variable {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// sameLine compares a line of rotor's output with the README's: equal once normalized, or,
// when rotor cut the line short (…), equal up to the shorter cut.
func sameLine(got, want string) bool {
	g, w := normalize(got), normalize(want)
	if g == w {
		return true
	}
	gc, wc := strings.HasSuffix(g, "…"), strings.HasSuffix(w, "…")
	if !gc && !wc {
		return false
	}
	g, w = strings.TrimSuffix(g, "…"), strings.TrimSuffix(w, "…")
	// A value cut in the middle (a time, an id) normalizes differently: compare up to a
	// few characters before the shorter cut.
	n := max(0, min(len(g), len(w))-12)
	return n > 40 && g[:n] == w[:n]
}
