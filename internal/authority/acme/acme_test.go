package acme_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/authority/acme"
	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/provider/providertest"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/testenv"
)

// config is an authority config for Pebble p, with its own account_dir, answering http-01 on
// a free loopback port (Pebble in always-valid mode does not connect to it).
func config(t *testing.T, p *testenv.Pebble, domains ...string) acme.Config {
	return acme.Config{
		Directory:     p.DirectoryURL,
		CABundle:      p.CAFile,
		Email:         "ops@example.test",
		Domains:       domains,
		HTTP01Address: "127.0.0.1:0",
		AccountDir:    filepath.Join(t.TempDir(), "acme"),
		Timeout:       30 * time.Second,
	}
}

func env() provider.Env { return provider.Env{Rand: rand.Reader, Now: time.Now} }

func newAuthority(t *testing.T, cfg acme.Config) *acme.Authority {
	t.Helper()
	a, err := acme.New(cfg, env())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func mint(t *testing.T, a *acme.Authority, run string, current *provider.Version) (provider.Version, secret.Value, *pki.Bundle) {
	t.Helper()
	resp, err := a.Mint(context.Background(), provider.MintRequest{Credential: "web-cert", RunID: run, Strategy: acme.Overlap, Current: current})
	if err != nil {
		t.Fatalf("Mint(%s): %v", run, err)
	}
	b, err := pki.Decode(resp.Value)
	if err != nil {
		t.Fatalf("Mint(%s): the value is no bundle: %v", run, err)
	}
	if resp.AuthorityRef != pki.Ref(b.Leaf) || !resp.Expires.Equal(b.Leaf.NotAfter) {
		t.Fatalf("Mint(%s): AuthorityRef %s, Expires %s; want %s, %s", run, resp.AuthorityRef, resp.Expires, pki.Ref(b.Leaf), b.Leaf.NotAfter)
	}
	return provider.Version{ID: "v-" + run, Key: run, AuthorityRef: resp.AuthorityRef, Expires: resp.Expires}, resp.Value, b
}

func TestConformance(t *testing.T) {
	p := testenv.StartPebble(t)
	providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
		return providertest.AuthorityFixture{Authority: newAuthority(t, config(t, p, "conformance.example.test")), Credential: "web-cert", Strategies: []string{acme.Overlap}}
	})
}

// A certificate for two names chains to Pebble's root; the second mint reuses the account;
// revoke makes Pebble report the previous certificate revoked, and revoking it again is fine.
func TestMintRotateRevoke(t *testing.T) {
	p := testenv.StartPebble(t)
	cfg := config(t, p, "svc.example.test", "www.example.test")
	a := newAuthority(t, cfg)
	ctx := context.Background()
	if err := a.CheckManage(ctx, provider.CheckManageRequest{Credential: "web-cert", Strategy: acme.Overlap}); err != nil {
		t.Fatalf("CheckManage: %v", err)
	}

	v1, _, b1 := mint(t, a, "run-1", nil)
	if _, ok := b1.Key.(*ecdsa.PrivateKey); !ok {
		t.Errorf("default key type: %T, want ECDSA", b1.Key)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.Root(t))
	inters := x509.NewCertPool()
	for _, c := range b1.Chain {
		inters.AddCert(c)
	}
	if len(b1.Chain) == 0 {
		t.Fatal("the bundle holds no chain")
	}
	for _, name := range cfg.Domains {
		if _, err := b1.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: name}); err != nil {
			t.Errorf("verify for %s against Pebble's root: %v", name, err)
		}
	}

	keyFile := filepath.Join(a.AccountDir(), "account.key")
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("account key %s: %v (mode %v), want mode 0600", keyFile, err, fi.Mode())
	}
	key1, _ := os.ReadFile(keyFile)
	account := a.Account()
	if !strings.HasPrefix(account, "https://127.0.0.1:") {
		t.Errorf("account URL %q", account)
	}

	v2, _, b2 := mint(t, a, "run-2", &v1)
	key2, _ := os.ReadFile(keyFile)
	if !bytes.Equal(key1, key2) || a.Account() != account {
		t.Errorf("the second mint used another account: %q, was %q (key file changed: %v)", a.Account(), account, !bytes.Equal(key1, key2))
	}
	if pki.Matches(b2.Leaf, b1.Key.Public()) == nil {
		t.Error("the second certificate reuses the first one's key")
	}
	if got := p.CertStatus(t, b1.Leaf.SerialNumber); got != "Valid" {
		t.Errorf("before revoke, Pebble says the previous certificate is %s", got)
	}

	if _, err := a.Enable(ctx, provider.EnableRequest{Credential: "web-cert", RunID: "run-2", Strategy: acme.Overlap, Version: v2, Value: secret.FromString("x"), Previous: &v1}); err != nil {
		t.Errorf("Enable: %v", err)
	}
	for i := range 2 {
		resp, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "web-cert", RunID: "run-2", Strategy: acme.Overlap, Previous: v1, Current: v2})
		if err != nil {
			t.Fatalf("Revoke #%d: %v", i+1, err)
		}
		t.Logf("Revoke #%d: %s", i+1, resp.Detail)
	}
	if got := p.CertStatus(t, b1.Leaf.SerialNumber); got != "Revoked" {
		t.Errorf("after revoke, Pebble says the previous certificate is %s", got)
	}
	if got := p.CertStatus(t, b2.Leaf.SerialNumber); got != "Valid" {
		t.Errorf("after revoke, Pebble says the current certificate is %s", got)
	}

	// A version whose certificate copy is gone cannot be revoked by rotor: a person must.
	_, err = a.Revoke(ctx, provider.RevokeRequest{Credential: "web-cert", RunID: "run-3", Strategy: acme.Overlap,
		Previous: provider.Version{ID: "v0", AuthorityRef: "sha256:" + strings.Repeat("ab", 32)}, Current: v2})
	if provider.KindOf(err) != provider.NeedsHuman || !strings.Contains(err.Error(), "by hand") {
		t.Errorf("revoke without a copy: %v (kind %v)", err, provider.KindOf(err))
	}
}

// The key type follows the config.
func TestKeyTypes(t *testing.T) {
	p := testenv.StartPebble(t)
	for _, kt := range []string{"ecdsa-p384", "rsa-2048"} {
		cfg := config(t, p, "keys.example.test")
		cfg.KeyType = kt
		_, _, b := mint(t, newAuthority(t, cfg), "run-"+kt, nil)
		var got string
		switch k := b.Key.(type) {
		case *ecdsa.PrivateKey:
			got = fmt.Sprintf("ecdsa-p%d", k.Curve.Params().BitSize)
		case *rsa.PrivateKey:
			got = fmt.Sprintf("rsa-%d", k.N.BitLen())
		}
		if got != kt {
			t.Errorf("key_type %s: got a %s key", kt, got)
		}
	}
}

// With Pebble validating for real, rotor answers the http-01 challenge itself on the
// configured address; with nothing answering where Pebble looks, the order fails clearly.
func TestRealHTTP01(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := testenv.StartPebbleWith(t, testenv.PebbleOptions{Validate: true, HTTPPort: port})
	cfg := config(t, p, "127.0.0.1")
	cfg.HTTP01Address = "127.0.0.1:" + strconv.Itoa(port)
	_, _, b := mint(t, newAuthority(t, cfg), "run-1", nil)
	if len(b.Leaf.IPAddresses) != 1 || !b.Leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("IP SANs %v, want 127.0.0.1", b.Leaf.IPAddresses)
	}

	// Another account (Pebble reuses the first one's valid authorization otherwise): rotor
	// answers, but not where Pebble looks.
	cfg.HTTP01Address = "127.0.0.1:0"
	cfg.AccountDir = filepath.Join(t.TempDir(), "other-account")
	a := newAuthority(t, cfg)
	began := time.Now()
	_, err = a.Mint(context.Background(), provider.MintRequest{Credential: "web-cert", RunID: "run-2", Strategy: acme.Overlap})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("unanswered challenge: %v", err)
	} else {
		t.Logf("unanswered challenge (%s): %v", time.Since(began).Round(time.Millisecond), err)
	}
}

// A server that is down, one that accepts and never answers, and one that is no ACME server
// give a clear error, fast.
func TestUnreachableDirectory(t *testing.T) {
	p := testenv.StartPebble(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := l.Addr().String()
	l.Close()

	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	notACME := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "<html>hello</html>") }))
	defer notACME.Close()
	notACMECA := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notACMECA, pki.CertsPEM([]*x509.Certificate{notACME.Certificate()}), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, dir, ca string
		kind          provider.ErrorKind
		want          string
	}{
		{"down", "https://" + downAddr + "/dir", p.CAFile, provider.Retryable, "connection refused"},
		{"silent", "https://" + silent.Addr().String() + "/dir", p.CAFile, provider.Retryable, "read the ACME directory"},
		{"not ACME", notACME.URL + "/dir", notACMECA, provider.Terminal, "directory"},
		{"untrusted TLS", p.DirectoryURL, notACMECA, provider.Retryable, "certificate"},
	} {
		cfg := config(t, p, "svc.example.test")
		cfg.Directory, cfg.CABundle, cfg.Timeout = tc.dir, tc.ca, 2*time.Second
		a := newAuthority(t, cfg)
		began := time.Now()
		_, err := a.Mint(context.Background(), provider.MintRequest{Credential: "web-cert", RunID: "run-1", Strategy: acme.Overlap})
		took := time.Since(began)
		if err == nil || !strings.Contains(err.Error(), tc.want) || provider.KindOf(err) != tc.kind {
			t.Errorf("%s: %v (kind %v); want a %v error saying %q", tc.name, err, provider.KindOf(err), tc.kind, tc.want)
		}
		if took > 5*time.Second {
			t.Errorf("%s: took %s with a 2s timeout", tc.name, took)
		}
		if err := a.CheckManage(context.Background(), provider.CheckManageRequest{Credential: "web-cert", Strategy: acme.Overlap}); err == nil {
			t.Errorf("%s: CheckManage passed", tc.name)
		}
		t.Logf("%s (%s): %v", tc.name, took.Round(time.Millisecond), err)
	}
}

// Names the CA will not issue for are a terminal error naming the CA's reason.
func TestDomainRejected(t *testing.T) {
	p := testenv.StartPebbleWith(t, testenv.PebbleOptions{BlockedDomains: []string{"blocked.example.test"}})
	a := newAuthority(t, config(t, p, "svc.example.test", "www.blocked.example.test"))
	_, err := a.Mint(context.Background(), provider.MintRequest{Credential: "web-cert", RunID: "run-1", Strategy: acme.Overlap})
	if err == nil || provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), "rejectedIdentifier") {
		t.Fatalf("a name Pebble refuses: %v (kind %v)", err, provider.KindOf(err))
	}
	t.Logf("rejected: %v", err)
}

// Renewal information (ARI, RFC 9773) from a real Pebble 2.10: for a certificate it issued,
// Pebble suggests a two-day window around two thirds of the validity; once the certificate is
// revoked, a window already past (renew now). The next order names the certificate it
// replaces and the CA accepts it.
func TestRenewalWindow(t *testing.T) {
	p := testenv.StartPebble(t)
	a := newAuthority(t, config(t, p, "ari.example.test"))
	v, _, b := mint(t, a, "run-1", nil)
	resp, err := a.RenewalWindow(context.Background(), provider.RenewalWindowRequest{Credential: "web-cert", Version: v})
	if err != nil {
		t.Fatalf("RenewalWindow: %v", err)
	}
	if !resp.Advised {
		t.Fatalf("Pebble gave no renewal information (%s): the tests need a Pebble with ARI (v%s)\nhint: go install github.com/letsencrypt/pebble/v2/cmd/pebble@v%s",
			resp.Detail, testenv.PebbleVersion, testenv.PebbleVersion)
	}
	nb, na := b.Leaf.NotBefore, b.Leaf.NotAfter
	ideal := na.Add(-na.Add(time.Second).Sub(nb) / 3)
	if resp.Source != "ARI" || !resp.Start.Before(resp.End) || resp.Start.Before(nb) || resp.End.After(na) {
		t.Errorf("window %s..%s (source %q) is not inside the validity %s..%s", resp.Start, resp.End, resp.Source, nb, na)
	}
	if d := resp.Start.Sub(ideal.Add(-24 * time.Hour)).Abs(); d > time.Second {
		t.Errorf("window starts %s, want Pebble's ideal renewal (2/3 of the validity, %s) minus a day", resp.Start, ideal)
	}
	if !strings.Contains(resp.Detail, v.AuthorityRef) {
		t.Errorf("detail %q does not name the certificate", resp.Detail)
	}
	t.Logf("ARI window %s .. %s (validity %s .. %s)", resp.Start, resp.End, nb, na)

	cur, _, _ := mint(t, a, "run-2", &v)
	if _, err := a.Revoke(context.Background(), provider.RevokeRequest{Credential: "web-cert", RunID: "run-2", Strategy: acme.Overlap, Previous: v, Current: cur}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	resp, err = a.RenewalWindow(context.Background(), provider.RenewalWindowRequest{Credential: "web-cert", Version: v})
	if err != nil || !resp.Advised || resp.End.After(time.Now()) {
		t.Errorf("a revoked certificate: %+v, %v; want a window already past", resp, err)
	}

	_, err = a.RenewalWindow(context.Background(), provider.RenewalWindowRequest{Credential: "web-cert", Version: provider.Version{ID: "x", AuthorityRef: "sha256:" + strings.Repeat("0", 64)}})
	if err == nil || !strings.Contains(err.Error(), "no copy of certificate") {
		t.Errorf("a certificate rotor never kept: %v", err)
	}
	_, err = a.RenewalWindow(context.Background(), provider.RenewalWindowRequest{Credential: "web-cert", Version: provider.Version{ID: "x"}})
	if err == nil || !strings.Contains(err.Error(), "names no certificate") {
		t.Errorf("a version without authority ref: %v", err)
	}
}

// A CA whose directory has no renewalInfo (Pebble 2.4's) gives no advice, which is not an
// error. The directory is Pebble's own, passed through a proxy that removes renewalInfo;
// every other request goes to Pebble directly.
func TestRenewalWindowWithoutARI(t *testing.T) {
	p := testenv.StartPebble(t)
	a := newAuthority(t, config(t, p, "noari.example.test"))
	v, _, _ := mint(t, a, "run-1", nil)

	proxy := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := p.Client().Get(p.DirectoryURL)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var dir map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&dir); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		delete(dir, "renewalInfo")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(dir)
	}))
	defer proxy.Close()
	pebbleCA, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, append(pebbleCA, pki.CertsPEM([]*x509.Certificate{proxy.Certificate()})...), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config(t, p, "noari.example.test")
	cfg.Directory, cfg.CABundle, cfg.AccountDir = proxy.URL+"/dir", bundle, a.AccountDir()
	resp, err := newAuthority(t, cfg).RenewalWindow(context.Background(), provider.RenewalWindowRequest{Credential: "web-cert", Version: v})
	if err != nil {
		t.Fatalf("no ARI is no error: %v", err)
	}
	if resp.Advised || !resp.Start.IsZero() || !strings.Contains(resp.Detail, "no renewalInfo") {
		t.Errorf("without ARI: %+v; want no advice, said so", resp)
	}
}

// Readiness fails, naming the port, when rotor cannot listen where it answers challenges,
// and refuses an account key others can read.
func TestCheckManageRefuses(t *testing.T) {
	p := testenv.StartPebble(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := config(t, p, "svc.example.test")
	cfg.HTTP01Address = busy.Addr().String()
	a := newAuthority(t, cfg)
	err = a.CheckManage(context.Background(), provider.CheckManageRequest{Credential: "web-cert", Strategy: acme.Overlap})
	if err == nil || !strings.Contains(err.Error(), "cannot listen on "+busy.Addr().String()) || !strings.Contains(err.Error(), "http01_address") {
		t.Errorf("challenge port taken: %v", err)
	}

	cfg = config(t, p, "svc.example.test")
	a = newAuthority(t, cfg)
	mint(t, a, "run-1", nil)
	if err := os.Chmod(filepath.Join(a.AccountDir(), "account.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = a.CheckManage(context.Background(), provider.CheckManageRequest{Credential: "web-cert", Strategy: acme.Overlap})
	if err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("account key mode 0644: %v", err)
	}
}

func TestConfigRefused(t *testing.T) {
	good := acme.Config{Directory: "https://acme.example.test/dir", Domains: []string{"a.example.test"}}
	if errs := good.Validate(); len(errs) != 0 {
		t.Fatalf("a good config: %v", errs)
	}
	for _, tc := range []struct {
		mod  func(*acme.Config)
		want string
	}{
		{func(c *acme.Config) { c.Directory = "acme.example.test/dir" }, "directory"},
		{func(c *acme.Config) { c.Directory = "https://user:pw@acme.example.test/dir" }, "directory"},
		{func(c *acme.Config) { c.Domains = nil }, "domains"},
		{func(c *acme.Config) { c.Domains = []string{"a b.example"} }, "domains"},
		{func(c *acme.Config) { c.Domains = []string{"a.example.test", "A.example.test"} }, "domains"},
		{func(c *acme.Config) { c.Domains = []string{"*.example.test"} }, "domains"},
		{func(c *acme.Config) { c.Email = "not-an-address" }, "email"},
		{func(c *acme.Config) { c.Challenge = "dns-01" }, "challenge"},
		{func(c *acme.Config) { c.HTTP01Address = "80" }, "http01_address"},
		{func(c *acme.Config) { c.KeyType = "ed25519" }, "key_type"},
		{func(c *acme.Config) { c.Timeout = time.Millisecond }, "timeout"},
	} {
		c := good
		tc.mod(&c)
		errs := c.Validate()
		if len(errs) != 1 || errs[0].Field != tc.want {
			t.Errorf("%+v: %v, want one error on %s", c, errs, tc.want)
		}
		if _, err := acme.New(c, env()); err == nil {
			t.Errorf("%+v: New accepted it", c)
		}
	}
}
