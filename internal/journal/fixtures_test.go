package journal

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// The fixtures are two runs as the engine would journal them: a clean
// rotation of a critical API key, and a webhook HMAC key rolled back for one
// integration with an exception still open.

var t0 = time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC) // a Tuesday, 22:00 in Paris

const (
	fpV41 = "hmac-sha256:3b1f0c9a5d2e47f8a61b9c0d2e3f4a5b"
	fpV42 = "hmac-sha256:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
	fpV6  = "hmac-sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	fpV7  = "hmac-sha256:f9e8d7c6b5a4938271605f4e3d2c1b0a"
)

// chain seals entries in order, as the engine appends them, and returns the
// sealed entries, what the store keeps and the run's head.
func chain(t testing.TB, entries []Entry) ([]Entry, []Stored, Head) {
	t.Helper()
	var head Head
	var sealed []Entry
	var stored []Stored
	for _, e := range entries {
		s, body, err := Seal(head, e)
		if err != nil {
			t.Fatalf("seal %s entry %q: %v", e.Kind, e.Summary, err)
		}
		sealed = append(sealed, s)
		stored = append(stored, Stored{Seq: s.Seq, PrevHash: s.PrevHash, Hash: s.Hash, Body: body})
		head = s.Head()
	}
	return sealed, stored, head
}

func data(t testing.TB, v any) json.RawMessage {
	t.Helper()
	d, err := MarshalData(v)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func check(t testing.TB, runID string, at time.Time, phase, consumer, name string, r provider.CheckResult) Entry {
	t.Helper()
	r.At = at
	e, err := CheckEntry(runID, at, phase, consumer, name, r)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func bins(start time.Time, step time.Duration, group map[string]string, counts, totals []int) []provider.Bin {
	out := make([]provider.Bin, len(counts))
	for i, c := range counts {
		out[i] = provider.Bin{Start: start.Add(time.Duration(i) * step), Group: group, Count: c}
		if totals != nil {
			out[i].Total = totals[i]
		}
	}
	return out
}

func at(d time.Duration) time.Time { return t0.Add(d) }

// apiKeyTicket is a full, clean run: prepare, cutover with two consumer
// reloads and their checks, a log check with bins, the soak with a
// residual-use check, an approval, revoke.
func apiKeyTicket(t testing.TB) Ticket {
	const run = "run-20261124-2100-partner-api-key"
	day := 24 * time.Hour
	cut := at(8 * time.Second)
	rotor := func(d time.Duration, k Kind, phase, step, consumer, summary string) Entry {
		return Entry{RunID: run, At: at(d), Actor: Executor, Kind: k, Phase: phase, Step: step, Consumer: consumer, Summary: summary}
	}
	withData := func(e Entry, v any) Entry { e.Data = data(t, v); return e }
	withVerdict := func(e Entry, v provider.Verdict) Entry { e.Verdict = v; return e }

	entries := []Entry{
		withData(Entry{RunID: run, At: at(0), Actor: "alice", Kind: KindRunStarted, Phase: "prepare",
			Summary: "started rotation of partner-api-key (overlap, critical) in window weeknights"},
			map[string]any{"window": "weeknights", "inventory_rev": "git:3f9c2e1"}),
		rotor(1*time.Second, KindPhase, "prepare", "", "", "prepare: readiness first, then mint the new key"),
		withVerdict(withData(rotor(2*time.Second, KindGate, "prepare", "readiness", "",
			"readiness: executor can write the store and mint at the authority; both consumer identities can read"),
			map[string]any{"gate": "readiness", "checked": []string{"store-write", "authority-manage", "read-as:checkout-api", "read-as:payout-worker"}}),
			provider.Pass),
		withData(rotor(3*time.Second, KindStepStarted, "prepare", "mint", "", "mint a new API key at the authority"),
			map[string]any{"idempotency_key": run}),
		withData(rotor(5*time.Second, KindStepDone, "prepare", "mint", "", "minted key ak_live_7Q2 beside ak_live_3LX"),
			map[string]any{"authority_ref": "ak_live_7Q2", "fingerprint": fpV42}),
		withData(rotor(6*time.Second, KindStepDone, "prepare", "store", "", "stored as pending version 42"),
			map[string]any{"version": "42", "fingerprint": fpV42, "stage": "pending"}),
		rotor(7*time.Second, KindPhase, "cutover", "", "", "cutover: promote, reload consumers in order, check"),
		withData(rotor(8*time.Second, KindStepDone, "cutover", "promote", "", "version 42 is current; version 41 is previous"),
			map[string]any{"current": "42", "previous": "41"}),
		withData(rotor(10*time.Second, KindStepDone, "cutover", "reload", "checkout-api", "reloaded: systemctl restart checkout-api exited 0"),
			map[string]any{"duration_ms": 2140}),
		check(t, run, at(41*time.Second), "cutover", "checkout-api", "checkout-health", provider.CheckResult{
			Verdict: provider.Pass, Reason: "status 200 as expected",
			Query: "GET https://checkout.internal/healthz/acme", Threshold: "status = 200", Observed: "200",
		}),
		withData(rotor(43*time.Second, KindStepDone, "cutover", "reload", "payout-worker", "reloaded: POST /-/reload returned 204"),
			map[string]any{"duration_ms": 310}),
		check(t, run, at(73*time.Second), "cutover", "payout-worker", "payout-health", provider.CheckResult{
			Verdict: provider.Pass, Reason: "status 200 as expected",
			Query: "GET http://payout-worker.internal:8081/healthz", Threshold: "status = 200", Observed: "200",
		}),
		check(t, run, at(31*time.Minute), "cutover", "", "acme-auth-errors", provider.CheckResult{
			Verdict: provider.Pass, Reason: "under threshold in every bin",
			Query:     `status in (401, 403) and upstream = "api.acme-payments.example"`,
			Window:    &provider.Interval{From: cut, To: cut.Add(30 * time.Minute)},
			Threshold: "at most 2 per 5m bin", Observed: "at most 1 per bin (1 in total)",
			Bins: bins(at(0), 5*time.Minute, map[string]string{"status": "401"},
				[]int{0, 1, 0, 0, 0, 0}, []int{1180, 1242, 1207, 1163, 1198, 1221}),
		}),
		rotor(31*time.Minute+time.Second, KindPhase, "verify", "", "", "verify: soak for 24h"),
		check(t, run, at(day+31*time.Minute+5*time.Second), "verify", "", "acme-residual-use-v41", provider.CheckResult{
			Verdict: provider.Pass, Reason: "no use of the previous key in the last 12h",
			Message:   "37 calls in the first 6h came from pods that restarted late",
			Query:     `key_id = "ak_live_3LX"`,
			Window:    &provider.Interval{From: cut, To: cut.Add(day)},
			Threshold: "0 uses in the last 12h of the soak", Observed: "0 since 2026-11-25 03:00 UTC",
			Bins: bins(at(0), 6*time.Hour, map[string]string{"key_id": "ak_live_3LX"}, []int{37, 0, 0, 0}, nil),
		}),
		withVerdict(rotor(day+31*time.Minute+6*time.Second, KindGate, "verify", "soak", "",
			"soak of 24h complete; error signals under threshold; no residual use of version 41"), provider.Pass),
		withVerdict(withData(rotor(day+31*time.Minute+7*time.Second, KindGate, "verify", "approval", "",
			"waiting for approval: critical credential, by someone other than alice"),
			map[string]any{"gate": "approval", "reason": "awaiting-approval"}), provider.Unknown),
		withData(Entry{RunID: run, At: at(day + 11*time.Hour + 12*time.Minute), Actor: "bob", Kind: KindApproval, Phase: "verify",
			Summary: "approved revocation of version 41"}, map[string]any{"reason": "CHG-4821: evidence reviewed"}),
		rotor(day+11*time.Hour+12*time.Minute+30*time.Second, KindPhase, "revoke", "", "", "revoke: disable the previous version"),
		withData(rotor(day+11*time.Hour+12*time.Minute+31*time.Second, KindStepDone, "revoke", "authority", "", "key ak_live_3LX revoked at the authority"),
			map[string]any{"authority_ref": "ak_live_3LX", "version": "41", "fingerprint": fpV41}),
		withData(rotor(day+11*time.Hour+12*time.Minute+32*time.Second, KindStepDone, "revoke", "store", "", "version 41 disabled in the store; deleted after 30 days"),
			map[string]any{"version": "41", "delete_after": "2026-12-25T08:12:32Z"}),
		withData(rotor(day+11*time.Hour+12*time.Minute+33*time.Second, KindPhase, "done", "", "", "rotation done"),
			map[string]any{"next_due": "2027-02-23T21:00:00Z"}),
	}
	sealed, stored, head := chain(t, entries)
	verified := Verify(run, stored, head) == nil
	next := time.Date(2027, 2, 23, 21, 0, 0, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	return Ticket{
		RunID: run, Credential: "partner-api-key", Description: "API key rotor-payments uses to call Acme Payments",
		Owner: "team-payments", Critical: true, Strategy: "overlap",
		Phase: "done", Outcome: "done",
		StartedBy: "alice",
		StartedAt: at(0).In(paris), // the engine may hand local times; exports are UTC
		UpdatedAt: sealed[len(sealed)-1].At,
		Previous:  &VersionRef{ID: "41", Fingerprint: fpV41},
		New:       &VersionRef{ID: "42", Fingerprint: fpV42},
		NextDue:   &next,
		Consumers: []Consumer{
			{ID: "checkout-api", Kind: "service", Risk: "reads at start: needs a restart", Proof: "checkout-health, acme-auth-errors",
				ProvenAt: at(41 * time.Second), ProvenBy: "checkout-health", Status: "proven"},
			{ID: "payout-worker", Kind: "service", Risk: "reads on change: reload endpoint", Proof: "payout-health, acme-auth-errors",
				ProvenAt: at(73 * time.Second), ProvenBy: "payout-health", Status: "proven"},
		},
		Approvals: []Decision{{Kind: KindApproval, By: "bob", At: at(day + 11*time.Hour + 12*time.Minute), Reason: "CHG-4821: evidence reviewed"}},
		Head:      head, Verified: verified,
		Entries: sealed,
	}
}

// webhookTicket is a run rolled back for one integration: the carrier
// rejects signatures made with the new HMAC key, the owner rolls that
// consumer back with an exception that is still open, and a delayed job
// has a follow-up.
func webhookTicket(t testing.TB) Ticket {
	const run = "run-20261124-2100-shipping-webhook-hmac"
	cut := at(20 * time.Second)
	expires := at(4*time.Hour + 40*time.Minute)
	e := func(d time.Duration, actor string, k Kind, phase, step, consumer, summary string, v any) Entry {
		x := Entry{RunID: run, At: at(d), Actor: actor, Kind: k, Phase: phase, Step: step, Consumer: consumer, Summary: summary}
		if v != nil {
			x.Data = data(t, v)
		}
		return x
	}
	failed := e(25*time.Minute+5*time.Second, Executor, KindStepFailed, "cutover", "verify-consumer", "carrier-gateway",
		"carrier-gateway rejects signatures made with version 7: 127 failures in 20m", map[string]any{"failures": 127, "version": "7"})
	gate := e(25*time.Minute+6*time.Second, Executor, KindGate, "cutover", "errors", "", "error signal over threshold: cutover halted", nil)
	gate.Verdict = provider.Fail
	entries := []Entry{
		e(0, "carol", KindRunStarted, "prepare", "", "", "started rotation of shipping-webhook-hmac (overlap)", nil),
		e(time.Second, Executor, KindPhase, "prepare", "", "", "prepare", nil),
		e(4*time.Second, Executor, KindStepDone, "prepare", "mint", "", "new HMAC key hk_2026_11 stored as pending version 7",
			map[string]any{"version": "7", "fingerprint": fpV7, "authority_ref": "hk_2026_11"}),
		e(5*time.Second, Executor, KindPhase, "cutover", "", "", "cutover", nil),
		e(20*time.Second, Executor, KindStepDone, "cutover", "promote", "", "version 7 is current; version 6 is previous",
			map[string]any{"current": "7", "previous": "6"}),
		e(22*time.Second, Executor, KindStepDone, "cutover", "reload", "carrier-gateway", "pushed key hk_2026_11 to the carrier's key API: 200", nil),
		check(t, run, at(25*time.Minute), "cutover", "carrier-gateway", "carrier-signature-failures", provider.CheckResult{
			Verdict: provider.Fail, Reason: "over threshold",
			Query:     `source = "carrier-callbacks" and error = "signature_mismatch"`,
			Window:    &provider.Interval{From: cut, To: cut.Add(20 * time.Minute)},
			Threshold: "0 per 5m bin", Observed: "127 in 20m (61 in the worst bin)",
			Bins: bins(cut, 5*time.Minute, map[string]string{"error": "signature_mismatch"}, []int{0, 14, 52, 61}, []int{88, 91, 86, 90}),
		}),
		failed,
		gate,
		e(31*time.Minute, "carol", KindRollback, "cutover", "", "carrier-gateway", "rollback of carrier-gateway to version 6; version 7 kept for analysis",
			map[string]any{"consumers": []string{"carrier-gateway"}, "to_version": "6"}),
		e(31*time.Minute+2*time.Second, Executor, KindStepDone, "rollback", "enable", "carrier-gateway", "version 6 enabled again; carrier-gateway pinned to version 6",
			map[string]any{"version": "6", "fingerprint": fpV6}),
		e(31*time.Minute+3*time.Second, "carol", KindExceptionOpened, "rolled-back", "", "carrier-gateway", "exception open until 2026-11-25 01:40 UTC, owner carol",
			map[string]any{"owner": "carol", "expires": expires.Format(time.RFC3339), "reason": "carrier caches our keys; they flush tonight"}),
		check(t, run, at(41*time.Minute), "rolled-back", "carrier-gateway", "carrier-signature-failures", provider.CheckResult{
			Verdict: provider.Pass, Reason: "under threshold after rollback",
			Query:     `source = "carrier-callbacks" and error = "signature_mismatch"`,
			Window:    &provider.Interval{From: at(31 * time.Minute), To: at(41 * time.Minute)},
			Threshold: "0 per 5m bin", Observed: "0",
			Bins: bins(at(31*time.Minute), 5*time.Minute, map[string]string{"error": "signature_mismatch"}, []int{0, 0}, []int{93, 87}),
		}),
		e(42*time.Minute, Executor, KindFollowUp, "rolled-back", "", "label-printer-job", "label-printer-job must run once signed with version 7 before revoke",
			map[string]any{"due": "2026-11-25T22:00:00Z"}),
		e(50*time.Minute, "carol", KindNote, "rolled-back", "", "", "carrier support ticket #88123: they cache our key for 24h, not 15m", nil),
	}
	sealed, stored, head := chain(t, entries)
	return Ticket{
		RunID: run, Credential: "shipping-webhook-hmac", Description: "HMAC key that signs shipping webhooks to carriers",
		Owner: "team-logistics", Strategy: "overlap",
		Phase: "rolled-back", Outcome: "rolled-back",
		StartedBy: "carol", StartedAt: at(0), UpdatedAt: sealed[len(sealed)-1].At,
		Previous: &VersionRef{ID: "6", Fingerprint: fpV6},
		New:      &VersionRef{ID: "7", Fingerprint: fpV7},
		Consumers: []Consumer{
			{ID: "carrier-gateway", Kind: "integration", Risk: "external: caches keys", Proof: "carrier-signature-failures", Status: "rolled-back"},
			{ID: "label-printer-job", Kind: "job", Risk: "delayed: runs hourly", Proof: "next-run", Status: "waiting"},
		},
		Exceptions: []Exception{{Consumers: []string{"carrier-gateway"}, Owner: "carol", Reason: "carrier caches our keys; they flush tonight",
			Opened: at(31*time.Minute + 3*time.Second), Expires: expires, State: "open"}},
		FollowUps: []FollowUp{{Consumer: "label-printer-job", What: "one successful run signed with version 7", Owner: "team-logistics",
			Due: time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC), State: "open"}},
		Head: head, Verified: Verify(run, stored, head) == nil,
		Entries: sealed,
	}
}
