package tls

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/scan/scantest"
)

func versions(cur, prev string) (provider.Version, *provider.Version) {
	return provider.Version{ID: "v2", AuthorityRef: cur, Stage: provider.StageCurrent},
		&provider.Version{ID: "v1", AuthorityRef: prev, Stage: provider.StagePrevious}
}

func check(t *testing.T, cfg Config, req provider.CheckRequest) provider.CheckResult {
	t.Helper()
	c, err := New(&cfg, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	res, err := c.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.At.IsZero() || res.Query == "" {
		t.Errorf("result without time or query: %+v", res)
	}
	return res
}

func TestCheckVerdicts(t *testing.T) {
	dir := t.TempDir()
	ca := scantest.NewCA(t, "test root")
	ca.Intermediate(t)
	caFile := ca.WriteRoot(t, dir)
	prev := ca.Issue(t, scantest.Leaf{DNS: []string{"a.test", "b.test"}})
	cur := ca.Issue(t, scantest.Leaf{DNS: []string{"a.test", "b.test"}})
	stray := ca.Issue(t, scantest.Leaf{DNS: []string{"a.test", "b.test"}})
	expired := ca.Issue(t, scantest.Leaf{DNS: []string{"a.test"}, NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	self := ca.Issue(t, scantest.Leaf{DNS: []string{"a.test"}, SelfSigned: true})
	short := ca.Issue(t, scantest.Leaf{DNS: []string{"a.test"}, NotAfter: time.Now().Add(5*24*time.Hour + time.Hour)})

	sCur1 := scantest.Serve(t, cur)
	sCur2 := scantest.Serve(t, cur)
	sPrev := scantest.Serve(t, prev)
	sStray := scantest.Serve(t, stray)
	sExpired := scantest.Serve(t, expired)
	sSelf := scantest.Serve(t, self)
	sShort := scantest.Serve(t, short)
	garbage := scantest.Garbage(t)
	closed := scantest.Closed(t)

	curV, prevV := versions(scantest.Ref(cur), scantest.Ref(prev))
	req := provider.CheckRequest{Check: "served", Credential: "web-cert", Current: curV, Previous: prevV}

	cases := []struct {
		name    string
		cfg     Config
		req     provider.CheckRequest
		verdict provider.Verdict
		reason  string
		msg     []string
	}{
		{"all current", Config{Addresses: []string{sCur1.Addr, sCur2.Addr}, ServerName: "a.test", CAFile: caFile}, req, provider.Pass, "serves the current certificate",
			[]string{sCur1.Addr + " (SNI a.test), " + sCur2.Addr + " (SNI a.test) serve the current version (serial " + pki.Serial(cur.Leaf), "chain verified", "days to expiry"}},
		{"one still previous", Config{Addresses: []string{sCur1.Addr, sPrev.Addr}, ServerName: "b.test", CAFile: caFile}, req, provider.Fail, sPrev.Addr + " (SNI b.test) still serves the previous certificate",
			[]string{sPrev.Addr + " (SNI b.test) still serves the previous certificate (serial " + pki.Serial(prev.Leaf), "not the current version (serial " + pki.Serial(cur.Leaf)}},
		{"another certificate", Config{Address: sStray.Addr, ServerName: "a.test", CAFile: caFile}, req, provider.Fail, sStray.Addr + " (SNI a.test) serves another certificate",
			[]string{sStray.Addr + " (SNI a.test) serves serial " + pki.Serial(stray.Leaf) + " sha256:", "— not the current version (sha256:"}},
		{"expect previous after rollback", Config{Address: sPrev.Addr, ServerName: "a.test", CAFile: caFile, Expect: "previous"}, req, provider.Pass, "serves the previous certificate", nil},
		{"expect previous, serves current", Config{Address: sCur1.Addr, ServerName: "a.test", CAFile: caFile, Expect: "previous"}, req, provider.Fail, sCur1.Addr + " (SNI a.test) still serves the current certificate",
			[]string{"still serves the current certificate"}},
		{"system trust bundle does not know the test CA", Config{Address: sCur1.Addr, ServerName: "a.test"}, req, provider.Fail, "served certificate not acceptable",
			[]string{"chain does not verify: unknown authority"}},
		{"name mismatch", Config{Address: sCur1.Addr, ServerName: "c.test", CAFile: caFile}, req, provider.Fail, "served certificate not acceptable", []string{"name mismatch"}},
		{"unreachable is unknown", Config{Addresses: []string{sCur1.Addr, closed}, ServerName: "a.test", CAFile: caFile}, req, provider.Unknown, "endpoint unreachable",
			[]string{closed + " (SNI a.test): connection refused", "1 of 2 endpoints serve the current version"}},
		{"no tls is unknown", Config{Address: garbage, CAFile: caFile}, req, provider.Unknown, "endpoint unreachable", []string{"does not speak TLS"}},
		{"warn_days", Config{Address: sShort.Addr, ServerName: "a.test", CAFile: caFile, WarnDays: 14}, withCurrent(req, scantest.Ref(short)), provider.Fail, "served certificate not acceptable",
			[]string{"expires in 5 days", "under warn_days 14"}},
		{"warn_days met", Config{Address: sShort.Addr, ServerName: "a.test", CAFile: caFile, WarnDays: 3}, withCurrent(req, scantest.Ref(short)), provider.Pass, "serves the current certificate", []string{"5 days to expiry"}},
		{"expired chain", Config{Address: sExpired.Addr, ServerName: "a.test", CAFile: caFile}, withCurrent(req, scantest.Ref(expired)), provider.Fail, "served certificate not acceptable", []string{"chain does not verify: expired", "expired since "}},
		{"self-signed", Config{Address: sSelf.Addr, ServerName: "a.test", CAFile: caFile}, withCurrent(req, scantest.Ref(self)), provider.Fail, "served certificate not acceptable", []string{"self-signed"}},
		{"no authority ref", Config{Address: sCur1.Addr, CAFile: caFile}, provider.CheckRequest{Current: provider.Version{ID: "v9"}}, provider.Unknown, "no certificate reference", []string{"not a certificate authority"}},
		{"expect previous without one", Config{Address: sCur1.Addr, CAFile: caFile, Expect: "previous"}, provider.CheckRequest{Current: curV}, provider.Unknown, "no previous version", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := check(t, c.cfg, c.req)
			t.Logf("%s %s: %s", res.Verdict, res.Reason, res.Message)
			if res.Verdict != c.verdict || res.Reason != c.reason {
				t.Fatalf("got %s %q: %s\nwant %s %q", res.Verdict, res.Reason, res.Message, c.verdict, c.reason)
			}
			for _, m := range c.msg {
				if !strings.Contains(res.Message, m) {
					t.Errorf("message %q\nlacks %q", res.Message, m)
				}
			}
			if c.verdict != provider.Unknown && !strings.Contains(res.Observed, "sha256:") {
				t.Errorf("observed %q lacks the served ref", res.Observed)
			}
		})
	}
}

func withCurrent(req provider.CheckRequest, ref string) provider.CheckRequest {
	req.Current.AuthorityRef = ref
	return req
}

func TestCheckSilentEndpointIsBounded(t *testing.T) {
	silent := scantest.Silent(t)
	c, err := New(&Config{Address: silent}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := c.Check(ctx, provider.CheckRequest{Current: provider.Version{ID: "v1", AuthorityRef: "sha256:00"}})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 2*time.Second || res.Verdict != provider.Unknown || !strings.Contains(res.Message, "no TLS handshake within") {
		t.Fatalf("%v after %v: %s", res.Verdict, time.Since(start), res.Message)
	}
}

func TestUsage(t *testing.T) {
	ca := scantest.NewCA(t, "test root")
	prev := ca.Issue(t, scantest.Leaf{DNS: []string{"a.test"}})
	cur := ca.Issue(t, scantest.Leaf{DNS: []string{"a.test"}})
	s1, s2 := scantest.Serve(t, cur), scantest.Serve(t, prev)
	c, err := New(&Config{Addresses: []string{s1.Addr, s2.Addr}}, provider.Env{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.Usage(context.Background(), provider.UsageRequest{Credential: "web", Version: provider.Version{ID: "v1", AuthorityRef: scantest.Ref(prev)}})
	if err != nil {
		t.Fatal(err)
	}
	if u.Verdict != provider.Fail || u.Count != 1 || u.Who[0] != s2.Addr {
		t.Fatalf("%+v", u)
	}
	s2.Set(cur) // reloaded
	u, _ = c.Usage(context.Background(), provider.UsageRequest{Credential: "web", Version: provider.Version{ID: "v1", AuthorityRef: scantest.Ref(prev)}})
	if u.Verdict != provider.Pass || u.Count != 0 {
		t.Fatalf("after reload: %+v", u)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		cfg    Config
		fields []string
	}{
		{Config{Address: "127.0.0.1:443"}, nil},
		{Config{Addresses: []string{"a.test:443", "[::1]:8443"}, Expect: "previous", WarnDays: 14}, nil},
		{Config{}, []string{"address"}},
		{Config{Address: "a:1", Addresses: []string{"b:2"}}, []string{"addresses"}},
		{Config{Address: "a.test"}, []string{"address"}},
		{Config{Address: "a.test:1-5"}, []string{"address"}},
		{Config{Addresses: []string{"a:1", "a:1", "b:0"}}, []string{"addresses[1]", "addresses[2]"}},
		{Config{Address: "a:1", Expect: "next", WarnDays: -1, ServerName: "https://a"}, []string{"expect", "warn_days", "server_name"}},
	}
	for _, c := range cases {
		var got []string
		for _, fe := range c.cfg.Validate() {
			got = append(got, fe.Field)
		}
		if strings.Join(got, ",") != strings.Join(c.fields, ",") {
			t.Errorf("%+v: fields %v, want %v", c.cfg, got, c.fields)
		}
	}
	if _, err := New(&Config{Address: "a:1", CAFile: filepath.Join(t.TempDir(), "none.pem")}, provider.Env{}); err == nil {
		t.Error("a missing ca_file must fail New")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o644)
	if _, err := New(&Config{Address: "a:1", CAFile: bad}, provider.Env{}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("garbage ca_file: %v", err)
	}
}
