package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rotorhq/rotor/internal/impact"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/schedule"
)

// providers are the built providers of one credential. Any that could not be built is nil
// and its error is in missing: readiness reports them; nothing else runs.
type providers struct {
	store     provider.Store
	authority provider.Authority
	reloads   map[string]provider.Reloader // by consumer
	checks    map[string]provider.Checker  // by check id
	missing   []string
	// notBuilt names the provider types among missing that this build declares but does not
	// implement: no change to the inventory or to access makes those run.
	notBuilt []string
}

// fail records a provider that could not be built, and whether it is a type not built yet.
func (p *providers) fail(what string, err error) {
	p.missing = append(p.missing, what+": "+err.Error())
	var ni *provider.ErrNotImplemented
	if errors.As(err, &ni) {
		p.notBuilt = append(p.notBuilt, fmt.Sprintf("%s %q", ni.Kind, ni.Type))
	}
}

func (e *Engine) build(c *inventory.Credential, shared *provider.Shared) *providers {
	p := &providers{reloads: map[string]provider.Reloader{}, checks: map[string]provider.Checker{}}
	env := e.providerEnv()
	env.Shared = shared
	var err error
	storeEnv, authEnv := env, env
	storeEnv.Executor, _ = e.identity(c.Store.Identity)
	authEnv.Executor, _ = e.identity(c.Authority.Identity)
	if p.store, err = e.Registry.Store(c.Store.Type, c.Store.Config, storeEnv); err != nil {
		p.fail("store", err)
	}
	if p.authority, err = e.Registry.Authority(c.Authority.Type, c.Authority.Config, authEnv); err != nil {
		p.fail("authority", err)
	}
	addCheck := func(id string) {
		if _, done := p.checks[id]; done {
			return
		}
		ch, ok := e.Inv.Check(id)
		if !ok {
			p.missing = append(p.missing, "check "+id+": not in the inventory")
			return
		}
		chk, err := e.Registry.Checker(ch.Type, ch.Config, env)
		if err != nil {
			p.fail("check "+id, err)
			return
		}
		p.checks[id] = withTimeout(chk, ch.Timeout.Duration)
	}
	for _, id := range c.Checks {
		addCheck(id)
	}
	for _, k := range c.Consumers {
		for _, id := range k.Checks {
			addCheck(id)
		}
		if k.Reload != nil {
			r, err := e.Registry.Reloader(k.Reload.Type, k.Reload.Config, env)
			if err != nil {
				p.fail("consumer "+k.ID+" reload", err)
				continue
			}
			p.reloads[k.ID] = withReloadTimeout(r, k.Reload.Timeout.Duration)
		}
	}
	return p
}

func (e *Engine) providerEnv() provider.Env {
	return provider.Env{Now: e.Clock, Rand: e.Rand, Getenv: e.Getenv, Log: e.Log,
		Fingerprint: e.Fingerprinter.Fingerprint, BaseDir: e.BaseDir, Identity: e.identity,
		ReadCredential: e.readCredential}
}

// readCredential reads another credential's current value from its store as its executor
// (provider.Env.ReadCredential).
func (e *Engine) readCredential(ctx context.Context, id string) (provider.ReadResponse, error) {
	c, ok := e.Inv.Credential(id)
	if !ok {
		return provider.ReadResponse{}, fmt.Errorf("credential %q is not in the inventory", id)
	}
	env := e.providerEnv()
	env.ReadCredential = nil // one level: a CA's store does not read further credentials
	as, _ := e.identity(c.Store.Identity)
	env.Executor = as
	st, err := e.Registry.Store(c.Store.Type, c.Store.Config, env)
	if err != nil {
		return provider.ReadResponse{}, fmt.Errorf("credential %s: store: %w", id, err)
	}
	r, err := st.Read(ctx, provider.ReadRequest{Credential: id, As: as})
	if err != nil {
		return provider.ReadResponse{}, fmt.Errorf("credential %s: reading its current value: %w", id, err)
	}
	return r, nil
}

// specOf translates the inventory's view of a credential into rotation terms. The powers that
// change what a run does (residual use, disabling a version) come from the registry, which
// knows them from the providers' types: a run, `rotor status` and the metrics judge a run
// alike without any of them building a provider.
func specOf(inv *inventory.Inventory, reg *provider.Registry, c *inventory.Credential) rotation.Spec {
	s := rotation.Spec{
		Strategy: c.Authority.Strategy, Critical: c.Critical, Approvers: impact.Approvers(inv, c), Soak: c.Soak.Duration,
		Windows: map[rotation.Stage]*schedule.Window{}, Freezes: inv.ScheduleFreezes(), Signals: c.Checks,
	}
	for stage, id := range map[rotation.Stage]string{rotation.StagePrepare: c.Windows.Prepare, rotation.StageCutover: c.Windows.Cutover,
		rotation.StageVerify: c.Windows.Verify, rotation.StageRevoke: c.Windows.Revoke} {
		if w, ok := inv.Window(id); ok {
			sw := w.Schedule
			s.Windows[stage] = &sw
		}
	}
	s.Usage, s.DeleteAfter = usageSources(inv, reg, c), c.DeleteAfter.After
	s.Toggle = reg.Capabilities(provider.KindStore, c.Store.Type).Has(provider.CanToggle)
	s.Reseal = reg.Capabilities(provider.KindStore, c.Store.Type).Has(provider.CanReseal)
	s.Readers = readersOf(inv, c)
	if t, ok := c.Authority.Config.(provider.SessionEnder); ok {
		s.EndSessions = t.EndsSessions()
	}
	for _, k := range c.Consumers {
		t := impact.ProofTiming(k)
		cs := rotation.ConsumerSpec{ID: k.ID, HasIdentity: k.Identity != "", HasReload: k.Reload != nil,
			Accepts: k.Accepts, Checks: k.Checks, Delayed: t.Delayed, SignOffOnly: t.SignOffOnly, Why: t.Why}
		if cs.Delayed {
			cs.ProofAt = t.ProofAt
		}
		s.Consumers = append(s.Consumers, cs)
	}
	return s
}

// identity resolves an inventory identity for a provider request.
func (e *Engine) identity(id string) (provider.Identity, bool) {
	i, ok := e.Inv.Identity(id)
	if !ok {
		return provider.Identity{}, false
	}
	return provider.Identity{ID: i.ID, Type: i.Type, Config: i.Config}, true
}

// readers are every identity that must read a new version: the executor and each consumer.
func (e *Engine) readers(c *inventory.Credential) []provider.Identity {
	var out []provider.Identity
	for _, id := range readerIDs(c) {
		if i, ok := e.identity(id); ok {
			out = append(out, i)
		}
	}
	return out
}

// readerIDs are the ids of the identities that must read a new version, once each, the
// executor first.
func readerIDs(c *inventory.Credential) []string {
	var out []string
	seen := map[string]bool{}
	for _, id := range append([]string{c.Store.Identity}, consumerIdentities(c)...) {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func consumerIdentities(c *inventory.Credential) []string {
	out := make([]string, 0, len(c.Consumers))
	for _, k := range c.Consumers {
		out = append(out, k.Identity)
	}
	return out
}

// readersOf names the readers a new version of c is written for, as the inventory declares
// them now (rotation.Spec.Readers): a digest of each reader's id, type and config — public
// keys, file names, never a secret — so that it changes when one of them does (a consumer's
// recipient replaced), and a pending version written for the old readers is written again.
func readersOf(inv *inventory.Inventory, c *inventory.Credential) string {
	h := sha256.New()
	for _, id := range readerIDs(c) {
		i, ok := inv.Identity(id)
		if !ok {
			fmt.Fprintf(h, "%s\x00missing\x00", id)
			continue
		}
		cfg, _ := json.Marshal(i.Config)
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", i.ID, i.Type, cfg)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
