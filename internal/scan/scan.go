// Package scan reads the certificates TLS endpoints serve: it dials each target, does a TLS
// handshake with SNI, and verifies the served chain itself against a trust bundle, so that an
// endpoint with a bad chain is still read (its serial, fingerprint and expiry are what an
// operator needs to find it) and the reason it does not verify is named. It is shared by
// `rotor scan` and the `tls` check.
//
// Every target gets a Result, in input order, whatever happens: a refused port, a listener
// that speaks no TLS, or one that accepts and never answers (bounded by Options.Timeout) is a
// result with the reason, never a hang or a panic. Targets are scanned by a bounded pool of
// workers.
//
// The handshake skips crypto/tls's own verification (InsecureSkipVerify) only to be able to
// read what is served; the chain is then verified with crypto/x509 against the trust bundle,
// for the target's server name and at the scan's time. A verification is cached per scan by
// server name and the served chain's certificates, so a thousand endpoints serving the same
// chain cost one verification.
package scan

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rotorhq/rotor/internal/pki"
)

// Defaults of Options.
const (
	DefaultConcurrency = 64
	DefaultTimeout     = 5 * time.Second
)

// Options configure a Scanner. The zero value scans with the system trust bundle, 64 workers
// and a 5 s timeout per target.
type Options struct {
	// Roots is the trust bundle chains must verify to; nil is the system's.
	Roots *x509.CertPool
	// Concurrency is how many targets are scanned at once (DefaultConcurrency when <= 0).
	Concurrency int
	// Timeout bounds the dial and the handshake of one target (DefaultTimeout when <= 0).
	Timeout time.Duration
	// Now is the time chains are verified at and days to expiry counted from (time.Now when
	// nil).
	Now func() time.Time
	// Dialer dials targets (a net.Dialer when nil): tests and callers may bind a source.
	Dialer interface {
		DialContext(ctx context.Context, network, address string) (net.Conn, error)
	}
}

// Scanner scans targets. It is safe for concurrent use.
type Scanner struct{ opts Options }

// New returns a scanner.
func New(opts Options) *Scanner {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Dialer == nil {
		opts.Dialer = &net.Dialer{}
	}
	return &Scanner{opts: opts}
}

// Failure kinds of a target that did not answer with a certificate.
const (
	FailRefused   = "refused"   // nothing listens on the port
	FailTimeout   = "timeout"   // no connection, or no handshake, within the timeout
	FailNoTLS     = "no-tls"    // something answered, but not TLS
	FailHandshake = "handshake" // TLS, but the handshake failed (alert, closed, no certificate)
	FailDNS       = "dns"       // the host name does not resolve
	FailDial      = "dial"      // another network error
	FailCancelled = "cancelled" // the scan was stopped before this target
)

// Verification problems of a served chain.
const (
	ReasonExpired          = "expired"
	ReasonNotYetValid      = "not yet valid"
	ReasonNameMismatch     = "name mismatch"
	ReasonSelfSigned       = "self-signed"
	ReasonUnknownAuthority = "unknown authority"
	ReasonInvalid          = "invalid"
)

// Result is what one target served.
type Result struct {
	Target     string `json:"target"` // the address scanned, host:port
	ServerName string `json:"server_name"`

	// Failure, when the target did not answer with a certificate: one of the Fail* kinds,
	// and Error says it in words. The certificate fields are then empty.
	Failure string `json:"failure,omitempty"`
	Error   string `json:"error,omitempty"`

	Subject   string    `json:"subject,omitempty"`
	SANs      []string  `json:"sans,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	Serial    string    `json:"serial,omitempty"` // pki.Serial
	Ref       string    `json:"ref,omitempty"`    // pki.Ref: sha256 of the leaf
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	// DaysLeft is whole days from the scan's time to NotAfter; negative once expired.
	DaysLeft int `json:"days_left"`
	// ChainLen is how many certificates were served (leaf included).
	ChainLen int `json:"chain_len,omitempty"`

	// Verified: the served chain verifies to the trust bundle, for ServerName, now. When
	// not, VerifyReason is one of the Reason* values and VerifyError the verifier's words.
	Verified     bool   `json:"verified"`
	VerifyReason string `json:"verify_reason,omitempty"`
	VerifyError  string `json:"verify_error,omitempty"`
	TLSVersion   string `json:"tls_version,omitempty"`

	// Leaf is the served leaf certificate (nil on failure).
	Leaf *x509.Certificate `json:"-"`
	// FromRange copies Target.FromRange.
	FromRange bool `json:"-"`
}

// Answered reports whether the target served a certificate.
func (r *Result) Answered() bool { return r.Failure == "" }

// Scan scans every target and returns their results in the order of targets. It returns
// when every target has a result; a cancelled ctx gives the targets not yet scanned a
// FailCancelled result.
func (s *Scanner) Scan(ctx context.Context, targets []Target) []Result {
	out := make([]Result, len(targets))
	sc := s.session()
	workers := min(s.opts.Concurrency, len(targets))
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				j := i
				i++
				next.Unlock()
				if j >= len(targets) {
					return
				}
				out[j] = sc.one(ctx, targets[j])
			}
		}()
	}
	wg.Wait()
	return out
}

// ScanOne scans one target.
func (s *Scanner) ScanOne(ctx context.Context, t Target) Result {
	return s.session().one(ctx, t)
}

// session is one scan: one time for every target and one verification cache.
type session struct {
	s     *Scanner
	now   time.Time
	cache sync.Map // verifyKey -> verifyOutcome
}

func (s *Scanner) session() *session { return &session{s: s, now: s.opts.Now()} }

type verifyOutcome struct {
	ok             bool
	reason, detail string
}

func (sc *session) one(ctx context.Context, t Target) Result {
	r := Result{Target: t.Address(), ServerName: t.SNI(), FromRange: t.FromRange}
	if err := ctx.Err(); err != nil {
		r.Failure, r.Error = FailCancelled, "not scanned: the scan was stopped"
		return r
	}
	timeout := sc.s.opts.Timeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	conn, err := sc.s.opts.Dialer.DialContext(ctx, "tcp", r.Target)
	if err != nil {
		r.Failure, r.Error = dialFailure(ctx, err, timeout)
		return r
	}
	defer conn.Close()
	// A deadline as well as the context: the handshake honours both, and the deadline also
	// bounds a close that would wait on a peer that never reads.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	cfg := &tls.Config{
		ServerName: t.SNI(),
		// Read whatever is served; the chain is verified below, against the trust bundle,
		// so that an endpoint with a bad chain is still named with its certificate.
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS10,
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		r.Failure, r.Error = handshakeFailure(ctx, err, timeout)
		return r
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		r.Failure, r.Error = FailHandshake, "the handshake completed without a certificate"
		return r
	}
	leaf := st.PeerCertificates[0]
	r.Leaf = leaf
	r.TLSVersion = tls.VersionName(st.Version)
	r.Subject = leaf.Subject.String()
	r.Issuer = leaf.Issuer.String()
	r.SANs = sans(leaf)
	r.Serial = pki.Serial(leaf)
	r.Ref = pki.Ref(leaf)
	r.NotBefore, r.NotAfter = leaf.NotBefore.UTC(), leaf.NotAfter.UTC()
	r.DaysLeft = daysLeft(sc.now, leaf.NotAfter)
	r.ChainLen = len(st.PeerCertificates)
	v := sc.verify(st.PeerCertificates, t.SNI())
	r.Verified, r.VerifyReason, r.VerifyError = v.ok, v.reason, v.detail
	return r
}

// daysLeft is whole days until notAfter, rounded down; negative once it has passed.
func daysLeft(now, notAfter time.Time) int {
	d := notAfter.Sub(now)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days--
	}
	return days
}

func sans(c *x509.Certificate) []string {
	out := make([]string, 0, len(c.DNSNames)+len(c.IPAddresses)+len(c.EmailAddresses)+len(c.URIs))
	out = append(out, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	out = append(out, c.EmailAddresses...)
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	return out
}

// verify verifies a served chain once per (server name, chain) in a scan.
func (sc *session) verify(chain []*x509.Certificate, name string) verifyOutcome {
	h := sha256.New()
	io.WriteString(h, name)
	for _, c := range chain {
		h.Write([]byte{0})
		h.Write(c.Raw)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	if v, ok := sc.cache.Load(key); ok {
		return v.(verifyOutcome)
	}
	v := verifyChain(chain, name, sc.s.opts.Roots, sc.now)
	sc.cache.Store(key, v)
	return v
}

func verifyChain(chain []*x509.Certificate, name string, roots *x509.CertPool, now time.Time) verifyOutcome {
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		DNSName:       name,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err == nil {
		return verifyOutcome{ok: true}
	}
	return verifyOutcome{reason: verifyReason(leaf, err, now), detail: err.Error()}
}

func verifyReason(leaf *x509.Certificate, err error, now time.Time) string {
	var inv x509.CertificateInvalidError
	var host x509.HostnameError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		if now.Before(leaf.NotBefore) {
			return ReasonNotYetValid
		}
		return ReasonExpired
	case errors.As(err, &host):
		return ReasonNameMismatch
	case errors.As(err, &ua):
		if selfSigned(leaf) {
			return ReasonSelfSigned
		}
		return ReasonUnknownAuthority
	}
	return ReasonInvalid
}

// selfSigned: the leaf names itself as issuer and its own key signed it.
func selfSigned(c *x509.Certificate) bool {
	return c.Issuer.String() == c.Subject.String() && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func dialFailure(ctx context.Context, err error, timeout time.Duration) (string, string) {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return FailRefused, "connection refused: nothing listens on the port"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return FailDNS, "host " + dnsErr.Name + " not found"
	case ctx.Err() == context.DeadlineExceeded || isTimeout(err):
		return FailTimeout, fmt.Sprintf("no connection within %s", timeout)
	case ctx.Err() != nil:
		return FailCancelled, "the scan was stopped while connecting"
	}
	return FailDial, "cannot connect: " + plainErr(err)
}

func handshakeFailure(ctx context.Context, err error, timeout time.Duration) (string, string) {
	var rh tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.As(err, &rh):
		return FailNoTLS, "the endpoint does not speak TLS (its first bytes are not a TLS record)"
	case ctx.Err() == context.DeadlineExceeded || isTimeout(err):
		return FailTimeout, fmt.Sprintf("connected, but no TLS handshake within %s", timeout)
	case ctx.Err() != nil:
		return FailCancelled, "the scan was stopped during the handshake"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return FailHandshake, "the endpoint closed the connection during the TLS handshake"
	case errors.Is(err, syscall.ECONNRESET):
		return FailHandshake, "the endpoint reset the connection during the TLS handshake"
	case errors.As(err, &alert):
		return FailHandshake, "the endpoint refused the TLS handshake: " + err.Error()
	}
	return FailHandshake, "TLS handshake failed: " + plainErr(err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// plainErr drops the "dial tcp 1.2.3.4:5->" prefixes that repeat the target.
func plainErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return strings.TrimSpace(err.Error())
}

// LoadRoots reads a PEM trust bundle. A file without any certificate is an error: an empty
// pool would make every chain fail as "unknown authority" and hide the real mistake.
func LoadRoots(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("trust bundle: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("trust bundle %s holds no PEM certificate", file)
	}
	return p, nil
}
