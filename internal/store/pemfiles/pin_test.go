package pemfiles_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/store/pemfiles"
)

// servedVersion is the version whose files a consumer reading d finds, as it finds them:
// d/cert.pem followed through every link.
func servedVersion(t *testing.T, d string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(filepath.Join(d, "cert.pem"))
	if err != nil {
		t.Fatalf("resolving %s/cert.pem: %v", d, err)
	}
	if filepath.Base(filepath.Dir(filepath.Dir(p))) != pemfiles.VersionsDir {
		t.Fatalf("%s/cert.pem resolves to %s, not into %s", d, p, pemfiles.VersionsDir)
	}
	return filepath.Base(filepath.Dir(p))
}

// servedName is the common name of the certificate a consumer reading d serves, after
// checking that d's cert.pem and key.pem are one pair (as nginx does at reload).
func servedName(t *testing.T, d string) string {
	t.Helper()
	cb, err := os.ReadFile(filepath.Join(d, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	kb, err := os.ReadFile(filepath.Join(d, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	defer clear(kb)
	if _, err := tls.X509KeyPair(cb, kb); err != nil {
		t.Fatalf("%s: cert.pem and key.pem are not one pair: %v", d, err)
	}
	blk, _ := pem.Decode(cb)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.Subject.CommonName
}

func pinStore(t *testing.T, keep int) (*pemfiles.Store, string) {
	t.Helper()
	return newStore(t, pemfiles.Config{Keep: keep, Consumers: map[string]string{"vhost-a": "a", "vhost-b": "b"}})
}

func pin(t *testing.T, s *pemfiles.Store, consumer, id string) {
	t.Helper()
	if err := s.Pin(ctx, provider.PinRequest{Credential: "web-tls", Consumer: consumer, Version: id}); err != nil {
		t.Fatalf("Pin(%s, %s): %v", consumer, id, err)
	}
}

func unpin(t *testing.T, s *pemfiles.Store, consumer string) {
	t.Helper()
	if err := s.Unpin(ctx, provider.PinRequest{Credential: "web-tls", Consumer: consumer}); err != nil {
		t.Fatalf("Unpin(%s): %v", consumer, err)
	}
}

// rollout puts and promotes a version whose certificate is named cn.
func rollout(t *testing.T, s *pemfiles.Store, cn string) string {
	t.Helper()
	_, v := issue(t, cn, nil)
	id := put(t, s, "run-"+cn, v).ID
	promote(t, s, id)
	return id
}

// wantServed checks the common name served from each directory (relative to dir; "" is dir).
func wantServed(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	for sub, cn := range want {
		if got := servedName(t, filepath.Join(dir, sub)); got != cn {
			t.Errorf("%s/ serves %s, want %s", sub, got, cn)
		}
	}
}

func TestPinHoldsOneConsumer(t *testing.T) {
	s, dir := pinStore(t, 1)
	_, v0 := issue(t, "v1.example.test", nil)
	id1 := put(t, s, "run-v1", v0).ID
	// The consumers' directories exist from the first Put, empty until a version is current.
	for _, sub := range []string{"a", "b"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
			t.Fatalf("%s/ after the first Put: %v, %v; want a directory, mode 0755", sub, fi, err)
		}
	}
	promote(t, s, id1)
	wantServed(t, dir, map[string]string{"": "v1.example.test", "a": "v1.example.test", "b": "v1.example.test"})
	if link, _ := os.Readlink(filepath.Join(dir, "b", pemfiles.LiveName)); link != "../"+pemfiles.VersionsDir+"/"+id1 {
		t.Errorf("b/..live -> %q, want a relative link into the shared versions", link)
	}
	id2 := rollout(t, s, "v2.example.test")
	wantServed(t, dir, map[string]string{"": "v2.example.test", "a": "v2.example.test", "b": "v2.example.test"})

	// b back on v1, twice (idempotent); a and dir stay on v2.
	pin(t, s, "vhost-b", id1)
	pin(t, s, "vhost-b", id1)
	wantServed(t, dir, map[string]string{"": "v2.example.test", "a": "v2.example.test", "b": "v1.example.test"})
	r, _ := s.Versions(ctx, provider.VersionsRequest{})
	if len(r.Versions) != 2 || r.Versions[0].ID != id2 || r.Versions[0].Stage != provider.StageCurrent {
		t.Errorf("Versions after the pin = %+v; want %s still current", r.Versions, id2)
	}

	// Rotations go on: a follows, b stays; keep 1 never prunes b's version.
	id3 := rollout(t, s, "v3.example.test")
	wantServed(t, dir, map[string]string{"": "v3.example.test", "a": "v3.example.test", "b": "v1.example.test"})
	id4 := rollout(t, s, "v4.example.test")
	wantServed(t, dir, map[string]string{"": "v4.example.test", "a": "v4.example.test", "b": "v1.example.test"})
	if _, err := os.Stat(filepath.Join(dir, pemfiles.VersionsDir, id1)); err != nil {
		t.Fatalf("the pinned version was pruned: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, pemfiles.VersionsDir, id2)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s (neither current, previous nor pinned) kept with keep 1: %v", id2, err)
	}
	// The version b serves cannot be disabled under it.
	err := s.Disable(ctx, provider.ToggleRequest{Version: id1})
	if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), "vhost-b") {
		t.Errorf("Disable(pinned version) = %v, want a terminal error naming vhost-b", err)
	}

	// Unpin, twice: b on current again.
	unpin(t, s, "vhost-b")
	unpin(t, s, "vhost-b")
	wantServed(t, dir, map[string]string{"": "v4.example.test", "a": "v4.example.test", "b": "v4.example.test"})
	if got := servedVersion(t, filepath.Join(dir, "b")); got != id4 {
		t.Errorf("b reads %s after Unpin, want %s", got, id4)
	}

	// Unpinned, v1 is pruned like any other old version at the next change.
	id5 := rollout(t, s, "v5.example.test")
	wantServed(t, dir, map[string]string{"a": "v5.example.test", "b": "v5.example.test"})
	err = s.Pin(ctx, provider.PinRequest{Consumer: "vhost-b", Version: id1})
	if !errors.Is(err, provider.ErrNotFound) || provider.KindOf(err) != provider.Terminal {
		t.Errorf("Pin(pruned version) = %v, want terminal not found", err)
	}
	// A disabled version is refused: a consumer is pinned to a value it can use.
	if err := s.Disable(ctx, provider.ToggleRequest{Version: id4}); err != nil {
		t.Fatal(err)
	}
	err = s.Pin(ctx, provider.PinRequest{Consumer: "vhost-b", Version: id4})
	if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("Pin(disabled version) = %v, want a terminal error saying disabled", err)
	}
	// A consumer that reads dir itself cannot be held alone: the error names the key to add.
	err = s.Pin(ctx, provider.PinRequest{Consumer: "vhost-c", Version: id3})
	if provider.KindOf(err) != provider.Terminal || !strings.Contains(err.Error(), "vhost-c reads "+dir+" itself") || !strings.Contains(err.Error(), "consumers:") {
		t.Errorf("Pin(unlisted consumer) = %v, want a terminal error telling to list it under consumers:", err)
	}
	if err := s.Unpin(ctx, provider.PinRequest{Consumer: "vhost-c"}); err != nil {
		t.Errorf("Unpin(unlisted, unpinned consumer) = %v, want nil: it follows current already", err)
	}
	wantServed(t, dir, map[string]string{"": "v5.example.test", "a": "v5.example.test", "b": "v5.example.test"})
	if got := servedVersion(t, filepath.Join(dir, "a")); got != id5 {
		t.Errorf("a reads %s, want %s", got, id5)
	}
}

// A crash between writing the pin record and switching the consumer's ..live leaves the
// record ahead of the link; the retried call (or the next Promote) finishes the switch.
func TestPinCrashBetweenRecordAndSwitch(t *testing.T) {
	s, dir := pinStore(t, 3)
	id1 := rollout(t, s, "v1.example.test")
	id2 := rollout(t, s, "v2.example.test")
	req := provider.PinRequest{Credential: "web-tls", Consumer: "vhost-b", Version: id1}

	if err := s.PinRecordOnly(ctx, req); err != nil {
		t.Fatal(err)
	}
	if got := servedVersion(t, filepath.Join(dir, "b")); got != id2 {
		t.Fatalf("after the record only, b reads %s; the crash test needs the switch not done (want %s)", got, id2)
	}
	// The record already protects the version.
	if err := s.Disable(ctx, provider.ToggleRequest{Version: id1}); err == nil {
		t.Error("Disable of a version recorded as pinned succeeded")
	}
	pin(t, s, "vhost-b", id1) // the retry
	wantServed(t, dir, map[string]string{"": "v2.example.test", "a": "v2.example.test", "b": "v1.example.test"})

	if err := s.UnpinRecordOnly(ctx, req); err != nil {
		t.Fatal(err)
	}
	if got := servedVersion(t, filepath.Join(dir, "b")); got != id1 {
		t.Fatalf("after the unpin record only, b reads %s, want still %s", got, id1)
	}
	unpin(t, s, "vhost-b") // the retry
	wantServed(t, dir, map[string]string{"b": "v2.example.test"})

	// A record left behind is carried out by the next Promote too.
	if err := s.PinRecordOnly(ctx, req); err != nil {
		t.Fatal(err)
	}
	rollout(t, s, "v3.example.test")
	wantServed(t, dir, map[string]string{"": "v3.example.test", "a": "v3.example.test", "b": "v1.example.test"})

	// A crash mid-Promote (dir switched, the consumers not yet): promoting again switches them.
	if err := s.UnpinRecordOnly(ctx, req); err != nil {
		t.Fatal(err)
	}
	_, v4 := issue(t, "v4.example.test", nil)
	id4 := put(t, s, "run-v4", v4).ID
	if err := os.Symlink(pemfiles.VersionsDir+"/"+id4, filepath.Join(dir, "..live.tmp-crash")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..live.tmp-crash"), filepath.Join(dir, pemfiles.LiveName)); err != nil {
		t.Fatal(err)
	}
	promote(t, s, id4)
	wantServed(t, dir, map[string]string{"": "v4.example.test", "a": "v4.example.test", "b": "v4.example.test"})
}

// A consumer being pinned and unpinned, over and over, never sees a certificate with another
// version's key when it resolves its ..live once; through its visible names only a read that
// straddles a switch can (rotor reloads the consumer after the switch).
func TestPinIsAtomicForReaders(t *testing.T) {
	s, dir := pinStore(t, 10)
	const nv = 4
	ids := make([]string, nv)
	for i := range ids {
		ids[i] = rollout(t, s, fmt.Sprintf("v%d.example.test", i))
	}
	bdir := filepath.Join(dir, "b")
	var stop atomic.Bool
	var reads, mismatches, straddles atomic.Int64
	// calls is odd while a Pin or Unpin runs. Pins return to earlier versions, so a read
	// through the visible names can straddle two switches that bring ..live back to where it
	// was (A, B, A): only a read during which no call ran must see one pair.
	var calls atomic.Int64
	var firstErr atomic.Value
	pair := func(certPath, keyPath string) (bool, error) {
		cb, err := os.ReadFile(certPath)
		if err != nil {
			return false, err
		}
		kb, err := os.ReadFile(keyPath)
		if err != nil {
			return false, err
		}
		_, err = tls.X509KeyPair(cb, kb)
		clear(kb)
		return err == nil, nil
	}
	var wg sync.WaitGroup
	wg.Go(func() { // nginx-style: b/..live resolved once
		for !stop.Load() {
			target, err := os.Readlink(filepath.Join(bdir, pemfiles.LiveName))
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			vdir := filepath.Join(bdir, target)
			ok, err := pair(filepath.Join(vdir, "cert.pem"), filepath.Join(vdir, "key.pem"))
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			if !ok {
				mismatches.Add(1)
			}
			reads.Add(1)
		}
	})
	wg.Go(func() { // through b's visible names
		for !stop.Load() {
			c1 := calls.Load()
			ok, err := pair(filepath.Join(bdir, "cert.pem"), filepath.Join(bdir, "key.pem"))
			c2 := calls.Load()
			switch {
			case err != nil:
				firstErr.CompareAndSwap(nil, err)
				return
			case !ok && (c1 != c2 || c1%2 == 1):
				straddles.Add(1)
			case !ok:
				mismatches.Add(1)
			}
		}
	})
	const n = 200
	for i := range n {
		calls.Add(1)
		if i%5 == 4 {
			unpin(t, s, "vhost-b")
		} else {
			pin(t, s, "vhost-b", ids[i%nv])
		}
		calls.Add(1)
	}
	stop.Store(true)
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		t.Fatalf("a reader of b failed: %v", e)
	}
	t.Logf("%d reads of b through a resolved ..live during %d pins and unpins, %d straddles through the visible names", reads.Load(), n, straddles.Load())
	if mismatches.Load() != 0 {
		t.Fatalf("%d reads of b saw a certificate with another version's key", mismatches.Load())
	}
	if reads.Load() < n {
		t.Errorf("only %d reads during %d pins: the reader barely ran", reads.Load(), n)
	}
	// a was never touched.
	if got := servedVersion(t, filepath.Join(dir, "a")); got != ids[nv-1] {
		t.Errorf("a reads %s, want current %s", got, ids[nv-1])
	}
}

// Read is not a consumer view: it reads a version by id (or current), pinned or not.
func TestReadIgnoresPins(t *testing.T) {
	s, _ := pinStore(t, 3)
	_, v1 := issue(t, "v1.example.test", nil)
	id1 := put(t, s, "run-1", v1).ID
	promote(t, s, id1)
	id2 := rollout(t, s, "v2.example.test")
	pin(t, s, "vhost-b", id1)
	r, err := s.Read(ctx, provider.ReadRequest{})
	if err != nil || r.Version.ID != id2 {
		t.Fatalf("Read(current) with b pinned = %s, %v; want %s", r.Version.ID, err, id2)
	}
	r, err = s.Read(ctx, provider.ReadRequest{Version: id1})
	if err != nil || !r.Value.Equal(v1) {
		t.Fatalf("Read(pinned version): %v", err)
	}
	r.Value.Wipe()
}

func TestValidateConsumers(t *testing.T) {
	c := pemfiles.Config{Dir: "d", Consumers: map[string]string{
		"up": "../up", "dot": ".hidden", "clash": "cert.pem", "one": "shared", "two": "shared",
	}}
	got := map[string]bool{}
	for _, fe := range c.Validate() {
		got[fe.Field] = true
	}
	for _, f := range []string{"consumers.up", "consumers.dot", "consumers.clash", "consumers.two"} {
		if !got[f] {
			t.Errorf("Validate does not name %s: %v", f, c.Validate())
		}
	}
	if got["consumers.one"] {
		t.Errorf("Validate names the first holder of a shared directory: %v", c.Validate())
	}
	if errs := (&pemfiles.Config{Dir: "d", Consumers: map[string]string{"vhost-a": "a", "vhost-b": "b"}}).Validate(); len(errs) != 0 {
		t.Errorf("a good config: %v", errs)
	}
}
