package testenv

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A started VictoriaLogs takes lines through the JSON line API, finds them at once, listens
// on 127.0.0.1 only and is gone, with its files, once stopped.
func TestStartVictoriaLogs(t *testing.T) {
	// Not parallel: it clears the variable, since this test is about a started server.
	t.Setenv(EnvVictoriaLogsURL, "")
	v := StartVictoriaLogs(t)
	if v.URL != "http://127.0.0.1:"+strconv.Itoa(v.Port) || !strings.HasPrefix(v.Version, "v") {
		t.Errorf("URL %q, Version %q: want http://127.0.0.1:<port> and a module version", v.URL, v.Version)
	}
	tag := UniqueName("vl")
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	v.Ingest(t, []string{"test"},
		map[string]any{"_time": at, "_msg": "one", "test": tag, "status": "401"},
		map[string]any{"_time": at.Format(time.RFC3339), "_msg": "two", "test": tag, "status": "200"},
	)
	q := url.Values{"query": {`{test="` + tag + `"} status:401 | fields _time, _msg`}}
	resp, err := http.Get(v.URL + "/select/logsql/query?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `{"_time":"` + at.Format(time.RFC3339) + `","_msg":"one"}`
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != want {
		t.Errorf("query: %s %q, want the one 401 line %s", resp.Status, body, want)
	}

	checkStops(t, v.Stop, v.DataDir, net.JoinHostPort("127.0.0.1", strconv.Itoa(v.Port)))
}

// The binary is found through the variable, PATH or go's bin directory, and a missing one
// says how to install it.
func TestFindVictoriaLogs(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "victoria-logs")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	if got, err := findVictoriaLogs(bin, ""); err != nil || got != bin {
		t.Errorf("from the variable: %q, %v", got, err)
	}
	if got, err := findVictoriaLogs("", dir); err != nil || got != bin {
		t.Errorf("from go's bin directory: %q, %v", got, err)
	}
	if _, err := findVictoriaLogs(filepath.Join(dir, "nope"), dir); err == nil || !strings.Contains(err.Error(), EnvVictoriaLogsBin) {
		t.Errorf("a variable naming no file: %v, want an error naming it", err)
	}
	_, err := findVictoriaLogs("", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "go install "+victoriaLogsModule+"@"+VictoriaLogsVersion) || !strings.Contains(err.Error(), EnvVictoriaLogsURL) {
		t.Errorf("missing binary: %v, want how to install it", err)
	}
}
