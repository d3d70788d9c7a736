package testenv

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// EnvSOPSBin is the sops executable to use instead of SOPS SOPSVersion found in PATH or in
// $(go env GOPATH)/bin.
const EnvSOPSBin = "ROTOR_TEST_SOPS_BIN"

// SOPSVersion is the SOPS the tests run, pinned: the sops store drives this binary, and the
// tests check that what rotor writes, it decrypts, and what it writes, rotor reads. It is
// installed with go install github.com/getsops/sops/v3/cmd/sops@v3.13.3 (scripts/test.sh does;
// about 2.5 to 4 minutes with a cold module cache).
const SOPSVersion = "v3.13.3"

const sopsModule = "github.com/getsops/sops/v3"

var sopsFound struct {
	once sync.Once
	path string
	err  error
}

// SOPS returns the sops executable the tests use: $ROTOR_TEST_SOPS_BIN as it is, else the sops
// in PATH or go's bin directory whose Go build information says it is SOPS SOPSVersion. It
// fails the test, with how to install it, when there is none: a SOPS test that silently does
// not run proves nothing.
func SOPS(t testing.TB) string {
	t.Helper()
	sopsFound.once.Do(func() { sopsFound.path, sopsFound.err = findSOPS(os.Getenv(EnvSOPSBin), goBinDir()) })
	if sopsFound.err != nil {
		t.Fatalf("testenv: %v", sopsFound.err)
	}
	return sopsFound.path
}

// findSOPS returns env if set (used as it is), else the pinned sops in PATH or goBin.
func findSOPS(env, goBin string) (string, error) {
	install := "go install " + sopsModule + "/cmd/sops@" + SOPSVersion
	e := executable{
		name:   "sops",
		envVar: EnvSOPSBin,
		noun:   "a sops binary",
		where:  "PATH",
		needs:  "SOPS",
		hints:  []string{"run scripts/test.sh, which installs it, or: " + install + " (about 2.5 to 4 min cold)"},
	}
	if goBin != "" {
		e.paths, e.where = []string{filepath.Join(goBin, "sops")}, "PATH or "+goBin
	}
	if env == "" {
		var candidates []string
		if p, err := exec.LookPath("sops"); err == nil {
			candidates = append(candidates, p)
		}
		for _, c := range append(candidates, e.paths...) {
			if pinnedSOPS(c) == "" {
				return c, nil
			}
		}
	}
	path, err := e.find(env)
	if err != nil || env != "" {
		return path, err
	}
	return "", fmt.Errorf("%s is %s, not SOPS %s: the sops tests are written against that release\nhint: run scripts/test.sh, which installs it, or: %s; or set %s",
		path, pinnedSOPS(path), SOPSVersion, install, EnvSOPSBin)
}

// pinnedSOPS returns "" when the executable at path is SOPS SOPSVersion, else what it is.
func pinnedSOPS(path string) string {
	if !isExecutable(path) {
		return "not an executable file"
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return "a program without Go build information"
	}
	if info.Main.Path == sopsModule && info.Main.Version == SOPSVersion {
		return ""
	}
	return strings.TrimSpace(info.Main.Path + " " + info.Main.Version)
}

// SOPSEncrypt encrypts plain (a document of the format: yaml, json or dotenv) with the real
// sops binary to the age recipients, with sops's default rules (values encrypted, keys ending
// in _unencrypted left in clear), and writes it to path (0600). extra are more sops flags
// (--encrypted-regex …). With no recipients, sops takes them, and the rules, from the
// creation rules of a .sops.yaml in path's folder.
func SOPSEncrypt(t testing.TB, path, format, plain string, recipients []string, extra ...string) {
	t.Helper()
	args := []string{"encrypt", "--input-type", format, "--output-type", format, "--filename-override", path}
	if len(recipients) > 0 {
		args = append(args, "--age", strings.Join(recipients, ","))
	}
	args = append(args, extra...)
	cmd := exec.Command(SOPS(t), args...)
	cmd.Stdin = strings.NewReader(plain)
	cmd.Env = SOPSEnv(t, "")
	cmd.Dir = filepath.Dir(path)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("testenv: sops encrypt: %v\n%s", err, stderr.String())
	}
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// SOPSDecrypt runs the real `sops decrypt` on path as the age identity in keyFile and returns
// what it prints (with extract, only that tree path: `["a"]["b"]`) and its error, with sops's
// own message. It never decrypts with the keys of the user running the tests.
func SOPSDecrypt(t testing.TB, path, keyFile, extract string) (string, error) {
	t.Helper()
	args := []string{"decrypt"}
	if extract != "" {
		args = append(args, "--extract", extract)
	}
	cmd := exec.Command(SOPS(t), append(args, path)...)
	cmd.Env = SOPSEnv(t, keyFile)
	cmd.Dir = filepath.Dir(path)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("sops decrypt %s: %v: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// SOPSEnv is an environment for running sops as the age identity in keyFile ("" for none)
// alone: PATH, a fresh empty HOME (so no ~/.config/sops/age/keys.txt and no ~/.ssh key of the
// user running the tests is tried), and SOPS_AGE_KEY_FILE.
func SOPSEnv(t testing.TB, keyFile string) []string {
	t.Helper()
	home := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + home, "GNUPGHOME=" + home}
	if keyFile != "" {
		env = append(env, "SOPS_AGE_KEY_FILE="+keyFile)
	}
	return env
}
