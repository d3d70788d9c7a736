// Command p4 is the P4 benchmark of ../shared/design/TARGETS.md: verify 1,000 TLS endpoints
// (serial + chain) with rotor's scanner, next to raw concurrent Go handshakes over the same
// endpoints, in the same run. Target: rotor ≥ 0.8× the raw rate.
//
//	go run ./bench/p4                 # 1,000 endpoints, 3 rounds, concurrency 64
//	go run ./bench/p4 -n 2000 -runs 5 -concurrency 128
//	go run ./bench/p4 -rotor ./rotor  # a rotor binary already built (else it is built)
//
// One process starts n crypto/tls servers on 127.0.0.1 (random ports, RLIMIT_NOFILE raised to
// its hard limit), each serving its own ECDSA P-256 leaf (IP SAN 127.0.0.1) issued by one test
// CA through an intermediate, so every endpoint is a distinct chain to verify. Then, in each
// round, over the same endpoints and with the same concurrency:
//
//   - raw: a bare pool of goroutines doing crypto/tls handshakes with the CA as RootCAs (Go
//     verifies the chain and the name, as any client does) and reading the leaf's serial;
//   - scanner: internal/scan in this process, as `rotor scan` uses it (handshake, own chain
//     verification against the trust bundle, serial, SHA-256 fingerprint, days left);
//   - rotor scan: the real binary, `rotor scan @targets --ca-file ca.pem -o json`, as its own
//     process, whose JSON is decoded and checked (every endpoint answered and verified).
//
// The order of the three alternates between rounds. Rates are endpoints per second of wall
// time; the table shows the median of the rounds and each one's ratio to raw's median, and the
// median CPU time (user+sys of this process — the servers included — plus the rotor
// process's) with its ratio: wall time on a shared 2-core machine moves with other load, CPU
// time does not.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/scan"
	"github.com/rotorhq/rotor/internal/scan/scantest"
)

// tb lets the scantest helpers run outside a test: a failure ends the program.
type tb struct{ cleanups []func() }

func (*tb) Helper() {}
func (*tb) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "p4: "+format+"\n", args...)
	os.Exit(1)
}
func (t *tb) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *tb) close() {
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
}

func main() {
	n := flag.Int("n", 1000, "TLS endpoints")
	runs := flag.Int("runs", 3, "rounds")
	conc := flag.Int("concurrency", scan.DefaultConcurrency, "handshakes at once, for every contender")
	rotorBin := flag.String("rotor", "", "rotor binary (default: go build ./cmd/rotor into a temp dir)")
	flag.Parse()

	raiseNoFile(*n)
	t := &tb{}
	defer t.close()
	dir, err := os.MkdirTemp("", "rotor-p4-")
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer os.RemoveAll(dir)

	if *rotorBin == "" {
		*rotorBin = filepath.Join(dir, "rotor")
		fmt.Fprintln(os.Stderr, "p4: building rotor")
		b := exec.Command("go", "build", "-o", *rotorBin, "./cmd/rotor")
		b.Stdout, b.Stderr = os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			t.Fatalf("go build ./cmd/rotor (run from the repository root): %v", err)
		}
	}

	ca := scantest.NewCA(t, "p4 root")
	ca.Intermediate(t)
	caFile := ca.WriteRoot(t, dir)
	pool := ca.Pool()
	fmt.Fprintf(os.Stderr, "p4: starting %d TLS listeners\n", *n)
	targets := make([]scan.Target, *n)
	addrs := make([]string, *n)
	serials := make([]string, *n)
	for i := range *n {
		c := ca.Issue(t, scantest.Leaf{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		s := scantest.Serve(t, c)
		addrs[i] = s.Addr
		serials[i] = pki.Serial(c.Leaf)
		ts, err := scan.ParseSpec(s.Addr)
		if err != nil {
			t.Fatalf("%v", err)
		}
		targets[i] = ts[0]
	}
	targetsFile := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(targetsFile, []byte(strings.Join(addrs, "\n")+"\n"), 0o644); err != nil {
		t.Fatalf("%v", err)
	}

	var childCPU time.Duration // CPU time of the last rotor process run
	contenders := []struct {
		name string
		run  func() error
	}{
		{"raw Go handshakes", func() error { return raw(addrs, serials, pool, *conc) }},
		{"rotor scanner (in process)", func() error { return inProcess(targets, serials, pool, *conc) }},
		{"rotor scan (binary, -o json)", func() error {
			var err error
			childCPU, err = binary(*rotorBin, dir, targetsFile, caFile, serials, *conc)
			return err
		}},
	}
	// One unmeasured warm-up of each: first handshakes, page cache of the binary.
	for _, c := range contenders {
		if err := c.run(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	times := make([][]time.Duration, len(contenders))
	cpus := make([][]time.Duration, len(contenders))
	for r := range *runs {
		order := []int{0, 1, 2}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			childCPU = 0
			cpu0 := selfCPU()
			start := time.Now()
			if err := contenders[i].run(); err != nil {
				t.Fatalf("%s: %v", contenders[i].name, err)
			}
			times[i] = append(times[i], time.Since(start))
			cpus[i] = append(cpus[i], selfCPU()-cpu0+childCPU)
		}
	}
	fmt.Printf("P4: verify %d TLS endpoints (serial + chain), concurrency %d, %d rounds, GOMAXPROCS of %d CPUs\n\n", *n, *conc, *runs, numCPU())
	fmt.Printf("%-30s %9s %12s %7s %10s %7s   %s\n", "", "median", "endpoints/s", "vs raw", "CPU", "vs raw", "rounds (endpoints/s)")
	base, baseCPU := median(times[0]), median(cpus[0])
	for i, c := range contenders {
		m, mc := median(times[i]), median(cpus[i])
		var each []string
		for _, d := range times[i] {
			each = append(each, fmt.Sprintf("%.0f", float64(*n)/d.Seconds()))
		}
		fmt.Printf("%-30s %9s %12.0f %6.2fx %10s %6.2fx   %s\n", c.name, m.Round(time.Millisecond), float64(*n)/m.Seconds(), base.Seconds()/m.Seconds(),
			mc.Round(time.Millisecond), baseCPU.Seconds()/mc.Seconds(), strings.Join(each, " "))
	}
	fmt.Printf("\nCPU: user+sys of the whole benchmark process (servers included) during the round, plus the rotor\nprocess's own; \"vs raw\" there is raw's CPU over the contender's: a figure that other load on\nthe machine does not move.\n")
	fmt.Printf("\ntarget: rotor scan >= 0.80x raw\n")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func numCPU() int {
	n := 0
	if b, err := os.ReadFile("/sys/fs/cgroup/cpu.max"); err == nil {
		var q, p int
		if _, err := fmt.Sscanf(string(b), "%d %d", &q, &p); err == nil && p > 0 {
			n = q / p
		}
	}
	if n == 0 {
		n = runtime.NumCPU()
	}
	return n
}

// raiseNoFile lifts the soft limit on open files to the hard one: n listeners, n server-side
// connections and n client connections may be open at once.
func raiseNoFile(n int) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	rl.Cur = rl.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	if need := uint64(n + 2*256 + 64); rl.Cur < need {
		fmt.Fprintf(os.Stderr, "p4: the open-file limit is %d, %d endpoints need about %d: raise it (ulimit -Hn)\n", rl.Cur, n, need)
		os.Exit(1)
	}
}

// raw is the baseline: the same pool shape, crypto/tls verifying as a client does.
func raw(addrs, serials []string, pool *x509.CertPool, conc int) error {
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	var mu sync.Mutex
	var first error
	next := 0
	var wg sync.WaitGroup
	for range min(conc, len(addrs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &net.Dialer{}
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(addrs) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				conn, err := d.DialContext(ctx, "tcp", addrs[i])
				if err == nil {
					tc := tls.Client(conn, cfg)
					err = tc.HandshakeContext(ctx)
					if err == nil && pki.Serial(tc.ConnectionState().PeerCertificates[0]) != serials[i] {
						err = fmt.Errorf("%s: wrong serial", addrs[i])
					}
					conn.Close()
				}
				cancel()
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s: %w", addrs[i], err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func inProcess(targets []scan.Target, serials []string, pool *x509.CertPool, conc int) error {
	rs := scan.New(scan.Options{Roots: pool, Concurrency: conc, Timeout: 10 * time.Second}).Scan(context.Background(), targets)
	for i, r := range rs {
		if !r.Answered() || !r.Verified || r.Serial != serials[i] {
			return fmt.Errorf("%s: answered %v verified %v (%s %s) serial %s", r.Target, r.Answered(), r.Verified, r.Error, r.VerifyError, r.Serial)
		}
	}
	return nil
}

// selfCPU is this process's user+sys CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// binary runs rotor scan and checks its JSON; it returns the process's CPU time.
func binary(bin, dir, targetsFile, caFile string, serials []string, conc int) (time.Duration, error) {
	cmd := exec.Command(bin, "scan", "@"+targetsFile, "--ca-file", caFile, "-o", "json",
		"--concurrency", fmt.Sprint(conc), "--timeout", "10s", "--db", filepath.Join(dir, "absent.db"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ROTOR_INVENTORY=", "ROTOR_DB=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, stderr.String())
	}
	var rep struct {
		Answered int `json:"answered"`
		Results  []struct {
			Serial   string `json:"serial"`
			Verified bool   `json:"verified"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return 0, fmt.Errorf("decoding its JSON: %v", err)
	}
	if rep.Answered != len(serials) || len(rep.Results) != len(serials) {
		return 0, fmt.Errorf("%d answered of %d", rep.Answered, len(serials))
	}
	for i, r := range rep.Results {
		if !r.Verified || r.Serial != serials[i] {
			return 0, fmt.Errorf("result %d: verified %v serial %s, want %s", i, r.Verified, r.Serial, serials[i])
		}
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}
