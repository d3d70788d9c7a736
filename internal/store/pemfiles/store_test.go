package pemfiles_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/provider/providertest"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/pemfiles"
)

var ctx = context.Background()

// clock moves one second per reading.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func testEnv(t *testing.T, base string) provider.Env {
	t.Helper()
	fp, err := secret.NewFingerprinter(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)}
	return provider.Env{Now: c.Now, Rand: rand.Reader, Fingerprint: fp.Fingerprint, BaseDir: base}
}

// openDir is a fresh directory that other users can traverse (t.TempDir's parent is 0700),
// so a read as another user meets only the store's own modes.
func openDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "rotor-pemfiles-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func osUser(id, name string) provider.Identity {
	return provider.Identity{ID: id, Type: "os-user", Config: &identity.OSUser{User: name}}
}

// The tests run as root in CI (and must: reading as another user is the thing proved). As
// another user they fail rather than pass on the permission-bit proof alone.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test reads files as other users (daemon, nobody) and needs root; run scripts/test.sh as root (CI does)")
	}
}

// --- certificates -------------------------------------------------------------------------

var caOnce struct {
	sync.Once
	cert *x509.Certificate
	key  crypto.Signer
}

var serials atomic.Int64

func testCA() (*x509.Certificate, crypto.Signer) {
	caOnce.Do(func() {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rotor test CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
		if err != nil {
			panic(err)
		}
		caOnce.cert, _ = x509.ParseCertificate(der)
		caOnce.key = k
	})
	return caOnce.cert, caOnce.key
}

// payloadOID carries the conformance suite's opaque value inside a certificate.
var payloadOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}

// issue makes a bundle (leaf signed by the test CA, chain = the CA, key) for cn, with an
// optional payload extension.
func issue(t testing.TB, cn string, payload []byte) (*pki.Bundle, secret.Value) {
	t.Helper()
	b, v, err := mint(cn, payload)
	if err != nil {
		t.Fatal(err)
	}
	return b, v
}

func mint(cn string, payload []byte) (*pki.Bundle, secret.Value, error) {
	ca, caKey := testCA()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, secret.Value{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1000 + serials.Add(1)), Subject: pkix.Name{CommonName: cn},
		DNSNames: []string{cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour).Truncate(time.Second)}
	if payload != nil {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: payloadOID, Value: payload}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, k.Public(), caKey)
	if err != nil {
		return nil, secret.Value{}, err
	}
	leaf, _ := x509.ParseCertificate(der)
	b := &pki.Bundle{Leaf: leaf, Chain: []*x509.Certificate{ca}, Key: k}
	v, err := pki.Encode(*b)
	return b, v, err
}

// --- conformance --------------------------------------------------------------------------

// asBundles runs the store contract's suite, whose values are opaque strings, through the real
// store: each value travels inside a fresh certificate (in an extension) and comes back out of
// the certificate that Read returns. Everything else is the store itself.
type asBundles struct{ *pemfiles.Store }

func (a asBundles) Put(ctx context.Context, req provider.PutRequest) (provider.PutResponse, error) {
	raw := req.Value.Reveal()
	defer clear(raw)
	_, v, err := mint("conformance.test", raw)
	if err != nil {
		return provider.PutResponse{}, err
	}
	defer v.Wipe()
	req.Value = v
	return a.Store.Put(ctx, req)
}

func (a asBundles) Read(ctx context.Context, req provider.ReadRequest) (provider.ReadResponse, error) {
	r, err := a.Store.Read(ctx, req)
	if err != nil {
		return r, err
	}
	defer r.Value.Wipe()
	b, err := pki.Decode(r.Value)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	for _, e := range b.Leaf.Extensions {
		if e.Id.Equal(payloadOID) {
			return provider.ReadResponse{Version: r.Version, Value: secret.New(e.Value)}, nil
		}
	}
	return provider.ReadResponse{}, errors.New("the certificate read back carries no payload")
}

func (a asBundles) Disable(ctx context.Context, req provider.ToggleRequest) error {
	return a.Store.Disable(ctx, req)
}

func (a asBundles) Enable(ctx context.Context, req provider.ToggleRequest) error {
	return a.Store.Enable(ctx, req)
}

func (a asBundles) CheckWrite(ctx context.Context, req provider.CheckWriteRequest) error {
	return a.Store.CheckWrite(ctx, req)
}

func TestConformance(t *testing.T) {
	needRoot(t)
	providertest.StoreSuite(t, func(t *testing.T) providertest.StoreFixture {
		dir := openDir(t)
		// billing reads its own subdirectory and can be pinned; orders reads tls/ itself.
		s, err := pemfiles.New(pemfiles.Config{Dir: "tls", Owner: "daemon", Consumers: map[string]string{"billing": "billing"}}, testEnv(t, dir))
		if err != nil {
			t.Fatal(err)
		}
		return providertest.StoreFixture{
			Store: asBundles{s}, Credential: "search-tls",
			Executor: osUser("rotor", "root"), Reader: osUser("search-api", "daemon"), NonReader: osUser("intruder", "nobody"),
			Lacks: map[provider.Capability]string{
				provider.CanCheckRead: "its access is file permissions checked by reading the pending version as the consumer (the read-access step); there is no policy to ask before a version exists",
				provider.CanDelete:    "it prunes retired versions itself, by its keep setting; the engine's delete step is a note",
				provider.CanReseal:    "its consumers read by file ownership and mode, not by a per-reader encryption to write again",
			},
			ConsumerVersion: func(t *testing.T, consumer string) string {
				if consumer == "billing" {
					return servedVersion(t, filepath.Join(s.Dir(), "billing"))
				}
				return servedVersion(t, s.Dir())
			},
		}
	})
}

// --- layout, idempotency, refusals ----------------------------------------------------------

func newStore(t *testing.T, cfg pemfiles.Config) (*pemfiles.Store, string) {
	t.Helper()
	base := openDir(t)
	if cfg.Dir == "" {
		cfg.Dir = "tls"
	}
	s, err := pemfiles.New(cfg, testEnv(t, base))
	if err != nil {
		t.Fatal(err)
	}
	return s, s.Dir()
}

func put(t *testing.T, s *pemfiles.Store, key string, v secret.Value) provider.Version {
	t.Helper()
	r, err := s.Put(ctx, provider.PutRequest{Credential: "web-tls", Value: v, Key: key})
	if err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
	return r.Version
}

func promote(t *testing.T, s *pemfiles.Store, id string) provider.PromoteResponse {
	t.Helper()
	r, err := s.Promote(ctx, provider.PromoteRequest{Credential: "web-tls", Version: id})
	if err != nil {
		t.Fatalf("Promote(%s): %v", id, err)
	}
	return r
}

func mode(t *testing.T, p string) (os.FileMode, uint32) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Uid
}

func TestPutPromoteLayout(t *testing.T) {
	needRoot(t)
	s, dir := newStore(t, pemfiles.Config{Owner: "daemon", Cert: "leaf.crt", Key: "leaf.key"})
	b, v := issue(t, "www.example.test", nil)
	first, err := s.Put(ctx, provider.PutRequest{Credential: "web-tls", Value: v, Key: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || first.Version.Stage != provider.StagePending {
		t.Fatalf("Put = %+v, want a created pending version", first)
	}
	if got := first.Version.AuthorityRef; got != pki.Ref(b.Leaf) {
		t.Errorf("AuthorityRef %q, want the leaf's Ref %q when none is given", got, pki.Ref(b.Leaf))
	}
	if !first.Version.Expires.Equal(b.Leaf.NotAfter) {
		t.Errorf("Expires %s, want the leaf's NotAfter %s", first.Version.Expires, b.Leaf.NotAfter)
	}
	// Idempotent per key: a retried Put with another value finds the first version.
	_, other := issue(t, "www.example.test", nil)
	again, err := s.Put(ctx, provider.PutRequest{Credential: "web-tls", Value: other, Key: "run-1"})
	if err != nil || again.Created || again.Version.ID != first.Version.ID {
		t.Fatalf("retried Put = %+v, %v; want version %s, not created", again, err, first.Version.ID)
	}
	// Pending: nothing visible yet.
	if _, err := os.Lstat(filepath.Join(dir, pemfiles.LiveName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("..live exists before any Promote: %v", err)
	}
	promote(t, s, first.Version.ID)
	vdir := filepath.Join(dir, pemfiles.VersionsDir, first.Version.ID)
	for name, want := range map[string]os.FileMode{"leaf.crt": 0o644, "chain.pem": 0o644, "fullchain.pem": 0o644, "leaf.key": 0o600} {
		link, err := os.Readlink(filepath.Join(dir, name))
		if err != nil || link != pemfiles.LiveName+"/"+name {
			t.Errorf("%s -> %q (%v), want a symlink to ..live/%s", name, link, err, name)
		}
		m, uid := mode(t, filepath.Join(vdir, name))
		if m != want || uid != 1 {
			t.Errorf("%s: mode %04o uid %d, want %04o uid 1 (daemon)", name, m, uid, want)
		}
	}
	if m, _ := mode(t, filepath.Join(vdir, "rotor-version.json")); m != 0o600 {
		t.Errorf("metadata mode %04o, want 0600", m)
	}
	// The files hold exactly the bundle, and nginx-style loading accepts the pair.
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "leaf.key")); err != nil {
		t.Errorf("tls.LoadX509KeyPair on the visible names: %v", err)
	}
	raw := v.Reveal()
	defer clear(raw)
	var joined []byte
	for _, n := range []string{"leaf.crt", "chain.pem", "leaf.key"} {
		b, _ := os.ReadFile(filepath.Join(dir, n))
		joined = append(joined, b...)
	}
	if !bytes.Equal(joined, raw) {
		t.Error("leaf.crt + chain.pem + leaf.key differ from the value stored")
	}
	// No value in the metadata.
	mb, _ := os.ReadFile(filepath.Join(vdir, "rotor-version.json"))
	if bytes.Contains(mb, []byte("PRIVATE KEY")) || bytes.Contains(mb, []byte("CERTIFICATE")) {
		t.Error("the metadata file holds PEM")
	}
	r, err := s.Read(ctx, provider.ReadRequest{Credential: "web-tls", As: osUser("web", "daemon")})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Value.Equal(v) || r.Version.ID != first.Version.ID || r.Version.Stage != provider.StageCurrent {
		t.Errorf("Read(current) as daemon = %s (%s), equal %v", r.Version.ID, r.Version.Stage, r.Value.Equal(v))
	}
}

func TestPutRefusesBadBundlesBeforeWriting(t *testing.T) {
	s, dir := newStore(t, pemfiles.Config{})
	good, _ := issue(t, "a.example.test", nil)
	other, _ := issue(t, "b.example.test", nil)
	const canary = "CANARY-pem-7c1d"
	keyDER, _ := x509.MarshalPKCS8PrivateKey(other.Key)
	mismatched := string(pki.CertsPEM([]*x509.Certificate{good.Leaf})) + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	sec1, _ := x509.MarshalECPrivateKey(good.Key.(*ecdsa.PrivateKey))
	notCanonical := string(pki.CertsPEM([]*x509.Certificate{good.Leaf})) + string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	cases := map[string]struct{ value, want string }{
		"garbage":       {canary + " not PEM at all", "no PEM certificate"},
		"broken block":  {"-----BEGIN CERTIFICATE-----\n" + canary + "\n-----END CERTIFICATE-----\n", "no PEM certificate"},
		"no key":        {string(pki.CertsPEM([]*x509.Certificate{good.Leaf})), "no private key"},
		"key mismatch":  {mismatched, "does not match"},
		"not canonical": {notCanonical, "not in rotor's form"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := s.Put(ctx, provider.PutRequest{Credential: "web-tls", Value: secret.FromString(c.value), Key: "run-" + name})
			if err == nil {
				t.Fatal("Put accepted it")
			}
			if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q (%s), want a terminal error saying %q", err, provider.KindOf(err), c.want)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("the error shows the value: %q", err)
			}
		})
	}
	ents, _ := os.ReadDir(filepath.Join(dir, pemfiles.VersionsDir))
	if len(ents) != 0 {
		t.Errorf("refused Puts left %d entries in .versions", len(ents))
	}
	if r, _ := s.Versions(ctx, provider.VersionsRequest{}); len(r.Versions) != 0 {
		t.Errorf("Versions lists %d versions after refused Puts", len(r.Versions))
	}
}

// A torn state is impossible: readers resolving ..live once never see a certificate with
// another version's key across 200 promotes, and readers opening the visible names see a
// mismatch only when ..live moved while they read (a straddle, which rotor avoids by
// reloading after the promote).
func TestSwapIsAtomicForReaders(t *testing.T) {
	s, dir := newStore(t, pemfiles.Config{Keep: 3})
	const n = 200
	vals := make([]secret.Value, n)
	for i := range vals {
		_, vals[i] = issue(t, fmt.Sprintf("v%d.example.test", i), nil)
	}
	promote(t, s, put(t, s, "run-0", vals[0]).ID)

	var stop atomic.Bool
	var reads, mismatches, straddles, gone atomic.Int64
	var firstErr atomic.Value
	readPair := func(certPath, keyPath string) (bool, error) {
		cb, err := os.ReadFile(certPath)
		if err != nil {
			return false, err
		}
		kb, err := os.ReadFile(keyPath)
		if err != nil {
			return false, err
		}
		_, err = tls.X509KeyPair(cb, kb)
		clear(kb)
		return err == nil, nil
	}
	var wg sync.WaitGroup
	wg.Go(func() { // as nginx reads one version: ..live resolved once
		for !stop.Load() {
			target, err := os.Readlink(filepath.Join(dir, pemfiles.LiveName))
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			vdir := filepath.Join(dir, target)
			ok, err := readPair(filepath.Join(vdir, "cert.pem"), filepath.Join(vdir, "key.pem"))
			switch {
			case errors.Is(err, os.ErrNotExist):
				gone.Add(1) // pruned since resolved: a miss, not a mismatch
			case err != nil:
				firstErr.CompareAndSwap(nil, err)
				return
			case !ok:
				mismatches.Add(1)
			}
			reads.Add(1)
		}
	})
	wg.Go(func() { // through the visible names, each open resolving ..live itself
		for !stop.Load() {
			before, _ := os.Readlink(filepath.Join(dir, pemfiles.LiveName))
			ok, err := readPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
			after, _ := os.Readlink(filepath.Join(dir, pemfiles.LiveName))
			switch {
			case err != nil && before != after:
			case err != nil:
				firstErr.CompareAndSwap(nil, err)
				return
			case !ok && before != after:
				straddles.Add(1)
			case !ok:
				mismatches.Add(1)
			}
		}
	})
	for i := 1; i < n; i++ {
		promote(t, s, put(t, s, fmt.Sprintf("run-%d", i), vals[i]).ID)
	}
	stop.Store(true)
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		t.Fatalf("a reader failed: %v", e)
	}
	t.Logf("%d reads through a resolved ..live during %d promotes (%d of a pruned version), %d straddles through the visible names", reads.Load(), n-1, gone.Load(), straddles.Load())
	if mismatches.Load() != 0 {
		t.Fatalf("%d reads saw a certificate with another version's key", mismatches.Load())
	}
	if reads.Load() < n {
		t.Errorf("only %d reads during %d promotes: the reader barely ran", reads.Load(), n)
	}
	r, err := s.Read(ctx, provider.ReadRequest{})
	if err != nil || !r.Value.Equal(vals[n-1]) {
		t.Fatalf("Read(current) after the promotes: %v", err)
	}
}

func TestKeepPrunesOldVersionsOnly(t *testing.T) {
	s, dir := newStore(t, pemfiles.Config{Keep: 2})
	var ids []string
	for i := range 6 {
		_, v := issue(t, "k.example.test", nil)
		id := put(t, s, fmt.Sprintf("run-%d", i), v).ID
		ids = append(ids, id)
		promote(t, s, id)
	}
	_, v := issue(t, "k.example.test", nil)
	pending := put(t, s, "run-pending", v).ID
	r, _ := s.Versions(ctx, provider.VersionsRequest{})
	var got []string
	for _, v := range r.Versions {
		got = append(got, v.ID+":"+string(v.Stage))
	}
	want := []string{pending + ":pending", ids[5] + ":current", ids[4] + ":previous", ids[3] + ":"}
	if !slices.Equal(got, want) {
		t.Errorf("Versions = %v, want %v (keep 2: previous + one more; current and a run's pending version never counted)", got, want)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, pemfiles.VersionsDir))
	if len(ents) != 4 {
		t.Errorf("%d entries in .versions, want 4", len(ents))
	}
	// Rollback: the previous version promoted again, the current one becomes previous.
	back := promote(t, s, ids[4])
	if back.Current.ID != ids[4] || back.Previous == nil || back.Previous.ID != ids[5] {
		t.Errorf("rollback promote = current %s previous %v, want %s and %s", back.Current.ID, back.Previous, ids[4], ids[5])
	}
	if err := s.Disable(ctx, provider.ToggleRequest{Version: ids[4]}); err == nil {
		t.Error("Disable(current) succeeded")
	}
}

// A crash mid-Put leaves a temp version directory, and one between creating the new link and
// renaming it leaves a stray temp link; neither is seen, ..live stays, and the next change
// removes them.
func TestCrashLeftovers(t *testing.T) {
	s, dir := newStore(t, pemfiles.Config{})
	_, v1 := issue(t, "c.example.test", nil)
	id1 := put(t, s, "run-1", v1).ID
	promote(t, s, id1)
	tmpVersion := filepath.Join(dir, pemfiles.VersionsDir, ".tmp-v0002-deadbeef")
	if err := os.MkdirAll(tmpVersion, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tmpVersion, "key.pem"), []byte("half a key"), 0o600)
	tmpLink := filepath.Join(dir, pemfiles.LiveName+".tmp-0123456789ab")
	if err := os.Symlink(pemfiles.VersionsDir+"/v0002-deadbeef", tmpLink); err != nil {
		t.Fatal(err)
	}
	r, err := s.Versions(ctx, provider.VersionsRequest{})
	if err != nil || len(r.Versions) != 1 || r.Versions[0].ID != id1 || r.Versions[0].Stage != provider.StageCurrent {
		t.Fatalf("Versions with leftovers = %+v, %v; want just %s current", r.Versions, err, id1)
	}
	if got, _ := s.Read(ctx, provider.ReadRequest{}); !got.Value.Equal(v1) {
		t.Fatal("Read(current) with leftovers: another value")
	}
	_, v2 := issue(t, "c.example.test", nil)
	id2 := put(t, s, "run-2", v2).ID
	for _, p := range []string{tmpVersion, tmpLink} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after the next Put", p)
		}
	}
	if target, _ := os.Readlink(filepath.Join(dir, pemfiles.LiveName)); target != pemfiles.VersionsDir+"/"+id1 {
		t.Errorf("..live -> %s after a Put, want still %s", target, id1)
	}
	promote(t, s, id2)
}

func TestReadAsOSUser(t *testing.T) {
	needRoot(t)
	s, _ := newStore(t, pemfiles.Config{Owner: "daemon"})
	_, v := issue(t, "r.example.test", nil)
	id := put(t, s, "run-1", v).ID
	bits, _ := pemfiles.New(pemfiles.Config{Dir: s.Dir(), Owner: "daemon"}, testEnv(t, ""))
	bits.ProveByBits()
	for _, st := range []struct {
		name  string
		store *pemfiles.Store
	}{{"as the user (child process)", s}, {"by permission bits", bits}} {
		t.Run(st.name, func(t *testing.T) {
			r, err := st.store.Read(ctx, provider.ReadRequest{Version: id, As: osUser("web", "daemon")})
			if err != nil || !r.Value.Equal(v) {
				t.Fatalf("Read as daemon (the owner): %v", err)
			}
			r, err = st.store.Read(ctx, provider.ReadRequest{Version: id, As: osUser("web", "1")})
			if err != nil || !r.Value.Equal(v) {
				t.Fatalf("Read as uid 1 (daemon by number): %v", err)
			}
			_, err = st.store.Read(ctx, provider.ReadRequest{Version: id, As: osUser("intruder", "nobody")})
			if provider.KindOf(err) != provider.Denied || !strings.Contains(err.Error(), "key.pem") {
				t.Fatalf("Read as nobody: %v (%s), want Denied naming key.pem", err, provider.KindOf(err))
			}
			_, err = st.store.Read(ctx, provider.ReadRequest{Version: id, As: osUser("ghost", "no-such-user-rotor")})
			if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), "no user") {
				t.Fatalf("Read as a missing user: %v", err)
			}
		})
	}
	_, err := s.Read(ctx, provider.ReadRequest{Version: id, As: provider.Identity{ID: "ci", Type: "vault-approle", Config: &identity.VaultAppRole{Role: "x"}}})
	if !errors.Is(err, provider.ErrUnsupported) || provider.KindOf(err) != provider.Terminal {
		t.Fatalf("Read as a vault-approle: %v, want unsupported", err)
	}
}

func TestValidate(t *testing.T) {
	c := pemfiles.Config{Cert: "../x", Chain: "same.pem", Fullchain: "same.pem", KeyMode: "0644", CertMode: "rw", Keep: -1, Owner: "bad user"}
	got := map[string]bool{}
	for _, fe := range c.Validate() {
		got[fe.Field] = true
	}
	for _, f := range []string{"dir", "cert", "fullchain", "key_mode", "cert_mode", "keep", "owner"} {
		if !got[f] {
			t.Errorf("Validate does not name %s: %v", f, c.Validate())
		}
	}
	if errs := (&pemfiles.Config{Dir: "d", KeyMode: "0640", Group: "ssl-cert"}).Validate(); len(errs) != 0 {
		t.Errorf("a good config: %v", errs)
	}
}
