package testenv

import (
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A started Pebble serves its directory over TLS trusted through CAFile, hands out its
// issuing root, and is gone, with its files, once stopped.
func TestStartPebble(t *testing.T) {
	t.Parallel()
	p := StartPebble(t)
	if !p.AlwaysValid || !strings.HasPrefix(p.DirectoryURL, "https://127.0.0.1:") || !strings.HasSuffix(p.DirectoryURL, "/dir") {
		t.Errorf("DirectoryURL %q, AlwaysValid %v: want https://127.0.0.1:<port>/dir in always-valid mode", p.DirectoryURL, p.AlwaysValid)
	}
	if _, err := os.Stat(p.CAFile); err != nil {
		t.Errorf("CAFile: %v", err)
	}
	root := p.Root(t)
	if !root.IsCA || !strings.Contains(root.Subject.CommonName, "Pebble Root") {
		t.Errorf("root %q (CA %v): want Pebble's root CA", root.Subject.CommonName, root.IsCA)
	}
	// Its TLS is trusted through CAPool only: a client with the system roots refuses it.
	if _, err := (&Pebble{DirectoryURL: p.DirectoryURL}).get(t.Context(), p.DirectoryURL); err == nil {
		t.Error("a client without the listener CA trusted Pebble")
	}

	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(p.CAFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Stop, %s: %v; want it removed", p.CAFile, err)
	}
	u, _ := url.Parse(p.DirectoryURL)
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		t.Errorf("after Stop, %s still accepts connections", u.Host)
	}
}

// A reused Pebble is checked: a wrong CA file or no server is a clear error.
func TestExternalPebble(t *testing.T) {
	t.Parallel()
	p := StartPebble(t)
	got, err := externalPebble(t.Context(), p.DirectoryURL, p.CAFile, p.ManagementURL)
	if err != nil {
		t.Fatalf("reuse a running Pebble: %v", err)
	}
	if got.Root(t) == nil {
		t.Error("no root from the reused Pebble")
	}
	if _, err := externalPebble(t.Context(), p.DirectoryURL, "", ""); err == nil || !strings.Contains(err.Error(), EnvPebbleCA) {
		t.Errorf("no CA file: %v", err)
	}
	port, _ := freePort()
	if _, err := externalPebble(t.Context(), "https://127.0.0.1:"+strconv.Itoa(port)+"/dir", p.CAFile, ""); err == nil {
		t.Error("a directory where nothing listens was accepted")
	}
}

func TestFindPebble(t *testing.T) {
	empty := t.TempDir()
	if _, err := findPebble(empty); err == nil || !strings.Contains(err.Error(), EnvPebbleBin+"="+empty+" is not an executable") {
		t.Errorf("%s=<a directory>: got %v", EnvPebbleBin, err)
	}
	path, err := findPebble("")
	if err != nil {
		t.Fatal(err) // the install hint is in err
	}
	if !isExecutable(path) || filepath.Base(path) != "pebble" {
		t.Errorf("found %s", path)
	}
}
