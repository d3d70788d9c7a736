package x509ca_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/authority/x509ca"
	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/provider/providertest"
	"github.com/rotorhq/rotor/internal/secret"
)

var t0 = time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)

// credentials is the engine's side of provider.Env.ReadCredential: the current value of each
// credential, as its store would return it. Each read returns a copy, which the authority
// wipes — as the engine's contract says.
type credentials struct {
	mu     sync.Mutex
	values map[string]secret.Value
	reads  int
}

func newCredentials() *credentials { return &credentials{values: map[string]secret.Value{}} }

func (c *credentials) set(id string, v secret.Value) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := v.Reveal()
	c.values[id] = secret.New(b)
	clear(b)
}

func (c *credentials) read(_ context.Context, id string) (provider.ReadResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	v, ok := c.values[id]
	if !ok {
		return provider.ReadResponse{}, provider.Wrap(provider.Terminal, "read", fmt.Errorf("credential %s: %w", id, provider.ErrNotFound))
	}
	b := v.Reveal()
	out := secret.New(b)
	clear(b)
	return provider.ReadResponse{Version: provider.Version{ID: id + "-current", Stage: provider.StageCurrent}, Value: out}, nil
}

func envAt(now time.Time, creds *credentials, base string) provider.Env {
	return provider.Env{Now: func() time.Time { return now }, Rand: rand.Reader, ReadCredential: creds.read, BaseDir: base}
}

func newAuthority(t *testing.T, cfg x509ca.Config, env provider.Env) *x509ca.Authority {
	t.Helper()
	a, err := x509ca.New(cfg, env)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return a
}

func mint(t *testing.T, a *x509ca.Authority, credential, run string, current *provider.Version) (provider.MintResponse, *pki.Bundle) {
	t.Helper()
	resp, err := a.Mint(context.Background(), provider.MintRequest{Credential: credential, RunID: run, Strategy: x509ca.Overlap, Current: current})
	if err != nil {
		t.Fatalf("Mint(%s, %s): %v", credential, run, err)
	}
	b, err := pki.Decode(resp.Value)
	if err != nil {
		t.Fatalf("Mint(%s, %s) returned a value that is no bundle: %v", credential, run, err)
	}
	if resp.AuthorityRef != pki.Ref(b.Leaf) || !resp.Expires.Equal(b.Leaf.NotAfter) {
		t.Fatalf("Mint: AuthorityRef %s, Expires %s; want %s, %s", resp.AuthorityRef, resp.Expires, pki.Ref(b.Leaf), b.Leaf.NotAfter)
	}
	return resp, b
}

// issueRoot makes a self-signed root and stores it as credential id.
func issueRoot(t *testing.T, creds *credentials, id, keyType string, now time.Time, validity time.Duration) *pki.Bundle {
	t.Helper()
	a := newAuthority(t, x509ca.Config{CommonName: id, IsCA: true, KeyType: keyType, Validity: validity}, envAt(now, creds, t.TempDir()))
	resp, b := mint(t, a, id, "run-root", nil)
	creds.set(id, resp.Value)
	return b
}

func TestConformance(t *testing.T) {
	providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
		creds := newCredentials()
		issueRoot(t, creds, "root-ca", "", t0, 10*365*24*time.Hour)
		a := newAuthority(t, x509ca.Config{CA: "root-ca", CommonName: "api.example.test", SANs: []string{"api.example.test", "10.0.0.7"}}, envAt(t0, creds, t.TempDir()))
		return providertest.AuthorityFixture{Authority: a, Credential: "api-cert", Strategies: []string{x509ca.Overlap}}
	})
}

// The suite again for a CA with a trust bundle: enable, revoke and restore edit the file.
func TestConformanceTrustBundle(t *testing.T) {
	providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
		creds := newCredentials()
		issueRoot(t, creds, "root-ca", "", t0, 10*365*24*time.Hour)
		a := newAuthority(t, x509ca.Config{CA: "root-ca", CommonName: "Issuing CA", IsCA: true, TrustBundle: "trust.pem"}, envAt(t0, creds, t.TempDir()))
		return providertest.AuthorityFixture{Authority: a, Credential: "issuing-ca", Strategies: []string{x509ca.Overlap}}
	})
}

// The suite again for a leaf with a CRL: revoke and restore re-sign the list.
func TestConformanceCRL(t *testing.T) {
	providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
		creds := newCredentials()
		issueRoot(t, creds, "root-ca", "", t0, 10*365*24*time.Hour)
		a := newAuthority(t, x509ca.Config{CA: "root-ca", CommonName: "api.example.test", CRL: "root.crl"}, envAt(t0, creds, t.TempDir()))
		return providertest.AuthorityFixture{Authority: a, Credential: "api-cert", Strategies: []string{x509ca.Overlap}}
	})
}

// With crl, revoke lists the previous certificate in a CRL signed by the CA (once, however
// often it is revoked), the current one is not listed, and restore takes it off again.
func TestRevokeWithCRL(t *testing.T) {
	creds := newCredentials()
	root := issueRoot(t, creds, "root", "", t0, 365*24*time.Hour)
	dir := t.TempDir()
	crlPath := filepath.Join(dir, "root.crl")
	a := newAuthority(t, x509ca.Config{CA: "root", CommonName: "svc", CRL: "root.crl"}, envAt(t0, creds, dir))
	ctx := context.Background()
	r1, b1 := mint(t, a, "svc", "run-1", nil)
	r2, _ := mint(t, a, "svc", "run-2", nil)
	v1 := provider.Version{ID: "v1", AuthorityRef: r1.AuthorityRef}
	v2 := provider.Version{ID: "v2", AuthorityRef: r2.AuthorityRef}
	if err := a.CheckManage(ctx, provider.CheckManageRequest{Credential: "svc", Strategy: x509ca.Overlap}); err != nil {
		t.Fatalf("CheckManage before any CRL: %v", err)
	}
	for i := range 2 {
		resp, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "svc", RunID: "run-2", Strategy: x509ca.Overlap, Previous: v1, Current: v2})
		if err != nil {
			t.Fatalf("Revoke #%d: %v", i+1, err)
		}
		t.Logf("Revoke #%d: %s", i+1, resp.Detail)
	}
	crl := readCRL(t, crlPath)
	if err := crl.CheckSignatureFrom(root.Leaf); err != nil {
		t.Fatalf("the CRL is not signed by the CA: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(b1.Leaf.SerialNumber) != 0 {
		t.Fatalf("CRL entries %v; want the previous certificate's serial %s only", crl.RevokedCertificateEntries, pki.Serial(b1.Leaf))
	}
	if crl.Number.Int64() != 1 || !crl.NextUpdate.After(t0) {
		t.Errorf("CRL number %s, next update %s", crl.Number, crl.NextUpdate)
	}
	if err := a.CheckManage(ctx, provider.CheckManageRequest{Credential: "svc", Strategy: x509ca.Overlap}); err != nil {
		t.Errorf("CheckManage with a CRL: %v", err)
	}
	if err := a.Restore(ctx, provider.RestoreRequest{Credential: "svc", RunID: "run-2", Strategy: x509ca.Overlap, Version: v1}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	crl = readCRL(t, crlPath)
	if len(crl.RevokedCertificateEntries) != 0 || crl.Number.Int64() != 2 {
		t.Errorf("after restore: %d entries, number %s; want none, 2", len(crl.RevokedCertificateEntries), crl.Number)
	}

	// A CRL signed by another CA is not rewritten: readiness and revoke say so.
	other := issueRoot(t, creds, "other", "", t0, 365*24*time.Hour)
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(7), ThisUpdate: t0, NextUpdate: t0.Add(time.Hour)}, other.Leaf, other.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crlPath, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.CheckManage(ctx, provider.CheckManageRequest{Credential: "svc", Strategy: x509ca.Overlap}); err == nil || !strings.Contains(err.Error(), "another CA") {
		t.Errorf("CheckManage with another CA's CRL: %v", err)
	}
	if _, err := a.Revoke(ctx, provider.RevokeRequest{Credential: "svc", RunID: "run-2", Strategy: x509ca.Overlap, Previous: v1, Current: v2}); err == nil || !strings.Contains(err.Error(), "another CA") {
		t.Errorf("Revoke with another CA's CRL: %v", err)
	}
}

func readCRL(t *testing.T, path string) *x509.RevocationList {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(raw)
	if blk == nil || blk.Type != "X509 CRL" {
		t.Fatalf("%s is no PEM CRL", path)
	}
	crl, err := x509.ParseRevocationList(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

// A chain root -> intermediate -> leaf, with each key type, verifies with crypto/x509 against
// the root, for the DNS and IP SANs configured, with the validity asked for.
func TestChainVerifies(t *testing.T) {
	for _, kt := range pki.KeyTypes {
		t.Run(kt, func(t *testing.T) {
			t.Parallel()
			creds := newCredentials()
			root := issueRoot(t, creds, "root", kt, t0, 10*365*24*time.Hour)
			inter := newAuthority(t, x509ca.Config{CA: "root", CommonName: "Intermediate " + kt, IsCA: true, KeyType: kt, Validity: 5 * 365 * 24 * time.Hour}, envAt(t0, creds, t.TempDir()))
			iresp, ib := mint(t, inter, "intermediate", "run-1", nil)
			creds.set("intermediate", iresp.Value)
			if !ib.Leaf.IsCA || len(ib.Chain) != 1 || !ib.Chain[0].Equal(root.Leaf) {
				t.Fatalf("intermediate: IsCA %v, chain of %d; want a CA whose chain is the root", ib.Leaf.IsCA, len(ib.Chain))
			}

			leafA := newAuthority(t, x509ca.Config{CA: "intermediate", CommonName: "svc.example.test", SANs: []string{"svc.example.test", "*.svc.example.test", "127.0.0.1", "::1"}, KeyType: kt, Validity: 30 * 24 * time.Hour}, envAt(t0, creds, t.TempDir()))
			_, lb := mint(t, leafA, "svc-cert", "run-1", nil)
			if got := keyTypeOf(t, lb); got != kt {
				t.Errorf("leaf key type %s, want %s", got, kt)
			}
			if want := t0.Add(30 * 24 * time.Hour); !lb.Leaf.NotAfter.Equal(want) {
				t.Errorf("leaf NotAfter %s, want %s", lb.Leaf.NotAfter, want)
			}
			if lb.Leaf.IsCA {
				t.Error("the leaf is a CA")
			}
			if len(lb.Chain) != 2 || !lb.Chain[0].Equal(ib.Leaf) || !lb.Chain[1].Equal(root.Leaf) {
				t.Fatalf("leaf chain has %d certificates; want the intermediate then the root", len(lb.Chain))
			}
			roots := x509.NewCertPool()
			roots.AddCert(root.Leaf)
			inters := x509.NewCertPool()
			inters.AddCert(lb.Chain[0])
			for _, name := range []string{"svc.example.test", "x.svc.example.test", "127.0.0.1", "::1"} {
				if _, err := lb.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: name, CurrentTime: t0.Add(time.Hour)}); err != nil {
					t.Errorf("verify for %s: %v", name, err)
				}
			}
			if _, err := lb.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "other.example.test", CurrentTime: t0.Add(time.Hour)}); err == nil {
				t.Error("the leaf verified for a name not in its SANs")
			}
			if _, err := lb.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: t0.Add(31 * 24 * time.Hour)}); err == nil {
				t.Error("the leaf verified after its validity")
			}
			if !slices.ContainsFunc(lb.Leaf.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.ParseIP("127.0.0.1")) }) {
				t.Errorf("IP SANs %v lack 127.0.0.1", lb.Leaf.IPAddresses)
			}
		})
	}
}

func keyTypeOf(t *testing.T, b *pki.Bundle) string {
	t.Helper()
	switch k := b.Key.(type) {
	case *ecdsa.PrivateKey:
		return fmt.Sprintf("ecdsa-p%d", k.Curve.Params().BitSize)
	case *rsa.PrivateKey:
		return fmt.Sprintf("rsa-%d", k.N.BitLen())
	case ed25519.PrivateKey:
		return "ed25519"
	}
	return fmt.Sprintf("%T", b.Key)
}

// A leaf never outlives its CA: its not-after is the CA's when validity asks for more.
func TestValidityBoundedByCA(t *testing.T) {
	creds := newCredentials()
	root := issueRoot(t, creds, "root", "", t0, 30*24*time.Hour)
	a := newAuthority(t, x509ca.Config{CA: "root", CommonName: "svc"}, envAt(t0.Add(time.Hour), creds, t.TempDir()))
	resp, b := mint(t, a, "svc-cert", "run-1", nil)
	if !b.Leaf.NotAfter.Equal(root.Leaf.NotAfter) || !resp.Expires.Equal(root.Leaf.NotAfter) {
		t.Errorf("leaf NotAfter %s (Expires %s); want the CA's %s", b.Leaf.NotAfter, resp.Expires, root.Leaf.NotAfter)
	}
}

// new_key: never keeps the public key of the current version across rotations; the
// certificate is new.
func TestNewKeyNeverKeepsKey(t *testing.T) {
	creds := newCredentials()
	issueRoot(t, creds, "root", "", t0, 365*24*time.Hour)
	a := newAuthority(t, x509ca.Config{CA: "root", CommonName: "svc", NewKey: x509ca.NewKeyNever}, envAt(t0, creds, t.TempDir()))
	r1, b1 := mint(t, a, "svc-cert", "run-1", nil) // first rotation: a key is made
	creds.set("svc-cert", r1.Value)
	cur := &provider.Version{ID: "v1", Stage: provider.StageCurrent, AuthorityRef: r1.AuthorityRef}
	r2, b2 := mint(t, a, "svc-cert", "run-2", cur)
	if r2.AuthorityRef == r1.AuthorityRef {
		t.Fatal("the second rotation returned the same certificate")
	}
	if err := pki.Matches(b2.Leaf, b1.Key.Public()); err != nil {
		t.Errorf("new_key never: the new certificate has another key: %v", err)
	}

	// new_key always (the default) makes a new key.
	al := newAuthority(t, x509ca.Config{CA: "root", CommonName: "svc"}, envAt(t0, creds, t.TempDir()))
	_, b3 := mint(t, al, "svc-cert", "run-3", cur)
	if pki.Matches(b3.Leaf, b1.Key.Public()) == nil {
		t.Error("new_key always kept the key")
	}

	// The store's current certificate is not the one the run started from: refused.
	_, err := a.Mint(context.Background(), provider.MintRequest{Credential: "svc-cert", RunID: "run-4", Strategy: x509ca.Overlap,
		Current: &provider.Version{ID: "v0", AuthorityRef: "sha256:" + strings.Repeat("0", 64)}})
	if provider.KindOf(err) != provider.NeedsHuman || !strings.Contains(err.Error(), "store changed") {
		t.Errorf("current ref mismatch: %v (kind %v), want needs-a-human", err, provider.KindOf(err))
	}
	// The kept key is ecdsa-p256, the config asks for rsa: refused, the way out named.
	ar := newAuthority(t, x509ca.Config{CA: "root", CommonName: "svc", NewKey: x509ca.NewKeyNever, KeyType: "rsa-2048"}, envAt(t0, creds, t.TempDir()))
	_, err = ar.Mint(context.Background(), provider.MintRequest{Credential: "svc-cert", RunID: "run-5", Strategy: x509ca.Overlap, Current: cur})
	if err == nil || !strings.Contains(err.Error(), "new_key: always") {
		t.Errorf("key type change under new_key never: %v", err)
	}
}

// Rotating an intermediate with a trust bundle: both CAs are in the bundle from the new one's
// enable until the old one's revoke; then only the new one; restore puts the old one back.
func TestCARotationTrustBundle(t *testing.T) {
	creds := newCredentials()
	issueRoot(t, creds, "root", "", t0, 10*365*24*time.Hour)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "trust", "ca-bundle.pem")
	if err := os.Mkdir(filepath.Dir(bundle), 0o755); err != nil {
		t.Fatal(err)
	}
	// A CA certificate rotor does not manage is in the bundle already and must stay.
	foreign := issueRoot(t, newCredentials(), "foreign", "", t0, 365*24*time.Hour)
	if err := os.WriteFile(bundle, pki.CertsPEM([]*x509.Certificate{foreign.Leaf}), 0o644); err != nil {
		t.Fatal(err)
	}
	env := envAt(t0, creds, dir)
	ca := newAuthority(t, x509ca.Config{CA: "root", CommonName: "Issuing CA", IsCA: true, TrustBundle: "trust/ca-bundle.pem"}, env)
	ctx := context.Background()
	if err := ca.CheckManage(ctx, provider.CheckManageRequest{Credential: "issuing", Strategy: x509ca.Overlap}); err != nil {
		t.Fatalf("CheckManage: %v", err)
	}

	r1, b1 := mint(t, ca, "issuing", "run-1", nil)
	v1 := provider.Version{ID: "v1", Key: "run-1", AuthorityRef: r1.AuthorityRef, Expires: r1.Expires}
	enable(t, ca, "run-1", v1, r1.Value, nil)
	creds.set("issuing", r1.Value)
	leafAuth := newAuthority(t, x509ca.Config{CA: "issuing", CommonName: "svc", SANs: []string{"svc.example.test"}}, env)
	_, leaf1 := mint(t, leafAuth, "svc", "run-1", nil)
	wantBundle(t, bundle, foreign.Leaf, b1.Leaf)

	r2, b2 := mint(t, ca, "issuing", "run-2", &v1)
	v2 := provider.Version{ID: "v2", Key: "run-2", AuthorityRef: r2.AuthorityRef, Expires: r2.Expires}
	enable(t, ca, "run-2", v2, r2.Value, &v1)
	creds.set("issuing", r2.Value)
	_, leaf2 := mint(t, leafAuth, "svc", "run-2", nil)
	wantBundle(t, bundle, foreign.Leaf, b1.Leaf, b2.Leaf)
	// During the overlap a consumer trusting the bundle accepts leaves of both CAs.
	verifyAgainst(t, bundle, leaf1, true)
	verifyAgainst(t, bundle, leaf2, true)

	// Revoking the current CA is refused, before any edit.
	if _, err := ca.Revoke(ctx, provider.RevokeRequest{Credential: "issuing", RunID: "run-2", Strategy: x509ca.Overlap, Previous: v2, Current: v2}); err == nil {
		t.Fatal("revoking the current version succeeded")
	}
	for i := range 2 {
		if _, err := ca.Revoke(ctx, provider.RevokeRequest{Credential: "issuing", RunID: "run-2", Strategy: x509ca.Overlap, Previous: v1, Current: v2}); err != nil {
			t.Fatalf("Revoke #%d: %v", i+1, err)
		}
	}
	wantBundle(t, bundle, foreign.Leaf, b2.Leaf)
	verifyAgainst(t, bundle, leaf1, false)
	verifyAgainst(t, bundle, leaf2, true)
	if fi, err := os.Stat(bundle); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("bundle mode: %v, %v; want 0644", fi.Mode(), err)
	}

	// Rollback: the previous CA goes back, from the copy kept at enable (no value passed).
	if err := ca.Restore(ctx, provider.RestoreRequest{Credential: "issuing", RunID: "run-2", Strategy: x509ca.Overlap, Version: v1}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	wantBundle(t, bundle, foreign.Leaf, b2.Leaf, b1.Leaf)
	verifyAgainst(t, bundle, leaf1, true)
}

// Removing the previous CA while the current one is missing from the bundle would leave
// nothing of this CA trusted: refused, the bundle untouched.
func TestRevokeNeedsCurrentInBundle(t *testing.T) {
	creds := newCredentials()
	issueRoot(t, creds, "root", "", t0, 10*365*24*time.Hour)
	dir := t.TempDir()
	ca := newAuthority(t, x509ca.Config{CA: "root", CommonName: "Issuing CA", IsCA: true, TrustBundle: "bundle.pem"}, envAt(t0, creds, dir))
	r1, b1 := mint(t, ca, "issuing", "run-1", nil)
	v1 := provider.Version{ID: "v1", AuthorityRef: r1.AuthorityRef}
	enable(t, ca, "run-1", v1, r1.Value, nil)
	r2, _ := mint(t, ca, "issuing", "run-2", &v1) // never enabled
	_, err := ca.Revoke(context.Background(), provider.RevokeRequest{Credential: "issuing", RunID: "run-2", Strategy: x509ca.Overlap,
		Previous: v1, Current: provider.Version{ID: "v2", AuthorityRef: r2.AuthorityRef}})
	if provider.KindOf(err) != provider.NeedsHuman || !strings.Contains(err.Error(), "enable the current version first") {
		t.Errorf("revoke with the current CA missing: %v", err)
	}
	wantBundle(t, filepath.Join(dir, "bundle.pem"), b1.Leaf)
}

// A bundle holding something other than certificates is not rewritten.
func TestBundleWithKeyRefused(t *testing.T) {
	creds := newCredentials()
	issueRoot(t, creds, "root", "", t0, 10*365*24*time.Hour)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.pem")
	junk := []byte("-----BEGIN PRIVATE KEY-----\nQ0FOQVJZLWJ1bmRsZQ==\n-----END PRIVATE KEY-----\n")
	if err := os.WriteFile(bundle, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	ca := newAuthority(t, x509ca.Config{CA: "root", CommonName: "Issuing CA", IsCA: true, TrustBundle: bundle}, envAt(t0, creds, dir))
	if err := ca.CheckManage(context.Background(), provider.CheckManageRequest{Credential: "issuing", Strategy: x509ca.Overlap}); err == nil || !strings.Contains(err.Error(), "certificates only") {
		t.Errorf("CheckManage with a key in the bundle: %v", err)
	}
	r1, _ := mint(t, ca, "issuing", "run-1", nil)
	_, err := ca.Enable(context.Background(), provider.EnableRequest{Credential: "issuing", RunID: "run-1", Strategy: x509ca.Overlap,
		Version: provider.Version{ID: "v1", AuthorityRef: r1.AuthorityRef}, Value: r1.Value})
	if err == nil || !strings.Contains(err.Error(), "certificates only") {
		t.Errorf("Enable with a key in the bundle: %v", err)
	}
	if got, _ := os.ReadFile(bundle); !bytes.Equal(got, junk) {
		t.Error("the bundle was rewritten")
	}
	missing := newAuthority(t, x509ca.Config{CA: "root", CommonName: "Issuing CA", IsCA: true, TrustBundle: filepath.Join(dir, "no-such-dir", "b.pem")}, envAt(t0, creds, dir))
	if err := missing.CheckManage(context.Background(), provider.CheckManageRequest{Credential: "issuing", Strategy: x509ca.Overlap}); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("CheckManage with a bundle in a missing directory: %v", err)
	}
}

// A CA credential whose key is not the certificate's, an expired CA, a CA credential holding a
// leaf, and garbage are refused by readiness and by mint, with messages naming the problem and
// never a byte of the keys.
func TestBadCARefused(t *testing.T) {
	creds := newCredentials()
	good := issueRoot(t, creds, "root", "", t0, 365*24*time.Hour)
	other, _ := pki.GenerateKey("ecdsa-p256", rand.Reader)
	creds.set("mismatched", rawBundle(t, good.Leaf, other))
	issueRoot(t, creds, "expired", "", t0.Add(-3*time.Hour), time.Hour)
	leafAuth := newAuthority(t, x509ca.Config{CA: "root", CommonName: "leaf"}, envAt(t0, creds, t.TempDir()))
	lr, _ := mint(t, leafAuth, "leaf", "run-1", nil)
	creds.set("a-leaf", lr.Value)
	creds.set("garbage", secret.FromString("-----BEGIN CERTIFICATE-----\nQ0FOQVJZLWdhcmJhZ2UtN2YzYQ==\n-----END CERTIFICATE-----\n"))

	var keys [][]byte // every key's PEM body, to look for in errors
	for _, id := range []string{"root", "expired", "a-leaf"} {
		keys = append(keys, keyBody(t, creds, id))
	}
	keys = append(keys, pemKey(t, other))

	for _, tc := range []struct{ ca, want string }{
		{"mismatched", "does not match"},
		{"expired", "expired on"},
		{"a-leaf", "not a CA"},
		{"garbage", "not a valid certificate"},
		{"missing", "not found"},
	} {
		a := newAuthority(t, x509ca.Config{CA: tc.ca, CommonName: "svc"}, envAt(t0, creds, t.TempDir()))
		errCheck := a.CheckManage(context.Background(), provider.CheckManageRequest{Credential: "svc", Strategy: x509ca.Overlap})
		_, errMint := a.Mint(context.Background(), provider.MintRequest{Credential: "svc", RunID: "run-1", Strategy: x509ca.Overlap})
		for what, err := range map[string]error{"CheckManage": errCheck, "Mint": errMint} {
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.ca) {
				t.Errorf("ca %s: %s: %v; want an error naming %s and saying %q", tc.ca, what, err, tc.ca, tc.want)
				continue
			}
			if provider.KindOf(err) != provider.Terminal {
				t.Errorf("ca %s: %s: kind %v, want terminal", tc.ca, what, provider.KindOf(err))
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(s, "CANARY") || strings.Contains(s, "Q0FOQVJZ") {
					t.Errorf("ca %s: %s: the error shows the credential's bytes: %s", tc.ca, what, s)
				}
				for _, k := range keys {
					for line := range bytes.Lines(k) {
						if l := bytes.TrimSpace(line); len(l) >= 16 && strings.Contains(s, string(l)) {
							t.Errorf("ca %s: %s: the error shows key bytes", tc.ca, what)
						}
					}
				}
			}
		}
	}

	// A credential that names itself as its CA is refused before anything is read.
	self := newAuthority(t, x509ca.Config{CA: "root", CommonName: "svc"}, envAt(t0, creds, t.TempDir()))
	reads := creds.reads
	if _, err := self.Mint(context.Background(), provider.MintRequest{Credential: "root", RunID: "r", Strategy: x509ca.Overlap}); err == nil || !strings.Contains(err.Error(), "names itself") || creds.reads != reads {
		t.Errorf("a credential issued by itself: %v (reads %d -> %d)", err, reads, creds.reads)
	}

	// Without an engine to read through, the missing piece is named, not a nil call.
	a := newAuthority(t, x509ca.Config{CA: "root", CommonName: "svc"}, provider.Env{Rand: rand.Reader})
	if _, err := a.Mint(context.Background(), provider.MintRequest{Credential: "svc", RunID: "r", Strategy: x509ca.Overlap}); err == nil || !strings.Contains(err.Error(), "outside an engine") {
		t.Errorf("no ReadCredential: %v", err)
	}
}

// The certificates one run issues for a credential share a serial prefix, so the orphan of a
// retried mint is recognisable; another run's differ.
func TestSerialPrefixPerRun(t *testing.T) {
	creds := newCredentials()
	issueRoot(t, creds, "root", "", t0, 365*24*time.Hour)
	a := newAuthority(t, x509ca.Config{CA: "root", CommonName: "svc"}, envAt(t0, creds, t.TempDir()))
	_, b1 := mint(t, a, "svc", "run-1", nil)
	_, b2 := mint(t, a, "svc", "run-1", nil)
	_, b3 := mint(t, a, "svc", "run-2", nil)
	p := x509ca.SerialPrefix("svc", "run-1")
	if !strings.HasPrefix(pki.Serial(b1.Leaf), p) || !strings.HasPrefix(pki.Serial(b2.Leaf), p) {
		t.Errorf("serials %s, %s lack the run's prefix %s", pki.Serial(b1.Leaf), pki.Serial(b2.Leaf), p)
	}
	if b1.Leaf.SerialNumber.Cmp(b2.Leaf.SerialNumber) == 0 {
		t.Error("two certificates with one serial")
	}
	if strings.HasPrefix(pki.Serial(b3.Leaf), p) {
		t.Error("another run's certificate has the prefix")
	}
}

func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		cfg  x509ca.Config
		want string
	}{
		{x509ca.Config{CommonName: "svc"}, "ca"},
		{x509ca.Config{CA: "root"}, "common_name"},
		{x509ca.Config{CA: "root", CommonName: "svc", SANs: []string{"bad name"}}, "sans"},
		{x509ca.Config{CA: "root", CommonName: "svc", SANs: []string{"-x.example"}}, "sans"},
		{x509ca.Config{CA: "root", CommonName: "svc", KeyType: "dsa"}, "key_type"},
		{x509ca.Config{CA: "root", CommonName: "svc", Validity: time.Minute}, "validity"},
		{x509ca.Config{CA: "root", CommonName: "svc", Validity: -time.Hour}, "validity"},
		{x509ca.Config{CA: "root", CommonName: "svc", NewKey: "sometimes"}, "new_key"},
		{x509ca.Config{CA: "root", CommonName: "svc", TrustBundle: "b.pem"}, "trust_bundle"},
		{x509ca.Config{CommonName: "Root", IsCA: true, CRL: "root.crl"}, "crl"},
	} {
		errs := tc.cfg.Validate()
		if len(errs) != 1 || errs[0].Field != tc.want {
			t.Errorf("%+v: %v, want one error on %s", tc.cfg, errs, tc.want)
		}
		if _, err := x509ca.New(tc.cfg, provider.Env{Rand: rand.Reader}); err == nil {
			t.Errorf("%+v: New accepted it", tc.cfg)
		}
	}
	if errs := (&x509ca.Config{CommonName: "Root", IsCA: true}).Validate(); len(errs) != 0 {
		t.Errorf("a self-signed root: %v", errs)
	}
}

func enable(t *testing.T, a *x509ca.Authority, run string, v provider.Version, value secret.Value, prev *provider.Version) {
	t.Helper()
	for i := range 2 {
		if _, err := a.Enable(context.Background(), provider.EnableRequest{Credential: "issuing", RunID: run, Strategy: x509ca.Overlap, Version: v, Value: value, Previous: prev}); err != nil {
			t.Fatalf("Enable(%s) #%d: %v", v.ID, i+1, err)
		}
	}
}

func readBundle(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, raw = pem.Decode(raw)
		if blk == nil {
			return out
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

func wantBundle(t *testing.T, path string, want ...*x509.Certificate) {
	t.Helper()
	got := readBundle(t, path)
	if len(got) != len(want) {
		t.Fatalf("bundle holds %d certificates, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("bundle certificate %d is %q, want %q", i, got[i].Subject.CommonName, want[i].Subject.CommonName)
		}
	}
}

// verifyAgainst verifies a leaf against the bundle's certificates as trust anchors, as a
// consumer configured with the bundle does.
func verifyAgainst(t *testing.T, bundle string, leaf *pki.Bundle, want bool) {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range readBundle(t, bundle) {
		pool.AddCert(c)
	}
	_, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "svc.example.test", CurrentTime: t0.Add(time.Hour)})
	if (err == nil) != want {
		t.Errorf("leaf of %s verifies against the bundle: %v, want %v", leaf.Leaf.Issuer.CommonName, err, want)
	}
}

// rawBundle encodes a certificate with any key, bypassing pki.Encode's check.
func rawBundle(t *testing.T, cert *x509.Certificate, key any) secret.Value {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b := append(pki.CertsPEM([]*x509.Certificate{cert}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	return secret.New(b)
}

func pemKey(t *testing.T, key any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func keyBody(t *testing.T, creds *credentials, id string) []byte {
	resp, err := creds.read(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	b := resp.Value.Reveal()
	i := bytes.Index(b, []byte("-----BEGIN PRIVATE KEY-----"))
	if i < 0 {
		t.Fatal(errors.New("no key in " + id))
	}
	return b[i:]
}
