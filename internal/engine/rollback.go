package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
)

// rollback makes the previous version valid again — in the store and at the authority — and
// switches back only the named consumers: pinned to the previous version, reloaded, their
// checks replayed. The new version is kept for analysis. Every effect is idempotent, so a
// rollback cut short is simply performed again.
func (rs *runState) rollback(ctx context.Context) (rotation.Outcome, []journal.Entry) {
	r, c, p := &rs.run, rs.cred, rs.p
	ex := rs.openException()
	var done []string
	if t, ok := p.store.(provider.VersionToggler); ok {
		if err := t.Enable(ctx, provider.ToggleRequest{Credential: c.ID, Version: r.Previous.ID, As: rs.executor(), RunID: r.ID}); err != nil {
			return rotation.Outcome{Err: err}, nil
		}
		done = append(done, "previous version "+r.Previous.ID+" enabled in the store")
	}
	if res, ok := p.authority.(provider.Restorer); ok {
		req := provider.RestoreRequest{Credential: c.ID, RunID: r.ID, Strategy: r.Strategy, Version: *r.Previous}
		if r.Strategy == "in-place" {
			v, err := rs.readBack(ctx, *r.Previous)
			if err != nil {
				return rotation.Outcome{Err: err}, nil
			}
			defer v.Wipe()
			req.Value = v
		}
		if err := res.Restore(ctx, req); err != nil {
			return rotation.Outcome{Err: err}, nil
		}
		done = append(done, "previous version valid again at the authority")
	} else if r.Strategy == "in-place" {
		return rotation.Outcome{Err: provider.Errorf(provider.NeedsHuman, "rollback",
			"authority %s cannot restore a previous value: restore it by hand", c.Authority.Type)}, nil
	}
	pinner, canPin := p.store.(provider.Pinner)
	if !canPin {
		return rotation.Outcome{Err: provider.Errorf(provider.NeedsHuman, "rollback",
			"store %s cannot hold single consumers on the previous version: switch them by hand", c.Store.Type)}, nil
	}
	var entries []journal.Entry
	for _, id := range ex.Consumers {
		if err := pinner.Pin(ctx, provider.PinRequest{Credential: c.ID, Consumer: id, Version: r.Previous.ID}); err != nil {
			return rotation.Outcome{Err: err}, nil
		}
		if rl, ok := p.reloads[id]; ok {
			if _, err := rl.Reload(ctx, provider.ReloadRequest{Credential: c.ID, Consumer: id, Version: *r.Previous}); err != nil {
				return rotation.Outcome{Err: err}, nil
			}
		}
		k := rs.consumer(id)
		out, ens := rs.runChecks(ctx, k.Checks, id, *r.Previous, rs.e.now(), "rollback:"+id)
		entries = append(entries, ens...)
		done = append(done, fmt.Sprintf("%s back on %s, checks %s", id, r.Previous.ID, out.Verdict))
	}
	return rotation.Outcome{Detail: strings.Join(done, "; ")}, entries
}

// exceptionExpiry: the exception's time is up. The consumers are switched to the new version
// and reloaded; if their checks pass, the exception closes and the run goes on to revoke. If
// not, they are put back on the previous version and the exception is flagged overdue — it
// never lingers silently.
func (rs *runState) exceptionExpiry(ctx context.Context) (rotation.Outcome, []journal.Entry) {
	r, c, p := &rs.run, rs.cred, rs.p
	ex := rs.openException()
	pinner, ok := p.store.(provider.Pinner)
	if !ok {
		return rotation.Outcome{Err: provider.Errorf(provider.NeedsHuman, "exception", "store %s cannot pin consumers", c.Store.Type)}, nil
	}
	var entries []journal.Entry
	verdict := provider.Pass
	var parts []string
	for _, id := range ex.Consumers {
		if err := pinner.Unpin(ctx, provider.PinRequest{Credential: c.ID, Consumer: id}); err != nil {
			return rotation.Outcome{Err: err}, nil
		}
		if rl, ok := p.reloads[id]; ok {
			if _, err := rl.Reload(ctx, provider.ReloadRequest{Credential: c.ID, Consumer: id, Version: *r.New}); err != nil {
				return rotation.Outcome{Err: err}, nil
			}
		}
		k := rs.consumer(id)
		out, ens := rs.runChecks(ctx, k.Checks, id, *r.New, rs.e.now(), "exception:"+id)
		entries = append(entries, ens...)
		if len(k.Checks) == 0 {
			out.Verdict = provider.Unknown
			out.Detail = "no check proves it"
		}
		parts = append(parts, id+": "+string(out.Verdict))
		if out.Verdict != provider.Pass {
			verdict = provider.Fail
		}
	}
	if verdict == provider.Pass {
		return rotation.Outcome{Detail: "consumers back on " + r.New.ID + " and proven: " + strings.Join(parts, ", ")}, entries
	}
	// Put them back where they worked, and say so loudly.
	for _, id := range ex.Consumers {
		_ = pinner.Pin(ctx, provider.PinRequest{Credential: c.ID, Consumer: id, Version: r.Previous.ID})
		if rl, ok := p.reloads[id]; ok {
			_, _ = rl.Reload(ctx, provider.ReloadRequest{Credential: c.ID, Consumer: id, Version: *r.Previous})
		}
	}
	return rotation.Outcome{Verdict: provider.Fail, Detail: "exception expired but the consumers still fail on the new version (" +
		strings.Join(parts, ", ") + "): kept on " + r.Previous.ID + "; the exception is overdue, owner " + ex.Owner}, entries
}
