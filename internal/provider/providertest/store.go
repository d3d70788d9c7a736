// Package providertest holds the conformance suites of the provider contracts: every store
// (today the file and pem-files stores) and every authority (generated, none, postgres, x509-ca,
// acme) runs the same tests against its real backend, and every store or authority added later
// must pass them too, so the engine can rely on one behaviour whatever the inventory names. The suites drive the provider interfaces only; they know nothing of a backend's
// layout, and nothing in them is a fake of the thing under test.
package providertest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// StoreFixture is a fresh, empty store and the identities the suite acts as.
type StoreFixture struct {
	Store provider.Store
	// Credential is the credential the suite writes; the store starts with no version of it.
	Credential string
	// Executor writes the store; Reader is a consumer identity allowed to read every version
	// the suite writes; NonReader is a real identity of the same type that is not.
	Executor, Reader, NonReader provider.Identity
	// ConsumerVersion, when set, returns the id of the version the named consumer reads now,
	// as the consumer itself would find it (honouring pins). Without it, Pin and Unpin are
	// checked for errors and idempotency only.
	ConsumerVersion func(t *testing.T, consumer string) string
	// Lacks names, with the reason, each optional power of a store (provider.CanToggle,
	// CanPin, CanDelete, CanCheckWrite, CanCheckRead, CanListCertificates, CanCheckIdentity,
	// CanReseal) that this store does not have.
	// The suite holds the declaration to the store: a power the store lacks without saying so
	// fails, and so does one it declares lacking but has. A subtest opted out this way still
	// runs, checks that, and logs the reason; nothing is skipped silently.
	Lacks map[provider.Capability]string
}

// optional reports whether the store has the power c (has, from its type assertion), and
// fails the test when that contradicts the fixture's Lacks.
func optional(t *testing.T, f StoreFixture, c provider.Capability, has bool) bool {
	t.Helper()
	why, declared := f.Lacks[c]
	switch {
	case has && declared:
		t.Fatalf("the fixture says the store lacks %s (%s), but it has it", c, why)
	case !has && !declared:
		t.Fatalf("the store lacks %s: declare it in StoreFixture.Lacks with the reason, or implement it", c)
	case !has:
		t.Logf("opted out of %s: %s", c, why)
	}
	return has
}

// StoreSuite runs the store contract as subtests of t. newFixture is called once per subtest
// and must return a store that does not see the others' versions.
func StoreSuite(t *testing.T, newFixture func(t *testing.T) StoreFixture) {
	tests := []struct {
		name string
		fn   func(*testing.T, StoreFixture)
	}{
		{"PutCreatesPending", testPutCreatesPending},
		{"PutIdempotentPerKey", testPutIdempotent},
		{"PendingDoesNotDisturbCurrent", testPendingKeepsCurrent},
		{"PromoteMovesCurrentToPrevious", testPromote},
		{"PromoteCurrentAgainIsNoop", testPromoteAgain},
		{"VersionsNewestFirst", testVersionsOrder},
		{"ReadAsReader", testReadAsReader},
		{"ReadAsNonReaderDenied", testReadDenied},
		{"UnknownVersionNotFound", testUnknownVersion},
		{"DisableEnable", testDisableEnable},
		{"PinUnpin", testPinUnpin},
		{"Delete", testDelete},
		{"CheckWrite", testCheckWrite},
		{"CheckRead", testCheckRead},
		{"CertificatesMatchVersions", testCertificates},
		{"CheckIdentity", testCheckIdentity},
		{"Reseal", testReseal},
		{"ValuesNeverInErrors", testCanary},
		{"ConcurrentPutsDifferentKeys", testConcurrentPuts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newFixture(t)) })
	}
}

// canary marks every value the suite writes, so a leak is easy to find.
const canary = "CANARY-3b7f0e"

var valueSeq struct {
	sync.Mutex
	n int
}

// newValue returns a distinct value with the canary in it.
func newValue() secret.Value {
	valueSeq.Lock()
	defer valueSeq.Unlock()
	valueSeq.n++
	return secret.FromString(fmt.Sprintf("%s-value-%04d-%s", canary, valueSeq.n, "x7Qp2LmZ"))
}

func readers(f StoreFixture) []provider.Identity { return []provider.Identity{f.Executor, f.Reader} }

// suiteRun is the run id the suite's promotes, toggles and deletes are made by.
const suiteRun = "run-suite"

// toggle is a request to disable, enable or delete version id, as the executor.
func toggle(f StoreFixture, id string) provider.ToggleRequest {
	return provider.ToggleRequest{Credential: f.Credential, Version: id, As: f.Executor, RunID: suiteRun}
}

func put(t *testing.T, f StoreFixture, key string, v secret.Value) provider.Version {
	t.Helper()
	resp, err := f.Store.Put(context.Background(), provider.PutRequest{Credential: f.Credential, Value: v, Key: key, Readers: readers(f), As: f.Executor})
	if err != nil {
		t.Fatalf("Put(key %q): %v", key, err)
	}
	if !resp.Created {
		t.Fatalf("Put(key %q) on a new key: Created = false", key)
	}
	if resp.Version.ID == "" {
		t.Fatalf("Put(key %q): empty version id", key)
	}
	return resp.Version
}

func promote(t *testing.T, f StoreFixture, id string) provider.PromoteResponse {
	t.Helper()
	resp, err := f.Store.Promote(context.Background(), provider.PromoteRequest{Credential: f.Credential, Version: id, As: f.Executor, RunID: suiteRun})
	if err != nil {
		t.Fatalf("Promote(%s): %v", id, err)
	}
	return resp
}

func versions(t *testing.T, f StoreFixture) []provider.Version {
	t.Helper()
	resp, err := f.Store.Versions(context.Background(), provider.VersionsRequest{Credential: f.Credential})
	if err != nil {
		t.Fatalf("Versions: %v", err)
	}
	return resp.Versions
}

func find(vs []provider.Version, id string) (provider.Version, bool) {
	for _, v := range vs {
		if v.ID == id {
			return v, true
		}
	}
	return provider.Version{}, false
}

// stages maps version id to stage, for the versions listed.
func stages(t *testing.T, f StoreFixture) map[string]provider.Stage {
	t.Helper()
	out := map[string]provider.Stage{}
	for _, v := range versions(t, f) {
		out[v.ID] = v.Stage
	}
	return out
}

func wantStage(t *testing.T, f StoreFixture, id string, want provider.Stage) {
	t.Helper()
	v, ok := find(versions(t, f), id)
	if !ok {
		t.Fatalf("Versions does not list %s", id)
	}
	if v.Stage != want {
		t.Errorf("version %s: stage %q, want %q", id, v.Stage, want)
	}
}

func read(ctx context.Context, f StoreFixture, id string, as provider.Identity) (provider.ReadResponse, error) {
	return f.Store.Read(ctx, provider.ReadRequest{Credential: f.Credential, Version: id, As: as})
}

func mustRead(t *testing.T, f StoreFixture, id string, as provider.Identity, want secret.Value) provider.ReadResponse {
	t.Helper()
	resp, err := read(context.Background(), f, id, as)
	if err != nil {
		t.Fatalf("Read(%q) as %s: %v", id, as.ID, err)
	}
	if !resp.Value.Equal(want) {
		t.Fatalf("Read(%q) as %s: got another value than the one written (lengths %d and %d)", id, as.ID, resp.Value.Len(), want.Len())
	}
	return resp
}

// wantKind fails unless err is a *provider.Error of the kind.
func wantKind(t *testing.T, what string, err error, kind provider.ErrorKind) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want one of kind %s", what, kind)
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: error %q is not a *provider.Error", what, err)
	}
	if pe.Kind != kind {
		t.Fatalf("%s: error kind %s, want %s: %v", what, pe.Kind, kind, err)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want not found", what)
	}
	if !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("%s: error %q does not wrap provider.ErrNotFound", what, err)
	}
	if k := provider.KindOf(err); k == provider.Retryable {
		t.Fatalf("%s: not found is classified retryable: %v", what, err)
	}
}

func testPutCreatesPending(t *testing.T, f StoreFixture) {
	v := newValue()
	got := put(t, f, "run-1", v)
	if got.Stage != provider.StagePending {
		t.Errorf("Put: stage %q, want pending", got.Stage)
	}
	if !got.Enabled {
		t.Error("Put: new version not enabled")
	}
	if got.Key != "run-1" {
		t.Errorf("Put: key %q, want run-1", got.Key)
	}
	vs := versions(t, f)
	if len(vs) != 1 || vs[0].ID != got.ID || vs[0].Stage != provider.StagePending || vs[0].Key != "run-1" {
		t.Errorf("Versions after one Put = %+v, want just %s, pending, key run-1", vs, got.ID)
	}
	// Readiness reads the pending version as each consumer, before cutover.
	mustRead(t, f, got.ID, f.Reader, v)
	mustRead(t, f, got.ID, f.Executor, v)
	// Nothing is current yet.
	_, err := read(context.Background(), f, "", f.Reader)
	wantNotFound(t, "Read(current) before any Promote", err)
}

func testPutIdempotent(t *testing.T, f StoreFixture) {
	ctx := context.Background()
	first := newValue()
	v1 := put(t, f, "run-1", first)
	// A retried Put (after a crash, with a freshly minted value) finds the first version.
	again, err := f.Store.Put(ctx, provider.PutRequest{Credential: f.Credential, Value: newValue(), Key: "run-1", Readers: readers(f), As: f.Executor})
	if err != nil {
		t.Fatalf("second Put with the same key: %v", err)
	}
	if again.Created {
		t.Error("second Put with the same key: Created = true")
	}
	if again.Version.ID != v1.ID {
		t.Errorf("second Put with the same key: version %s, want %s", again.Version.ID, v1.ID)
	}
	if vs := versions(t, f); len(vs) != 1 {
		t.Errorf("after two Puts with one key: %d versions, want 1", len(vs))
	}
	mustRead(t, f, v1.ID, f.Reader, first)
	// Another key is another version.
	v2 := put(t, f, "run-2", newValue())
	if v2.ID == v1.ID {
		t.Errorf("Put with another key returned the same version %s", v1.ID)
	}
}

func testPendingKeepsCurrent(t *testing.T, f StoreFixture) {
	old := newValue()
	v1 := put(t, f, "run-1", old)
	promote(t, f, v1.ID)
	v2 := put(t, f, "run-2", newValue())
	resp := mustRead(t, f, "", f.Reader, old)
	if resp.Version.ID != v1.ID || resp.Version.Stage != provider.StageCurrent {
		t.Errorf("Read(current) after a pending Put: version %s (%q), want %s (current)", resp.Version.ID, resp.Version.Stage, v1.ID)
	}
	want := map[string]provider.Stage{v1.ID: provider.StageCurrent, v2.ID: provider.StagePending}
	if got := stages(t, f); !maps.Equal(got, want) {
		t.Errorf("stages = %v, want %v", got, want)
	}
}

func testPromote(t *testing.T, f StoreFixture) {
	a, b, c := newValue(), newValue(), newValue()
	v1 := put(t, f, "run-1", a)
	first := promote(t, f, v1.ID)
	if first.Current.ID != v1.ID || first.Previous != nil {
		t.Errorf("first Promote = current %s, previous %v; want %s and none", first.Current.ID, first.Previous, v1.ID)
	}
	v2 := put(t, f, "run-2", b)
	second := promote(t, f, v2.ID)
	if second.Current.ID != v2.ID || second.Current.Stage != provider.StageCurrent {
		t.Errorf("Promote(%s).Current = %s (%q)", v2.ID, second.Current.ID, second.Current.Stage)
	}
	if second.Previous == nil || second.Previous.ID != v1.ID {
		t.Fatalf("Promote(%s).Previous = %v, want %s", v2.ID, second.Previous, v1.ID)
	}
	want := map[string]provider.Stage{v2.ID: provider.StageCurrent, v1.ID: provider.StagePrevious}
	if got := stages(t, f); !maps.Equal(got, want) {
		t.Errorf("stages = %v, want %v", got, want)
	}
	mustRead(t, f, "", f.Reader, b)
	mustRead(t, f, v1.ID, f.Reader, a) // previous still reads: overlap

	v3 := put(t, f, "run-3", c)
	promote(t, f, v3.ID)
	got := stages(t, f)
	if got[v3.ID] != provider.StageCurrent || got[v2.ID] != provider.StagePrevious {
		t.Errorf("after a third Promote: stages = %v, want %s current and %s previous", got, v3.ID, v2.ID)
	}
	if s, listed := got[v1.ID]; listed && (s == provider.StageCurrent || s == provider.StagePrevious || s == provider.StagePending) {
		t.Errorf("after a third Promote: the first version is still %q", s)
	}
}

func testPromoteAgain(t *testing.T, f StoreFixture) {
	v1 := put(t, f, "run-1", newValue())
	promote(t, f, v1.ID)
	v2 := put(t, f, "run-2", newValue())
	promote(t, f, v2.ID)
	before := versions(t, f)
	again := promote(t, f, v2.ID) // a retried Promote
	if again.Current.ID != v2.ID {
		t.Errorf("Promote(current) again: current %s, want %s", again.Current.ID, v2.ID)
	}
	if again.Previous != nil && again.Previous.ID != v1.ID {
		t.Errorf("Promote(current) again: previous %s, want %s (or none)", again.Previous.ID, v1.ID)
	}
	after := versions(t, f)
	if len(after) != len(before) {
		t.Fatalf("Promote(current) again changed the number of versions: %d -> %d", len(before), len(after))
	}
	for i := range after {
		if after[i].ID != before[i].ID || after[i].Stage != before[i].Stage || after[i].Enabled != before[i].Enabled {
			t.Errorf("Promote(current) again changed version %d: %+v -> %+v", i, before[i], after[i])
		}
	}
}

func testVersionsOrder(t *testing.T, f StoreFixture) {
	var ids []string
	for i := range 4 {
		v := put(t, f, fmt.Sprintf("run-%d", i), newValue())
		ids = append(ids, v.ID)
		if i%2 == 0 {
			promote(t, f, v.ID)
		}
	}
	slices.Reverse(ids)
	var got []string
	for _, v := range versions(t, f) {
		got = append(got, v.ID)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("Versions = %v, want newest first %v", got, ids)
	}
}

func testReadAsReader(t *testing.T, f StoreFixture) {
	a, b := newValue(), newValue()
	v1 := put(t, f, "run-1", a)
	promote(t, f, v1.ID)
	v2 := put(t, f, "run-2", b)
	r := mustRead(t, f, "", f.Reader, a)
	if r.Version.ID != v1.ID {
		t.Errorf("Read(current).Version = %s, want %s", r.Version.ID, v1.ID)
	}
	r = mustRead(t, f, v2.ID, f.Reader, b)
	if r.Version.ID != v2.ID || r.Version.Stage != provider.StagePending {
		t.Errorf("Read(%s).Version = %s (%q), want it pending", v2.ID, r.Version.ID, r.Version.Stage)
	}
}

func testReadDenied(t *testing.T, f StoreFixture) {
	v1 := put(t, f, "run-1", newValue())
	_, err := read(context.Background(), f, v1.ID, f.NonReader)
	wantKind(t, "Read as an identity that is not a reader", err, provider.Denied)
	promote(t, f, v1.ID)
	_, err = read(context.Background(), f, "", f.NonReader)
	wantKind(t, "Read(current) as an identity that is not a reader", err, provider.Denied)
}

func testUnknownVersion(t *testing.T, f StoreFixture) {
	ctx := context.Background()
	v1 := put(t, f, "run-1", newValue())
	promote(t, f, v1.ID)
	unknown := "v9999-00000000"
	if unknown == v1.ID {
		unknown = "v9998-00000000"
	}
	_, err := read(ctx, f, unknown, f.Reader)
	wantNotFound(t, "Read(unknown version)", err)
	_, err = f.Store.Promote(ctx, provider.PromoteRequest{Credential: f.Credential, Version: unknown, As: f.Executor, RunID: suiteRun})
	wantNotFound(t, "Promote(unknown version)", err)
	wantStage(t, f, v1.ID, provider.StageCurrent)
}

func testDisableEnable(t *testing.T, f StoreFixture) {
	tg, ok := f.Store.(provider.VersionToggler)
	if !optional(t, f, provider.CanToggle, ok) {
		return
	}
	ctx := context.Background()
	a, b := newValue(), newValue()
	v1 := put(t, f, "run-1", a)
	promote(t, f, v1.ID)
	v2 := put(t, f, "run-2", b)
	promote(t, f, v2.ID)
	req := toggle(f, v1.ID)

	for i := range 2 { // the second is a retry: no error, no change
		if err := tg.Disable(ctx, req); err != nil {
			t.Fatalf("Disable(previous) #%d: %v", i+1, err)
		}
		v, ok := find(versions(t, f), v1.ID)
		if ok && v.Enabled {
			t.Fatalf("after Disable #%d: %s still enabled", i+1, v1.ID)
		}
	}
	if _, err := read(ctx, f, v1.ID, f.Reader); err == nil {
		t.Error("Read of a disabled version succeeded: a revoked value must not reach a consumer")
	}
	mustRead(t, f, "", f.Reader, b) // current is untouched

	for i := range 2 {
		if err := tg.Enable(ctx, req); err != nil {
			t.Fatalf("Enable #%d: %v", i+1, err)
		}
		v, ok := find(versions(t, f), v1.ID)
		if !ok || !v.Enabled {
			t.Fatalf("after Enable #%d: %s not listed as enabled (%+v)", i+1, v1.ID, v)
		}
	}
	mustRead(t, f, v1.ID, f.Reader, a)
	wantStage(t, f, v2.ID, provider.StageCurrent)

	err := tg.Disable(ctx, toggle(f, "v9999-00000000"))
	wantNotFound(t, "Disable(unknown version)", err)
}

func testPinUnpin(t *testing.T, f StoreFixture) {
	pn, ok := f.Store.(provider.Pinner)
	if !optional(t, f, provider.CanPin, ok) {
		return
	}
	ctx := context.Background()
	v1 := put(t, f, "run-1", newValue())
	promote(t, f, v1.ID)
	v2 := put(t, f, "run-2", newValue())
	promote(t, f, v2.ID)
	consumerSees := func(c, want string) {
		t.Helper()
		if f.ConsumerVersion == nil {
			return
		}
		if got := f.ConsumerVersion(t, c); got != want {
			t.Errorf("consumer %s reads %s, want %s", c, got, want)
		}
	}
	pin := provider.PinRequest{Credential: f.Credential, Consumer: "billing", Version: v1.ID}
	for i := range 2 {
		if err := pn.Pin(ctx, pin); err != nil {
			t.Fatalf("Pin #%d: %v", i+1, err)
		}
	}
	consumerSees("billing", v1.ID)
	consumerSees("orders", v2.ID) // others follow current
	wantStage(t, f, v2.ID, provider.StageCurrent)

	for i := range 2 {
		if err := pn.Unpin(ctx, pin); err != nil {
			t.Fatalf("Unpin #%d: %v", i+1, err)
		}
	}
	consumerSees("billing", v2.ID)

	err := pn.Pin(ctx, provider.PinRequest{Credential: f.Credential, Consumer: "billing", Version: "v9999-00000000"})
	wantNotFound(t, "Pin(unknown version)", err)
	consumerSees("billing", v2.ID)
}

func testDelete(t *testing.T, f StoreFixture) {
	del, ok := f.Store.(provider.VersionDeleter)
	if !optional(t, f, provider.CanDelete, ok) {
		return
	}
	ctx := context.Background()
	v1 := put(t, f, "run-1", newValue())
	promote(t, f, v1.ID)
	b := newValue()
	v2 := put(t, f, "run-2", b)
	promote(t, f, v2.ID)
	// Revoke first, delete later: the order the engine follows.
	if tg, ok := f.Store.(provider.VersionToggler); ok {
		if err := tg.Disable(ctx, toggle(f, v1.ID)); err != nil {
			t.Fatalf("Disable before Delete: %v", err)
		}
	}
	req := toggle(f, v1.ID)
	for i := range 2 {
		if err := del.Delete(ctx, req); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	_, err := read(ctx, f, v1.ID, f.Reader)
	wantNotFound(t, "Read(deleted version)", err)
	if v, ok := find(versions(t, f), v1.ID); ok && v.Enabled {
		t.Errorf("Versions lists the deleted version %s as enabled", v1.ID)
	}
	mustRead(t, f, "", f.Reader, b)
	wantStage(t, f, v2.ID, provider.StageCurrent)

	err = del.Delete(ctx, toggle(f, "v9999-00000000"))
	wantNotFound(t, "Delete(unknown version)", err)
}

func testCheckWrite(t *testing.T, f StoreFixture) {
	wc, ok := f.Store.(provider.WriteChecker)
	if !optional(t, f, provider.CanCheckWrite, ok) {
		return
	}
	before := versions(t, f)
	if err := wc.CheckWrite(context.Background(), provider.CheckWriteRequest{Credential: f.Credential, As: f.Executor, Readers: readers(f)}); err != nil {
		t.Fatalf("CheckWrite as the executor: %v", err)
	}
	if after := versions(t, f); len(after) != len(before) {
		t.Errorf("CheckWrite wrote a version: %d -> %d", len(before), len(after))
	}
}

// testCheckIdentity holds a store that checks identities ahead (provider.IdentityChecker):
// the executor and the reader fit; an identity of a type no store knows is refused, wrapping
// provider.ErrUnsupported; and nothing is written.
func testCheckIdentity(t *testing.T, f StoreFixture) {
	ic, ok := f.Store.(provider.IdentityChecker)
	if !optional(t, f, provider.CanCheckIdentity, ok) {
		return
	}
	ctx := context.Background()
	if err := ic.CheckIdentity(ctx, provider.CheckIdentityRequest{Credential: f.Credential, Identity: f.Executor, Executor: true}); err != nil {
		t.Fatalf("CheckIdentity(executor): %v", err)
	}
	if err := ic.CheckIdentity(ctx, provider.CheckIdentityRequest{Credential: f.Credential, Identity: f.Reader}); err != nil {
		t.Fatalf("CheckIdentity(reader): %v", err)
	}
	odd := provider.Identity{ID: "stranger", Type: "no-such-type"}
	if err := ic.CheckIdentity(ctx, provider.CheckIdentityRequest{Credential: f.Credential, Identity: odd}); !errors.Is(err, provider.ErrUnsupported) {
		t.Fatalf("CheckIdentity(an identity of type %q) = %v, want an error wrapping ErrUnsupported", odd.Type, err)
	}
	if vs := versions(t, f); len(vs) != 0 {
		t.Errorf("CheckIdentity wrote %d version(s)", len(vs))
	}
}

// testReseal holds a store that writes a version again for other readers (provider.Resealer)
// to its contract: the same version, now readable by the new readers only, with the same
// value; again for the same readers, nothing changes; another value is refused.
func testReseal(t *testing.T, f StoreFixture) {
	rs, ok := f.Store.(provider.Resealer)
	if !optional(t, f, provider.CanReseal, ok) {
		return
	}
	ctx := context.Background()
	val := newValue()
	v := put(t, f, "run-1", val)
	now := []provider.Identity{f.Executor, f.NonReader}
	resp, err := rs.Reseal(ctx, provider.ResealRequest{Credential: f.Credential, Version: v.ID, Value: val, Readers: now})
	if err != nil || !resp.Changed {
		t.Fatalf("Reseal for new readers: %+v, %v", resp, err)
	}
	got, err := read(ctx, f, v.ID, f.NonReader)
	if err != nil {
		t.Fatalf("Read as a reader added by Reseal: %v", err)
	}
	if !got.Value.Equal(val) {
		t.Error("the resealed version reads another value")
	}
	got.Value.Wipe()
	_, err = read(ctx, f, v.ID, f.Reader)
	wantKind(t, "Read as a reader that Reseal left out", err, provider.Denied)
	if vs := versions(t, f); len(vs) != 1 || vs[0].ID != v.ID {
		t.Errorf("Reseal made another version: %+v", vs)
	}
	if resp, err := rs.Reseal(ctx, provider.ResealRequest{Credential: f.Credential, Version: v.ID, Value: val, Readers: now}); err != nil || resp.Changed {
		t.Errorf("Reseal again for the same readers: %+v, %v (want no change)", resp, err)
	}
	if _, err := rs.Reseal(ctx, provider.ResealRequest{Credential: f.Credential, Version: v.ID, Value: newValue(), Readers: readers(f)}); err == nil {
		t.Error("Reseal with another value than the version's was taken")
	}
}

// testCheckRead: a reader's access is proven before any version exists, a non-reader's is
// refused as Denied, and nothing is written either way.
func testCheckRead(t *testing.T, f StoreFixture) {
	rc, ok := f.Store.(provider.ReadChecker)
	if !optional(t, f, provider.CanCheckRead, ok) {
		return
	}
	ctx := context.Background()
	if err := rc.CheckRead(ctx, provider.CheckReadRequest{Credential: f.Credential, As: f.Reader}); err != nil {
		t.Fatalf("CheckRead as a reader, before any version: %v", err)
	}
	err := rc.CheckRead(ctx, provider.CheckReadRequest{Credential: f.Credential, As: f.NonReader})
	wantKind(t, "CheckRead as an identity that is not a reader", err, provider.Denied)
	if !strings.Contains(err.Error(), f.NonReader.ID) {
		t.Errorf("CheckRead's refusal does not name the identity %s: %v", f.NonReader.ID, err)
	}
	if vs := versions(t, f); len(vs) != 0 {
		t.Errorf("CheckRead wrote %d versions", len(vs))
	}
	v1 := put(t, f, "run-1", newValue())
	promote(t, f, v1.ID)
	if err := rc.CheckRead(ctx, provider.CheckReadRequest{Credential: f.Credential, As: f.Reader}); err != nil {
		t.Fatalf("CheckRead as a reader, with a current version: %v", err)
	}
}

// testCertificates holds a store that lists its certificates (provider.CertificateLister) to
// its contract: nothing while empty; then one entry per version Versions lists — pending,
// current, previous (disabled, when the store can disable), retired — in the same order, with
// the same version, each with its own leaf; and nothing of a value but that leaf.
func testCertificates(t *testing.T, f StoreFixture) {
	cl, ok := f.Store.(provider.CertificateLister)
	if !optional(t, f, provider.CanListCertificates, ok) {
		return
	}
	ctx := context.Background()
	list := func() []provider.Certificate {
		t.Helper()
		resp, err := cl.Certificates(ctx, provider.CertificatesRequest{Credential: f.Credential})
		if err != nil {
			t.Fatalf("Certificates: %v", err)
		}
		return resp.Certificates
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("Certificates of an empty store: %d entries, want none", len(got))
	}
	var ids []string
	for i := range 3 {
		v := put(t, f, fmt.Sprintf("run-%d", i), newValue())
		promote(t, f, v.ID)
		ids = append(ids, v.ID)
	}
	put(t, f, "run-3", newValue())
	if tg, ok := f.Store.(provider.VersionToggler); ok {
		if err := tg.Disable(ctx, toggle(f, ids[1])); err != nil {
			t.Fatalf("Disable(previous): %v", err)
		}
	}
	vs := versions(t, f)
	certs := list()
	if len(certs) != len(vs) {
		t.Fatalf("Certificates lists %d entries, Versions %d", len(certs), len(vs))
	}
	leaves := map[string]string{}
	for i, c := range certs {
		v := vs[i]
		if got := c.Version; got.ID != v.ID || got.Stage != v.Stage || got.Enabled != v.Enabled || got.Key != v.Key ||
			got.Fingerprint != v.Fingerprint || got.AuthorityRef != v.AuthorityRef || !got.Expires.Equal(v.Expires) {
			t.Errorf("entry %d: version %+v, Versions has %+v", i, got, v)
		}
		// ParseCertificate refuses trailing data: Leaf is one certificate and nothing else
		// (no chain, no key behind it).
		if _, err := x509.ParseCertificate(c.Leaf); err != nil {
			t.Errorf("entry %d (version %s): Leaf is not one DER certificate: %v", i, v.ID, err)
		}
		if other, dup := leaves[string(c.Leaf)]; dup {
			t.Errorf("versions %s and %s are listed with the same certificate: each version's own leaf is wanted", other, v.ID)
		}
		leaves[string(c.Leaf)] = v.ID
		c.Leaf = nil
		if s := fmt.Sprintf("%+v", c); strings.Contains(s, canary) || strings.Contains(s, "PRIVATE KEY") {
			t.Errorf("entry %d shows a value or a key: %s", i, s)
		}
	}
}

// testCanary provokes every error the contract names with values in the store, and checks
// that no message, and no listed version, carries a value.
func testCanary(t *testing.T, f StoreFixture) {
	ctx := context.Background()
	v := newValue()
	v1 := put(t, f, "run-1", v)
	promote(t, f, v1.ID)
	plain := v.Reveal() // to compare against, never printed
	defer clear(plain)
	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	_, err := read(ctx, f, v1.ID, f.NonReader)
	collect(err)
	_, err = read(ctx, f, "v9999-00000000", f.Reader)
	collect(err)
	_, err = f.Store.Promote(ctx, provider.PromoteRequest{Credential: f.Credential, Version: "v9999-00000000", As: f.Executor, RunID: suiteRun})
	collect(err)
	_, err = f.Store.Put(ctx, provider.PutRequest{Credential: f.Credential, Value: newValue(), Key: "run-2",
		Readers: []provider.Identity{{ID: "martian", Type: "martian", Config: struct{ Secret string }{canary}}}, As: f.Executor})
	collect(err)
	if len(errs) < 3 {
		t.Fatalf("only %d of the provoked calls failed: %v", len(errs), errs)
	}
	for _, err := range errs {
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(s, string(plain)) || strings.Contains(s, canary+"-value") {
				t.Errorf("an error shows a secret value: %s", s)
			}
		}
	}
	for _, ver := range versions(t, f) {
		s := fmt.Sprintf("%+v", ver)
		if strings.Contains(s, canary) {
			t.Errorf("a listed version shows a secret value: %s", s)
		}
	}
}

func testConcurrentPuts(t *testing.T, f StoreFixture) {
	const n = 8
	ctx := context.Background()
	type result struct {
		v   provider.Version
		val secret.Value
		err error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			val := newValue()
			resp, err := f.Store.Put(ctx, provider.PutRequest{Credential: f.Credential, Value: val, Key: fmt.Sprintf("run-%d", i), Readers: readers(f), As: f.Executor})
			results[i] = result{resp.Version, val, err}
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("concurrent Put %d: %v", i, r.err)
		}
		if ids[r.v.ID] {
			t.Fatalf("two concurrent Puts got version %s", r.v.ID)
		}
		ids[r.v.ID] = true
	}
	vs := versions(t, f)
	if len(vs) != n {
		t.Fatalf("after %d concurrent Puts: %d versions", n, len(vs))
	}
	for _, r := range results {
		if !ids[r.v.ID] {
			t.Errorf("version %s is not listed", r.v.ID)
		}
		mustRead(t, f, r.v.ID, f.Reader, r.val)
	}
}
