package vaultkv_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/store/vaultkv"
	"github.com/rotorhq/rotor/internal/testenv/vaultserver"
)

// TestUsageFromAuditLog: reads of the previous version after the cutover are found in the
// file audit device's log by the HMAC of the previous value, and named by who made them;
// rotor's own reads are not counted; a log that is missing, or that is not the device's, is
// unknown.
func TestUsageFromAuditLog(t *testing.T) {
	f := newFixture(t)
	if f.srv.AuditLog == "" {
		t.Fatalf("a real server needs %s (its file audit device's log) for this test", vaultserver.EnvAuditLog)
	}
	cfg := f.cfg
	cfg.AuditLog = vaultkv.Audit{Path: f.srv.AuditLog, Device: f.srv.AuditDevice, Bin: time.Minute}
	st := f.newStore(t, cfg)
	v1 := f.put(t, "run-1", "previous-value-0123456789")
	f.promote(t, v1.ID)
	v2 := f.put(t, "run-2", "current-value-0123456789")
	since := time.Now().Add(-time.Second)
	f.promote(t, v2.ID)
	prev, err := st.Versions(ctx, provider.VersionsRequest{Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	var previous provider.Version
	for _, v := range prev.Versions {
		if v.ID == v1.ID {
			previous = v
		}
	}
	req := provider.UsageRequest{Credential: cred, Version: previous, Since: since}

	// Consumers read the current version; rotor reads the previous itself: no residual use.
	if v, _ := f.unpinned(t); v != "current-value-0123456789" {
		t.Fatal("the unpinned read is not of the current version")
	}
	u, err := st.Usage(ctx, req)
	if err != nil || u.Verdict != provider.Pass {
		t.Fatalf("Usage with no reader of the previous version = %+v, %v; want pass", u, err)
	}

	// A forgotten batch job still pinned by hand to version 1.
	legacyPolicy := vaultserver.Unique("legacy")
	f.srv.Policy(t, "", legacyPolicy, map[string][]string{f.mount + "/data/" + f.path: {"read"}})
	approle := vaultserver.Unique("approle")
	f.srv.AppRoleMount(t, "", approle)
	legacy := f.approle(t, approle, "legacy-batch", legacyPolicy)
	c := f.clientAs(t, legacy)
	for range 2 {
		s, err := c.Logical().ReadWithData(f.mount+"/data/"+f.path, map[string][]string{"version": {"1"}})
		if err != nil || s == nil {
			t.Fatalf("the legacy job's read of version 1: %v", err)
		}
	}
	u, err = st.Usage(ctx, req)
	if err != nil || u.Verdict != provider.Fail || u.Count != 2 {
		t.Fatalf("Usage with a forgotten reader = %+v, %v; want fail, 2 reads", u, err)
	}
	if len(u.Who) != 1 || !strings.Contains(u.Who[0], "legacy-batch") {
		t.Errorf("Usage names %v, want the legacy-batch role", u.Who)
	}
	if !strings.Contains(u.Detail, v1.ID) || !strings.Contains(u.Detail, "×2") {
		t.Errorf("Usage detail %q does not give the version and the count per bin", u.Detail)
	}
	if strings.Contains(u.Detail+strings.Join(u.Who, ""), "previous-value") {
		t.Error("Usage shows the value")
	}
	// Reads before the cutover are not residual use.
	u, _ = st.Usage(ctx, provider.UsageRequest{Credential: cred, Version: previous, Since: time.Now().Add(time.Hour)})
	if u.Verdict != provider.Pass {
		t.Errorf("Usage since a later instant = %+v, want pass", u)
	}

	// A missing log, and a log that is not the device's (it does not show rotor's own read).
	for name, path := range map[string]string{"missing": filepath.Join(t.TempDir(), "nope.log"), "another file": emptyFile(t)} {
		cfg.AuditLog.Path = path
		u, err := f.newStore(t, cfg).Usage(ctx, req)
		if err != nil || u.Verdict != provider.Unknown {
			t.Errorf("%s log: Usage = %+v, %v; want unknown", name, u, err)
		}
	}
}

func emptyFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(p, []byte(`{"time":"2026-01-01T00:00:00Z","type":"request"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
