package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/rotorhq/rotor/internal/rotation"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/plan"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/state"
)

// RenewalTimeout bounds one question to an authority about its renewal advice: the plan (and
// rotate's "is it due?") must answer even when the CA is down or slow.
const RenewalTimeout = 5 * time.Second

// RunLister reads a credential's runs, newest first: the engine's state store, or the
// read-only database rotor plan opens.
type RunLister interface {
	Runs(ctx context.Context, f state.RunFilter) ([]state.RunRecord, error)
}

// AdviseRenewal asks the authority of c when it suggests renewing the current version
// (provider.RenewalAdvisor: ACME Renewal Information) and fills h.Renewal, or h.RenewalNote
// when it cannot say. It asks only when the current version is known (h.Version) and the
// authority is an advisor; the version's name at the authority (its AuthorityRef) comes from
// the run that made it. Asking is a read. It never fails: an error or no advice leaves no
// window, and the note says why.
func AdviseRenewal(ctx context.Context, reg *provider.Registry, env provider.Env, runs RunLister, c *inventory.Credential, h *plan.History) {
	if h.Version == "" || reg == nil {
		return
	}
	a, err := reg.Authority(c.Authority.Type, c.Authority.Config, env)
	if err != nil {
		return // rotor validate and readiness report an authority that cannot be built
	}
	adv, ok := a.(provider.RenewalAdvisor)
	if !ok {
		return
	}
	v, err := currentVersion(ctx, runs, c.ID, h.Version)
	if err != nil {
		h.RenewalNote = "renewal information unavailable: " + err.Error()
		return
	}
	ctx, cancel := context.WithTimeout(ctx, RenewalTimeout)
	defer cancel()
	resp, err := adv.RenewalWindow(ctx, provider.RenewalWindowRequest{Credential: c.ID, Version: v})
	switch {
	case err != nil:
		h.RenewalNote = "renewal information unavailable: " + err.Error()
	case !resp.Advised:
		h.RenewalNote = "CA offers no renewal information"
		if resp.Detail != "" {
			h.RenewalNote += " (" + resp.Detail + ")"
		}
	default:
		h.Renewal = &plan.RenewalWindow{Start: resp.Start, End: resp.End, Source: resp.Source, Explanation: resp.ExplanationURL}
	}
}

// currentVersion is the version id as the run that made it recorded it (with its
// AuthorityRef): the state keeps only the id.
func currentVersion(ctx context.Context, runs RunLister, credential, id string) (provider.Version, error) {
	recs, err := runs.Runs(ctx, state.RunFilter{Credential: credential, Limit: 8})
	if err != nil {
		return provider.Version{}, fmt.Errorf("reading the runs of %s: %w", credential, err)
	}
	for _, rec := range recs { // newest first: the run that made the current version
		if r, err := rotation.DecodeRun(rec.ID, rec.Data); err == nil && r.New != nil && r.New.ID == id {
			return *r.New, nil
		}
	}
	return provider.Version{}, fmt.Errorf("no recent run of rotor made the current version %s, so its name at the authority is unknown", id)
}

// adviseRenewal fills the renewal advice of the credential's history for dueEntry.
func (e *Engine) adviseRenewal(ctx context.Context, c *inventory.Credential, h *plan.History) {
	AdviseRenewal(ctx, e.Registry, e.providerEnv(), e.State, c, h)
}
