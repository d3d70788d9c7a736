package sops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// repo commits the store's changes to the git repository that holds the file.
type repo struct {
	dir, base string // the file's folder and name
	author    string // "Name <email>", or "" for git's own configuration
}

// git runs git in the file's folder with the user's environment (their configuration, hooks
// and signing apply) and returns its standard output.
func (g repo) git(ctx context.Context, args ...string) (string, error) {
	if g.author != "" {
		name, email, _ := strings.Cut(strings.TrimSuffix(g.author, ">"), " <")
		args = append([]string{"-c", "user.name=" + name, "-c", "user.email=" + email}, args...)
	}
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", g.dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	cmd.WaitDelay = 5 * time.Second
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %s", args[0], explain(stderr.Bytes(), nil))
		}
		return "", fmt.Errorf("git: %w (is git installed?)", err)
	}
	return out.String(), nil
}

// ready proves that a commit can follow a change: git runs, the file is tracked in a work
// tree, and it has no change of someone else's waiting to be committed (rotor commits the
// file whole, under its own message: it must not sweep another's edit into it). A file with
// such changes is left to a person (NeedsHuman): commit or revert them, then run rotor again.
// That includes a change of rotor's own whose commit failed (see commit).
func (g repo) ready(ctx context.Context, op string) error {
	if _, err := g.git(ctx, "ls-files", "--error-unmatch", "--", g.base); err != nil {
		if ctx.Err() != nil {
			return provider.Wrap(provider.Retryable, op, ctx.Err())
		}
		return provider.Errorf(provider.Terminal, op, "git: commit is set, but %s is not a file tracked in a git work tree (%v): add and commit it first, or set git.commit to false",
			filepath.Join(g.dir, g.base), err)
	}
	if _, err := g.git(ctx, "var", "GIT_COMMITTER_IDENT"); err != nil {
		return provider.Errorf(provider.Terminal, op, "git cannot name who commits (%v): set the store's git.author, or git's user.name and user.email", err)
	}
	st, err := g.git(ctx, "status", "--porcelain", "--", g.base)
	if err != nil {
		return provider.Wrap(provider.Terminal, op, err)
	}
	if strings.TrimSpace(st) != "" {
		return provider.Errorf(provider.NeedsHuman, op, "%s has changes not committed to git (%s): rotor commits only its own changes; commit or revert them, then run rotor again",
			filepath.Join(g.dir, g.base), strings.TrimSpace(st))
	}
	return nil
}

// commit commits the file, and only it, with msg. A failed commit leaves the change made and
// not committed: the error (NeedsHuman) gives the message to commit it with by hand, and the
// next change refuses to run until it is (ready).
func (g repo) commit(ctx context.Context, op, msg string) error {
	if _, err := g.git(ctx, "commit", "--quiet", "--message", msg, "--", g.base); err != nil {
		return provider.Errorf(provider.NeedsHuman, op,
			"the change to %s is made but not committed (%v): commit it by hand (git commit -m %q -- %s), then run rotor again",
			filepath.Join(g.dir, g.base), err, firstLine(msg), g.base)
	}
	return nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
