package engine

import (
	"errors"
	"io"
	"testing"

	"github.com/rotorhq/rotor/internal/provider"
)

type nopCloser struct{ closed *int }

func (c nopCloser) Close() error { *c.closed++; return nil }

// The shared provider resources live as long as the operations holding them: operations that
// overlap (the runs of RotateMany) share one set, the last to end closes it, and the next
// operation starts a new one.
func TestShareLifetime(t *testing.T) {
	e := &Engine{}
	e.Defaults()
	closed := 0
	open := func() (io.Closer, error) { return nopCloser{&closed}, nil }
	sh1, release1 := e.share()
	sh2, release2 := e.share()
	if sh1 != sh2 {
		t.Fatal("overlapping operations got different shared sets")
	}
	if _, err := sh1.Get("pool", open); err != nil {
		t.Fatal(err)
	}
	release1()
	release1() // again: harmless, does not release the other holder
	if _, err := sh2.Get("pool", open); err != nil || closed != 0 {
		t.Fatalf("after the first operation ended: %v, closed %d times; want the pool still open", err, closed)
	}
	release2()
	if closed != 1 {
		t.Fatalf("after the last operation ended the pool was closed %d times, want once", closed)
	}
	if _, err := sh2.Get("pool", open); !errors.Is(err, provider.ErrSharedClosed) {
		t.Fatalf("Get after the last operation ended: %v, want ErrSharedClosed", err)
	}
	sh3, release3 := e.share()
	defer release3()
	if sh3 == sh1 {
		t.Fatal("a new operation got the closed set")
	}
}
