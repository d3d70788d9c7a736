package nginx_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/reload/nginx"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/pemfiles"
	"github.com/rotorhq/rotor/internal/testenv"
)

var serials atomic.Int64

// issue makes a self-signed certificate bundle for name with a fresh serial.
func issue(t *testing.T, name string) (*x509.Certificate, secret.Value) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial := big.NewInt(time.Now().UnixNano()%1e12*100 + serials.Add(1))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	v, err := pki.Encode(pki.Bundle{Leaf: leaf, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	return leaf, v
}

// site is one vhost's certificate in its own pem-files store.
type site struct {
	name  string
	store *pemfiles.Store
	runs  int
}

func newSite(t *testing.T, base, name string) *site {
	t.Helper()
	s, err := pemfiles.New(pemfiles.Config{Dir: name}, provider.Env{Now: time.Now, Rand: rand.Reader, BaseDir: base})
	if err != nil {
		t.Fatal(err)
	}
	st := &site{name: name, store: s}
	st.rotate(t)
	return st
}

// rotate stores a new certificate and promotes it, as prepare and cutover do.
func (s *site) rotate(t *testing.T) *x509.Certificate {
	t.Helper()
	s.runs++
	leaf, v := issue(t, s.name)
	defer v.Wipe()
	put, err := s.store.Put(context.Background(), provider.PutRequest{Credential: s.name, Value: v, Key: "run-" + strconv.Itoa(s.runs)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Promote(context.Background(), provider.PromoteRequest{Credential: s.name, Version: put.Version.ID}); err != nil {
		t.Fatal(err)
	}
	return leaf
}

func (s *site) vhost() testenv.NginxVHost {
	d := s.store.Dir()
	return testenv.NginxVHost{ServerName: s.name, CertFile: filepath.Join(d, "fullchain.pem"), KeyFile: filepath.Join(d, "key.pem")}
}

func setup(t *testing.T) (*testenv.Nginx, *site, *site) {
	t.Helper()
	base := t.TempDir()
	a, b := newSite(t, base, "a.rotor.test"), newSite(t, base, "b.rotor.test")
	return testenv.StartNginx(t, testenv.NginxOptions{VHosts: []testenv.NginxVHost{a.vhost(), b.vhost()}}), a, b
}

func reloader(t *testing.T, n *testenv.Nginx, pidFile bool) *nginx.Reloader {
	t.Helper()
	cfg := &nginx.Config{Binary: n.Binary, Config: n.ConfigFile, Prefix: n.Prefix, ErrorLog: n.ErrorLog}
	if pidFile {
		cfg.PIDFile = n.PIDFile
	}
	r, err := nginx.New(cfg, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// bounded is the context a reload runs with: the engine gives it the reload block's timeout.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func served(t *testing.T, n *testenv.Nginx, name string) *x509.Certificate {
	t.Helper()
	c, err := n.Served(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantServed(t *testing.T, n *testenv.Nginx, name string, want *x509.Certificate, when string) {
	t.Helper()
	if got := served(t, n, name); !bytes.Equal(got.Raw, want.Raw) {
		t.Fatalf("%s: %s serves serial %s, want %s", when, name, pki.Serial(got), pki.Serial(want))
	}
}

// Two vhosts on one nginx; one vhost's certificate rotates (pem-files promote) and nginx is
// reloaded: right after Reload returns, a TLS client sees the new serial on that vhost and
// the unchanged one on the other — every time, so the wait for new workers is what makes it.
func TestReloadServesTheNewCertificate(t *testing.T) {
	n, a, b := setup(t)
	r := reloader(t, n, true)
	bCert := served(t, n, b.name)
	for i := range 5 {
		newA := a.rotate(t)
		resp, err := r.Reload(bounded(t), provider.ReloadRequest{Credential: "a", Consumer: "nginx"})
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if !strings.Contains(resp.Detail, "new worker") {
			t.Errorf("detail %q, want it to say new workers started", resp.Detail)
		}
		wantServed(t, n, a.name, newA, "right after reload "+strconv.Itoa(i))
		wantServed(t, n, b.name, bCert, "the other vhost after reload "+strconv.Itoa(i))
	}
}

// A configuration that fails nginx -t is not reloaded: the error carries nginx's own message,
// and the old certificate is still served even though a new one is in the files.
func TestBrokenConfigurationIsNotReloaded(t *testing.T) {
	n, a, _ := setup(t)
	r := reloader(t, n, true)
	old := served(t, n, a.name)
	a.rotate(t)
	conf, err := os.ReadFile(n.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(conf), "http {", "http {\n  rotor_no_such_directive on;", 1)
	if err := os.WriteFile(n.ConfigFile, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = r.Reload(bounded(t), provider.ReloadRequest{})
	if err == nil {
		t.Fatal("Reload of a broken configuration succeeded")
	}
	if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), `unknown directive "rotor_no_such_directive"`) ||
		!strings.Contains(err.Error(), "nothing reloaded") {
		t.Fatalf("error %q (%s), want a terminal error with nginx's message", err, provider.KindOf(err))
	}
	time.Sleep(200 * time.Millisecond) // had a SIGHUP gone out, new workers would be up by now
	wantServed(t, n, a.name, old, "after a refused reload")
}

// Without a pid file, rotor runs nginx -s reload with the same -p/-c; it cannot wait for the
// workers, and says so.
func TestReloadWithoutPIDFile(t *testing.T) {
	n, a, _ := setup(t)
	r := reloader(t, n, false)
	newA := a.rotate(t)
	resp, err := r.Reload(bounded(t), provider.ReloadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Detail, "nginx -s reload") || !strings.Contains(resp.Detail, "not waiting") {
		t.Errorf("detail %q", resp.Detail)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !bytes.Equal(served(t, n, a.name).Raw, newA.Raw) {
		if time.Now().After(deadline) {
			t.Fatal("nginx -s reload did not bring the new certificate within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMissingBinaryAndBadPIDFile(t *testing.T) {
	dir := t.TempDir()
	for bin, want := range map[string]string{
		"/nonexistent/nginx":  "/nonexistent/nginx is not an executable file",
		"rotor-no-such-nginx": `nginx binary "rotor-no-such-nginx" not found`,
	} {
		r, err := nginx.New(&nginx.Config{Binary: bin, PIDFile: "x.pid"}, provider.Env{BaseDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Reload(bounded(t), provider.ReloadRequest{})
		if provider.KindOf(err) != provider.Terminal || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("binary %s: %v, want a terminal error saying %q", bin, err, want)
		}
	}
	// A pid file naming a process that is not an nginx master is refused, nothing signalled.
	n, _, _ := setup(t)
	notNginx := filepath.Join(dir, "self.pid")
	os.WriteFile(notNginx, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	r, err := nginx.New(&nginx.Config{Binary: n.Binary, Config: n.ConfigFile, Prefix: n.Prefix, ErrorLog: n.ErrorLog, PIDFile: notNginx}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(bounded(t), provider.ReloadRequest{}); err == nil || !strings.Contains(err.Error(), "not an nginx master") {
		t.Errorf("pid file of a non-nginx process: %v", err)
	}
}

func TestValidate(t *testing.T) {
	errs := (&nginx.Config{Config: "-g daemon", PIDFile: "-x"}).Validate()
	if len(errs) != 2 {
		t.Fatalf("Validate = %v, want config and pid_file", errs)
	}
	if _, err := nginx.New(&nginx.Config{ErrorLog: "-e"}, provider.Env{}); provider.KindOf(err) != provider.Terminal {
		t.Errorf("New accepted error_log -e: %v", err)
	}
}

// The reload's bound is its context, the reload block's timeout: an nginx -t that hangs is
// stopped when the context ends, and the reload may be tried again.
func TestContextBoundsTheReload(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "nginx")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := nginx.New(&nginx.Config{Binary: bin}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = r.Reload(ctx, provider.ReloadRequest{})
	if provider.KindOf(err) != provider.Retryable || !strings.Contains(err.Error(), "nginx -t did not finish") {
		t.Errorf("Reload = %v (%s), want a retryable error: nginx -t did not finish", err, provider.KindOf(err))
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("took %s with a 300ms deadline", d)
	}
}
