package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/plan"
	"github.com/rotorhq/rotor/internal/testenv"
)

// TestACMECertificateThroughNginx rotates a certificate obtained from a real ACME server
// (Pebble, started by internal/testenv) and served by a real nginx: the new certificate is
// ordered and stored beside the old one, nginx reloads onto it, a TLS handshake proves it is
// served and chains to Pebble's root, and only then is the previous certificate revoked — at
// the ACME server, where Pebble reports it revoked while the new one stays valid. Then the
// CA's renewal window (ACME Renewal Information) sets the next due date: rotor plan shows
// due_rule ari inside Pebble's window, rotate without --now finds it not due for that reason,
// and with the CA down plan still answers, saying the information is unavailable.
func TestACMECertificateThroughNginx(t *testing.T) {
	pebble := testenv.StartPebble(t)
	dir := t.TempDir()
	p := &platform{dir: dir}
	inv := filepath.Join(dir, "inventory")
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pebble-root.pem"), pki.CertsPEM([]*x509.Certificate{pebble.Root(t)}), 0o644); err != nil {
		t.Fatal(err)
	}
	// A copy of the CA of Pebble's listener: Pebble removes its own when it stops, and the
	// test stops it to see plan answer with the CA down.
	listenerCA, err := os.ReadFile(pebble.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pebble-listener-ca.pem"), listenerCA, 0o644); err != nil {
		t.Fatal(err)
	}
	var ng *testenv.Nginx
	write := func() {
		reload, checks, tlsCheck := `{type: exec, command: ["true"]}`, "[]", "  {}"
		if ng != nil {
			reload = fmt.Sprintf("{type: nginx, config: %s, prefix: %s, pid_file: %s, error_log: %s}", ng.ConfigFile, ng.Prefix, ng.PIDFile, ng.ErrorLog)
			checks = "[shop-tls]"
			tlsCheck = fmt.Sprintf("  shop-tls: {type: tls, address: %q, server_name: shop.test, ca_file: ../pebble-root.pem}", ng.Addr)
		}
		writeFile(t, filepath.Join(inv, "rotor.yaml"), fmt.Sprintf(`teams:
  team-shop: {contact: shop@example.test, approvers: [bob]}
identities:
  tls-files: {type: os-user, user: %s}
checks:
%s
credentials:
  shop-cert:
    description: TLS certificate of shop.test, from the ACME CA
    kind: certificate
    owner: team-shop
    store: {type: pem-files, dir: ../shop, identity: tls-files}
    authority: {type: acme, strategy: overlap, directory: %q, ca_bundle: %q, email: ops@example.test, domains: [shop.test], http01_address: "127.0.0.1:0", account_dir: ../acme}
    rotate: {before_expiry: 7d}
    consumers:
      shop:
        kind: service
        identity: tls-files
        reads: at-start
        reload: %s
        checks: %s
`, me.Username, tlsCheck, pebble.DirectoryURL, filepath.Join(dir, "pebble-listener-ca.pem"), reload, checks))
	}
	write()
	r := p.rotor(t, "rotate", "shop-cert", "--now", "--as", "alice")
	wantCode(t, r, 3, "first certificate, waiting for the shop's proof")
	first := runOf(t, r)
	wantCode(t, p.rotor(t, "signoff", first, "shop", "--as", "bob", "--reason", "nginx starts on this certificate"), 0, "signoff")
	wantCode(t, p.rotor(t, "rotate", "shop-cert", "--as", "alice"), 0, "first certificate")

	shop := filepath.Join(dir, "shop")
	ng = testenv.StartNginx(t, testenv.NginxOptions{VHosts: []testenv.NginxVHost{
		{ServerName: "shop.test", CertFile: filepath.Join(shop, "fullchain.pem"), KeyFile: filepath.Join(shop, "key.pem")},
	}})
	write()
	old, err := ng.Served(context.Background(), "shop.test")
	if err != nil {
		t.Fatal(err)
	}
	if st := pebble.CertStatus(t, old.SerialNumber); st != "Valid" {
		t.Fatalf("the first certificate is %s at Pebble", st)
	}

	r = p.rotor(t, "rotate", "shop-cert", "--now", "--as", "alice")
	wantCode(t, r, 0, "rotation of the ACME certificate")
	run := runOf(t, r)
	cur, err := ng.Served(context.Background(), "shop.test")
	if err != nil {
		t.Fatal(err)
	}
	if pki.Ref(cur) == pki.Ref(old) {
		t.Fatal("nginx still serves the first certificate after the rotation")
	}
	roots := x509.NewCertPool()
	roots.AddCert(pebble.Root(t))
	inter := x509.NewCertPool()
	for _, c := range servedChain(t, ng.Addr, "shop.test")[1:] {
		inter.AddCert(c)
	}
	if _, err := cur.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "shop.test"}); err != nil {
		t.Fatalf("the served certificate does not chain to Pebble's root: %v", err)
	}
	if st := pebble.CertStatus(t, old.SerialNumber); st != "Revoked" {
		t.Fatalf("the previous certificate is %s at Pebble after revoke, want Revoked", st)
	}
	if st := pebble.CertStatus(t, cur.SerialNumber); st != "Valid" {
		t.Fatalf("the served certificate is %s at Pebble", st)
	}
	wantCode(t, p.rotor(t, "journal", "verify", run), 0, "journal verify")
	if out := r.stdout + r.stderr; strings.Contains(out, "PRIVATE KEY") {
		t.Fatal("a private key reached rotor's output")
	}
	key, err := os.ReadFile(filepath.Join(dir, "acme", "account.key"))
	if err != nil {
		t.Fatalf("the ACME account key is not where account_dir says: %v", err)
	}
	if strings.Contains(r.stdout+r.stderr, strings.TrimSpace(string(key))) {
		t.Fatal("the ACME account key reached rotor's output")
	}

	// Pebble suggests renewing in a two-day window around two thirds of the validity, well
	// before before_expiry's date (7 days before the expiry): the window sets the due date.
	ideal := cur.NotAfter.Add(-cur.NotAfter.Add(time.Second).Sub(cur.NotBefore) / 3)
	e := planEntry(t, p, "shop-cert")
	if e.DueRule != "ari" || e.Renewal == nil || e.Due == nil {
		t.Fatalf("plan: rule %q, window %+v, due %v; want the CA's renewal window to set it (reason %q, notes %q)", e.DueRule, e.Renewal, e.Due, e.DueReason, e.Notes)
	}
	if d := e.Renewal.Start.Sub(ideal.Add(-24 * time.Hour)).Abs(); d > time.Second || e.Renewal.Source != "ARI" {
		t.Errorf("plan: renewal window %+v, want Pebble's (from %s)", e.Renewal, ideal.Add(-24*time.Hour))
	}
	if e.Due.Before(e.Renewal.Start) || !e.Due.Before(e.Renewal.End) || !strings.HasPrefix(e.DueReason, "the CA's renewal window (ARI)") || e.Status != "ok" {
		t.Errorf("plan: due %s (%s, status %s), want a point inside %s..%s", e.Due, e.DueReason, e.Status, e.Renewal.Start, e.Renewal.End)
	}
	t.Logf("plan: due %s by %s: %s", e.Due.Format(time.RFC3339), e.DueRule, e.DueReason)
	// rotate's own due decision asks the CA too: not due, for that reason.
	r = p.rotor(t, "rotate", "shop-cert", "--as", "alice")
	wantCode(t, r, 0, "rotate when the CA's window is weeks away")
	if !strings.Contains(r.stdout, "shop-cert is not due (the CA's renewal window (ARI)") {
		t.Errorf("rotate without --now: want not due by the CA's renewal window:\n%s", r)
	}

	// With the CA down, plan still answers, from the inventory's own rule, and says why.
	if err := pebble.Stop(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	e = planEntry(t, p, "shop-cert")
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("plan took %s with the CA down", took)
	}
	t.Logf("plan with the CA down (%s): %s; notes %q", time.Since(began).Round(time.Millisecond), e.DueReason, e.Notes)
	if e.DueRule != "before_expiry" || e.Renewal != nil || !strings.Contains(strings.Join(e.Notes, "\n"), "renewal information unavailable: ") ||
		!strings.Contains(strings.Join(e.Notes, "\n"), "connection refused") {
		t.Errorf("plan with the CA down: rule %q, window %+v, notes %q", e.DueRule, e.Renewal, e.Notes)
	}
}

// planEntry is the credential's line of rotor plan -o json.
func planEntry(t *testing.T, p *platform, cred string) plan.Entry {
	t.Helper()
	r := p.rotor(t, "plan", "-o", "json")
	wantCode(t, r, 0, "plan")
	var out struct {
		Credentials []plan.Entry `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, r)
	}
	for _, e := range out.Credentials {
		if e.Credential == cred {
			return e
		}
	}
	t.Fatalf("plan has no line for %s:\n%s", cred, r)
	return plan.Entry{}
}

// servedChain is every certificate an endpoint sends for an SNI, leaf first.
func servedChain(t *testing.T, addr, sni string) []*x509.Certificate {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true}) // verified by the caller
	if err != nil {
		t.Fatalf("%s (%s): %v", addr, sni, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates
}
