package provider_test

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rotorhq/rotor/internal/provider"
)

type closer struct{ closed atomic.Int32 }

func (c *closer) Close() error { c.closed.Add(1); return nil }

// Concurrent Gets of one key share a single open; other keys are other resources; Close
// closes each once; a Get after Close opens nothing.
func TestSharedOpensOnceAndClosesAll(t *testing.T) {
	sh := provider.NewShared()
	var opens atomic.Int32
	a, b := &closer{}, &closer{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			c, err := sh.Get("a", func() (io.Closer, error) { opens.Add(1); return a, nil })
			if err != nil || c != a {
				t.Errorf("Get(a) = %v, %v", c, err)
			}
		})
	}
	wg.Wait()
	if c, err := sh.Get("b", func() (io.Closer, error) { return b, nil }); err != nil || c != b {
		t.Fatalf("Get(b) = %v, %v", c, err)
	}
	if n := opens.Load(); n != 1 {
		t.Errorf("key a opened %d times, want once", n)
	}
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	if a.closed.Load() != 1 || b.closed.Load() != 1 {
		t.Errorf("closed a %d and b %d times, want once each", a.closed.Load(), b.closed.Load())
	}
	if _, err := sh.Get("c", func() (io.Closer, error) { t.Error("opened after Close"); return &closer{}, nil }); !errors.Is(err, provider.ErrSharedClosed) {
		t.Errorf("Get after Close: %v, want ErrSharedClosed", err)
	}
}

// A failed open is returned and not kept: the next Get opens again.
func TestSharedFailedOpenIsRetried(t *testing.T) {
	sh := provider.NewShared()
	defer sh.Close()
	boom := errors.New("server down")
	if _, err := sh.Get("k", func() (io.Closer, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the open's error", err)
	}
	c := &closer{}
	if got, err := sh.Get("k", func() (io.Closer, error) { return c, nil }); err != nil || got != c {
		t.Fatalf("second Get = %v, %v, want the new resource", got, err)
	}
}

// A resource whose open finishes after Close is closed, not leaked.
func TestSharedCloseDuringOpen(t *testing.T) {
	sh := provider.NewShared()
	c := &closer{}
	opening, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := sh.Get("k", func() (io.Closer, error) { close(opening); <-release; return c, nil })
		done <- err
	}()
	<-opening
	closed := make(chan struct{})
	go func() { sh.Close(); close(closed) }()
	notYet := errors.New("not closed yet")
	for { // wait until Close has begun (and waits for the open)
		_, err := sh.Get("probe", func() (io.Closer, error) { return nil, notYet })
		if errors.Is(err, provider.ErrSharedClosed) {
			break
		}
	}
	close(release)
	if err := <-done; !errors.Is(err, provider.ErrSharedClosed) {
		t.Errorf("Get finishing after Close: %v, want ErrSharedClosed", err)
	}
	<-closed
	if n := c.closed.Load(); n != 1 {
		t.Errorf("closed %d times, want once", n)
	}
}

func TestEnvPath(t *testing.T) {
	e := provider.Env{BaseDir: "/inv"}
	for in, want := range map[string]string{"": "", "keys/a.key": "/inv/keys/a.key", "../store": "/store", "/etc/x.pem": "/etc/x.pem"} {
		if got := e.Path(in); got != want {
			t.Errorf("Path(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (provider.Env{}).Path("a/../b"); got != "b" {
		t.Errorf("without a BaseDir: %q", got)
	}
}
