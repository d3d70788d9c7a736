package pemfiles_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/store/pemfiles"
)

func certificates(t *testing.T, s *pemfiles.Store) []provider.Certificate {
	t.Helper()
	r, err := s.Certificates(ctx, provider.CertificatesRequest{Credential: "web-tls"})
	if err != nil {
		t.Fatalf("Certificates: %v", err)
	}
	return r.Certificates
}

// describe shows a listing compactly: id, stage, leaf fingerprint, where.
func describe(cs []provider.Certificate) string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%q %q %s %s", c.Version.ID, c.Version.Stage, pki.RefDER(c.Leaf), c.Where))
	}
	return "[" + strings.Join(out, "; ") + "]"
}

// Each version is listed with its own leaf and its stage; the current one where the consumers
// open it. No key travels.
func TestCertificatesPerVersion(t *testing.T) {
	s, dir := newStore(t, pemfiles.Config{Cert: "leaf.crt"})
	var leaves [][]byte
	var keys [][]byte
	var ids []string
	for i := range 3 {
		b, v := issue(t, "list.example.test", nil)
		leaves = append(leaves, b.Leaf.Raw)
		k, err := x509.MarshalPKCS8PrivateKey(b.Key)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		ids = append(ids, put(t, s, fmt.Sprintf("run-%d", i+1), v).ID)
		if i < 2 {
			promote(t, s, ids[i])
		}
	}
	got := certificates(t, s)
	want := []struct {
		id    string
		stage provider.Stage
		leaf  []byte
		where string
	}{
		{ids[2], provider.StagePending, leaves[2], filepath.Join(dir, pemfiles.VersionsDir, ids[2], "leaf.crt")},
		{ids[1], provider.StageCurrent, leaves[1], filepath.Join(dir, "leaf.crt")},
		{ids[0], provider.StagePrevious, leaves[0], filepath.Join(dir, pemfiles.VersionsDir, ids[0], "leaf.crt")},
	}
	if len(got) != len(want) {
		t.Fatalf("Certificates = %d entries, want %d: %s", len(got), len(want), describe(got))
	}
	for i, w := range want {
		c := got[i]
		if c.Version.ID != w.id || c.Version.Stage != w.stage || !bytes.Equal(c.Leaf, w.leaf) || c.Where != w.where {
			t.Errorf("entry %d = %s %q %s in %s, want %s %q %s in %s", i, c.Version.ID, c.Version.Stage, pki.RefDER(c.Leaf), c.Where,
				w.id, w.stage, pki.RefDER(w.leaf), w.where)
		}
	}
	js, _ := json.Marshal(got)
	for _, k := range keys {
		if bytes.Contains(js, k) || bytes.Contains(js, []byte("PRIVATE KEY")) {
			t.Fatal("a private key in the listing")
		}
	}
}

// Before the first promote the consumers read the operator's own cert file: it is listed,
// without a version, as current. Once the store owns the visible name, it is not listed twice.
func TestCertificatesBeforeFirstPromote(t *testing.T) {
	s, dir := newStore(t, pemfiles.Config{})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := issue(t, "adopt.example.test", nil)
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pki.CertsPEM([]*x509.Certificate{old.Leaf}), 0o644); err != nil {
		t.Fatal(err)
	}
	got := certificates(t, s)
	if len(got) != 1 || got[0].Version.ID != "" || got[0].Version.Stage != provider.StageCurrent ||
		!bytes.Equal(got[0].Leaf, old.Leaf.Raw) || got[0].Where != filepath.Join(dir, "cert.pem") {
		t.Fatalf("Certificates with the operator's cert.pem = %s, want it alone, current, without a version", describe(got))
	}
	b, v := issue(t, "adopt.example.test", nil)
	id := put(t, s, "run-1", v).ID
	got = certificates(t, s)
	if len(got) != 2 || got[0].Version.ID != id || got[0].Version.Stage != provider.StagePending || got[1].Version.ID != "" {
		t.Fatalf("after a Put: %s, want the pending version, then the operator's file", describe(got))
	}
	promote(t, s, id)
	got = certificates(t, s)
	if len(got) != 1 || got[0].Version.ID != id || got[0].Version.Stage != provider.StageCurrent || !bytes.Equal(got[0].Leaf, b.Leaf.Raw) {
		t.Fatalf("after the first Promote: %s, want the one version, current", describe(got))
	}
}

// A store not made yet lists nothing, and listing does not make it: `rotor scan` writes
// nothing.
func TestCertificatesOfNoStoreWriteNothing(t *testing.T) {
	s, dir := newStore(t, pemfiles.Config{})
	if got := certificates(t, s); len(got) != 0 {
		t.Fatalf("Certificates of a missing directory = %s", describe(got))
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("listing created %s (%v)", dir, err)
	}
}

// A version whose cert file is damaged is said, as needing a person, not skipped.
func TestCertificatesDamagedVersion(t *testing.T) {
	s, dir := newStore(t, pemfiles.Config{})
	_, v := issue(t, "damaged.example.test", nil)
	id := put(t, s, "run-1", v).ID
	promote(t, s, id)
	if err := os.WriteFile(filepath.Join(dir, pemfiles.VersionsDir, id, "cert.pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.Certificates(ctx, provider.CertificatesRequest{Credential: "web-tls"})
	if provider.KindOf(err) != provider.NeedsHuman {
		t.Fatalf("Certificates with a damaged cert file: %v, want an error needing a human", err)
	}
}
