package sops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// The sops binary: rotor drives it rather than linking the SOPS Go library, which would
// double rotor's binary (every cloud KMS SDK comes with it) and does not build against
// rotor's other dependencies without a replace directive (see the README).

// installHint is how to get a sops rotor can drive.
const installHint = "install sops 3.9 or newer (a release from https://github.com/getsops/sops/releases, or: go install github.com/getsops/sops/v3/cmd/sops@v3.13.3), or set the store's binary: to its path"

// minVersion is the oldest sops rotor drives: 3.9 brought `set --value-stdin` (the value never
// on a command line) and `unset`.
var minVersion = [3]int{3, 9, 0}

// Exit codes of sops (cmd/sops/codes) that rotor tells apart.
const (
	exitNoDataKey   = 128 // CouldNotRetrieveKey: no key given could decrypt the data key
	exitMACMismatch = 51
	exitMACNotFound = 52
	exitDecryptMAC  = 24
	exitDecryptTree = 25
)

// runner runs sops for one file.
type runner struct {
	bin    string // as configured; "" is sops in PATH
	dir    string // the file's folder: sops finds .sops.yaml (its store settings) from there
	format string
	getenv func(string) string
}

// versions caches, per executable path, the version check's answer.
var versions sync.Map // string → error

// resolve finds the executable, and checks once per process that it is a sops rotor can drive.
func (r runner) resolve(ctx context.Context) (string, error) {
	name := r.bin
	if name == "" {
		name = "sops"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", provider.Errorf(provider.Terminal, "sops", "no sops executable (%s not found): %s", name, installHint)
	}
	if v, ok := versions.Load(path); ok {
		if v == nil {
			return path, nil
		}
		return "", v.(error)
	}
	err = checkVersion(ctx, path)
	if err != nil && provider.KindOf(err) == provider.Retryable {
		return "", err // not cached: try again next time
	}
	versions.Store(path, err)
	if err != nil {
		return "", err
	}
	return path, nil
}

var versionLine = regexp.MustCompile(`sops ([0-9]+)\.([0-9]+)\.([0-9]+)`)

func checkVersion(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version", "--disable-version-check")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.DevNull}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return provider.Errorf(provider.Retryable, "sops", "%s --version did not answer: %v", path, ctx.Err())
	}
	m := versionLine.FindSubmatch(out)
	if err != nil || m == nil {
		return provider.Errorf(provider.Terminal, "sops", "%s is not a sops rotor can drive (--version --disable-version-check: %v): %s", path, err, installHint)
	}
	var got [3]int
	for i := range got {
		got[i], _ = strconv.Atoi(string(m[i+1]))
	}
	if compareVersions(got, minVersion) < 0 {
		return provider.Errorf(provider.Terminal, "sops", "%s is sops %d.%d.%d; rotor needs %d.%d or newer: %s", path, got[0], got[1], got[2], minVersion[0], minVersion[1], installHint)
	}
	return nil
}

func compareVersions(a, b [3]int) int {
	for i := range a {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return 0
}

// call is one run of sops.
type call struct {
	op      string   // what rotor was doing, for the error
	keyFile string   // the age identity sops acts as (SOPS_AGE_KEY_FILE); "" for none
	stdin   []byte   // the file's bytes, or a value to set
	redact  [][]byte // values that must not appear in an error message
	args    []string
}

// run runs sops as c.keyFile alone: in a fresh, empty HOME (no ~/.config/sops/age/keys.txt,
// no ~/.ssh key and no GnuPG keyring of the user running rotor is tried), with no other age key
// variable, and with the cloud metadata services off, so a read proves what that identity can
// read and nothing else. Its standard output is returned (the caller clears it); an error
// carries sops's first line of explanation, with the values of the call taken out.
func (r runner) run(ctx context.Context, c call) ([]byte, error) {
	path, err := r.resolve(ctx)
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "rotor-sops-home-")
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, c.op, fmt.Errorf("a temporary home for sops: %w", err))
	}
	defer os.RemoveAll(home)
	getenv := r.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	cmd := exec.CommandContext(ctx, path, c.args...)
	cmd.Dir = r.dir
	cmd.Env = []string{"PATH=" + getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + home, "GNUPGHOME=" + home,
		"TMPDIR=" + home, "AWS_EC2_METADATA_DISABLED=true", "NO_COLOR=1"}
	if c.keyFile != "" {
		cmd.Env = append(cmd.Env, "SOPS_AGE_KEY_FILE="+c.keyFile)
	}
	cmd.Stdin = bytes.NewReader(c.stdin)
	var out, stderr bytes.Buffer
	out.Grow(4096)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if err == nil {
		return out.Bytes(), nil
	}
	clear(out.Bytes())
	if ctx.Err() != nil {
		return nil, provider.Errorf(provider.Retryable, c.op, "sops was interrupted: %w", ctx.Err())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return nil, provider.Errorf(provider.Terminal, c.op, "running %s: %v", path, err)
	}
	why := explain(stderr.Bytes(), c.redact)
	switch ee.ExitCode() {
	case exitNoDataKey:
		return nil, provider.Errorf(provider.Denied, c.op, "sops could not decrypt the file's data key with this identity: %s", why)
	case exitMACMismatch, exitMACNotFound:
		return nil, provider.Errorf(provider.NeedsHuman, c.op,
			"the file's MAC does not match its content — it was edited without sops, or damaged (%s); restore it from git or a backup, or re-encrypt it with sops", why)
	case exitDecryptMAC, exitDecryptTree:
		return nil, provider.Errorf(provider.NeedsHuman, c.op, "the file does not decrypt — damaged, or edited without sops (%s)", why)
	}
	return nil, provider.Errorf(provider.Terminal, c.op, "sops %s exited %d: %s", c.args[0], ee.ExitCode(), why)
}

// explain is sops's first line of explanation, without the values a call carried (sops does
// not print values in the errors rotor can cause, but a message is never trusted with one),
// cut to a readable length.
func explain(stderr []byte, redact [][]byte) string {
	line := ""
	for l := range strings.SplitSeq(string(stderr), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			line = l
			break
		}
	}
	for _, v := range redact {
		if len(v) > 0 {
			line = strings.ReplaceAll(line, string(v), "[redacted]")
		}
	}
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	if line == "" {
		return "no message"
	}
	return line
}

// typeArgs are the format flags every call passes: the file's extension need not say it.
func (r runner) typeArgs() []string {
	return []string{"--input-type", r.format, "--output-type", r.format}
}

// extract decrypts one value of the file's bytes (given on standard input: a snapshot taken
// once, not a file that may change between two reads) as keyFile.
func (r runner) extract(ctx context.Context, op, keyFile string, file []byte, path []string) ([]byte, error) {
	args := append(append([]string{"decrypt"}, r.typeArgs()...), "--extract", treePath(path))
	return r.run(ctx, call{op: op, keyFile: keyFile, stdin: file, args: args})
}

// proveDecrypt decrypts the whole file as keyFile, keeping nothing (the plain text goes to
// the null device): sops's own proof that the identity reads it and that the MAC holds.
func (r runner) proveDecrypt(ctx context.Context, op, keyFile string, file []byte) error {
	args := append(append([]string{"decrypt"}, r.typeArgs()...), "--output", os.DevNull)
	_, err := r.run(ctx, call{op: op, keyFile: keyFile, stdin: file, args: args})
	return err
}

// set sets path in the file at file (in place) to the JSON value, given on standard input.
func (r runner) set(ctx context.Context, op, keyFile, file string, path []string, value []byte, redact [][]byte) error {
	args := append(append([]string{"set"}, r.typeArgs()...), "--value-stdin", file, treePath(path))
	_, err := r.run(ctx, call{op: op, keyFile: keyFile, stdin: value, redact: redact, args: args})
	return err
}

// unset removes path from the file at file (in place).
func (r runner) unset(ctx context.Context, op, keyFile, file string, path []string) error {
	args := append(append([]string{"unset"}, r.typeArgs()...), file, treePath(path))
	_, err := r.run(ctx, call{op: op, keyFile: keyFile, args: args})
	return err
}
