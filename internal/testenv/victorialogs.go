package testenv

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvVictoriaLogsURL is the base URL of a running VictoriaLogs to use instead of starting
// one (http://127.0.0.1:9428). Tests share what it stores with whatever else writes there,
// so they tag their lines with a field of their own (see UniqueName) and query only those.
const EnvVictoriaLogsURL = "ROTOR_TEST_VICTORIALOGS_URL"

// EnvVictoriaLogsBin is the victoria-logs executable to run instead of the one found in PATH
// or in $(go env GOPATH)/bin.
const EnvVictoriaLogsBin = "ROTOR_TEST_VICTORIALOGS_BIN"

// victoriaLogsModule is what scripts/test.sh installs; the hint of a missing binary names it.
const victoriaLogsModule = "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs"

// VictoriaLogs is a VictoriaLogs server for a test: started on 127.0.0.1 with its data in a
// temporary directory, or the one $ROTOR_TEST_VICTORIALOGS_URL names.
type VictoriaLogs struct {
	URL     string // base URL, http://127.0.0.1:<Port> when started
	Port    int    // 0 for a reused server
	Version string // the binary's module version (v1.52.2); "" for a reused server
	// DataDir and LogFile are in a temporary directory removed when it stops; "" when reused.
	DataDir, LogFile string

	srv *daemon // nil for a reused server
}

// StartVictoriaLogs starts victoria-logs on a free port of 127.0.0.1 with a temporary
// -storageDataPath, waits until /health answers and checks that the server answering is the
// one started, and stops it, removing its files, when the test ends. With
// $ROTOR_TEST_VICTORIALOGS_URL set it checks that server's /health and uses it instead.
//
// It fails the test, with how to install it, when the binary cannot be found: it is looked
// for in $ROTOR_TEST_VICTORIALOGS_BIN, PATH and $(go env GOPATH)/bin.
func StartVictoriaLogs(t testing.TB) *VictoriaLogs {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if u := os.Getenv(EnvVictoriaLogsURL); u != "" {
		v := &VictoriaLogs{URL: strings.TrimRight(u, "/")}
		if err := v.health(ctx); err != nil {
			t.Fatalf("testenv: %s=%s: %v\nhint: start VictoriaLogs there, or unset it to let the test start its own", EnvVictoriaLogsURL, u, err)
		}
		return v
	}
	began := time.Now()
	v, err := startVictoriaLogs(ctx)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	stopAtEnd(t, "VictoriaLogs log", v.LogFile, v.Stop)
	t.Logf("testenv: VictoriaLogs %s on 127.0.0.1:%d started in %s", v.Version, v.Port, time.Since(began).Round(time.Millisecond))
	return v
}

// Stop shuts a started server down (SIGINT, its graceful shutdown) and removes its files.
// Calling it again, or on a reused server, does nothing.
func (v *VictoriaLogs) Stop() error {
	return v.srv.shutdown(fmt.Sprintf("VictoriaLogs on 127.0.0.1:%d", v.Port), (*process).stop)
}

// Ingest writes entries through the JSON line API (/insert/jsonline), one JSON object per
// entry, and then makes them searchable at once (/internal/force_flush) instead of after the
// server's own flush a second or so later. Each entry needs "_time" (a time.Time or an
// RFC 3339 string) and "_msg"; streamFields name the fields that make up its stream. It
// fails the test unless the server took them all.
func (v *VictoriaLogs) Ingest(t testing.TB, streamFields []string, entries ...map[string]any) {
	t.Helper()
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, e := range entries {
		if ts, ok := e["_time"].(time.Time); ok {
			e = maps.Clone(e) // the caller's map stays as it was
			e["_time"] = ts.UTC().Format(time.RFC3339Nano)
		}
		if err := enc.Encode(e); err != nil {
			t.Fatalf("testenv: encode log entry: %v", err)
		}
	}
	q := url.Values{"_stream_fields": {strings.Join(streamFields, ",")}}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// JSON lines need a JSON content type: a form content type stores nothing.
	if err := v.do(ctx, http.MethodPost, "/insert/jsonline?"+q.Encode(), "application/stream+json", &body); err != nil {
		t.Fatalf("testenv: ingest %d log entries: %v", len(entries), err)
	}
	if err := v.do(ctx, http.MethodGet, "/internal/force_flush", "", nil); err != nil {
		t.Fatalf("testenv: flush ingested entries: %v", err)
	}
}

// do sends one request and fails unless the answer is a 2xx.
func (v *VictoriaLogs) do(ctx context.Context, method, path, contentType string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, method, v.URL+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, strings.SplitN(path, "?", 2)[0], resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// startVictoriaLogs starts the server in a new temporary directory. On error nothing is left
// running or on disk.
func startVictoriaLogs(ctx context.Context) (_ *VictoriaLogs, err error) {
	bin, err := findVictoriaLogs(os.Getenv(EnvVictoriaLogsBin), goBinDir())
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp("", "rotor-vl-")
	if err != nil {
		return nil, fmt.Errorf("create VictoriaLogs directory: %w", err)
	}
	v := &VictoriaLogs{DataDir: filepath.Join(base, "data"), LogFile: filepath.Join(base, "victoria-logs.log"), srv: &daemon{dir: base}}
	if info, err := buildinfo.ReadFile(bin); err == nil {
		v.Version = info.Main.Version
	}
	defer cleanUpOnError(&err, v.Stop)
	if err := withFreePort(func(port int) error {
		v.Port, v.URL = port, "http://127.0.0.1:"+strconv.Itoa(port)
		return v.launch(ctx, bin)
	}); err != nil {
		return nil, err
	}
	return v, nil
}

// launch starts victoria-logs on v.Port and waits until it is healthy and proven ours.
func (v *VictoriaLogs) launch(ctx context.Context, bin string) error {
	return v.srv.launch(ctx, attempt{
		name: "victoria-logs",
		addr: "127.0.0.1:" + strconv.Itoa(v.Port),
		cmd: exec.Command(bin,
			"-httpListenAddr=127.0.0.1:"+strconv.Itoa(v.Port),
			"-storageDataPath="+v.DataDir,
			"-retentionPeriod=7d",
			"-loggerLevel=WARN",
		),
		log:       v.LogFile,
		portTaken: "address already in use",
		ready:     v.ours,
	})
}

// health checks that /health answers OK.
func (v *VictoriaLogs) health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return v.do(ctx, http.MethodGet, "/health", "", nil)
}

// ours checks /health, then that the server answering keeps its data in v.DataDir (its
// /metrics lists the flag), so it is the one started, not one that took the port.
func (v *VictoriaLogs) ours(ctx context.Context) error {
	if err := v.health(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.URL+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	want := fmt.Sprintf(`flag{name="storageDataPath", value=%q`, v.DataDir)
	if !bytes.Contains(b, []byte(want)) {
		return fmt.Errorf("127.0.0.1:%d is answered by another server (its /metrics lacks %s)", v.Port, want)
	}
	return nil
}

// goBinDir is where go install puts binaries: $GOBIN, else $(go env GOPATH)/bin. It asks the
// go command, so a GOPATH set in go env's file counts too; "" when there is no go command.
func goBinDir() string {
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) >= 1 && strings.TrimSpace(lines[0]) != "" {
		return strings.TrimSpace(lines[0])
	}
	if len(lines) >= 2 {
		if first, _, _ := strings.Cut(strings.TrimSpace(lines[1]), string(os.PathListSeparator)); first != "" {
			return filepath.Join(first, "bin")
		}
	}
	return ""
}

// findVictoriaLogs returns the victoria-logs executable: env (the value of
// $ROTOR_TEST_VICTORIALOGS_BIN) if set, else victoria-logs in PATH, else in goBin.
func findVictoriaLogs(env, goBin string) (string, error) {
	e := executable{
		name:   "victoria-logs",
		envVar: EnvVictoriaLogsBin,
		noun:   "a victoria-logs binary",
		where:  "PATH",
		needs:  "VictoriaLogs",
		hints: []string{
			"run scripts/test.sh, which installs it, or: go install " + victoriaLogsModule + "@" + VictoriaLogsVersion,
			"or set " + EnvVictoriaLogsURL + " to the base URL of a running VictoriaLogs",
		},
	}
	if goBin != "" {
		e.paths, e.where = []string{filepath.Join(goBin, "victoria-logs")}, "PATH or "+goBin
	}
	return e.find(env)
}

// VictoriaLogsVersion is the release scripts/test.sh installs and the tests were written
// against.
const VictoriaLogsVersion = "v1.52.2"
