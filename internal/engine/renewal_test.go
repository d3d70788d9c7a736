package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/authority/acme"
	"github.com/rotorhq/rotor/internal/authority/randomvalue"
	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/plan"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/testenv"
)

// runs is the runs of one credential as AdviseRenewal reads them: newest first.
type runs []state.RunRecord

func (r runs) Runs(_ context.Context, f state.RunFilter) ([]state.RunRecord, error) {
	var out []state.RunRecord
	for _, rec := range r {
		if f.Credential == "" || rec.Credential == f.Credential {
			out = append(out, rec)
		}
	}
	return out, nil
}

func runMaking(t *testing.T, cred string, v provider.Version) state.RunRecord {
	t.Helper()
	b, err := json.Marshal(map[string]any{"id": "run-1", "credential": cred, "new": v})
	if err != nil {
		t.Fatal(err)
	}
	return state.RunRecord{ID: "run-1", Credential: cred, Data: b}
}

// AdviseRenewal against a real Pebble with ARI fills the CA's window; against a CA that
// accepts connections and never answers it gives up within RenewalTimeout and notes why; a
// version no run recorded is noted; an authority that gives no advice is not asked.
func TestAdviseRenewal(t *testing.T) {
	p := testenv.StartPebble(t)
	env := provider.Env{Rand: rand.Reader, Now: time.Now, BaseDir: t.TempDir()}
	cfg := acme.Config{Directory: p.DirectoryURL, CABundle: p.CAFile, Email: "ops@example.test", Domains: []string{"ari.example.test"},
		HTTP01Address: "127.0.0.1:0", AccountDir: filepath.Join(t.TempDir(), "acme"), Timeout: 30 * time.Second}
	a, err := acme.New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.Mint(context.Background(), provider.MintRequest{Credential: "web", RunID: "run-1", Strategy: acme.Overlap})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	m.Value.Wipe()
	v := provider.Version{ID: "v1", AuthorityRef: m.AuthorityRef, Expires: m.Expires}
	cred := &inventory.Credential{ID: "web", Authority: inventory.Authority{Type: "acme", Config: &cfg}}
	cat := testRegistry()

	h := plan.History{Version: "v1"}
	engine.AdviseRenewal(context.Background(), cat, env, runs{runMaking(t, "web", v)}, cred, &h)
	if h.Renewal == nil || h.Renewal.Source != "ARI" || !h.Renewal.Start.Before(h.Renewal.End) || h.Renewal.End.After(m.Expires) || h.RenewalNote != "" {
		t.Fatalf("with Pebble: window %+v, note %q", h.Renewal, h.RenewalNote)
	}

	h = plan.History{Version: "v2"}
	engine.AdviseRenewal(context.Background(), cat, env, runs{runMaking(t, "web", v)}, cred, &h)
	if h.Renewal != nil || !strings.Contains(h.RenewalNote, "renewal information unavailable: no recent run of rotor made the current version v2") {
		t.Errorf("a version no run made: window %+v, note %q", h.Renewal, h.RenewalNote)
	}

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				close(held)
				return
			}
			held <- c // kept open, never answered, until the test ends
		}
	}()
	defer func() {
		silent.Close()
		for c := range held {
			c.Close()
		}
	}()
	slow := cfg
	slow.Directory = "https://" + silent.Addr().String() + "/dir"
	cred = &inventory.Credential{ID: "web", Authority: inventory.Authority{Type: "acme", Config: &slow}}
	h = plan.History{Version: "v1"}
	began := time.Now()
	engine.AdviseRenewal(context.Background(), cat, env, runs{runMaking(t, "web", v)}, cred, &h)
	if took := time.Since(began); took > engine.RenewalTimeout+2*time.Second {
		t.Errorf("a CA that never answers held the plan for %s", took)
	}
	if h.Renewal != nil || !strings.HasPrefix(h.RenewalNote, "renewal information unavailable: ") || !strings.Contains(strings.ToLower(h.RenewalNote), "timeout") {
		t.Errorf("a CA that never answers: window %+v, note %q", h.Renewal, h.RenewalNote)
	}
	t.Logf("silent CA (%s): %s", time.Since(began).Round(time.Millisecond), h.RenewalNote)

	gen := &inventory.Credential{ID: "web", Authority: inventory.Authority{Type: "generated", Config: &randomvalue.Config{}}}
	h = plan.History{Version: "v1"}
	engine.AdviseRenewal(context.Background(), cat, env, runs{runMaking(t, "web", v)}, gen, &h)
	if h.Renewal != nil || h.RenewalNote != "" {
		t.Errorf("an authority that gives no advice: window %+v, note %q", h.Renewal, h.RenewalNote)
	}
}
