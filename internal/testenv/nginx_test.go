package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeSelfSigned writes a self-signed certificate for name and its key (0600) into dir.
func writeSelfSigned(t *testing.T, dir, name string, serial int64) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// A started nginx serves each vhost's certificate by SNI (the first one by default), from key
// files of mode 0600, keeps its logs in its prefix, and is gone, with its prefix, once stopped.
func TestStartNginx(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ac, ak := writeSelfSigned(t, dir, "a.rotor.test", 11)
	bc, bk := writeSelfSigned(t, dir, "b.rotor.test", 22)
	n := StartNginx(t, NginxOptions{VHosts: []NginxVHost{{"a.rotor.test", ac, ak}, {"b.rotor.test", bc, bk}}})
	if n.Addr != "127.0.0.1:"+strconv.Itoa(n.Port) || n.Version == "" {
		t.Errorf("Addr %q, Version %q", n.Addr, n.Version)
	}
	for name, serial := range map[string]int64{"a.rotor.test": 11, "b.rotor.test": 22, "unknown.rotor.test": 11} {
		c, err := n.Served(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if c.SerialNumber.Int64() != serial {
			t.Errorf("SNI %s: served serial %d, want %d", name, c.SerialNumber.Int64(), serial)
		}
	}
	if fi, err := os.Stat(n.ErrorLog); err != nil || fi.Size() == 0 {
		t.Errorf("error log %s: %v; want nginx's messages there", n.ErrorLog, err)
	}
	if b, err := os.ReadFile(n.PIDFile); err != nil || len(b) == 0 {
		t.Errorf("pid file %s: %v", n.PIDFile, err)
	}
	checkStops(t, n.Stop, n.Prefix, n.Addr)
}

func TestFindNginxHint(t *testing.T) {
	_, err := findNginx("/nonexistent/nginx")
	if err == nil || !strings.Contains(err.Error(), EnvNginxBin) {
		t.Fatalf("findNginx with a bad %s: %v", EnvNginxBin, err)
	}
}
