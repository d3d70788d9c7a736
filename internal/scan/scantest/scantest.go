// Package scantest starts real TLS endpoints on 127.0.0.1 for the tests and the benchmark of
// the scanner, the `tls` check and `rotor scan`: a test CA that issues leaves, crypto/tls
// servers that serve them, and the bad endpoints a scan must survive — a listener that
// speaks no TLS, one that accepts and never answers, a port where nothing listens.
package scantest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rotorhq/rotor/internal/pki"
)

// TB is the part of testing.TB used here, so the benchmark program can pass its own.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// CA is a test certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Inter, when set by Intermediate, issues the leaves: the chain served is leaf, Inter.
	Inter    *x509.Certificate
	InterKey crypto.Signer
	serial   atomic.Int64
}

var serialBase atomic.Int64

// NewCA makes a root CA valid from an hour ago for ten years.
func NewCA(t TB, name string) *CA {
	t.Helper()
	key := mustKey(t)
	ca := &CA{Key: key}
	ca.serial.Store(serialBase.Add(1_000_000))
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(ca.serial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("scantest: CA: %v", err)
	}
	ca.Cert, _ = x509.ParseCertificate(der)
	return ca
}

// Intermediate makes the CA issue leaves through an intermediate, served in the chain.
func (ca *CA) Intermediate(t TB) {
	t.Helper()
	key := mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(ca.serial.Add(1)),
		Subject:               pkix.Name{CommonName: ca.Cert.Subject.CommonName + " intermediate"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(5 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("scantest: intermediate: %v", err)
	}
	ca.Inter, _ = x509.ParseCertificate(der)
	ca.InterKey = key
}

// Leaf describes a certificate to issue.
type Leaf struct {
	DNS       []string
	IPs       []net.IP
	NotBefore time.Time // default an hour ago
	NotAfter  time.Time // default in 90 days
	// SelfSigned: the leaf signs itself instead of the CA.
	SelfSigned bool
}

// Issue makes a TLS certificate (with its chain) for l.
func (ca *CA) Issue(t TB, l Leaf) tls.Certificate {
	t.Helper()
	key := mustKey(t)
	if l.NotBefore.IsZero() {
		l.NotBefore = time.Now().Add(-time.Hour)
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	cn := "leaf"
	if len(l.DNS) > 0 {
		cn = l.DNS[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     l.DNS,
		IPAddresses:  l.IPs,
		NotBefore:    l.NotBefore,
		NotAfter:     l.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := ca.Cert, ca.Key
	var chain [][]byte
	if ca.Inter != nil {
		parent, signer = ca.Inter, ca.InterKey
		chain = append(chain, ca.Inter.Raw)
	}
	if l.SelfSigned {
		tmpl.Issuer = tmpl.Subject
		parent, signer, chain = tmpl, key, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatalf("scantest: leaf: %v", err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: append([][]byte{der}, chain...), PrivateKey: key, Leaf: leaf}
}

// Ref is pki.Ref of a TLS certificate's leaf.
func Ref(c tls.Certificate) string { return pki.RefDER(c.Certificate[0]) }

// WriteRoot writes the CA's root certificate as a PEM file in dir and returns its path.
func (ca *CA) WriteRoot(t TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, pki.CertsPEM([]*x509.Certificate{ca.Cert}), 0o644); err != nil {
		t.Fatalf("scantest: %v", err)
	}
	return p
}

// Pool is a pool holding the CA's root.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func mustKey(t TB) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("scantest: key: %v", err)
	}
	return k
}

// Server is a TLS server on 127.0.0.1 (or another loopback) that can change the certificate
// it serves, as a reloaded nginx would.
type Server struct {
	Addr string
	ln   net.Listener
	mu   sync.RWMutex
	cert *tls.Certificate
	// byName serves another certificate for an SNI, as name-based virtual hosts do.
	byName map[string]*tls.Certificate
}

// Serve starts a TLS server for cert on 127.0.0.1; it stops at the end of the test.
func Serve(t TB, cert tls.Certificate) *Server { return ServeOn(t, "127.0.0.1:0", cert) }

// ServeOn starts a TLS server on addr.
func ServeOn(t TB, addr string, cert tls.Certificate) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("scantest: listen %s: %v", addr, err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, cert: &cert, byName: map[string]*tls.Certificate{}}
	cfg := &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if c, ok := s.byName[h.ServerName]; ok {
			return c, nil
		}
		return s.cert, nil
	}}
	go acceptLoop(ln, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if tc.Handshake() == nil {
			// Wait for the client to close, so the handshake is all that is measured.
			var b [1]byte
			_, _ = tc.Read(b[:])
		}
		tc.Close()
	})
	t.Cleanup(func() { ln.Close() })
	return s
}

// Set changes the certificate served (for every name not set with SetFor).
func (s *Server) Set(cert tls.Certificate) {
	s.mu.Lock()
	s.cert = &cert
	s.mu.Unlock()
}

// SetFor serves cert to clients that send SNI name.
func (s *Server) SetFor(name string, cert tls.Certificate) {
	s.mu.Lock()
	s.byName[name] = &cert
	s.mu.Unlock()
}

// Close stops the server.
func (s *Server) Close() { s.ln.Close() }

// Garbage starts a listener that answers every connection with bytes that are not TLS.
func Garbage(t TB) string {
	t.Helper()
	return rawListener(t, func(c net.Conn) {
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
		time.Sleep(100 * time.Millisecond)
	})
}

// Silent starts a listener that accepts connections and never answers, until the test ends.
func Silent(t TB) string {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return rawListener(t, func(c net.Conn) { <-done })
}

// Closed returns a loopback address where nothing listens: connections are refused. The port
// stays bound (a socket bound but not listening) until the test ends, so no listener started
// later — by this test or another — can take it and answer there.
func Closed(t TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("scantest: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("scantest: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("scantest: %v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

func rawListener(t TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("scantest: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go acceptLoop(ln, func(c net.Conn) { handle(c); c.Close() })
	return ln.Addr().String()
}

func acceptLoop(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		go handle(c)
	}
}
