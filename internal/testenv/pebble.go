package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/buildinfo"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EnvPebbleDir is the ACME directory URL of a running Pebble to use instead of starting one
// (https://127.0.0.1:14000/dir). With it, EnvPebbleCA must name the PEM file of the CA that
// signed its listener certificate, and EnvPebbleManagement may give its management URL
// (default: the directory's host on port 15000). Tests against a reused Pebble cannot know
// whether it validates challenges, so they must pass either way.
const (
	EnvPebbleDir        = "ROTOR_TEST_PEBBLE_DIR"
	EnvPebbleCA         = "ROTOR_TEST_PEBBLE_CA"
	EnvPebbleManagement = "ROTOR_TEST_PEBBLE_MANAGEMENT"
)

// EnvPebbleBin is the pebble executable to run instead of Pebble vPebbleVersion found in
// PATH or $(go env GOPATH)/bin.
const EnvPebbleBin = "ROTOR_TEST_PEBBLE_BIN"

// Pebble is Let's Encrypt's ACME test server, started for a test on 127.0.0.1 with a listener
// certificate of a throwaway CA made for it (Debian's package ships none), or the one
// $ROTOR_TEST_PEBBLE_DIR names.
//
// Pebble issues from a root and an intermediate it generates at start: Root returns that root
// (from the management interface), to verify the chains it issues.
type Pebble struct {
	DirectoryURL  string // https://127.0.0.1:<port>/dir
	ManagementURL string // https://127.0.0.1:<port>, the management interface
	// CAFile is the PEM file of the CA that signed Pebble's own TLS certificate — what an
	// ACME client must trust to talk to it (the acme authority's ca_bundle) — and CAPool
	// holds the same CA.
	CAFile string
	CAPool *x509.CertPool
	// HTTPPort and TLSPort are where Pebble's validation authority connects for http-01 and
	// tls-alpn-01 challenges (on the address the identifier resolves to). With AlwaysValid it
	// does not connect at all.
	HTTPPort, TLSPort int
	// AlwaysValid: started with PEBBLE_VA_ALWAYS_VALID=1, every challenge passes unchecked.
	AlwaysValid bool
	LogFile     string // "" for a reused server

	srv *daemon // nil for a reused server
}

// PebbleOptions configure a started Pebble.
type PebbleOptions struct {
	// Validate makes Pebble really validate challenges (no PEBBLE_VA_ALWAYS_VALID): the
	// client must answer http-01 on 127.0.0.1:HTTPPort (for an IP identifier 127.0.0.1), so
	// set HTTPPort to a port the client will listen on.
	Validate bool
	HTTPPort int // 0: a free port
	// BlockedDomains are refused by Pebble's policy (domainBlocklist): an order naming one,
	// or a subdomain of one, fails with rejectedIdentifier.
	BlockedDomains []string
}

// StartPebble starts pebble in always-valid mode (challenges pass unchecked, so the
// client's challenge server need not be reachable) and stops it when the test ends. With
// $ROTOR_TEST_PEBBLE_DIR set it checks that server instead. It fails the test, with how to
// install pebble, when the binary cannot be found.
func StartPebble(t testing.TB) *Pebble {
	t.Helper()
	return StartPebbleWith(t, PebbleOptions{})
}

// StartPebbleWith is StartPebble with options.
func StartPebbleWith(t testing.TB, opts PebbleOptions) *Pebble {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if dir := os.Getenv(EnvPebbleDir); dir != "" {
		p, err := externalPebble(ctx, dir, os.Getenv(EnvPebbleCA), os.Getenv(EnvPebbleManagement))
		if err != nil {
			t.Fatalf("testenv: %s=%s: %v\nhint: start Pebble there, or unset it to let the test start its own", EnvPebbleDir, dir, err)
		}
		return p
	}
	began := time.Now()
	p, err := startPebble(ctx, opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	stopAtEnd(t, "Pebble log", p.LogFile, p.Stop)
	t.Logf("testenv: Pebble on %s started in %s", p.DirectoryURL, time.Since(began).Round(time.Millisecond))
	return p
}

// Stop stops a started Pebble and removes its files; calling it again does nothing. A reused
// server is left alone.
func (p *Pebble) Stop() error {
	return p.srv.shutdown("Pebble on "+p.DirectoryURL, func(proc *process) error {
		// Pebble has no shutdown handler: SIGINT ends it, and that is a clean stop.
		if err := proc.stop(); err != nil && !signalled(err, os.Interrupt) {
			return err
		}
		return nil
	})
}

func signalled(err error, sig os.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// Client is an HTTP client that trusts Pebble's listener (and nothing else), with a timeout.
func (p *Pebble) Client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.CAPool}}}
}

// Root returns the root certificate Pebble issues under (management /roots/0).
func (p *Pebble) Root(t testing.TB) *x509.Certificate {
	t.Helper()
	body, err := p.get(t.Context(), p.ManagementURL+"/roots/0")
	if err != nil {
		t.Fatalf("testenv: Pebble root: %v", err)
	}
	blk, _ := pem.Decode(body)
	if blk == nil {
		t.Fatalf("testenv: Pebble /roots/0 is not PEM: %.100q", body)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatalf("testenv: Pebble root: %v", err)
	}
	return c
}

// CertStatus returns what Pebble says of the certificate with that serial: "Valid" or
// "Revoked" (management /cert-status-by-serial/<hex>).
func (p *Pebble) CertStatus(t testing.TB, serial *big.Int) string {
	t.Helper()
	body, err := p.get(t.Context(), p.ManagementURL+"/cert-status-by-serial/"+serial.Text(16))
	if err != nil {
		t.Fatalf("testenv: Pebble certificate status: %v", err)
	}
	var st struct{ Status string }
	if err := json.Unmarshal(body, &st); err != nil || st.Status == "" {
		t.Fatalf("testenv: Pebble certificate status: not the expected JSON: %.200q", body)
	}
	return st.Status
}

func (p *Pebble) get(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.Client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200q", u, resp.Status, body)
	}
	return body, nil
}

// ready checks that the directory answers, over TLS verified with CAPool: a Pebble that
// answers with our throwaway CA's certificate is ours.
func (p *Pebble) ready(ctx context.Context) error {
	body, err := p.get(ctx, p.DirectoryURL)
	if err != nil {
		return err
	}
	var dir struct {
		NewAccount string `json:"newAccount"`
	}
	if err := json.Unmarshal(body, &dir); err != nil || dir.NewAccount == "" {
		return fmt.Errorf("%s is not an ACME directory: %.200q", p.DirectoryURL, body)
	}
	return nil
}

func externalPebble(ctx context.Context, dir, caFile, mgmt string) (*Pebble, error) {
	if caFile == "" {
		return nil, fmt.Errorf("%s is not set: name the PEM file of the CA that signed its listener certificate", EnvPebbleCA)
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvPebbleCA, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s=%s holds no PEM certificate", EnvPebbleCA, caFile)
	}
	u, err := url.Parse(dir)
	if err != nil || u.Host == "" {
		return nil, errors.New("not a URL")
	}
	if mgmt == "" {
		mgmt = "https://" + net.JoinHostPort(u.Hostname(), "15000")
	}
	p := &Pebble{DirectoryURL: dir, ManagementURL: strings.TrimRight(mgmt, "/"), CAFile: caFile, CAPool: pool}
	return p, p.ready(ctx)
}

// startPebble writes the listener certificate and the configuration into a new temporary
// directory and starts the server. On error nothing is left running or on disk.
func startPebble(ctx context.Context, opts PebbleOptions) (_ *Pebble, err error) {
	bin, err := findPebble(os.Getenv(EnvPebbleBin))
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp("", "rotor-pebble-")
	if err != nil {
		return nil, fmt.Errorf("create Pebble directory: %w", err)
	}
	p := &Pebble{srv: &daemon{dir: base}, LogFile: filepath.Join(base, "pebble.log"), CAFile: filepath.Join(base, "listener-ca.pem"), AlwaysValid: !opts.Validate}
	defer cleanUpOnError(&err, p.Stop)
	if p.CAPool, err = writeListenerCert(base); err != nil {
		return nil, fmt.Errorf("make Pebble's listener certificate: %w", err)
	}
	// Pebble listens on two ports (ACME, management); it connects to the challenge ports.
	if err := withFreePort(func(port int) error {
		ports := [4]int{port}
		for i := 1; i < len(ports); i++ {
			var err error
			if ports[i], err = freePort(); err != nil {
				return err
			}
		}
		p.HTTPPort, p.TLSPort = ports[2], ports[3]
		if opts.HTTPPort != 0 {
			p.HTTPPort = opts.HTTPPort
		}
		p.DirectoryURL = "https://127.0.0.1:" + strconv.Itoa(ports[0]) + "/dir"
		p.ManagementURL = "https://127.0.0.1:" + strconv.Itoa(ports[1])
		cfg := map[string]any{"pebble": map[string]any{
			"listenAddress":                  "127.0.0.1:" + strconv.Itoa(ports[0]),
			"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(ports[1]),
			"certificate":                    filepath.Join(base, "listener.pem"),
			"privateKey":                     filepath.Join(base, "listener-key.pem"),
			"httpPort":                       p.HTTPPort,
			"tlsPort":                        p.TLSPort,
			"ocspResponderURL":               "",
			"externalAccountBindingRequired": false,
			"domainBlocklist":                append([]string{}, opts.BlockedDomains...),
		}}
		raw, _ := json.MarshalIndent(cfg, "", "  ")
		if err := os.WriteFile(filepath.Join(base, "pebble.json"), raw, 0o600); err != nil {
			return fmt.Errorf("write Pebble configuration: %w", err)
		}
		return p.launch(ctx, bin)
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// launch starts pebble and waits until its directory answers.
func (p *Pebble) launch(ctx context.Context, bin string) error {
	// startProcess sets the child's environment, so the PEBBLE_ settings go through env(1),
	// which execs pebble in the same process (keeping the parent-death signal).
	args := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}
	if p.AlwaysValid {
		args = append(args, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	args = append(args, bin, "-config", filepath.Join(p.srv.dir, "pebble.json"), "-dnsserver", "127.0.0.1:1")
	envBin, err := exec.LookPath("env")
	if err != nil {
		return fmt.Errorf("env(1) not found: %w", err)
	}
	return p.srv.launch(ctx, attempt{
		name:      "pebble",
		addr:      p.DirectoryURL,
		cmd:       exec.Command(envBin, args...),
		log:       p.LogFile,
		portTaken: "address already in use",
		ready:     p.ready,
	})
}

// writeListenerCert makes a throwaway CA and a certificate it signs for 127.0.0.1 and
// localhost, writes them (and the key) into dir for Pebble's listener, and returns a pool
// holding the CA.
func writeListenerCert(dir string) (*x509.CertPool, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rotor testenv Pebble listener CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"listener-ca.pem":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"listener.pem":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"listener-key.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, nil
}

// PebbleVersion is the Pebble the tests run, pinned: the ACME tests rely on its renewal
// information (ARI, RFC 9773), which Debian's Pebble (2.4.0) does not offer, so that one is
// not used. It is installed with
// go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1 (scripts/test.sh does).
const PebbleVersion = "2.10.1"

// findPebble returns the pebble executable: env (the value of $ROTOR_TEST_PEBBLE_BIN) if
// set, used as it is; else the pebble in PATH or $(go env GOPATH)/bin whose build
// information says it is Pebble vPebbleVersion. Another pebble (Debian's 2.4.0 in
// /usr/bin) is an error, not a fallback: the ARI tests would fail on it.
func findPebble(env string) (string, error) {
	var paths []string
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			paths = append(paths, filepath.Join(dir, "bin", "pebble"))
		}
	}
	install := "go install github.com/letsencrypt/pebble/v2/cmd/pebble@v" + PebbleVersion
	if env == "" {
		candidates := paths
		if path, err := exec.LookPath("pebble"); err == nil {
			candidates = append([]string{path}, paths...)
		}
		for _, c := range candidates {
			if pinnedPebble(c) == "" {
				return c, nil
			}
		}
	}
	path, err := executable{
		name:   "pebble",
		envVar: EnvPebbleBin,
		noun:   "a pebble binary",
		paths:  paths,
		where:  "PATH or $(go env GOPATH)/bin",
		needs:  "an ACME server",
		hints:  []string{"run scripts/test.sh, which installs it, or: " + install + " (about 90 s cold)"},
	}.find(env)
	if err != nil || env != "" {
		return path, err
	}
	return "", fmt.Errorf("%s is %s, not Pebble v%s: tests that need an ACME server with renewal information (ARI) cannot run\nhint: run scripts/test.sh, which installs it, or: %s",
		path, pinnedPebble(path), PebbleVersion, install)
}

// pinnedPebble returns "" when the executable at path is Pebble vPebbleVersion, else what it
// is. The Go build information names the module and its version (pebble -version says "dev").
func pinnedPebble(path string) string {
	if !isExecutable(path) {
		return "not an executable file"
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return "a program without Go build information"
	}
	if info.Main.Path == "github.com/letsencrypt/pebble/v2" && info.Main.Version == "v"+PebbleVersion {
		return ""
	}
	return strings.TrimSpace(info.Main.Path + " " + info.Main.Version)
}
