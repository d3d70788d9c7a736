package scan_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/scan"
	"github.com/rotorhq/rotor/internal/scan/scantest"
)

func target(t *testing.T, addr, sni string) scan.Target {
	t.Helper()
	ts, err := scan.ParseSpec(addr)
	if err != nil || len(ts) != 1 {
		t.Fatalf("ParseSpec(%q) = %v, %v", addr, ts, err)
	}
	ts[0].ServerName = sni
	return ts[0]
}

func TestScanVerdicts(t *testing.T) {
	ca := scantest.NewCA(t, "test root")
	ca.Intermediate(t)
	other := scantest.NewCA(t, "other root")
	good := ca.Issue(t, scantest.Leaf{DNS: []string{"a.test"}})
	expired := ca.Issue(t, scantest.Leaf{DNS: []string{"a.test"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24*time.Hour - time.Minute)})
	self := ca.Issue(t, scantest.Leaf{DNS: []string{"a.test"}, SelfSigned: true})
	foreign := other.Issue(t, scantest.Leaf{DNS: []string{"a.test"}})
	ipLeaf := ca.Issue(t, scantest.Leaf{IPs: []net.IP{net.ParseIP("127.0.0.1")}})

	cases := []struct {
		name, sni, reason string
		cert              tls.Certificate
		verified          bool
	}{
		{"good", "a.test", "", good, true},
		{"name mismatch", "b.test", scan.ReasonNameMismatch, good, false},
		{"expired", "a.test", scan.ReasonExpired, expired, false},
		{"self-signed", "a.test", scan.ReasonSelfSigned, self, false},
		{"unknown authority", "a.test", scan.ReasonUnknownAuthority, foreign, false},
		{"ip san, default sni", "", "", ipLeaf, true},
	}
	s := scan.New(scan.Options{Roots: ca.Pool(), Timeout: 2 * time.Second})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := scantest.Serve(t, c.cert)
			r := s.ScanOne(context.Background(), target(t, srv.Addr, c.sni))
			if !r.Answered() {
				t.Fatalf("no answer: %s %s", r.Failure, r.Error)
			}
			leaf := c.cert.Leaf
			if r.Ref != pki.Ref(leaf) || r.Serial != pki.Serial(leaf) {
				t.Errorf("ref %s serial %s, want %s %s", r.Ref, r.Serial, pki.Ref(leaf), pki.Serial(leaf))
			}
			if r.Verified != c.verified || r.VerifyReason != c.reason {
				t.Errorf("verified %v reason %q (%s), want %v %q", r.Verified, r.VerifyReason, r.VerifyError, c.verified, c.reason)
			}
			if !r.NotAfter.Equal(leaf.NotAfter.UTC()) {
				t.Errorf("not after %v, want %v", r.NotAfter, leaf.NotAfter)
			}
		})
	}
}

func TestScanFieldsAndDays(t *testing.T) {
	ca := scantest.NewCA(t, "test root")
	ca.Intermediate(t)
	now := time.Now()
	cert := ca.Issue(t, scantest.Leaf{DNS: []string{"a.test", "www.a.test"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, NotAfter: now.Add(10*24*time.Hour + time.Hour)})
	srv := scantest.Serve(t, cert)
	s := scan.New(scan.Options{Roots: ca.Pool(), Now: func() time.Time { return now }})
	r := s.ScanOne(context.Background(), target(t, srv.Addr, "a.test"))
	if !r.Verified {
		t.Fatalf("not verified: %s", r.VerifyError)
	}
	if r.DaysLeft != 10 {
		t.Errorf("days left %d, want 10", r.DaysLeft)
	}
	if strings.Join(r.SANs, ",") != "a.test,www.a.test,127.0.0.1" {
		t.Errorf("SANs %v", r.SANs)
	}
	if r.Subject != "CN=a.test" || !strings.Contains(r.Issuer, "intermediate") || r.ChainLen != 2 {
		t.Errorf("subject %q issuer %q chain %d", r.Subject, r.Issuer, r.ChainLen)
	}
	if r.ServerName != "a.test" || r.Target != srv.Addr {
		t.Errorf("target %q sni %q", r.Target, r.ServerName)
	}
	// Expired a day and an hour ago: -2 (rounded down, like a countdown that went past 0).
	s2 := scan.New(scan.Options{Roots: ca.Pool(), Now: func() time.Time { return now.Add(12 * 24 * time.Hour) }})
	r = s2.ScanOne(context.Background(), target(t, srv.Addr, "a.test"))
	if r.DaysLeft != -2 || r.VerifyReason != scan.ReasonExpired {
		t.Errorf("days left %d reason %q, want -2 expired", r.DaysLeft, r.VerifyReason)
	}
}

func TestScanFailures(t *testing.T) {
	garbage := scantest.Garbage(t)
	silent := scantest.Silent(t)
	closed := scantest.Closed(t)
	s := scan.New(scan.Options{Timeout: 300 * time.Millisecond})
	start := time.Now()
	rs := s.Scan(context.Background(), []scan.Target{target(t, garbage, ""), target(t, silent, ""), target(t, closed, "")})
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("scan took %v: a silent endpoint must cost one timeout", el)
	}
	want := []string{scan.FailNoTLS, scan.FailTimeout, scan.FailRefused}
	for i, r := range rs {
		if r.Failure != want[i] || r.Answered() || r.Error == "" || r.Ref != "" {
			t.Errorf("%s: failure %q %q, want %q", r.Target, r.Failure, r.Error, want[i])
		}
	}
}

func TestScanCancelled(t *testing.T) {
	silent := scantest.Silent(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := scan.New(scan.Options{}).ScanOne(ctx, target(t, silent, ""))
	if r.Failure != scan.FailCancelled {
		t.Fatalf("failure %q, want cancelled", r.Failure)
	}
}

func TestScanManyInOrder(t *testing.T) {
	ca := scantest.NewCA(t, "test root")
	var targets []scan.Target
	var refs []string
	for range 40 {
		c := ca.Issue(t, scantest.Leaf{IPs: []net.IP{net.ParseIP("127.0.0.1")}})
		srv := scantest.Serve(t, c)
		targets = append(targets, target(t, srv.Addr, ""))
		refs = append(refs, scantest.Ref(c))
		targets = append(targets, target(t, scantest.Closed(t), ""))
		refs = append(refs, "")
	}
	rs := scan.New(scan.Options{Roots: ca.Pool(), Concurrency: 7}).Scan(context.Background(), targets)
	if len(rs) != len(targets) {
		t.Fatalf("%d results for %d targets", len(rs), len(targets))
	}
	for i, r := range rs {
		if r.Target != targets[i].Address() || r.Ref != refs[i] {
			t.Fatalf("result %d: %s %s, want %s %s", i, r.Target, r.Ref, targets[i].Address(), refs[i])
		}
		if refs[i] != "" && !r.Verified {
			t.Errorf("%s: %s", r.Target, r.VerifyError)
		}
	}
}

func TestScanIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback unavailable (%v): enable IPv6 on lo (sysctl net.ipv6.conf.lo.disable_ipv6=0) to run this test", err)
	}
	ln.Close()
	ca := scantest.NewCA(t, "test root")
	c := ca.Issue(t, scantest.Leaf{IPs: []net.IP{net.IPv6loopback}})
	srv := scantest.ServeOn(t, "[::1]:0", c)
	if !strings.HasPrefix(srv.Addr, "[::1]:") {
		t.Fatalf("addr %s", srv.Addr)
	}
	r := scan.New(scan.Options{Roots: ca.Pool()}).ScanOne(context.Background(), target(t, srv.Addr, ""))
	if !r.Verified || r.Ref != scantest.Ref(c) || r.ServerName != "::1" {
		t.Fatalf("%+v", r)
	}
}

func TestParseTargets(t *testing.T) {
	files := map[string]string{
		"t.txt": "# endpoints\n127.0.0.1:443\n\n  [::1]:8440-8441  # v6\nexample.test:8443\n",
		"bad":   "127.0.0.1:443\nnoport\n",
	}
	read := func(n string) ([]byte, error) {
		s, ok := files[n]
		if !ok {
			return nil, errNotFound
		}
		return []byte(s), nil
	}
	ts, err := scan.ParseTargets([]string{"a.test:1-3", "@t.txt"}, read)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range ts {
		got = append(got, x.Address())
	}
	want := "a.test:1 a.test:2 a.test:3 127.0.0.1:443 [::1]:8440 [::1]:8441 example.test:8443"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %s\nwant %s", strings.Join(got, " "), want)
	}
	if !ts[0].FromRange || ts[3].FromRange || ts[3].Source != "t.txt:2" || ts[4].Host != "::1" {
		t.Errorf("targets %+v", ts)
	}

	bad := []struct{ spec, msg string }{
		{"127.0.0.1", "missing port"},
		{"127.0.0.1:", "missing port"},
		{"127.0.0.1:8450-8440", "ends before it starts (write 8440-8450)"},
		{"127.0.0.1:0", "out of range 1-65535"},
		{"127.0.0.1:70000", "out of range"},
		{"127.0.0.1:80-", "missing port number"},
		{"127.0.0.1:http", `port "http" is not a number`},
		{"::1:443", "needs brackets"},
		{"[::1:443", "missing ]"},
		{"[::1]", "missing port"},
		{"[a.test]:443", "not an IPv6 address"},
		{":443", "missing host"},
		{"@nofile", "cannot read the targets file"},
		{"@bad", "bad:2:"},
	}
	for _, b := range bad {
		_, err := scan.ParseTargets([]string{b.spec}, read)
		if err == nil || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("%q: error %v, want it to say %q", b.spec, err, b.msg)
		}
	}
	// Every problem at once.
	_, err = scan.ParseTargets([]string{"x", "y:1", "z:0"}, read)
	if err == nil || !strings.Contains(err.Error(), "2 bad targets") || !strings.Contains(err.Error(), "argument 3") {
		t.Errorf("error %v", err)
	}
}

var errNotFound = errors.New("no such file")
