package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EnvNginxBin is the nginx executable to run instead of the one found in PATH or /usr/sbin.
//
// There is no variable to reuse a running nginx: what a test needs is an nginx serving the
// test's own certificate files, which only exist once the test runs.
const EnvNginxBin = "ROTOR_TEST_NGINX_BIN"

// NginxVHost is one TLS virtual host: a server block selected by SNI.
type NginxVHost struct {
	ServerName string // server_name, and the SNI a client sends to reach it
	// CertFile and KeyFile are the ssl_certificate (leaf then chain) and ssl_certificate_key
	// paths, typically a pem-files store's visible names (DIR/fullchain.pem, DIR/key.pem).
	CertFile, KeyFile string
}

// NginxOptions configure a started nginx.
type NginxOptions struct {
	// VHosts are served on one port; the first is the default server (a client without SNI,
	// or with an unknown name, gets it).
	VHosts []NginxVHost
}

// Nginx is an nginx started for a test: one master in the foreground (daemon off) with one
// worker, listening with TLS on 127.0.0.1 only, with its configuration, pid file, logs and
// temp paths under Prefix. Tests reload it through PIDFile as an inventory would.
type Nginx struct {
	Binary     string
	Version    string // "1.22.1"
	Port       int
	Addr       string // 127.0.0.1:<Port>
	Prefix     string // -p; removed when it stops
	ConfigFile string // -c
	PIDFile    string // the pid directive
	ErrorLog   string // -e and error_log: nothing goes to /var/log/nginx

	srv *daemon
}

// StartNginx starts nginx (Debian's, or $ROTOR_TEST_NGINX_BIN) serving opts.VHosts on a free
// port of 127.0.0.1, waits until it answers TLS with the first vhost's certificate, and stops
// it (SIGQUIT, nginx's graceful shutdown) when the test ends. It fails the test, with a hint
// on how to install it, when nginx is missing.
//
// As root nginx starts its workers as nobody (its default user). That is enough: the master,
// which stays root, reads every certificate and key when it loads the configuration — at
// start and at each reload — and the workers inherit them; a worker never opens a key file.
// So key files of mode 0600 owned by root work, and the test proves it.
func StartNginx(t testing.TB, opts NginxOptions) *Nginx {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	n, err := startNginx(ctx, opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	stopAtEnd(t, "nginx error log", n.ErrorLog, n.Stop)
	t.Logf("testenv: nginx %s on %s started in %s", n.Version, n.Addr, time.Since(began).Round(time.Millisecond))
	return n
}

// Served returns the leaf certificate nginx serves to a client sending SNI serverName.
func (n *Nginx) Served(ctx context.Context, serverName string) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{ServerName: serverName, InsecureSkipVerify: true}} // the test compares the leaf itself
	c, err := d.DialContext(ctx, "tcp", n.Addr)
	if err != nil {
		return nil, fmt.Errorf("TLS to nginx %s for %s: %w", n.Addr, serverName, err)
	}
	defer c.Close()
	certs := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("nginx %s served no certificate for %s", n.Addr, serverName)
	}
	return certs[0], nil
}

// Stop shuts nginx down gracefully (SIGQUIT) and removes its prefix. Calling it again does
// nothing.
func (n *Nginx) Stop() error {
	return n.srv.shutdown("nginx on "+n.Addr, stopNginx)
}

func stopNginx(p *process) error {
	for _, s := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGQUIT, 10 * time.Second}, {syscall.SIGKILL, 10 * time.Second}} {
		if err := p.cmd.Process.Signal(s.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
		select {
		case <-p.done:
			if s.sig != syscall.SIGQUIT {
				return fmt.Errorf("did not stop within 10s of SIGQUIT; sent %v", s.sig)
			}
			return nil // a graceful exit; nginx's status on QUIT carries nothing more
		case <-time.After(s.wait):
		}
	}
	return errors.New("did not exit after SIGKILL")
}

var serverNamePattern = regexp.MustCompile(`^[A-Za-z0-9*][A-Za-z0-9.*-]*$`)

func startNginx(ctx context.Context, opts NginxOptions) (_ *Nginx, err error) {
	if len(opts.VHosts) == 0 {
		return nil, errors.New("StartNginx: NginxOptions.VHosts is empty")
	}
	for _, v := range opts.VHosts {
		if !serverNamePattern.MatchString(v.ServerName) || v.CertFile == "" || v.KeyFile == "" ||
			strings.ContainsAny(v.CertFile+v.KeyFile, "; \"'{}\n") {
			return nil, fmt.Errorf("StartNginx: vhost %+v: want a server name and cert/key paths without spaces, quotes or ';'", v)
		}
	}
	bin, err := findNginx(os.Getenv(EnvNginxBin))
	if err != nil {
		return nil, err
	}
	out, _ := exec.CommandContext(ctx, bin, "-v").CombinedOutput()
	base, err := os.MkdirTemp("", "rotor-nginx-")
	if err != nil {
		return nil, fmt.Errorf("create nginx prefix: %w", err)
	}
	n := &Nginx{Binary: bin, Prefix: base, ConfigFile: filepath.Join(base, "nginx.conf"),
		PIDFile: filepath.Join(base, "nginx.pid"), ErrorLog: filepath.Join(base, "error.log"), srv: &daemon{dir: base}}
	if m := regexp.MustCompile(`nginx/(\S+)`).FindSubmatch(out); m != nil {
		n.Version = string(m[1])
	}
	defer cleanUpOnError(&err, n.Stop)
	// Workers (nobody, as root) must reach the temp paths under the prefix.
	if err := os.Chmod(base, 0o755); err != nil {
		return nil, err
	}
	if err := withFreePort(func(port int) error {
		n.Port, n.Addr = port, "127.0.0.1:"+strconv.Itoa(port)
		if err := os.WriteFile(n.ConfigFile, nginxConfig(n, opts), 0o644); err != nil {
			return fmt.Errorf("write nginx configuration: %w", err)
		}
		return n.launch(ctx, opts.VHosts[0])
	}); err != nil {
		return nil, err
	}
	return n, nil
}

// nginxConfig is the configuration: every path under the prefix, TLS on one loopback port.
func nginxConfig(n *Nginx, opts NginxOptions) []byte {
	var b bytes.Buffer
	p := n.Prefix
	fmt.Fprintf(&b, "# Written by rotor's internal/testenv for one test run.\n")
	fmt.Fprintf(&b, "daemon off;\nmaster_process on;\nworker_processes 1;\npid %s;\nerror_log %s info;\n", n.PIDFile, n.ErrorLog)
	fmt.Fprintf(&b, "events { worker_connections 128; }\n")
	fmt.Fprintf(&b, "http {\n  access_log off;\n")
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "  %s_temp_path %s/%s_temp;\n", d, p, d)
	}
	for _, v := range opts.VHosts {
		fmt.Fprintf(&b, "  server {\n    listen %s ssl;\n    server_name %s;\n", n.Addr, v.ServerName)
		fmt.Fprintf(&b, "    ssl_certificate %s;\n    ssl_certificate_key %s;\n", v.CertFile, v.KeyFile)
		fmt.Fprintf(&b, "    location / { return 200 \"%s\\n\"; }\n  }\n", v.ServerName)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// launch starts nginx and waits until it serves the first vhost's certificate.
func (n *Nginx) launch(ctx context.Context, first NginxVHost) error {
	want, werr := os.ReadFile(first.CertFile)
	return n.srv.launch(ctx, attempt{
		name:      "nginx",
		addr:      n.Addr,
		cmd:       exec.Command(n.Binary, "-p", n.Prefix, "-c", n.ConfigFile, "-e", n.ErrorLog),
		log:       filepath.Join(n.Prefix, "stderr.log"),
		serverLog: n.ErrorLog,
		portTaken: "address already in use",
		ready: func(ctx context.Context) error {
			cert, err := n.Served(ctx, first.ServerName)
			if err != nil {
				return err
			}
			// The server answering is ours: it serves the certificate we configured.
			if werr == nil && bytes.Contains(want, pemBody(cert.Raw)) {
				return nil
			}
			return fmt.Errorf("%s serves a certificate (%s) that is not in %s: another server holds the port?", n.Addr, cert.Subject, first.CertFile)
		},
	})
}

// pemBody is the first line of a certificate's PEM body (the base64 of its first 48 DER
// bytes), to find the certificate in a PEM file.
func pemBody(der []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(der[:min(48, len(der))]))
}

// findNginx returns the nginx executable: env if set, else nginx in PATH, else Debian's
// /usr/sbin/nginx (sbin is not in every PATH).
func findNginx(env string) (string, error) {
	return executable{
		name:   "nginx",
		envVar: EnvNginxBin,
		noun:   "an nginx binary",
		paths:  []string{"/usr/sbin/nginx"},
		where:  "PATH or /usr/sbin",
		needs:  "nginx",
		hints: []string{
			"run scripts/test.sh, which installs it, or: apt-get install -y --no-install-recommends nginx",
			"Debian's package may start an nginx service on :80; the tests do not need it (systemctl disable --now nginx)",
		},
	}.find(env)
}
