package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/rotation"
)

// platform is a small real platform in a temporary folder: an inventory with age identities
// for rotor and each consumer, rotor's file store and state, and — when started — keysvc, the
// service that accepts the API key, with its request log.
type platform struct {
	dir string // root: inventory/, store/, state/, keysvc.*
}

// The credential every e2e inventory rotates.
const credential = "partner-key"

// platformOpts shape the inventory.
type platformOpts struct {
	critical bool
	// job adds the scheduled consumer "reports", proven at its next run (every minute).
	job bool
	// service makes "api" the keysvc service (signal reload, a real call as its check) and
	// adds the credential-wide residual-use signal over keysvc's log. Without it, "api"
	// reloads with `true` and its check only proves it reads the version it should.
	service bool
}

func newPlatform(t *testing.T, o platformOpts) *platform {
	t.Helper()
	p := &platform{dir: t.TempDir()}
	inv := filepath.Join(p.dir, "inventory")
	rec := map[string]string{}
	for _, id := range []string{"rotor", "api", "ops", "reports"} {
		rec[id] = ageKey(t, filepath.Join(inv, "keys", id+".key"))
	}
	// Every path is relative to the inventory folder (the working directory of checks and
	// reloads), so a copy of the whole folder is a platform of its own.
	kc := func(consumer, url string) string {
		args := []string{bin.keyclient, "-dir", "../store", "-name", credential, "-identity", "keys/" + consumer + ".key",
			"-consumer", consumer, "-client", "check-" + consumer, "-expect-current"}
		if url != "" {
			args = append(args, "-url", url, "-wait", "5s")
		}
		return "[" + quoteAll(args) + "]"
	}
	var b strings.Builder
	w := func(s string) { b.WriteString(s + "\n") }
	w("teams:")
	w("  team-api: {contact: api@example.test, approvers: [bob]}")
	w("identities:")
	for _, id := range []string{"rotor", "api", "ops", "reports"} {
		w("  " + id + ": {type: age, recipient: " + rec[id] + ", identity_file: keys/" + id + ".key}")
	}
	w("checks:")
	if o.service {
		w("  api-call: {type: exec, timeout: 20s, command: " + kc("api", "@../keysvc.addr") + "}")
	} else {
		w("  api-call: {type: exec, timeout: 20s, command: " + kc("api", "") + "}")
	}
	w("  ops-read: {type: exec, timeout: 20s, command: " + kc("ops", "") + "}")
	w("  reports-call: {type: exec, timeout: 20s, command: " + kc("reports", "") + "}")
	if o.service {
		w("  old-key-unused:")
		w("    type: log")
		w("    source: {type: file, path: ../keysvc.log, format: json, fields: {time: ts, host: client}}")
		w("    match: {key_id: previous}")
		w("    by: [host]")
		w("    bin: 1m")
		w("    window: 3s")
		w("    max: 0")
	}
	w("credentials:")
	w("  " + credential + ":")
	w("    description: API key partners use to call the orders API")
	w("    kind: api-key")
	w("    owner: team-api")
	w("    critical: " + map[bool]string{true: "true", false: "false"}[o.critical])
	w("    store: {type: file, dir: ../store, identity: rotor}")
	w("    authority: {type: generated, strategy: overlap}")
	w("    rotate: {every: 30d}")
	if o.service {
		w("    checks: [old-key-unused]")
	}
	w("    consumers:")
	w("      api:")
	w("        kind: service")
	w("        identity: api")
	w("        reads: at-start")
	w("        accepts: true")
	if o.service {
		w("        reload: {type: signal, pid_file: ../keysvc.pid}")
	} else {
		w("        reload: {type: exec, command: [\"true\"]}")
	}
	w("        checks: [api-call]")
	w("      ops:")
	w("        kind: script")
	w("        identity: ops")
	w("        reads: per-request")
	w("        checks: [ops-read]")
	if o.job {
		w("      reports:")
		w("        kind: job")
		w("        schedule: \"* * * * *\"")
		w("        identity: reports")
		w("        reads: at-start")
		w("        checks: [reports-call]")
	}
	writeFile(t, filepath.Join(inv, "rotor.yaml"), b.String())
	return p
}

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		b, _ := json.Marshal(a)
		q[i] = string(b)
	}
	return strings.Join(q, ", ")
}

// rotor runs the rotor binary against this platform.
func (p *platform) rotor(t *testing.T, args ...string) result {
	t.Helper()
	return rotor(t, p.dir, nil, args...)
}

// rotorEnv runs rotor with extra environment (the crash hook).
func (p *platform) rotorEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return rotor(t, p.dir, env, args...)
}

// copyTo makes an independent copy of the platform (inventory, store and state).
func (p *platform) copyTo(t *testing.T, dst string) *platform {
	t.Helper()
	copyTree(t, p.dir, dst)
	return &platform{dir: dst}
}

// runID is the id of the newest run of the credential.
func (p *platform) runID(t *testing.T) string {
	t.Helper()
	r := p.rotor(t, "runs", "--all", "-o", "json")
	if r.code != 0 {
		t.Fatalf("rotor runs: %s", r)
	}
	var runs []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil || len(runs) == 0 {
		t.Fatalf("rotor runs -o json: %v\n%s", err, r)
	}
	return runs[0].ID
}

// runStatus is the part of `rotor status RUN -o json` the tests read.
type runStatus struct {
	Run struct {
		ID       string `json:"id"`
		Phase    string `json:"phase"`
		Previous *struct {
			ID string `json:"id"`
		} `json:"previous"`
		New *struct {
			ID string `json:"id"`
		} `json:"new"`
		Steps      []stepStatus `json:"steps"`
		Exceptions []struct {
			State string `json:"state"`
		} `json:"exceptions"`
	} `json:"run"`
}

// run is the whole run as `rotor status RUN -o json` gives it.
func (p *platform) run(t *testing.T, run string) rotation.Run {
	t.Helper()
	r := p.rotor(t, "status", run, "-o", "json")
	if r.code != 0 {
		t.Fatalf("rotor status: %s", r)
	}
	var st struct {
		Run rotation.Run `json:"run"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("rotor status -o json: %v\n%s", err, r.stdout)
	}
	return st.Run
}

type stepStatus struct {
	Kind       string    `json:"kind"`
	Consumer   string    `json:"consumer"`
	Status     string    `json:"status"`
	Verdict    string    `json:"verdict"`
	Attempt    int       `json:"attempt"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

func (p *platform) status(t *testing.T, run string) runStatus {
	t.Helper()
	r := p.rotor(t, "status", run, "-o", "json")
	if r.code != 0 {
		t.Fatalf("rotor status: %s", r)
	}
	var st runStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("rotor status -o json: %v\n%s", err, r.stdout)
	}
	return st
}

// storeIndex is the file store's index of the credential, as keysvc and clients see it.
type storeIndex struct {
	Versions []struct {
		ID      string `json:"id"`
		Stage   string `json:"stage"`
		Enabled bool   `json:"enabled"`
		Deleted bool   `json:"deleted"`
		Key     string `json:"key"`
	} `json:"versions"`
	Pins map[string]string `json:"pins"`
}

func (p *platform) index(t *testing.T) storeIndex {
	t.Helper()
	return readIndex(t, p.dir, credential)
}

func readIndex(t *testing.T, dir, cred string) storeIndex {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "store", cred, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ix storeIndex
	if err := json.Unmarshal(b, &ix); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	return ix
}

// process is a test program running in the background.
type process struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out strings.Builder
}

func (pr *process) output() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.out.String()
}

func start(t *testing.T, name string, args ...string) *process {
	t.Helper()
	pr := &process{cmd: exec.Command(name, args...)}
	stdout, err := pr.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.cmd.Stderr = pr.cmd.Stdout
	if err := pr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			pr.mu.Lock()
			pr.out.WriteString(s.Text() + "\n")
			pr.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		pr.cmd.Process.Signal(syscall.SIGCONT)
		pr.cmd.Process.Kill()
		pr.cmd.Wait()
	})
	return pr
}

// startService starts keysvc on the platform's store (reading as the api identity) and a
// heartbeat that calls its health endpoint every 100 ms, so that its log is never silent: a
// silent log proves nothing, and the residual-use check says so.
func (p *platform) startService(t *testing.T) *process {
	t.Helper()
	svc := start(t, bin.keysvc, "-dir", filepath.Join(p.dir, "store"), "-name", credential,
		"-identity", filepath.Join(p.dir, "inventory", "keys", "api.key"),
		"-addr-file", filepath.Join(p.dir, "keysvc.addr"), "-pid-file", filepath.Join(p.dir, "keysvc.pid"),
		"-log", filepath.Join(p.dir, "keysvc.log"))
	eventually(t, 10*time.Second, "keysvc to listen", func() bool {
		_, err := os.Stat(filepath.Join(p.dir, "keysvc.addr"))
		return err == nil
	})
	addr, _ := os.ReadFile(filepath.Join(p.dir, "keysvc.addr"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if resp, err := http.Get("http://" + string(addr) + "/healthz"); err == nil {
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return svc
}

// client starts a long-running keyclient that read the key at start and keeps using it.
func (p *platform) client(t *testing.T, name, identity string) *process {
	t.Helper()
	return start(t, bin.keyclient, "-dir", filepath.Join(p.dir, "store"), "-name", credential,
		"-identity", filepath.Join(p.dir, "inventory", "keys", identity+".key"),
		"-url", "@"+filepath.Join(p.dir, "keysvc.addr"), "-client", name, "-every", "100ms")
}
