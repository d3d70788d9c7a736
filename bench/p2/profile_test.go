package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/bench/p2/gen"
	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/cli"
	"github.com/rotorhq/rotor/internal/inventory"
)

// The benchmarks run rotor's real command entry point (cli.Main, what cmd/rotor calls) in
// process, so `go test -cpuprofile/-memprofile` sees exactly the work of `rotor validate` and
// `rotor plan`. They are for profiling; the figures of record come from the driver (one
// process per run, peak RSS included).
//
//	go test ./bench/p2 -run '^$' -bench Plan -benchtime 3x -cpuprofile cpu.out -memprofile mem.out
//	P2_CREDENTIALS=10000 go test ./bench/p2 -run '^$' -bench .
//
// P2_CREDENTIALS sets the inventory size (default 100000). BenchmarkLoad reports the live heap
// of the loaded model (live-MiB, after a full GC) and, with P2_HEAPPROFILE=FILE, writes a heap
// profile taken at that moment, so `go tool pprof -sample_index=inuse_space` shows what the
// model itself holds.

var (
	invOnce sync.Once
	invDir  string
	invErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if invDir != "" {
		os.RemoveAll(invDir)
	}
	os.Exit(code)
}

func inventoryDir(b *testing.B) string {
	b.Helper()
	invOnce.Do(func() {
		n := 100000
		if s := os.Getenv("P2_CREDENTIALS"); s != "" {
			if n, invErr = strconv.Atoi(s); invErr != nil {
				return
			}
		}
		if invDir, invErr = os.MkdirTemp("", "rotor-p2-bench-"); invErr != nil {
			return
		}
		_, invErr = gen.Generate(invDir, gen.Options{Credentials: n})
	})
	if invErr != nil {
		b.Fatal(invErr)
	}
	return invDir
}

func benchCLI(b *testing.B, args ...string) {
	dir := inventoryDir(b)
	b.Setenv("ROTOR_STATE_DIR", b.TempDir()) // empty: plan reads no database
	now := time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)
	env := cli.Env{
		Stdout: io.Discard,
		Getenv: func(k string) string { return "" },
		Now:    func() time.Time { return now },
	}
	argv := append(args, "-i", dir)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var stderr bytes.Buffer
		env.Stderr = &stderr
		if code := cli.Main(context.Background(), argv, env); code != 0 {
			b.Fatalf("rotor %v: exit %d\n%s", argv, code, stderr.String())
		}
	}
}

func BenchmarkValidate(b *testing.B) { benchCLI(b, "validate") }

func BenchmarkPlan(b *testing.B) { benchCLI(b, "plan", "--at", planAt) }

func BenchmarkLoad(b *testing.B) {
	dir := inventoryDir(b)
	opts := inventory.Options{Catalog: builtin.New(), Now: time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)}
	b.ReportAllocs()
	b.ResetTimer()
	var live uint64
	for b.Loop() {
		inv, err := inventory.Load(dir, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		live = ms.HeapAlloc
		if name := os.Getenv("P2_HEAPPROFILE"); name != "" {
			f, err := os.Create(name)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.WriteHeapProfile(f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		runtime.KeepAlive(inv)
		b.StartTimer()
	}
	b.ReportMetric(float64(live)/(1<<20), "live-MiB")
}

// TestGeneratedValidates guards the benchmark's input through the CLI, the way the driver
// checks it: exit 0 and the expected counts.
func TestGeneratedValidates(t *testing.T) {
	dir := t.TempDir()
	st, err := gen.Generate(dir, gen.Options{Credentials: 1200})
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	env := cli.Env{Stdout: &out, Stderr: &stderr, Getenv: func(string) string { return "" },
		Now: func() time.Time { return time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC) }}
	if code := cli.Main(context.Background(), []string{"validate", "-i", dir}, env); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	want := fmt.Sprintf("valid — %d credentials, %d consumers", st.Credentials, st.Consumers)
	if !bytes.Contains(out.Bytes(), []byte(want)) {
		t.Errorf("stdout %q, want it to contain %q", out.String(), want)
	}
}
