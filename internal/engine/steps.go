package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/state"
)

// effect performs a step's external effect and returns its outcome, plus journal entries for
// the evidence it gathered. Every effect is idempotent per run.
func (rs *runState) effect(ctx context.Context, a rotation.Action) (rotation.Outcome, []journal.Entry) {
	r, c, p := &rs.run, rs.cred, rs.p
	switch a.Step {
	case rotation.StepReadiness:
		return rs.readiness(ctx), nil
	case rotation.StepMint:
		return rs.mint(ctx), nil
	case rotation.StepEnable:
		v, err := rs.readBack(ctx, *r.New)
		if err != nil {
			return rotation.Outcome{Err: err}, nil
		}
		defer v.Wipe()
		resp, err := p.authority.Enable(ctx, provider.EnableRequest{Credential: c.ID, RunID: r.ID, Strategy: r.Strategy,
			Version: *r.New, Value: v, Previous: r.Previous})
		return rotation.Outcome{Detail: resp.Detail, Err: err}, nil
	case rotation.StepReadAccess:
		return rs.readAccess(ctx), nil
	case rotation.StepPromote:
		resp, err := p.store.Promote(ctx, provider.PromoteRequest{Credential: c.ID, Version: r.New.ID, As: rs.executor(), RunID: r.ID})
		if err != nil {
			return rotation.Outcome{Err: err}, nil
		}
		detail := resp.Current.ID + " is current"
		if r.Previous != nil && r.Strategy == "overlap" {
			detail += "; " + r.Previous.ID + " still valid until revoke"
		}
		return rotation.Outcome{Detail: detail}, nil
	case rotation.StepReload, rotation.StepReloadAccepting:
		resp, err := p.reloads[a.Consumer].Reload(ctx, provider.ReloadRequest{Credential: c.ID, Consumer: a.Consumer, Version: *r.New})
		return rotation.Outcome{Detail: resp.Detail, Err: err}, nil
	case rotation.StepCheck:
		k := rs.consumer(a.Consumer)
		return rs.runChecks(ctx, k.Checks, a.Consumer, *r.New, r.CutoverAt, "check:"+a.Consumer)
	case rotation.StepProof:
		k := rs.consumer(a.Consumer)
		since := r.CutoverAt
		if cs := r.Consumer(a.Consumer); cs != nil && !cs.ProofAfter.IsZero() {
			since = cs.ProofAfter
		}
		return rs.runChecks(ctx, k.Checks, a.Consumer, *r.New, since, "proof:"+a.Consumer)
	case rotation.StepSignals:
		return rs.runChecks(ctx, c.Checks, "", *r.New, r.EvidenceSince(), "signals")
	case rotation.StepResidualUse:
		return rs.residualUse(ctx)
	case rotation.StepRevoke:
		if err := rs.verifyJournal(ctx); err != nil {
			return rs.journalBroken(err), nil
		}
		resp, err := p.authority.Revoke(ctx, provider.RevokeRequest{Credential: c.ID, RunID: r.ID, Strategy: r.Strategy,
			Previous: *r.Previous, Current: *r.New, EndSessions: rs.spec.EndSessions && r.EndSessionsApproved()})
		if err != nil {
			return rotation.Outcome{Err: err}, nil
		}
		detail := resp.Detail
		if t, ok := p.store.(provider.VersionToggler); ok {
			if err := t.Disable(ctx, provider.ToggleRequest{Credential: c.ID, Version: r.Previous.ID, As: rs.executor(), RunID: r.ID}); err != nil {
				// The authority has revoked: whatever the store's error says of itself, the
				// step changed something.
				return rotation.Outcome{Err: provider.PartlyDone(err)}, nil
			}
			detail = strings.TrimPrefix(detail+"; previous version "+r.Previous.ID+" disabled in the store", "; ")
		}
		return rotation.Outcome{Detail: detail}, nil
	case rotation.StepRecord:
		return rs.record(ctx), nil
	case rotation.StepDelete:
		if err := rs.verifyJournal(ctx); err != nil {
			return rs.journalBroken(err), nil
		}
		return rs.deletePrevious(ctx)
	case rotation.StepRollback:
		return rs.rollback(ctx)
	case rotation.StepExceptionExpiry:
		return rs.exceptionExpiry(ctx)
	case rotation.StepReseal:
		return rs.reseal(ctx), nil
	case rotation.StepDiscard:
		return rs.discard(ctx)
	case rotation.StepRemovePending:
		return rs.removePending(ctx)
	}
	return rotation.Outcome{Err: provider.Errorf(provider.Terminal, "step", "rotor does not know step %s", a.Step)}, nil
}

// journalBroken is the outcome of an irreversible step refused because the run's journal does
// not verify: a person must act (the run halts), and nothing was done.
func (rs *runState) journalBroken(err error) rotation.Outcome {
	return rotation.Outcome{Err: provider.Errorf(provider.NeedsHuman, "journal",
		"%v: %v; nothing was revoked or deleted. Keep this database for the investigation; go on only from a state database whose journal verifies (a backup)", ErrJournalBroken, err)}
}

func (rs *runState) consumer(id string) consumerView {
	for _, k := range rs.cred.Consumers {
		if k.ID == id {
			return consumerView{ID: k.ID, Identity: k.Identity, Checks: k.Checks, HasReload: k.Reload != nil}
		}
	}
	return consumerView{ID: id}
}

type consumerView struct {
	ID, Identity string
	Checks       []string
	HasReload    bool
}

// readiness proves, without changing anything, that the run can be done: every provider is
// implemented, the executor may write the store and manage the authority, every consumer has
// an identity to prove its read access with, and every identity fits the store — of a type it
// supports, resolving (provider.IdentityChecker: an age key file that holds its declared
// recipient's key, an OS user that exists) — so that nothing is minted that would fail at mint
// or at read-access.
func (rs *runState) readiness(ctx context.Context) rotation.Outcome {
	problems := append([]string(nil), rs.p.missing...)
	c := rs.cred
	exec, hasExec := rs.e.identity(c.Store.Identity)
	if !hasExec {
		problems = append(problems, "the store names no executor identity (store.identity): rotor could not read back what it writes")
	}
	if w, ok := rs.p.store.(provider.WriteChecker); ok && hasExec {
		if err := w.CheckWrite(ctx, provider.CheckWriteRequest{Credential: c.ID, As: exec, Readers: rs.e.readers(c)}); err != nil {
			problems = append(problems, "the store refuses executor "+exec.ID+" or a consumer identity: "+rs.scrub.text(err.Error()))
		}
	}
	if m, ok := rs.p.authority.(provider.ManageChecker); ok {
		if err := m.CheckManage(ctx, provider.CheckManageRequest{Credential: c.ID, Strategy: c.Authority.Strategy}); err != nil {
			problems = append(problems, "the executor cannot manage the authority: "+rs.scrub.text(err.Error()))
		}
	}
	rc, canCheckRead := rs.p.store.(provider.ReadChecker)
	for _, k := range c.Consumers {
		if k.Identity == "" {
			problems = append(problems, "consumer "+k.ID+" has no identity: its read access cannot be proven")
			continue
		}
		// A store that can ask its server proves each consumer's read access now, with the
		// consumer's own identity, before anything is minted or written.
		if id, ok := rs.e.identity(k.Identity); ok && canCheckRead {
			if err := rc.CheckRead(ctx, provider.CheckReadRequest{Credential: c.ID, As: id}); err != nil {
				problems = append(problems, "consumer "+k.ID+" (identity "+id.ID+") cannot read the store: "+rs.scrub.text(err.Error()))
			}
		}
	}
	problems = append(problems, rs.identitiesFit(ctx)...)
	if len(problems) > 0 {
		msg := strings.Join(problems, "; ")
		unblock := "fix the inventory or grant the access named, then run rotor rotate again"
		if nb := rs.p.notBuilt; len(nb) > 0 {
			// No edit of access makes these run: say so, not "fix the inventory".
			unblock = "this build of rotor cannot rotate it yet: " + strings.Join(nb, ", ") + " not implemented (rotor validate lists every such type); use types this build implements, or a rotor that has them"
		}
		return rotation.Outcome{Verdict: provider.Fail, Detail: msg, Gate: &rotation.GateResult{Gate: "readiness", Verdict: provider.Fail,
			Reason: "not ready", Message: msg, Unblock: unblock}}
	}
	can := "can write the store"
	if _, ok := rs.p.authority.(provider.ManageChecker); ok {
		can += " and manage the authority"
	}
	ids := fmt.Sprintf("%d consumer identities", len(c.Consumers))
	if len(c.Consumers) == 1 {
		ids = "the consumer's identity"
	}
	return rotation.Outcome{Detail: fmt.Sprintf("executor %s %s; %s declared; nothing changed", exec.ID, can, ids),
		Gate: &rotation.GateResult{Gate: "readiness", Verdict: provider.Pass, Reason: "ready"}}
}

// identitiesFit asks the store whether each identity that will act on it — the executor, who
// writes and reads back, and every consumer, who reads — can: its type is one the store
// supports and it resolves. A store that cannot say (no provider.IdentityChecker) leaves it
// to read-access, after mint.
func (rs *runState) identitiesFit(ctx context.Context) []string {
	ic, ok := rs.p.store.(provider.IdentityChecker)
	if !ok {
		return nil
	}
	c := rs.cred
	roles := map[string][]string{}
	for _, k := range c.Consumers {
		if k.Identity != "" {
			roles[k.Identity] = append(roles[k.Identity], "consumer "+k.ID)
		}
	}
	var problems []string
	for _, id := range readerIDs(c) {
		who := roles[id]
		if id == c.Store.Identity {
			who = append([]string{"the executor"}, who...)
		}
		i, found := rs.e.identity(id)
		if !found {
			continue // the inventory refuses a dangling identity; a missing executor is said above
		}
		if err := ic.CheckIdentity(ctx, provider.CheckIdentityRequest{Credential: c.ID, Identity: i, Executor: id == c.Store.Identity}); err != nil {
			problems = append(problems, fmt.Sprintf("identity %s (%s) cannot act on the %s store: %s", id, strings.Join(who, ", "), c.Store.Type, rs.scrub.text(err.Error())))
		}
	}
	return problems
}

// mint makes the new value and stores it as pending. A retry after a crash finds the version
// this run already stored (the run id is its idempotency key) instead of minting another.
func (rs *runState) mint(ctx context.Context) rotation.Outcome {
	r, c, p := &rs.run, rs.cred, rs.p
	vs, err := p.store.Versions(ctx, provider.VersionsRequest{Credential: c.ID})
	if err != nil {
		return rotation.Outcome{Err: err}
	}
	var current, mine *provider.Version
	for i := range vs.Versions {
		v := &vs.Versions[i]
		switch {
		case v.Key == r.ID:
			mine = v
		case v.Stage == provider.StageCurrent:
			current = v
		}
	}
	prev := current
	if r.Previous != nil {
		prev = r.Previous
	}
	if mine != nil {
		nv := *mine
		if nv.Fingerprint == "" {
			v, err := rs.readBack(ctx, nv)
			if err != nil {
				return rotation.Outcome{Err: err}
			}
			nv.Fingerprint = rs.e.Fingerprinter.Fingerprint(v)
			v.Wipe()
		}
		// Found, not written now: for which readers it was written is not known here (Readers
		// empty), so a read-access that fails writes it again for the current ones.
		return rotation.Outcome{New: &nv, Previous: prev, Detail: "found version " + nv.ID + " stored by this run (resumed)",
			Data: map[string]string{"new": nv.ID, "fingerprint": nv.Fingerprint}}
	}
	if prev != nil && prev.Fingerprint == "" {
		if v, err := rs.readBack(ctx, *prev); err == nil {
			pv := *prev
			pv.Fingerprint = rs.e.Fingerprinter.Fingerprint(v)
			v.Wipe()
			prev = &pv
		}
	}
	m, err := p.authority.Mint(ctx, provider.MintRequest{Credential: c.ID, RunID: r.ID, Strategy: r.Strategy, Current: prev})
	if err != nil {
		return rotation.Outcome{Err: err}
	}
	defer m.Value.Wipe()
	rs.scrub.add(m.Value)
	fp := rs.e.Fingerprinter.Fingerprint(m.Value)
	put, err := p.store.Put(ctx, provider.PutRequest{Credential: c.ID, Value: m.Value, Key: r.ID, Readers: rs.e.readers(c),
		Expires: m.Expires, AuthorityRef: m.AuthorityRef, As: rs.executor()})
	if err != nil {
		return rotation.Outcome{Err: err}
	}
	nv := put.Version
	if put.Created { // the stored value is this one (not one a lost attempt stored)
		rs.keep(nv.ID, m.Value)
	}
	nv.Fingerprint = fp
	if nv.AuthorityRef == "" {
		nv.AuthorityRef = m.AuthorityRef
	}
	if nv.Expires.IsZero() {
		nv.Expires = m.Expires
	}
	data := map[string]string{"new": nv.ID, "fingerprint": fp}
	if prev != nil {
		data["previous"] = prev.ID
	}
	detail := "minted " + nv.ID + " and stored it as pending; "
	if prev != nil {
		detail += "the current " + prev.ID + " untouched"
	} else {
		detail += "the first version of " + c.ID
	}
	return rotation.Outcome{New: &nv, Previous: prev, Readers: rs.spec.Readers, Detail: detail, Data: data}
}

// executor is the identity that writes the credential's store (store.identity), or the zero
// Identity when the inventory names none (readiness reports that before anything is written).
func (rs *runState) executor() provider.Identity {
	id, _ := rs.e.identity(rs.cred.Store.Identity)
	return id
}

// readBack reads a version as the executor, for the steps that hand the value to the
// authority after a crash could have lost it from memory (within one drive, the value minted
// or read before is used).
func (rs *runState) readBack(ctx context.Context, v provider.Version) (secret.Value, error) {
	if val, ok := rs.kept(v.ID); ok {
		return val, nil
	}
	exec, ok := rs.e.identity(rs.cred.Store.Identity)
	if !ok {
		return secret.Value{}, provider.Errorf(provider.Terminal, "read back", "the store names no executor identity")
	}
	resp, err := rs.p.store.Read(ctx, provider.ReadRequest{Credential: rs.cred.ID, Version: v.ID, As: exec})
	if err != nil {
		return secret.Value{}, err
	}
	rs.scrub.add(resp.Value)
	rs.keep(v.ID, resp.Value)
	return resp.Value, nil
}

// valueAs reads a version as a consumer would — with its identity — for the checks that log
// in with the value. A credential-wide check reads as the executor. When the drive holds the
// version's value (minted, or read by read-access, which proved every consumer reads these
// very bytes), that is used: the bytes are the same, and a check is about logging in.
func (rs *runState) valueAs(consumer string, v provider.Version) func(context.Context) (secret.Value, error) {
	who := rs.cred.Store.Identity
	if consumer != "" {
		who = rs.consumer(consumer).Identity
	}
	return func(ctx context.Context) (secret.Value, error) {
		if val, ok := rs.kept(v.ID); ok {
			return val, nil
		}
		id, ok := rs.e.identity(who)
		if !ok {
			return secret.Value{}, provider.Errorf(provider.Terminal, "read", "no identity %q to read the value with", who)
		}
		resp, err := rs.p.store.Read(ctx, provider.ReadRequest{Credential: rs.cred.ID, Version: v.ID, As: id})
		if err != nil {
			return secret.Value{}, err
		}
		rs.scrub.add(resp.Value)
		return resp.Value, nil
	}
}

// readAccess proves that every consumer identity can read the new version — with its own
// identity — and reads the very bytes that were stored (same fingerprint).
func (rs *runState) readAccess(ctx context.Context) rotation.Outcome {
	r, c := &rs.run, rs.cred
	var failed, ok []string
	for _, k := range c.Consumers {
		id, found := rs.e.identity(k.Identity)
		if !found {
			failed = append(failed, k.ID+": no identity")
			continue
		}
		resp, err := rs.p.store.Read(ctx, provider.ReadRequest{Credential: c.ID, Version: r.New.ID, As: id})
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s as %s: %s", k.ID, id.ID, rs.scrub.text(err.Error())))
			continue
		}
		fp := rs.e.Fingerprinter.Fingerprint(resp.Value)
		if fp == r.New.Fingerprint {
			rs.keep(r.New.ID, resp.Value)
		}
		resp.Value.Wipe()
		if fp != r.New.Fingerprint {
			failed = append(failed, fmt.Sprintf("%s as %s: read a different value (%s, expected %s)", k.ID, id.ID, fp, r.New.Fingerprint))
			continue
		}
		ok = append(ok, k.ID)
	}
	if len(failed) > 0 {
		msg := "cannot read the new version: " + strings.Join(failed, "; ")
		return rotation.Outcome{Verdict: provider.Fail, Detail: msg, Gate: &rotation.GateResult{Gate: "read-access", Verdict: provider.Fail,
			Reason: "read access", Message: msg, Unblock: "grant these identities read access to the credential in the store (or fix their identities in the inventory: " +
				"the pending version is then written again for them), then run rotor rotate again; or abandon the run: rotor cancel " + r.ID + " --reason TEXT"}}
	}
	var detail string
	switch len(ok) {
	case 0:
		detail = "no consumer to read " + r.New.ID
	case 1:
		detail = fmt.Sprintf("%s read %s, the bytes stored, with its own identity", ok[0], r.New.ID)
	default:
		detail = fmt.Sprintf("%s each read %s, the bytes stored, with their own identity", strings.Join(ok, ", "), r.New.ID)
	}
	return rotation.Outcome{Detail: detail,
		Gate: &rotation.GateResult{Gate: "read-access", Verdict: provider.Pass, Reason: "every consumer identity reads the new version"}}
}

// reseal writes the pending version again for the readers the inventory declares now
// (rotation.StepReseal: read-access failed after they changed), with its own value read back
// as the executor and proven by its fingerprint — the same version, never a second mint.
func (rs *runState) reseal(ctx context.Context) rotation.Outcome {
	r, c := &rs.run, rs.cred
	rz, ok := rs.p.store.(provider.Resealer)
	if !ok {
		return rotation.Outcome{Err: provider.Errorf(provider.Terminal, "reseal", "the %s store cannot write a version again for other readers", c.Store.Type)}
	}
	v, err := rs.readBack(ctx, *r.New)
	if err != nil {
		return rotation.Outcome{Err: err}
	}
	defer v.Wipe()
	if fp := rs.e.Fingerprinter.Fingerprint(v); fp != r.New.Fingerprint {
		return rotation.Outcome{Err: provider.Errorf(provider.NeedsHuman, "reseal",
			"the executor reads %s as %s, not the %s this run stored: nothing was written; cancel the run (rotor cancel %s --reason TEXT)", r.New.ID, fp, r.New.Fingerprint, r.ID)}
	}
	resp, err := rz.Reseal(ctx, provider.ResealRequest{Credential: c.ID, Version: r.New.ID, Value: v, Readers: rs.e.readers(c)})
	if err != nil {
		return rotation.Outcome{Err: err}
	}
	return rotation.Outcome{Readers: rs.spec.Readers, Detail: resp.Detail + "; the same value, no new mint",
		Data: map[string]string{"version": r.New.ID, "changed": fmt.Sprint(resp.Changed)}}
}

// runChecks runs checks and combines their verdicts: all must pass; any unknown or fail
// blocks. Each result becomes a journal entry with its numbers.
func (rs *runState) runChecks(ctx context.Context, ids []string, consumer string, current provider.Version, since time.Time, gate string) (rotation.Outcome, []journal.Entry) {
	r := &rs.run
	var entries []journal.Entry
	verdict := provider.Pass
	var parts []string
	var completeAt time.Time // when every incomplete piece of evidence will be complete
	incomplete := true
	for _, id := range ids {
		chk, ok := rs.p.checks[id]
		var res provider.CheckResult
		if !ok {
			res = provider.CheckResult{Verdict: provider.Unknown, Reason: "check " + id + " cannot run"}
		} else {
			var err error
			res, err = chk.Check(ctx, provider.CheckRequest{Check: id, Credential: r.Credential, Consumer: consumer,
				Current: current, Previous: r.Previous, Since: since, Now: rs.e.now(), Value: rs.valueAs(consumer, current)})
			if err != nil {
				res = provider.CheckResult{Verdict: provider.Unknown, Reason: rs.scrub.text(err.Error())}
			}
		}
		if res.Verdict != provider.Pass && res.Verdict != provider.Fail {
			res.Verdict = provider.Unknown // anything else is not evidence
		}
		res.Reason, res.Message = rs.scrub.text(res.Reason), rs.scrub.text(res.Message)
		if res.At.IsZero() {
			res.At = rs.e.now()
		}
		if en, err := journal.CheckEntry(r.ID, rs.e.now(), string(r.Phase), consumer, id, res); err == nil {
			entries = append(entries, en)
		}
		switch {
		case res.Verdict == provider.Fail:
			verdict = provider.Fail
		case res.Verdict == provider.Unknown && verdict == provider.Pass:
			verdict = provider.Unknown
		}
		if res.Verdict == provider.Unknown {
			if res.CompleteAt.IsZero() {
				incomplete = false
			} else if res.CompleteAt.After(completeAt) {
				completeAt = res.CompleteAt
			}
		}
		part := id + " " + string(res.Verdict)
		if res.Reason != "" {
			part += " (" + res.Reason + ")"
		}
		parts = append(parts, part)
	}
	detail := strings.Join(parts, "; ")
	g := &rotation.GateResult{Gate: gate, Verdict: verdict, Reason: "checks", Message: detail}
	if verdict == provider.Unknown && incomplete && !completeAt.IsZero() {
		g.Reason, g.Until = "evidence not complete yet", completeAt
		g.Unblock = "wait: the evidence is complete at " + completeAt.Format(time.RFC3339) + " (rotor rotate --wait waits for it)"
	} else if verdict != provider.Pass {
		g.Reason = "evidence failing or missing"
		g.Unblock = "fix what the checks report and run rotor rotate again"
		if consumer != "" && !r.CutoverAt.IsZero() {
			g.Unblock += fmt.Sprintf("; or roll the consumer back: rotor rollback %s --consumers %s --owner WHO --expires 4h --reason TEXT", r.ID, consumer)
		}
	}
	return rotation.Outcome{Verdict: verdict, Detail: detail, Gate: g}, entries
}

// usageSources are who can report residual use of a credential's previous version
// (rotation.Spec.Usage): its authority, if it can, then its store, if it can and is
// configured to (a vault-kv store with an audit_log: who read the previous version), then
// each of its checks and its consumers' checks that can (a tls check: the endpoints still
// serving it), in declared order, once each.
func usageSources(inv *inventory.Inventory, reg *provider.Registry, c *inventory.Credential) []string {
	var out []string
	if reg.Capabilities(provider.KindAuthority, c.Authority.Type).Has(provider.CanReportUsage) {
		out = append(out, rotation.UsageAuthority)
	}
	if reg.Capabilities(provider.KindStore, c.Store.Type).Has(provider.CanReportUsage) {
		if sw, ok := c.Store.Config.(provider.UsageSwitch); !ok || sw.ReportsUsage() {
			out = append(out, rotation.UsageStore)
		}
	}
	seen := map[string]bool{}
	add := func(ids []string) {
		for _, id := range ids {
			ch, ok := inv.Check(id)
			if ok && !seen[id] && reg.Capabilities(provider.KindCheck, ch.Type).Has(provider.CanReportUsage) {
				seen[id] = true
				out = append(out, rotation.UsageCheck(id))
			}
		}
	}
	add(c.Checks)
	for _, k := range c.Consumers {
		add(k.Checks)
	}
	return out
}

// residualUse asks every source of rotation.Spec.Usage whether the previous version is still
// in use since the evidence began, and combines their answers as a gate chain does: a fail
// from any source is a fail naming it and who it saw, else an unknown from any is unknown
// (which blocks: no answer is not "unused"), else a pass. Each answer is evidence of its own
// in the journal, and the step's Data keeps each source's verdict (rotation.Run
// EndSessionsApproved reads it).
func (rs *runState) residualUse(ctx context.Context) (rotation.Outcome, []journal.Entry) {
	r := &rs.run
	req := provider.UsageRequest{Credential: r.Credential, Version: *r.Previous, Since: r.EvidenceSince()}
	verdict := provider.Pass
	var parts []usageLine
	var failing, unknown []string
	var entries []journal.Entry
	data := map[string]string{}
	for _, src := range rs.spec.Usage {
		u := rs.usage(ctx, src, req)
		name := strings.Replace(src, "check:", "check ", 1)
		line := name + " " + string(u.Verdict) + ": " + u.Detail // a check's detail names what it saw
		if src == rotation.UsageAuthority || src == rotation.UsageStore {
			line = fmt.Sprintf("previous version %s used %d time(s) since cutover", r.Previous.ID, u.Count)
			if src == rotation.UsageStore {
				line = fmt.Sprintf("previous version %s read %d time(s) from the store since cutover", r.Previous.ID, u.Count)
			}
			if len(u.Who) > 0 {
				line += " by " + strings.Join(u.Who, ", ")
			}
			if u.Detail != "" {
				line += " — " + u.Detail
			}
		}
		parts = append(parts, usageLine{line, u.Verdict})
		data[src] = string(u.Verdict)
		switch u.Verdict {
		case provider.Fail:
			verdict = provider.Fail
			who := name
			if len(u.Who) > 0 {
				who += " (" + strings.Join(u.Who, ", ") + ")"
			}
			failing = append(failing, who)
		case provider.Unknown:
			if verdict == provider.Pass {
				verdict = provider.Unknown
			}
			unknown = append(unknown, name)
		}
		res := provider.CheckResult{Verdict: u.Verdict, Reason: "residual use of " + r.Previous.ID, Message: line,
			Observed: fmt.Sprintf("%d use(s)", u.Count), At: rs.e.now()}
		if en, err := journal.CheckEntry(r.ID, rs.e.now(), string(r.Phase), "", "residual-use "+name, res); err == nil {
			en.Step = string(rotation.StepResidualUse)
			entries = append(entries, en)
		}
	}
	// What blocks first: the gate's message is read on a terminal, and it names who.
	slices.SortStableFunc(parts, func(a, b usageLine) int { return blocks(b.verdict) - blocks(a.verdict) })
	lines := make([]string, len(parts))
	for i, p := range parts {
		lines[i] = p.text
	}
	detail := strings.Join(lines, "; ")
	out := rotation.Outcome{Verdict: verdict, Detail: detail, Data: data}
	if verdict == provider.Pass {
		return out, entries
	}
	reason := "residual use of the previous version by " + strings.Join(failing, "; ")
	if verdict == provider.Unknown {
		reason = "residual use of the previous version unknown: no answer from " + strings.Join(unknown, ", ")
	}
	out.Gate = &rotation.GateResult{Gate: "residual-use", Verdict: verdict, Reason: reason, Message: detail,
		Unblock: "move the users named to the new version (reload an endpoint still serving the previous one), then run rotor rotate again"}
	return out, entries
}

// usageLine is one source's answer as the residual-use gate's message shows it.
type usageLine struct {
	text    string
	verdict provider.Verdict
}

// blocks ranks verdicts by how firmly they block: fail, then unknown, then pass.
func blocks(v provider.Verdict) int {
	switch v {
	case provider.Fail:
		return 2
	case provider.Unknown:
		return 1
	}
	return 0
}

// usage is one source's answer; one that cannot answer is unknown, never a pass.
func (rs *runState) usage(ctx context.Context, src string, req provider.UsageRequest) provider.UsageResponse {
	var rep provider.UsageReporter
	switch {
	case src == rotation.UsageAuthority:
		rep, _ = rs.p.authority.(provider.UsageReporter)
	case src == rotation.UsageStore:
		rep, _ = rs.p.store.(provider.UsageReporter)
	default:
		rep, _ = rs.p.checks[strings.TrimPrefix(src, "check:")].(provider.UsageReporter)
	}
	if rep == nil {
		return provider.UsageResponse{Verdict: provider.Unknown, Detail: src + " cannot report residual use"}
	}
	u, err := rep.Usage(ctx, req)
	if err != nil {
		u = provider.UsageResponse{Verdict: provider.Unknown, Detail: err.Error()}
	}
	if u.Verdict != provider.Pass && u.Verdict != provider.Fail {
		u.Verdict = provider.Unknown // anything else is not evidence
	}
	u.Detail = rs.scrub.text(u.Detail)
	for i := range u.Who {
		u.Who[i] = rs.scrub.text(u.Who[i])
	}
	return u
}

// deletePrevious deletes from the store the version the run retired at its revoke, when
// rotation.Next says it is time (see rotation.nextDelete). Deleting a version the store no
// longer has succeeds: the effect is idempotent, and a deletion resumed after a crash finds it
// done. A store without provider.VersionDeleter keeps the version, and the step says so.
func (rs *runState) deletePrevious(ctx context.Context) (rotation.Outcome, []journal.Entry) {
	r, c := &rs.run, rs.cred
	old := r.Previous.ID
	if rs.p.store == nil {
		return rotation.Outcome{Err: provider.Errorf(provider.Terminal, "delete", "the %s store cannot be built: %s", c.Store.Type, strings.Join(rs.p.missing, "; "))}, nil
	}
	d, ok := rs.p.store.(provider.VersionDeleter)
	if !ok {
		note := fmt.Sprintf("skipped: the %s store cannot delete a version on request; %s stays in it, disabled since the revoke, until the store's own retention (if it has one) removes it", c.Store.Type, old)
		return rotation.Outcome{Detail: note, Data: map[string]string{"skipped": old}},
			[]journal.Entry{rs.entry(journal.KindNote, string(rotation.StepDelete), "", note)}
	}
	err := d.Delete(ctx, provider.ToggleRequest{Credential: c.ID, Version: old, As: rs.executor(), RunID: r.ID})
	switch {
	case errors.Is(err, provider.ErrNotFound):
		return rotation.Outcome{Detail: old + " is no longer in the store (deleted already)", Data: map[string]string{"deleted": old}}, nil
	case err != nil:
		return rotation.Outcome{Err: err}, nil
	}
	policy := "at the next rotation's revoke"
	if rs.spec.DeleteAfter > 0 {
		policy = "delete_after " + c.DeleteAfter.String()
	}
	return rotation.Outcome{Detail: fmt.Sprintf("deleted %s (%s) from the store (%s)", old, r.Previous.Fingerprint, policy),
		Data: map[string]string{"deleted": old}}, nil
}

// record updates the credential's state and history once the run is complete. It writes
// nothing itself: the writes go with the save of its outcome, in one transaction
// (runState.saveRun mends a lost CAS on the state), so record needs no intent of its own
// (rotation.StepKind.Local).
func (rs *runState) record(ctx context.Context) rotation.Outcome {
	r := &rs.run
	cur, err := rs.e.State.CredentialState(ctx, r.Credential)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return rotation.Outcome{Err: err}
	}
	cur.ID = r.Credential
	cur.CurrentVersion, cur.CurrentFingerprint, cur.LastRotated, cur.Expires = r.New.ID, r.New.Fingerprint, r.CutoverAt, r.New.Expires
	rec := state.RotationRecord{CredentialID: r.Credential, RunID: r.ID, ToVersion: r.New.ID, ToFingerprint: r.New.Fingerprint, CompletedAt: r.CutoverAt}
	if r.Previous != nil {
		rec.FromVersion = r.Previous.ID
	}
	rs.with.Credential, rs.with.Rotation = &cur, &rec
	return rotation.Outcome{Detail: "credential state: current " + r.New.ID + ", last rotated " + r.CutoverAt.Format(time.RFC3339)}
}
