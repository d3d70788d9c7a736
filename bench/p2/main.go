// Command p2 is the P2 benchmark of ../shared/design/TARGETS.md: `rotor validate` and
// `rotor plan` of a generated inventory of 100,000 credentials and 500,000 consumers, next to
// a bare YAML decode of the same files, in one run, with the growth from 10,000 credentials.
//
//	go run ./bench/p2            # 10k and 100k, 5 runs of each command
//	go run ./bench/p2 -quick     # 10k only (CI)
//	go run ./bench/p2 -gen DIR -n 100000   # only write an inventory (to profile or inspect it)
//
// It builds rotor and the baseline (bench/p2/baredecode) into a temporary folder, generates
// the inventories there (bench/p2/gen, fixed seed), checks that rotor finds them valid, then
// runs every measured command as its own process, round after round so that drift of the
// machine spreads over all commands alike, and prints one table: median wall time, median
// CPU time (user + system, less disturbed than wall time when other work shares the machine),
// the median of the child's peak RSS (rusage maxrss), the ratio to the bare decode, and the
// growth from 10k to 100k. `rotor plan` gets an empty ROTOR_STATE_DIR, so it reads no
// database ("no history": every credential is due now, and gets a window opening).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rotorhq/rotor/bench/p2/gen"
)

// planAt is the instant plan is computed for: fixed, so every run plans the same thing.
const planAt = "2026-11-25T19:00:00Z"

// Targets of P2.
const (
	targetWall  = 2 * time.Second
	targetRSS   = 1 << 20 // KiB: 1 GiB
	targetRatio = 1.5
)

func main() {
	quick := flag.Bool("quick", false, "10k credentials only (for CI)")
	runs := flag.Int("runs", 5, "measured runs of each command")
	keep := flag.Bool("keep", false, "keep the temporary folder (binaries and inventories) and print its path")
	genDir := flag.String("gen", "", "only generate an inventory into this folder, then exit")
	n := flag.Int("n", 100000, "with -gen: number of credentials")
	flag.Parse()

	if *genDir != "" {
		st, err := gen.Generate(*genDir, gen.Options{Credentials: *n})
		if err != nil {
			fatal(err)
		}
		fmt.Printf("%s: %d files, %.1f MiB, %d credentials, %d consumers, %d identities, %d checks\n",
			*genDir, st.Files, mib(st.Bytes), st.Credentials, st.Consumers, st.Identities, st.Checks)
		return
	}
	if *runs < 1 {
		fatal(errors.New("-runs must be at least 1"))
	}
	sizes := []int{10000, 100000}
	if *quick {
		sizes = sizes[:1]
	}
	if err := run(sizes, *runs, *keep); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "p2: %v\n", err)
	os.Exit(1)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// command is one measured process.
type command struct {
	name    string
	argv    []string
	discard bool   // stdout to /dev/null (the plan table is large); else captured and checked
	expect  string // regexp the captured stdout must match
}

type sample struct {
	wall   time.Duration
	cpu    time.Duration // user + system: less disturbed than wall by other work on the machine
	rssKiB int64
}

type row struct {
	size    int
	files   int
	bytes   int64
	cmd     command
	samples []sample
}

func run(sizes []int, runs int, keep bool) error {
	tmp, err := os.MkdirTemp("", "rotor-p2-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(os.Stderr, "p2: working in %s (kept)\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	rotor := filepath.Join(tmp, "bin", "rotor")
	bare := filepath.Join(tmp, "bin", "baredecode")
	for _, b := range [][2]string{{rotor, "./cmd/rotor"}, {bare, "./bench/p2/baredecode"}} {
		fmt.Fprintf(os.Stderr, "p2: go build -o %s %s\n", b[0], b[1])
		c := exec.Command("go", "build", "-o", b[0], b[1])
		c.Dir, c.Stdout, c.Stderr = root, os.Stderr, os.Stderr
		if err := c.Run(); err != nil {
			return fmt.Errorf("building %s: %w", b[1], err)
		}
	}
	stateDir := filepath.Join(tmp, "state-empty")
	if err := os.Mkdir(stateDir, 0o755); err != nil {
		return err
	}
	env := childEnv(stateDir)

	var rows []*row
	var loads []string // the machine's load average while measuring: other work slows wall times
	for _, size := range sizes {
		dir := filepath.Join(tmp, fmt.Sprintf("inventory-%dk", size/1000))
		fmt.Fprintf(os.Stderr, "p2: generating %d credentials into %s\n", size, dir)
		st, err := gen.Generate(dir, gen.Options{Credentials: size})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "p2: %d files, %.1f MiB, %d credentials, %d consumers, %d identities, %d checks\n",
			st.Files, mib(st.Bytes), st.Credentials, st.Consumers, st.Identities, st.Checks)
		valid := fmt.Sprintf(`valid — %d credentials, %d consumers`, st.Credentials, st.Consumers)
		decoded := fmt.Sprintf(`^decoded %d files`, st.Files)
		cmds := []command{
			{name: "rotor validate", argv: []string{rotor, "validate", "-i", dir}, expect: regexp.QuoteMeta(valid)},
			{name: "rotor plan (incl. validate)", argv: []string{rotor, "plan", "-i", dir, "--at", planAt}, discard: true},
			{name: "bare decode Node, seq", argv: []string{bare, "-into", "node", dir}, expect: decoded},
			{name: "bare decode Node, par", argv: []string{bare, "-into", "node", "-par", dir}, expect: decoded},
			{name: "bare decode any, seq", argv: []string{bare, "-into", "any", dir}, expect: decoded},
			{name: "bare decode any, par", argv: []string{bare, "-into", "any", "-par", dir}, expect: decoded},
		}
		// One unmeasured run of each: it checks the output (rotor finds the inventory valid,
		// plan lists every credential) and warms the page cache.
		if err := checkPlan(rotor, dir, env, st.Credentials); err != nil {
			return err
		}
		var sizeRows []*row
		for _, c := range cmds {
			if _, err := runOnce(c, env); err != nil {
				return err
			}
			sizeRows = append(sizeRows, &row{size: size, files: st.Files, bytes: st.Bytes, cmd: c})
		}
		loads = append(loads, fmt.Sprintf("%dk: %s at the first round", size/1000, loadAvg()))
		for r := range runs {
			fmt.Fprintf(os.Stderr, "p2: %dk, round %d/%d\n", size/1000, r+1, runs)
			for _, rw := range sizeRows {
				s, err := runOnce(rw.cmd, env)
				if err != nil {
					return err
				}
				rw.samples = append(rw.samples, s)
			}
		}
		loads[len(loads)-1] += ", " + loadAvg() + " after the last"
		rows = append(rows, sizeRows...)
		if !keep {
			os.RemoveAll(dir) // 100k is about 200 MiB: do not keep it longer than needed
		}
	}
	report(os.Stdout, rows, runs, loads)
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run p2 from inside the rotor module (go run ./bench/p2)")
	}
	return filepath.Dir(gomod), nil
}

// childEnv is the driver's environment without rotor's own settings, plus an empty state
// folder, so plan reads no database and writes none.
func childEnv(stateDir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ROTOR_") {
			env = append(env, kv)
		}
	}
	return append(env, "ROTOR_STATE_DIR="+stateDir)
}

// checkPlan runs plan once into a file and checks it lists every credential.
func checkPlan(rotor, dir string, env []string, creds int) error {
	f, err := os.CreateTemp("", "rotor-p2-plan-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	c := exec.Command(rotor, "plan", "-i", dir, "--at", planAt)
	var stderr bytes.Buffer
	c.Env, c.Stdout, c.Stderr = env, f, &stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("rotor plan: %w\n%s", err, tail(stderr.String()))
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		return err
	}
	if !bytes.Contains(data, []byte("history: none yet")) {
		return fmt.Errorf("rotor plan read a state database; want none:\n%s", tail(string(data[:min(len(data), 400)])))
	}
	// The title (with the history source), a blank line, the header, one line per credential.
	lines := bytes.Count(data, []byte("\n"))
	if lines < creds+3 {
		return fmt.Errorf("rotor plan printed %d lines for %d credentials", lines, creds)
	}
	return nil
}

func runOnce(c command, env []string) (sample, error) {
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stderr = &stderr
	if c.discard {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return sample{}, err
		}
		defer null.Close()
		cmd.Stdout = null
	} else {
		cmd.Stdout = &stdout
	}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w\n%s", strings.Join(c.argv, " "), err, tail(stderr.String()))
	}
	if c.expect != "" && !regexp.MustCompile(c.expect).Match(stdout.Bytes()) {
		return sample{}, fmt.Errorf("%s: output does not match %q:\n%s", strings.Join(c.argv, " "), c.expect, tail(stdout.String()))
	}
	ps := cmd.ProcessState
	return sample{wall: wall, cpu: ps.UserTime() + ps.SystemTime(), rssKiB: maxRSSKiB(ps)}, nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 20 {
		lines = append([]string{fmt.Sprintf("[%d more lines]", len(lines)-20)}, lines[len(lines)-20:]...)
	}
	return strings.Join(lines, "\n")
}

func median[T int64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r *row) walls() []time.Duration {
	out := make([]time.Duration, len(r.samples))
	for i, s := range r.samples {
		out[i] = s.wall
	}
	return out
}

func (r *row) cpus() []time.Duration {
	out := make([]time.Duration, len(r.samples))
	for i, s := range r.samples {
		out[i] = s.cpu
	}
	return out
}

func (r *row) rss() []int64 {
	out := make([]int64, len(r.samples))
	for i, s := range r.samples {
		out[i] = s.rssKiB
	}
	return out
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "x"
}

// loadAvg is the machine's 1-minute load average, where the system tells it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

func report(w *os.File, rows []*row, runs int, loads []string) {
	find := func(size int, name string) *row {
		for _, r := range rows {
			if r.size == size && r.cmd.name == name {
				return r
			}
		}
		return nil
	}
	const nodePar, nodeSeq = "bare decode Node, par", "bare decode Node, seq"
	sizes := []int{}
	for _, r := range rows {
		if !slices.Contains(sizes, r.size) {
			sizes = append(sizes, r.size)
		}
	}
	fmt.Fprintf(w, "\nP2 — validate + plan vs a bare YAML decode of the same files (go.yaml.in/yaml/v3)\n")
	fmt.Fprintf(w, "median of %d runs, each its own process; peak RSS = child rusage maxrss; GOMAXPROCS %d, %d CPUs, %s %s/%s\n",
		runs, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "CPU s = child user + system time, less disturbed than wall by other work; load average (1 min) %s\n",
		strings.Join(loads, "; "))
	for _, k := range []string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS"} {
		if v := os.Getenv(k); v != "" {
			fmt.Fprintf(w, "note: %s=%s is set and passed to every child\n", k, v)
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	growth := ""
	if len(sizes) > 1 {
		growth = fmt.Sprintf("\twall %dk/%dk\tRSS %dk/%dk", sizes[len(sizes)-1]/1000, sizes[0]/1000, sizes[len(sizes)-1]/1000, sizes[0]/1000)
	}
	fmt.Fprintln(tw, "size\tfiles\tMiB\tcommand\twall s\tmin–max s\tCPU s\tpeak RSS MiB\twall ÷ Node par\twall ÷ Node seq\tRSS ÷ Node par"+growth)
	for _, r := range rows {
		wall, rss := median(r.walls()), median(r.rss())
		ws := r.walls()
		var np, ns float64
		var npRSS float64
		if b := find(r.size, nodePar); b != nil {
			np, npRSS = median(b.walls()).Seconds(), float64(median(b.rss()))
		}
		if b := find(r.size, nodeSeq); b != nil {
			ns = median(b.walls()).Seconds()
		}
		grow := ""
		if len(sizes) > 1 {
			grow = "\t-\t-"
			if small := find(sizes[0], r.cmd.name); small != nil && r.size != sizes[0] {
				grow = "\t" + ratio(wall.Seconds(), median(small.walls()).Seconds()) +
					"\t" + ratio(float64(rss), float64(median(small.rss())))
			}
		}
		fmt.Fprintf(tw, "%dk\t%d\t%.1f\t%s\t%s\t%s–%s\t%s\t%.0f\t%s\t%s\t%s%s\n",
			r.size/1000, r.files, mib(r.bytes), r.cmd.name, secs(wall), secs(slices.Min(ws)), secs(slices.Max(ws)), secs(median(r.cpus())),
			float64(rss)/1024, ratio(wall.Seconds(), np), ratio(wall.Seconds(), ns), ratio(float64(rss), npRSS), grow)
	}
	tw.Flush()

	big := sizes[len(sizes)-1]
	p := find(big, "rotor plan (incl. validate)")
	if p == nil {
		return
	}
	wall, rss := median(p.walls()), median(p.rss())
	yes := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	if big == 100000 {
		fmt.Fprintf(w, "\ntarget at 100k (rotor plan, which includes validate):\n")
	} else {
		fmt.Fprintf(w, "\nat %dk (rotor plan, which includes validate; the target itself is for 100k):\n", big/1000)
	}
	fmt.Fprintf(w, "  wall %ss < %s: %s\n", secs(wall), targetWall, yes(wall < targetWall))
	fmt.Fprintf(w, "  peak RSS %.0f MiB < 1024 MiB: %s\n", float64(rss)/1024, yes(rss < targetRSS))
	for _, base := range []string{nodePar, nodeSeq} {
		if b := find(big, base); b != nil {
			x := wall.Seconds() / median(b.walls()).Seconds()
			fmt.Fprintf(w, "  %.2fx %s ≤ %.1fx: %s\n", x, base, targetRatio, yes(x <= targetRatio))
		}
	}
	if small := find(sizes[0], p.cmd.name); small != nil && big != sizes[0] {
		fmt.Fprintf(w, "  growth %dk -> %dk (%.0fx the input): wall %s, peak RSS %s\n", sizes[0]/1000, big/1000,
			float64(big)/float64(sizes[0]), ratio(wall.Seconds(), median(small.walls()).Seconds()),
			ratio(float64(rss), float64(median(small.rss()))))
	}
}
