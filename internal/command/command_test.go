package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTruncatedKeepsHeadAndTail(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 500 {
		limit := 1 + r.IntN(16)
		var all bytes.Buffer
		tr := Truncated{Limit: limit}
		for range r.IntN(12) {
			p := make([]byte, r.IntN(3*limit))
			for i := range p {
				p[i] = 'a' + byte(r.IntN(26))
			}
			all.Write(p)
			if n, err := tr.Write(p); n != len(p) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		got, in := tr.String(), all.String()
		var want string
		switch {
		case len(in) <= 2*limit:
			want = in
		default:
			want = in[:limit] + fmt.Sprintf("\n[… %d bytes omitted …]\n", len(in)-2*limit) + in[len(in)-limit:]
		}
		if got != want {
			t.Fatalf("trial %d limit %d: got %q, want %q (input %q)", trial, limit, got, want, in)
		}
		if tr.Len() != int64(len(in)) {
			t.Fatalf("Len = %d, want %d", tr.Len(), len(in))
		}
	}
}

// TestTruncatedReadFrom: what io.Copy hands over through ReadFrom (as os/exec does) keeps
// the same head and tail as the same bytes written, in reads of any size.
func TestTruncatedReadFrom(t *testing.T) {
	in := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16,000 bytes: several 4 KiB reads
	var byWrite, byRead Truncated
	byWrite.Limit, byRead.Limit = 100, 100
	byWrite.Write(in)
	n, err := io.Copy(&byRead, onlyReader{bytes.NewReader(in)})
	if err != nil || n != int64(len(in)) {
		t.Fatalf("io.Copy = %d, %v", n, err)
	}
	if byRead.String() != byWrite.String() || byRead.Len() != int64(len(in)) {
		t.Fatalf("ReadFrom kept %q (%d bytes seen), Write kept %q", byRead.String(), byRead.Len(), byWrite.String())
	}
	boom := errors.New("pipe broke")
	if _, err := byRead.ReadFrom(io.MultiReader(strings.NewReader("x"), errReader{boom})); !errors.Is(err, boom) {
		t.Fatalf("ReadFrom error = %v, want %v", err, boom)
	}
}

type onlyReader struct{ io.Reader } // hides bytes.Reader's WriteTo, so io.Copy takes ReadFrom

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunExitAndOutput(t *testing.T) {
	p := script(t, `echo out; echo "err $1" >&2; exit 3`)
	res, err := Run(context.Background(), Cmd{Argv: []string{p, "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || res.Stdout != "out\n" || res.Stderr != "err x\n" || res.TimedOut {
		t.Fatalf("got %+v", res)
	}
}

func TestRunLargeOutputIsTruncated(t *testing.T) {
	p := script(t, `head -c 1000000 /dev/zero | tr '\0' a; echo; echo END`)
	res, err := Run(context.Background(), Cmd{Argv: []string{p}, Env: BaseEnv(os.Getenv)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) > 2*OutputLimit+100 || !strings.HasSuffix(res.Stdout, "END\n") || !strings.Contains(res.Stdout, "bytes omitted") {
		t.Fatalf("stdout of %d bytes, ends %q", len(res.Stdout), res.Stdout[len(res.Stdout)-20:])
	}
}

func TestRunRelativeProgramAndDirAgainstBaseDir(t *testing.T) {
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "bin", "where"), []byte("#!/bin/sh\npwd\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Cmd{Argv: []string{"./bin/where"}, BaseDir: base, Dir: "bin"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(res.Stdout), filepath.Join(base, "bin"); got != want {
		t.Fatalf("ran in %q, want %q", got, want)
	}
}

func TestRunDoesNotInheritEnvironment(t *testing.T) {
	t.Setenv("ROTOR_TEST_EXECUTOR_TOKEN", "do-not-leak")
	p := script(t, `env`)
	res, err := Run(context.Background(), Cmd{Argv: []string{p}, Env: BaseEnv(os.Getenv)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Stdout, "do-not-leak") || !strings.Contains(res.Stdout, "PATH=") {
		t.Fatalf("environment: %s", res.Stdout)
	}
}

func TestRunCannotStart(t *testing.T) {
	_, err := Run(context.Background(), Cmd{Argv: []string{"/nonexistent/rotor-test-program"}})
	if !errors.Is(err, ErrStart) {
		t.Fatalf("err = %v, want ErrStart", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "not-exec")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), Cmd{Argv: []string{p}}); !errors.Is(err, ErrStart) {
		t.Fatalf("err = %v, want ErrStart", err)
	}
}
