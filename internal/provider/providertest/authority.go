package providertest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// AuthorityFixture is a fresh authority and the strategies to hold it to.
type AuthorityFixture struct {
	Authority  provider.Authority
	Credential string
	// Strategies are the strategies the authority supports for this credential; the suite
	// runs the contract under each.
	Strategies []string
}

// AuthoritySuite runs the authority contract as subtests of t, once per strategy: values
// are minted, enable and revoke are idempotent per run, bad requests are refused, and no
// error carries a value. newFixture is called once per subtest.
func AuthoritySuite(t *testing.T, newFixture func(t *testing.T) AuthorityFixture) {
	tests := []struct {
		name string
		fn   func(*testing.T, AuthorityFixture, string)
	}{
		{"MintGivesNewValues", testMint},
		{"MintRetrySucceeds", testMintRetry},
		{"EnableIdempotent", testEnable},
		{"RevokeIdempotent", testRevoke},
		{"RestoreIdempotent", testRestore},
		{"DiscardIdempotent", testDiscard},
		{"CheckManage", testCheckManage},
		{"BadRequestsRefused", testBadRequests},
		{"ValuesNeverInErrors", testAuthorityCanary},
	}
	for _, strategy := range newFixture(t).Strategies {
		t.Run(strategy, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, newFixture(t), strategy) })
			}
		})
	}
}

// minted is a value the suite has minted and stored (as the engine would have).
type minted struct {
	run     string
	version provider.Version
	value   secret.Value
}

// mint mints a value for run and names it as the store would: current is the version in use.
func mint(t *testing.T, f AuthorityFixture, strategy, run string, current *provider.Version) minted {
	t.Helper()
	resp, err := f.Authority.Mint(context.Background(), provider.MintRequest{Credential: f.Credential, RunID: run, Strategy: strategy, Current: current})
	if err != nil {
		t.Fatalf("Mint(run %s, %s): %v", run, strategy, err)
	}
	if resp.Value.IsZero() {
		t.Fatalf("Mint(run %s): empty value", run)
	}
	return minted{run: run, value: resp.Value, version: provider.Version{
		ID: "v-" + run, Stage: provider.StagePending, Enabled: true, Key: run,
		AuthorityRef: resp.AuthorityRef, Expires: resp.Expires,
	}}
}

func enable(t *testing.T, f AuthorityFixture, strategy string, m minted, previous *provider.Version) {
	t.Helper()
	for i := range 2 { // the second is a retry after a crash: no error, no second effect
		_, err := f.Authority.Enable(context.Background(), provider.EnableRequest{Credential: f.Credential, RunID: m.run, Strategy: strategy,
			Version: m.version, Value: m.value, Previous: previous})
		if err != nil {
			t.Fatalf("Enable(%s) #%d: %v", m.version.ID, i+1, err)
		}
	}
}

// rotated is the state after two rotations: first was current, second replaced it.
func rotated(t *testing.T, f AuthorityFixture, strategy string) (first, second minted) {
	t.Helper()
	first = mint(t, f, strategy, "run-1", nil)
	enable(t, f, strategy, first, nil)
	first.version.Stage = provider.StageCurrent
	second = mint(t, f, strategy, "run-2", &first.version)
	enable(t, f, strategy, second, &first.version)
	second.version.Stage = provider.StageCurrent
	first.version.Stage = provider.StagePrevious
	return first, second
}

func testMint(t *testing.T, f AuthorityFixture, strategy string) {
	a := mint(t, f, strategy, "run-1", nil)
	b := mint(t, f, strategy, "run-2", &a.version)
	if a.value.Equal(b.value) {
		t.Error("two runs minted the same value")
	}
}

func testMintRetry(t *testing.T, f AuthorityFixture, strategy string) {
	// A retried Mint returns the value its run made, or a new one with the first discarded;
	// either way it succeeds, and what it returns can be enabled.
	mint(t, f, strategy, "run-1", nil)
	m := mint(t, f, strategy, "run-1", nil)
	enable(t, f, strategy, m, nil)
}

func testEnable(t *testing.T, f AuthorityFixture, strategy string) {
	rotated(t, f, strategy) // enable runs twice per version inside
}

func testRevoke(t *testing.T, f AuthorityFixture, strategy string) {
	first, second := rotated(t, f, strategy)
	for i := range 2 {
		_, err := f.Authority.Revoke(context.Background(), provider.RevokeRequest{Credential: f.Credential, RunID: second.run, Strategy: strategy,
			Previous: first.version, Current: second.version})
		if err != nil {
			t.Fatalf("Revoke(%s) #%d: %v", first.version.ID, i+1, err)
		}
	}
}

func testRestore(t *testing.T, f AuthorityFixture, strategy string) {
	r, ok := f.Authority.(provider.Restorer)
	if !ok {
		t.Log("the authority cannot restore (no provider.Restorer)")
		return
	}
	first, second := rotated(t, f, strategy)
	if _, err := f.Authority.Revoke(context.Background(), provider.RevokeRequest{Credential: f.Credential, RunID: second.run, Strategy: strategy,
		Previous: first.version, Current: second.version}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	for i := range 2 {
		err := r.Restore(context.Background(), provider.RestoreRequest{Credential: f.Credential, RunID: second.run, Strategy: strategy,
			Version: first.version, Value: first.value})
		if err != nil {
			t.Fatalf("Restore(%s) #%d: %v", first.version.ID, i+1, err)
		}
	}
}

// testDiscard holds an authority that can make a cancelled run's value invalid
// (provider.Discarder): twice without an error, and never the current version. An overlap
// run is cancelled after its enable (prepare); an in-place one before it (its enable is
// cutover, after which a run is rolled back, not cancelled).
func testDiscard(t *testing.T, f AuthorityFixture, strategy string) {
	d, ok := f.Authority.(provider.Discarder)
	if !ok {
		t.Log("the authority cannot discard a cancelled run's value (no provider.Discarder)")
		return
	}
	ctx := context.Background()
	_, second := rotated(t, f, strategy)
	third := mint(t, f, strategy, "run-3", &second.version)
	enabled := strategy != "in-place"
	if enabled {
		enable(t, f, strategy, third, &second.version)
	}
	for i := range 2 {
		if _, err := d.Discard(ctx, provider.DiscardRequest{Credential: f.Credential, RunID: third.run, Strategy: strategy,
			Version: third.version, Current: &second.version, Enabled: enabled}); err != nil {
			t.Fatalf("Discard(%s) #%d: %v", third.version.ID, i+1, err)
		}
	}
	_, err := d.Discard(ctx, provider.DiscardRequest{Credential: f.Credential, RunID: third.run, Strategy: strategy,
		Version: second.version, Current: &second.version, Enabled: true})
	wantKind(t, "Discard of the current version", err, provider.Terminal)
}

func testCheckManage(t *testing.T, f AuthorityFixture, strategy string) {
	mc, ok := f.Authority.(provider.ManageChecker)
	if !ok {
		t.Log("the authority cannot prove manage access (no provider.ManageChecker)")
		return
	}
	if err := mc.CheckManage(context.Background(), provider.CheckManageRequest{Credential: f.Credential, Strategy: strategy}); err != nil {
		t.Fatalf("CheckManage(%s): %v", strategy, err)
	}
}

// testBadRequests sends requests no engine should send; each must fail as Terminal, before
// any effect.
func testBadRequests(t *testing.T, f AuthorityFixture, strategy string) {
	ctx := context.Background()
	first, second := rotated(t, f, strategy)
	_, err := f.Authority.Mint(ctx, provider.MintRequest{Credential: f.Credential, RunID: "run-3", Strategy: "no-such-strategy", Current: &second.version})
	wantKind(t, "Mint with an unknown strategy", err, provider.Terminal)
	_, err = f.Authority.Mint(ctx, provider.MintRequest{Credential: f.Credential, Strategy: strategy, Current: &second.version})
	wantKind(t, "Mint without a run id", err, provider.Terminal)
	_, err = f.Authority.Enable(ctx, provider.EnableRequest{Credential: f.Credential, RunID: second.run, Strategy: strategy,
		Version: provider.Version{}, Value: second.value, Previous: &first.version})
	wantKind(t, "Enable without a version id", err, provider.Terminal)
	_, err = f.Authority.Revoke(ctx, provider.RevokeRequest{Credential: f.Credential, RunID: second.run, Strategy: strategy,
		Previous: second.version, Current: second.version})
	wantKind(t, "Revoke of the current version", err, provider.Terminal)
	_, err = f.Authority.Revoke(ctx, provider.RevokeRequest{Credential: f.Credential, RunID: second.run, Strategy: strategy,
		Current: second.version})
	wantKind(t, "Revoke without a previous version", err, provider.Terminal)
}

func testAuthorityCanary(t *testing.T, f AuthorityFixture, strategy string) {
	ctx := context.Background()
	first, second := rotated(t, f, strategy)
	var errs []error
	_, err := f.Authority.Enable(ctx, provider.EnableRequest{Credential: f.Credential, RunID: second.run, Strategy: "no-such-strategy",
		Version: second.version, Value: second.value, Previous: &first.version})
	errs = append(errs, err)
	_, err = f.Authority.Enable(ctx, provider.EnableRequest{Credential: f.Credential, Strategy: strategy, Value: second.value})
	errs = append(errs, err)
	if r, ok := f.Authority.(provider.Restorer); ok {
		errs = append(errs, r.Restore(ctx, provider.RestoreRequest{Credential: f.Credential, Strategy: strategy, Value: first.value}))
	}
	for _, m := range []minted{first, second} {
		plain := m.value.Reveal() // to compare against, never printed
		for _, err := range errs {
			if err == nil {
				t.Fatal("a bad request succeeded")
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(s, string(plain)) {
					t.Errorf("an error shows a minted value: %s", strings.ReplaceAll(s, string(plain), secret.Redacted))
				}
			}
		}
		clear(plain)
	}
}
