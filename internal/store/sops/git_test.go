package sops_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/sops"
)

// git runs git in the fixture's folder, as a test's own user (never the machine's
// configuration).
func git(t *testing.T, f fixture, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", f.base, "-c", "user.name=Test", "-c", "user.email=test@example.test",
		"-c", "commit.gpgsign=false"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/local/bin", "HOME=" + f.base, "GIT_CONFIG_NOSYSTEM=1"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// gitFixture is the fixture's file committed in a fresh repository, and a store that commits.
func gitFixture(t *testing.T) (fixture, *sops.Store) {
	t.Helper()
	f := newFixture(t, "yaml", "ops.enc.yaml", plainYAML)
	git(t, f, "init", "--quiet")
	git(t, f, "add", "ops.enc.yaml")
	git(t, f, "commit", "--quiet", "-m", "secrets")
	return f, f.with(t, func(c *sops.Config) {
		c.Git = sops.Config{}.Git
		c.Git.Commit, c.Git.Author = true, "rotor <rotor@example.test>"
	})
}

// TestGitCommitsEachChange: with git.commit, every change is one commit of the file alone, by
// the configured author, whose message names the credential, the run and the version ids —
// so the change ticket and git history agree — and never a value.
func TestGitCommitsEachChange(t *testing.T) {
	f, s := gitFixture(t)
	t.Setenv("HOME", f.base) // rotor's git reads the user's configuration: this test's empty one
	writeFile(t, f.base+"/notes.txt", "someone else's work in progress\n")
	git(t, f, "add", "notes.txt") // staged, not rotor's: must stay out of rotor's commits
	values := []string{"CANARY-3b7f0e-git-one", "CANARY-3b7f0e-git-two"}
	p1, err := s.Put(ctx, provider.PutRequest{Credential: "ops-bastion-key", Value: secret.FromString(values[0]), Key: "run-aaa", Readers: f.readers(), As: f.executor})
	if err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error {
			_, err := s.Promote(ctx, provider.PromoteRequest{Credential: "ops-bastion-key", Version: p1.Version.ID, As: f.executor, RunID: "run-aaa"})
			return err
		},
	}
	var p2 provider.PutResponse
	steps = append(steps,
		func() (err error) {
			p2, err = s.Put(ctx, provider.PutRequest{Credential: "ops-bastion-key", Value: secret.FromString(values[1]), Key: "run-bbb", Readers: f.readers(), As: f.executor})
			return err
		},
		func() error {
			_, err := s.Promote(ctx, provider.PromoteRequest{Credential: "ops-bastion-key", Version: p2.Version.ID, As: f.executor, RunID: "run-bbb"})
			return err
		},
		func() error {
			return s.Disable(ctx, provider.ToggleRequest{Credential: "ops-bastion-key", Version: p1.Version.ID, As: f.executor, RunID: "run-bbb"})
		},
		func() error {
			return s.Delete(ctx, provider.ToggleRequest{Credential: "ops-bastion-key", Version: p1.Version.ID, As: f.executor, RunID: "run-bbb"})
		},
	)
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	log := git(t, f, "log", "--format=@@%an <%ae>|%s%n%b", "--name-only", "HEAD~6..HEAD")
	for _, v := range values {
		if strings.Contains(log, v) {
			t.Fatalf("a commit message carries a value:\n%s", log)
		}
	}
	commits := strings.Split(log, "@@")[1:]
	if len(commits) != 6 {
		t.Fatalf("%d commits for 6 changes:\n%s", len(commits), log)
	}
	wants := [][]string{ // newest first
		{"rotor: ops-bastion-key: delete " + p1.Version.ID, "Rotor-Run: run-bbb"},
		{"rotor: ops-bastion-key: disable " + p1.Version.ID, "Rotor-Run: run-bbb"},
		{"make " + p2.Version.ID + " current (" + p1.Version.ID + " previous)", "Rotor-Run: run-bbb"},
		{"store " + p2.Version.ID + " as pending", "Rotor-Run: run-bbb"},
		{"make " + p1.Version.ID + " current", "Rotor-Run: run-aaa"},
		{"store " + p1.Version.ID + " as pending", "Rotor-Run: run-aaa", "Rotor-Versions: " + p1.Version.ID + " (pending)"},
	}
	for i, c := range commits {
		for _, w := range append(wants[i], "rotor <rotor@example.test>|", "ops.enc.yaml", "Rotor-Credential: ops-bastion-key") {
			if !strings.Contains(c, w) {
				t.Errorf("commit %d lacks %q:\n%s", i, w, c)
			}
		}
		if strings.Contains(c, "notes.txt") {
			t.Errorf("commit %d swept in a file staged by someone else:\n%s", i, c)
		}
	}
	if st := git(t, f, "status", "--porcelain", "--", "ops.enc.yaml"); st != "" {
		t.Errorf("the file is not clean after rotor's commits: %s", st)
	}

	// A change of someone else's, not committed, is not swept into rotor's commit: rotor
	// refuses, naming the file, and writes nothing.
	sopsSet(t, f, `["db"]["host"]`, `"uncommitted"`)
	err = s.Enable(ctx, provider.ToggleRequest{Credential: "ops-bastion-key", Version: p2.Version.ID, As: f.executor, RunID: "run-ccc"})
	if err != nil {
		t.Fatalf("Enable of an enabled version changes nothing, so needs no commit: %v", err)
	}
	_, err = s.Put(ctx, provider.PutRequest{Credential: "ops-bastion-key", Value: secret.FromString("v3"), Key: "run-ccc", Readers: f.readers(), As: f.executor})
	wantKind(t, err, provider.NeedsHuman, f.file, "not committed", "commit or revert")
	err = s.CheckWrite(ctx, provider.CheckWriteRequest{Credential: "ops-bastion-key", As: f.executor, Readers: f.readers()})
	wantKind(t, err, provider.NeedsHuman, "not committed")
}

// TestGitCommitNeedsATrackedFile: git.commit on a file git does not track is refused at
// readiness.
func TestGitCommitNeedsATrackedFile(t *testing.T) {
	f := newFixture(t, "yaml", "ops.enc.yaml", plainYAML)
	git(t, f, "init", "--quiet")
	s := f.with(t, func(c *sops.Config) { c.Git.Commit = true })
	err := s.CheckWrite(ctx, provider.CheckWriteRequest{Credential: "cred", As: f.executor, Readers: f.readers()})
	wantKind(t, err, provider.Terminal, "not a file tracked", f.file)
}
