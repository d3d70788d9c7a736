package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/testenv"
)

// The certificate scenarios of issue 5 run rotor against a real nginx (internal/testenv) that
// serves two TLS vhosts from a pem-files store, with certificates issued by rotor's own
// internal CA (x509-ca), itself a credential kept in the file store. The served certificate is
// read back with real TLS handshakes, and verified against the trust bundle rotor maintains.

// certPlatform is the folder: inventory/ (keys, rotor.yaml), store/ (the CA, age-encrypted),
// web/ (the certificate files nginx reads: web/a for vhost a.test, web/b for b.test, web/
// itself for anything else), trust.pem (the CA bundle), state/.
type certPlatform struct {
	*platform
	ng     *testenv.Nginx // serves a.test and b.test; nil before the first certificate exists
	extra  []string       // more inventory under credentials.web-cert (signals, a critical flag)
	checks []string       // more checks
	more   []string       // more consumers of web-cert, each its YAML block (indented under consumers)
}

const webCert = "web-cert"

func newCertPlatform(t *testing.T) *certPlatform {
	t.Helper()
	p := &certPlatform{platform: &platform{dir: t.TempDir()}}
	p.write(t)
	return p
}

// write (re)writes the inventory. Before nginx runs, the vhosts reload with `true` and have
// no checks: that is how the first certificate is put in place, before any server reads it.
func (p *certPlatform) write(t *testing.T) {
	t.Helper()
	inv := filepath.Join(p.dir, "inventory")
	keyFile := filepath.Join(inv, "keys", "rotor.key")
	rec := ""
	if _, err := os.Stat(keyFile); err == nil {
		rec = ageRecipientOf(t, keyFile)
	} else {
		rec = ageKey(t, keyFile)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	reload, checkA, checkB := `{type: exec, command: ["true"]}`, "[]", "[]"
	if p.ng != nil {
		reload = fmt.Sprintf("{type: nginx, config: %s, prefix: %s, pid_file: %s, error_log: %s}",
			p.ng.ConfigFile, p.ng.Prefix, p.ng.PIDFile, p.ng.ErrorLog)
		checkA, checkB = "[tls-a]", "[tls-b]"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `teams:
  team-web: {contact: web@example.test, approvers: [bob]}
identities:
  rotor: {type: age, recipient: %s, identity_file: keys/rotor.key}
  tls-files: {type: os-user, user: %s}
`, rec, me.Username)
	b.WriteString("checks:\n")
	if p.ng != nil {
		fmt.Fprintf(&b, "  tls-a: {type: tls, address: %q, server_name: a.test, ca_file: ../trust.pem}\n", p.ng.Addr)
		fmt.Fprintf(&b, "  tls-b: {type: tls, address: %q, server_name: b.test, ca_file: ../trust.pem}\n", p.ng.Addr)
	} else {
		b.WriteString("  {}\n")
	}
	for _, c := range p.checks {
		b.WriteString("  " + c + "\n")
	}
	fmt.Fprintf(&b, `credentials:
  internal-ca:
    description: Internal issuing CA for the web tier
    kind: certificate
    owner: team-web
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: x509-ca, strategy: overlap, is_ca: true, common_name: rotor e2e CA, trust_bundle: ../trust.pem, validity: 8760h}
    rotate: {every: 365d}
    consumers:
      issuer:
        kind: script
        identity: rotor
        reads: per-request
        description: web-cert's authority reads the CA to issue
  %s:
    description: TLS certificate of a.test and b.test
    kind: certificate
    owner: team-web
    store: {type: pem-files, dir: ../web, identity: tls-files, consumers: {vhost-a: a, vhost-b: b}}
    authority: {type: x509-ca, strategy: overlap, ca: internal-ca, common_name: a.test, sans: [a.test, b.test], validity: 720h}
    rotate: {every: 30d, before_expiry: 7d}
`, webCert)
	for _, x := range p.extra {
		b.WriteString("    " + x + "\n")
	}
	fmt.Fprintf(&b, `    consumers:
      vhost-a:
        kind: service
        identity: tls-files
        reads: at-start
        reload: %s
        checks: %s
      vhost-b:
        kind: service
        identity: tls-files
        reads: at-start
        reload: %s
        checks: %s
`, reload, checkA, reload, checkB)
	for _, c := range p.more {
		b.WriteString(c)
	}
	writeFile(t, filepath.Join(inv, "rotor.yaml"), b.String())
}

// ageRecipientOf is the recipient of the age identity written by ageKey.
func ageRecipientOf(t *testing.T, keyFile string) string {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", keyFile, err)
	}
	return id.Recipient().String()
}

func (p *certPlatform) rotor(t *testing.T, args ...string) result {
	t.Helper()
	return rotor(t, p.dir, nil, args...)
}

// bootstrap issues the CA and the first web certificate, then starts nginx on them and
// rewrites the inventory with the real reloads and TLS checks.
func (p *certPlatform) bootstrap(t *testing.T) {
	t.Helper()
	// The CA's one consumer is web-cert's issuing: its proof is the next issue, signed off.
	r := p.rotor(t, "rotate", "internal-ca", "--now", "--as", "alice")
	wantCode(t, r, 3, "first rotation of the CA, waiting for its consumer's proof")
	ca := runOf(t, r)
	wantCode(t, p.rotor(t, "signoff", ca, "issuer", "--as", "bob", "--reason", "the web tier issues from it next"), 0, "signoff")
	wantCode(t, p.rotor(t, "rotate", "internal-ca", "--as", "alice"), 0, "first rotation of the CA")
	// No server reads the files yet: the vhosts' proofs are signed off.
	r = p.rotor(t, "rotate", webCert, "--now", "--as", "alice")
	wantCode(t, r, 3, "first web certificate, waiting for the vhosts' proofs")
	first := runOf(t, r)
	for _, v := range []string{"vhost-a", "vhost-b"} {
		wantCode(t, p.rotor(t, "signoff", first, v, "--as", "bob", "--reason", "nginx starts on this certificate"), 0, "signoff "+v)
	}
	wantCode(t, p.rotor(t, "rotate", webCert, "--as", "alice"), 0, "first web certificate")
	web := filepath.Join(p.dir, "web")
	p.ng = testenv.StartNginx(t, testenv.NginxOptions{VHosts: []testenv.NginxVHost{
		{ServerName: "a.test", CertFile: filepath.Join(web, "a", "fullchain.pem"), KeyFile: filepath.Join(web, "a", "key.pem")},
		{ServerName: "b.test", CertFile: filepath.Join(web, "b", "fullchain.pem"), KeyFile: filepath.Join(web, "b", "key.pem")},
	}})
	p.write(t)
}

// served is the leaf nginx serves for an SNI, verified against rotor's trust bundle.
func (p *certPlatform) served(t *testing.T, ng *testenv.Nginx, sni string) *x509.Certificate {
	t.Helper()
	c, err := ng.Served(context.Background(), sni)
	if err != nil {
		t.Fatalf("%s on %s: %v", sni, ng.Addr, err)
	}
	roots := x509.NewCertPool()
	b, err := os.ReadFile(filepath.Join(p.dir, "trust.pem"))
	if err != nil || !roots.AppendCertsFromPEM(b) {
		t.Fatalf("trust bundle: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: sni}); err != nil {
		t.Fatalf("%s serves serial %s, which does not verify against rotor's trust bundle: %v", sni, pki.Serial(c), err)
	}
	return c
}

// TestCertificateRotationAcrossTwoVhosts: a clean rotation of a certificate served by two
// nginx vhosts — issued by the internal CA, written as one unit per vhost, nginx tested and
// reloaded, each vhost's served certificate proven by a TLS handshake — then a second nginx
// nobody listed (it reads the same files, but its reload is missing from the inventory):
// verify blocks, naming it, and nothing is retired until it serves the new certificate.
func TestCertificateRotationAcrossTwoVhosts(t *testing.T) {
	p := newCertPlatform(t)
	p.bootstrap(t)
	a0, b0 := p.served(t, p.ng, "a.test"), p.served(t, p.ng, "b.test")
	if pki.Ref(a0) != pki.Ref(b0) {
		t.Fatalf("the vhosts serve different certificates before the rotation")
	}

	r := p.rotor(t, "rotate", webCert, "--now", "--as", "alice")
	wantCode(t, r, 0, "rotation across two vhosts")
	run := runOf(t, r)
	a1, b1 := p.served(t, p.ng, "a.test"), p.served(t, p.ng, "b.test")
	if pki.Ref(a1) == pki.Ref(a0) || pki.Ref(b1) != pki.Ref(a1) {
		t.Fatalf("after the rotation a.test serves %s and b.test %s (before: %s)", pki.Serial(a1), pki.Serial(b1), pki.Serial(a0))
	}
	if st := p.status(t, run); st.Run.Phase != "done" {
		t.Fatalf("run %s is %s", run, st.Run.Phase)
	}
	wantCode(t, p.rotor(t, "journal", "verify", run), 0, "journal verify")
	ticket := p.rotor(t, "journal", run)
	if !contains(ticket.stdout, "tls-a", "tls-b", "vhost-a", "vhost-b") {
		t.Fatalf("the change ticket does not show the TLS proofs of both vhosts:\n%s", ticket.stdout)
	}
	if strings.Contains(ticket.stdout+ticket.stderr+r.stdout+r.stderr, "PRIVATE KEY") {
		t.Fatal("a private key reached rotor's output")
	}

	// A second nginx serving a.test from the same files, which the inventory does not reload.
	web := filepath.Join(p.dir, "web")
	edge := testenv.StartNginx(t, testenv.NginxOptions{VHosts: []testenv.NginxVHost{
		{ServerName: "a.test", CertFile: filepath.Join(web, "fullchain.pem"), KeyFile: filepath.Join(web, "key.pem")},
	}})
	p.checks = append(p.checks, fmt.Sprintf("served-everywhere: {type: tls, addresses: [%q, %q], server_name: a.test, ca_file: ../trust.pem}", p.ng.Addr, edge.Addr))
	p.extra = append(p.extra, "checks: [served-everywhere]")
	p.write(t)
	before := pki.Ref(p.served(t, edge, "a.test"))

	r = p.rotor(t, "rotate", webCert, "--now", "--as", "alice")
	wantCode(t, r, 3, "rotation with a forgotten nginx")
	first := run
	run = runOf(t, r)
	out := r.stdout + r.stderr
	if !contains(out, edge.Addr, "previous") {
		t.Fatalf("the block must name the endpoint still serving the previous certificate (%s):\n%s", edge.Addr, r)
	}
	if got := pki.Ref(p.served(t, edge, "a.test")); got != before {
		t.Fatal("the forgotten nginx changed without a reload")
	}
	if st := p.status(t, run); st.Run.Phase == "done" || st.Run.Phase == "revoking" {
		t.Fatalf("run went on to %s with an endpoint on the previous certificate", st.Run.Phase)
	}

	// Its owner reloads it; the same run goes on and completes.
	p.reloadNginx(t, edge)
	r = p.rotor(t, "rotate", webCert, "--as", "alice")
	wantCode(t, r, 0, "the blocked run, once every endpoint serves the new certificate")
	if st := p.status(t, run); st.Run.Phase != "done" {
		t.Fatalf("run %s is %s after the forgotten nginx reloaded", run, st.Run.Phase)
	}
	// This revoke made due the deletion of the certificate the first run retired; pem-files
	// cannot delete a version on request (it prunes by keep), so the step notes it and passes.
	firstRun := p.run(t, first)
	del := firstRun.Step(rotation.StepDelete, "")
	if del.Status != rotation.OK || !strings.Contains(del.Detail, "cannot delete a version on request") {
		t.Fatalf("the first run's deletion with a store that cannot delete: %+v", del)
	}
}

// TestResidualUseOfACertificateBlocksRevoke: a second nginx serves a.test from the same files
// and reads them only at start (a consumer with no reload: restarted by its owner, by hand).
// Its TLS check cannot prove it after cutover, so its owner signs it off ("restarted in
// Thursday's maintenance"), and until issue 13 nothing else stood between that and the revoke:
// the certificate authority cannot report residual use, so the residual-use gate never ran,
// and the previous certificate was revoked while an endpoint still served it. Now the checks
// that can report residual use are asked like an authority: the edge still serving the
// previous certificate blocks revoke, named in the gate's reason, until it is reloaded.
func TestResidualUseOfACertificateBlocksRevoke(t *testing.T) {
	p := newCertPlatform(t)
	p.bootstrap(t)
	web := filepath.Join(p.dir, "web")
	edge := testenv.StartNginx(t, testenv.NginxOptions{VHosts: []testenv.NginxVHost{
		{ServerName: "a.test", CertFile: filepath.Join(web, "fullchain.pem"), KeyFile: filepath.Join(web, "key.pem")},
	}})
	p.checks = append(p.checks, fmt.Sprintf("tls-edge: {type: tls, address: %q, server_name: a.test, ca_file: ../trust.pem}", edge.Addr))
	p.more = append(p.more, `      edge:
        kind: service
        identity: tls-files
        reads: at-start
        checks: [tls-edge]
`)
	p.write(t)
	old := pki.Ref(p.served(t, edge, "a.test"))

	// The vhosts move to the new certificate; the edge, not reloaded, cannot be proven.
	r := p.rotor(t, "rotate", webCert, "--now", "--as", "alice")
	wantCode(t, r, 3, "rotate with the edge not restarted")
	run := runOf(t, r)
	if !contains(r.stdout, "follow-ups", "edge") {
		t.Fatalf("want the edge's proof awaited:\n%s", r)
	}
	wantCode(t, p.rotor(t, "signoff", run, "edge", "--as", "bob", "--reason", "restarted in Thursday's maintenance"), 0, "signoff of the edge")

	// Signed off, but it still serves the previous certificate: revoke must not happen.
	r = p.rotor(t, "rotate", webCert, "--as", "alice")
	wantCode(t, r, 3, "rotate while the edge serves the previous certificate")
	if !contains(r.stdout, "blocked at: residual-use (fail)", edge.Addr) {
		t.Fatalf("revoke must be blocked at residual use, naming the edge %s:\n%s", edge.Addr, r)
	}
	st := p.run(t, run)
	if st.Phase == rotation.Done || st.Phase == rotation.Revoking || st.Step(rotation.StepRevoke, "").Kind != "" {
		t.Fatalf("run went on to %s with an endpoint on the previous certificate", st.Phase)
	}
	g := st.Gate("residual-use")
	if g.Verdict != "fail" || !strings.Contains(g.Reason, edge.Addr) || !strings.Contains(g.Reason, "tls-edge") {
		t.Fatalf("the gate's reason must name the check and the endpoint %s: %+v", edge.Addr, g)
	}
	if got := pki.Ref(p.served(t, edge, "a.test")); got != old {
		t.Fatal("the edge changed without a restart")
	}
	if data := st.Step(rotation.StepResidualUse, "").Data; data["check:tls-edge"] != "fail" || data["check:tls-a"] != "pass" || data["check:tls-b"] != "pass" {
		t.Fatalf("residual use must record each source's verdict: %v", data)
	}

	// Its owner reloads it; the same run passes residual use and revokes.
	p.reloadNginx(t, edge)
	r = p.rotor(t, "rotate", webCert, "--as", "alice")
	wantCode(t, r, 0, "rotate once the edge serves the new certificate")
	if st := p.status(t, run); st.Run.Phase != "done" {
		t.Fatalf("run %s is %s", run, st.Run.Phase)
	}
	ticket := p.rotor(t, "journal", run, "--format", "json")
	wantCode(t, ticket, 0, "journal")
	if !contains(ticket.stdout, "residual-use check tls-edge", "residual-use check tls-a", edge.Addr) {
		t.Fatalf("the journal must hold each source's residual-use evidence:\n%s", ticket.stdout)
	}
}

// reloadNginx sends SIGHUP to an nginx rotor does not reload, and waits until new connections
// see the certificate the main nginx serves: until its old workers exit, one may still answer.
func (p *certPlatform) reloadNginx(t *testing.T, ng *testenv.Nginx) {
	t.Helper()
	pid, err := os.ReadFile(ng.PIDFile)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(strings.TrimSpace(string(pid)), &n)
	if err := syscall.Kill(n, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	want := pki.Ref(p.served(t, p.ng, "a.test"))
	eventually(t, 10*time.Second, "the reloaded nginx serving the new certificate", func() bool {
		for range 10 {
			c, err := ng.Served(context.Background(), "a.test")
			if err != nil || pki.Ref(c) != want {
				return false
			}
		}
		return true
	})
}

// TestCertificateRollbackOfOneVhost: after cutover, one vhost goes back to the previous
// certificate (its own view of the files is pinned and nginx reloaded) while the other keeps
// the new one; the exception expires, the vhost is switched forward, its check passes, and the
// run completes.
func TestCertificateRollbackOfOneVhost(t *testing.T) {
	p := newCertPlatform(t)
	p.bootstrap(t)
	old := pki.Ref(p.served(t, p.ng, "b.test"))

	r := p.rotor(t, "rotate", webCert, "--now", "--through", "cutover", "--as", "alice")
	wantCode(t, r, 0, "rotate through cutover")
	run := runOf(t, r)
	cur := pki.Ref(p.served(t, p.ng, "a.test"))
	if cur == old || pki.Ref(p.served(t, p.ng, "b.test")) != cur {
		t.Fatal("cutover did not switch both vhosts")
	}

	r = p.rotor(t, "rollback", run, "--consumers", "vhost-b", "--owner", "bob", "--expires", "5s", "--reason", "b.test's old clients pin the previous certificate")
	wantCode(t, r, 0, "rollback of vhost-b")
	if got := pki.Ref(p.served(t, p.ng, "b.test")); got != old {
		t.Fatalf("b.test serves %s after its rollback, want the previous certificate", got)
	}
	if got := pki.Ref(p.served(t, p.ng, "a.test")); got != cur {
		t.Fatal("a.test left the new certificate when only vhost-b was rolled back")
	}
	wantCode(t, p.rotor(t, "rotate", webCert, "--as", "alice"), 3, "rotate while the exception is open")

	time.Sleep(5500 * time.Millisecond)
	r = p.rotor(t, "rotate", webCert, "--as", "alice")
	wantCode(t, r, 0, "rotate after the exception expired")
	st := p.status(t, run)
	if st.Run.Phase != "done" || len(st.Run.Exceptions) != 1 || st.Run.Exceptions[0].State != "closed" {
		t.Fatalf("phase %s, exceptions %+v", st.Run.Phase, st.Run.Exceptions)
	}
	if got := pki.Ref(p.served(t, p.ng, "b.test")); got != cur {
		t.Fatal("b.test did not come back to the new certificate when its exception closed")
	}
}

// TestCertificateMismatchStopsBeforeReload: the CA's key in its store no longer matches its
// certificate (a botched restore). Readiness refuses to issue with it, naming the mismatch;
// nothing is written to the vhosts' files and nginx is never reloaded.
func TestCertificateMismatchStopsBeforeReload(t *testing.T) {
	p := newCertPlatform(t)
	p.bootstrap(t)
	served := pki.Ref(p.served(t, p.ng, "a.test"))
	versions := func() []string {
		ents, _ := os.ReadDir(filepath.Join(p.dir, "web", ".versions"))
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	before := versions()
	tamperCA(t, p)

	r := p.rotor(t, "rotate", webCert, "--now", "--as", "alice")
	if r.code == 0 {
		t.Fatalf("rotation with a mismatched CA key succeeded:\n%s", r)
	}
	if !strings.Contains(strings.ToLower(r.stdout+r.stderr), "does not match") {
		t.Fatalf("the refusal must say the key does not match its certificate:\n%s", r)
	}
	if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
		t.Fatal("the key reached rotor's output")
	}
	if got := versions(); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatalf("the vhosts' files changed: %v -> %v", before, got)
	}
	if pki.Ref(p.served(t, p.ng, "a.test")) != served {
		t.Fatal("nginx serves another certificate after a refused rotation")
	}
}

// tamperCA replaces the file of the CA's current version with a bundle holding the CA's
// certificate and another key, encrypted to rotor's key as the file store writes it: what a
// botched restore of the CA's secret looks like.
func tamperCA(t *testing.T, p *certPlatform) {
	t.Helper()
	ix := readIndex(t, p.dir, "internal-ca")
	var cur string
	for _, v := range ix.Versions {
		if v.Stage == "current" {
			cur = v.ID
		}
	}
	if cur == "" {
		t.Fatalf("no current CA version in %+v", ix)
	}
	caCert := readCACert(t, filepath.Join(p.dir, "trust.pem"))
	other, err := pki.GenerateKey("", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(other)
	if err != nil {
		t.Fatal(err)
	}
	bad := string(pki.CertsPEM([]*x509.Certificate{caCert})) + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	rcp, err := age.ParseX25519Recipient(ageRecipientOf(t, filepath.Join(p.dir, "inventory", "keys", "rotor.key")))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rcp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, bad); err != nil || w.Close() != nil {
		t.Fatal("encrypting the tampered CA")
	}
	if err := os.WriteFile(filepath.Join(p.dir, "store", "internal-ca", "versions", cur+".age"), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readCACert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestScanAndPlanFindExpiringCertificates: rotor scan over nginx and two listeners nobody
// declared — one expired, one expiring in 3 days — reports every served certificate, knows the
// one it issued, and lists the other two as forgotten with their expiry flagged; rotor plan
// shows the web certificate as expiring when its lifetime is short, and expired past it.
func TestScanAndPlanFindExpiringCertificates(t *testing.T) {
	p := newCertPlatform(t)
	p.bootstrap(t)
	expired := serveSelfSigned(t, "old.test", time.Now().Add(-60*24*time.Hour), time.Now().Add(-24*time.Hour))
	soon := serveSelfSigned(t, "soon.test", time.Now().Add(-24*time.Hour), time.Now().Add(3*24*time.Hour))

	r := p.rotor(t, "scan", p.ng.Addr, expired, soon, "--ca-file", filepath.Join(p.dir, "trust.pem"), "-o", "json")
	wantCode(t, r, 0, "scan")
	var got any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("scan -o json: %v\n%s", err, r.stdout)
	}
	table := p.rotor(t, "scan", p.ng.Addr, expired, soon, "--ca-file", filepath.Join(p.dir, "trust.pem"))
	wantCode(t, table, 0, "scan (table)")
	out := table.stdout
	if !contains(out, "old.test", "soon.test", "a.test") {
		t.Fatalf("scan must list every served certificate:\n%s", out)
	}
	t.Logf("rotor scan:\n%s", out)
	forgotten := out[strings.Index(strings.ToLower(out), "forgotten"):]
	if !contains(forgotten, "old.test", "soon.test") || strings.Contains(forgotten, "CN=a.test") {
		t.Fatalf("the forgotten section must hold the two undeclared certificates and not rotor's:\n%s", out)
	}
	if !contains(strings.ToUpper(out), "EXPIRED", "EXPIRING") {
		t.Fatalf("scan must flag the expired and the expiring certificate:\n%s", out)
	}

	// plan: web-cert lives 30 days and rotates 7 days before expiry.
	plan := p.rotor(t, "plan", "-o", "json")
	wantCode(t, plan, 0, "plan")
	if !strings.Contains(plan.stdout, `"expires"`) {
		t.Fatalf("plan does not show the certificate's expiry:\n%s", plan.stdout)
	}
	status := func(at string) string {
		r := p.rotor(t, "plan", "--at", at, "-o", "json")
		wantCode(t, r, 0, "plan --at "+at)
		var plan struct {
			Credentials []struct {
				Credential string `json:"credential"`
				Status     string `json:"status"`
			} `json:"credentials"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
			t.Fatalf("plan -o json: %v\n%s", err, r.stdout)
		}
		for _, e := range plan.Credentials {
			if e.Credential == webCert {
				return e.Status
			}
		}
		t.Fatalf("plan has no %s:\n%s", webCert, r.stdout)
		return ""
	}
	if s := status(time.Now().Add(25 * 24 * time.Hour).UTC().Format(time.RFC3339)); s != "expiring" {
		t.Fatalf("5 days before expiry web-cert is %q, want expiring", s)
	}
	if s := status(time.Now().Add(31 * 24 * time.Hour).UTC().Format(time.RFC3339)); s != "expired" {
		t.Fatalf("after expiry web-cert is %q, want expired", s)
	}
}

// selfSignedTLS makes a self-signed certificate for cn valid from nb to na.
func selfSignedTLS(t *testing.T, cn string, nb, na time.Time) tls.Certificate {
	t.Helper()
	k, err := pki.GenerateKey("", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames: []string{cn}, NotBefore: nb, NotAfter: na}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// serveSelfSigned serves a self-signed certificate valid from nb to na on a loopback port
// until the test ends, and returns its address.
func serveSelfSigned(t *testing.T, cn string, nb, na time.Time) string {
	t.Helper()
	cert := selfSignedTLS(t, cn, nb, na)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_ = c.(*tls.Conn).Handshake()
			}(c)
		}
	}()
	return ln.Addr().String()
}
