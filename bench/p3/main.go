// Command p3 is the P3 benchmark of ../shared/design/TARGETS.md: the residual-use scan of a
// 2 GB nginx access log for one key id, rotor's log check next to ripgrep (`rg -c`) on the
// same file, in the same run.
//
//	bench/p3/run.sh                      # installs ripgrep if missing, then runs this
//	go run ./bench/p3 -runs 7            # more rounds
//	go run ./bench/p3 -size 200000000    # a 200 MB file (quicker; not the target's size)
//	go run ./bench/p3 -scan FILE -cpuprofile cpu.out   # one rotor scan, profiled
//
// The log (bench/p3/gen, fixed seed) is written once into a cache folder (-cache, default
// $XDG_CACHE_HOME/rotor-bench/p3 or ~/.cache/rotor-bench/p3) and reused while its size and
// description match. Each measured command is its own process on the same file: rotor's is
// this program again with -scan, which runs the `log` check (format combined, match key_id:
// previous, bin 5m, grouped by host, max 0, a window covering the whole file) and prints its
// counts; the baseline is `rg -c KEY FILE`. One unmeasured round reads the file into the page
// cache first; the rounds then alternate which command goes first. The table shows the median
// wall time as MB/s (10^6 bytes), the CPU time (user+sys) of the median run, and the ratio.
//
// The answers must agree, or the run fails: rotor's matching lines == rg's count == the lines
// the generator wrote with the previous key.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rotorhq/rotor/bench/p3/gen"
	logcheck "github.com/rotorhq/rotor/internal/check/log"
	"github.com/rotorhq/rotor/internal/provider"
)

const target = 0.5 // rotor at least half ripgrep's speed

// The versions of the credential whose previous key id is looked for.
var (
	previous = provider.Version{ID: "v0041-3f9a2b81", AuthorityRef: gen.PreviousKey}
	current  = provider.Version{ID: "v0042-7c1d0e9b", AuthorityRef: gen.CurrentKey}
)

func main() {
	size := flag.Int64("size", 2_000_000_000, "bytes of log to generate")
	runs := flag.Int("runs", 5, "measured rounds")
	cache := flag.String("cache", "", "folder for the generated log (default $XDG_CACHE_HOME/rotor-bench/p3)")
	scan := flag.String("scan", "", "run one rotor scan of this file (with its .json description) and print its counts")
	cpuprofile := flag.String("cpuprofile", "", "with -scan: write a CPU profile")
	flag.Parse()

	var err error
	if *scan != "" {
		err = scanOnce(*scan, *cpuprofile)
	} else {
		err = bench(*size, *runs, *cache)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "p3: %v\n", err)
		os.Exit(1)
	}
}

// result is what one rotor scan prints.
type result struct {
	Verdict   string `json:"verdict"`
	Matches   int    `json:"matches"`
	Lines     int    `json:"lines"`
	InWindow  int    `json:"in_window"`
	Malformed int    `json:"malformed"`
	Bins      int    `json:"bins"`
	Message   string `json:"message"`
}

var (
	observedRE = regexp.MustCompile(`^(\d+) matching of (\d+) lines in the window`)
	messageRE  = regexp.MustCompile(`^read (\d+) lines from .*; (\d+) in the window, (\d+) malformed`)
)

func scanOnce(path, cpuprofile string) error {
	st, err := readStats(path)
	if err != nil {
		return err
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	chk, err := logcheck.New(&logcheck.Config{
		Source: logcheck.Source{Type: "file", Path: path, Format: "combined"},
		Match:  logcheck.Match{KeyID: "previous"},
		Bin:    5 * time.Minute,
		By:     []string{"host"},
		Max:    new(int),
	}, provider.Env{})
	if err != nil {
		return err
	}
	prev := previous
	res, err := chk.Check(context.Background(), provider.CheckRequest{
		Check: "old-key-unused", Credential: "shop-api-key", Current: current, Previous: &prev,
		Since: st.First, Now: st.Last,
	})
	if err != nil {
		return err
	}
	out := result{Verdict: string(res.Verdict), Bins: len(res.Bins), Message: res.Message}
	m := observedRE.FindStringSubmatch(res.Observed)
	r := messageRE.FindStringSubmatch(res.Message)
	if m == nil || r == nil {
		return fmt.Errorf("unexpected result: %s: %s; observed %q; message %q", res.Verdict, res.Reason, res.Observed, res.Message)
	}
	out.Matches, _ = strconv.Atoi(m[1])
	out.Lines, _ = strconv.Atoi(r[1])
	out.InWindow, _ = strconv.Atoi(r[2])
	out.Malformed, _ = strconv.Atoi(r[3])
	return json.NewEncoder(os.Stdout).Encode(out)
}

// stats is the generator's description of a file, kept next to it.
type stats struct {
	gen.Stats
	Options gen.Options
}

func readStats(path string) (stats, error) {
	var st stats
	data, err := os.ReadFile(strings.TrimSuffix(path, ".log") + ".json")
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(data, &st)
}

// logFile returns the cached log, generating it when missing or stale.
func logFile(dir string, size int64) (string, stats, error) {
	opts := gen.Options{Size: size}.Defaults()
	path := filepath.Join(dir, fmt.Sprintf("access-%d-seed%d.log", size, opts.Seed))
	if st, err := readStats(path); err == nil && same(st.Options, opts) {
		if fi, err := os.Stat(path); err == nil && fi.Size() == st.Bytes {
			fmt.Fprintf(os.Stderr, "p3: reusing %s\n", path)
			return path, st, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", stats{}, err
	}
	fmt.Fprintf(os.Stderr, "p3: writing %s (%d MB)\n", path, size/1e6)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", stats{}, err
	}
	gs, err := gen.Write(f, opts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", stats{}, err
	}
	st := stats{Stats: gs, Options: opts}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", stats{}, err
	}
	if err := os.WriteFile(strings.TrimSuffix(path, ".log")+".json", data, 0o644); err != nil {
		return "", stats{}, err
	}
	return path, st, os.Rename(tmp, path)
}

func same(a, b gen.Options) bool {
	return a.Size == b.Size && a.Seed == b.Seed && a.Start.Equal(b.Start) && a.Span == b.Span && a.PreviousEvery == b.PreviousEvery
}

type sample struct {
	wall, cpu time.Duration
}

type command struct {
	name    string
	argv    []string
	samples []sample
	count   int // matching lines it reported
}

func bench(size int64, runs int, cache string) error {
	if runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	rg, err := exec.LookPath("rg")
	if err != nil {
		return errors.New("ripgrep (rg) is not installed: run bench/p3/run.sh, or apt-get install ripgrep")
	}
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no cache folder: pass -cache: %w", err)
		}
		cache = filepath.Join(base, "rotor-bench", "p3")
	}
	path, st, err := logFile(cache, size)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	rotor := &command{name: "rotor log check", argv: []string{self, "-scan", path}}
	ripgrep := &command{name: "rg -c", argv: []string{rg, "-c", gen.PreviousKey, path}}

	// Warm-up: the file into the page cache, and each command once, unmeasured.
	fmt.Fprintf(os.Stderr, "p3: warming up (page cache)\n")
	var res result
	for _, c := range []*command{rotor, ripgrep} {
		out, _, err := runOnce(c)
		if err != nil {
			return err
		}
		if c == rotor {
			if err := json.Unmarshal(out, &res); err != nil {
				return fmt.Errorf("rotor scan printed %q: %w", out, err)
			}
			c.count = res.Matches
		} else if c.count, err = strconv.Atoi(strings.TrimSpace(string(out))); err != nil {
			return fmt.Errorf("rg printed %q: %w", out, err)
		}
	}
	for r := range runs {
		fmt.Fprintf(os.Stderr, "p3: round %d/%d\n", r+1, runs)
		order := []*command{rotor, ripgrep}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, c := range order {
			_, s, err := runOnce(c)
			if err != nil {
				return err
			}
			c.samples = append(c.samples, s)
		}
	}

	rw, rc := median(rotor.samples)
	gw, gc := median(ripgrep.samples)
	mbs := func(d time.Duration) float64 { return float64(st.Bytes) / 1e6 / d.Seconds() }
	ratio := mbs(rw) / mbs(gw)
	verdict := "PASS"
	if ratio < target {
		verdict = "MISSED"
	}
	agree := rotor.count == ripgrep.count && rotor.count == int(st.PreviousLines)
	fmt.Printf("\nP3: %s, %.0f MB, %d lines over %s, key id %s; median of %d runs, page cache warm\n",
		filepath.Base(path), float64(st.Bytes)/1e6, st.Lines, st.Last.Sub(st.First).Round(time.Minute), gen.PreviousKey, runs)
	fmt.Printf("P3 rotor scan %.0f MB/s (%.3f s, cpu %.3f s) | rg -c %.0f MB/s (%.3f s, cpu %.3f s) | ratio %.2fx | target ≥ %.1fx → %s\n",
		mbs(rw), rw.Seconds(), rc.Seconds(), mbs(gw), gw.Seconds(), gc.Seconds(), ratio, target, verdict)
	fmt.Printf("counts: rotor %d matching lines (of %d in the window, %d lines read, %d malformed, %d bins) | rg %d | generator %d → %s\n",
		rotor.count, res.InWindow, res.Lines, res.Malformed, res.Bins, ripgrep.count, st.PreviousLines, map[bool]string{true: "agree", false: "DISAGREE"}[agree])
	fmt.Printf("runs (wall s): rotor %s | rg %s\n", walls(rotor.samples), walls(ripgrep.samples))
	if !agree {
		return errors.New("the counts disagree")
	}
	return nil
}

func runOnce(c *command) ([]byte, sample, error) {
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Stderr = os.Stderr
	var out strings.Builder
	cmd.Stdout = &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return nil, sample{}, fmt.Errorf("%s: %w", strings.Join(c.argv, " "), err)
	}
	s := sample{wall: wall}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return []byte(out.String()), s, nil
}

// median returns the median wall time and the CPU time of that run.
func median(s []sample) (wall, cpu time.Duration) {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b sample) int { return int(a.wall - b.wall) })
	m := s[len(s)/2]
	return m.wall, m.cpu
}

func walls(s []sample) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = strconv.FormatFloat(x.wall.Seconds(), 'f', 3, 64)
	}
	return strings.Join(parts, " ")
}
