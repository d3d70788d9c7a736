package provider

import (
	"errors"
	"io"
	"sync"
)

// Shared holds what providers may keep open across calls for the length of one engine
// operation — a pool of admin connections to a database server, say — so that a thousand
// rotations against one server do not each open their own. The engine creates it when an
// operation begins (a rotate, a rotation of many), hands it to every provider it builds in
// Env.Shared, and closes it, with everything in it, when the operation ends. Providers never
// close what they get from it.
//
// A provider must work without it (Env.Shared nil: a provider built alone, in a test, or for
// a command that opens nothing for long): it then opens and closes what it needs per call.
//
// It is safe for concurrent use. Keys are chosen by the provider and must say everything that
// makes two resources different (the provider type and its target); a key is kept in memory
// only, but a provider whose target is secret (a connection string with a password) uses a
// digest of it, never the string.
type Shared struct {
	mu     sync.Mutex
	items  map[string]*sharedItem
	closed bool
}

type sharedItem struct {
	ready chan struct{} // closed once open has returned
	c     io.Closer
	err   error
}

// ErrSharedClosed is returned by Get after Close: the operation that owned the resources has
// ended.
var ErrSharedClosed = errors.New("the engine's shared resources are closed: the operation has ended")

// NewShared returns an empty set.
func NewShared() *Shared { return &Shared{items: map[string]*sharedItem{}} }

// Get returns the resource kept under key, calling open to make it on first use. Concurrent
// calls for one key wait for a single open. A failed open is not kept: the next Get tries
// again (the server may be back, the setting fixed). After Close, Get returns
// ErrSharedClosed and opens nothing.
func (s *Shared) Get(key string, open func() (io.Closer, error)) (io.Closer, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrSharedClosed
	}
	if it, ok := s.items[key]; ok {
		s.mu.Unlock()
		<-it.ready
		if it.err != nil {
			return nil, it.err
		}
		return it.c, nil
	}
	it := &sharedItem{ready: make(chan struct{})}
	s.items[key] = it
	s.mu.Unlock()

	it.c, it.err = open()
	if it.err == nil && it.c == nil {
		it.err = errors.New("shared resource " + key + ": open returned nothing")
	}
	s.mu.Lock()
	if it.err != nil {
		delete(s.items, key)
	} else if s.closed {
		// Closed while opening: Close could not see it, so close it here.
		_ = it.c.Close()
		it.c, it.err = nil, ErrSharedClosed
	}
	s.mu.Unlock()
	close(it.ready)
	return it.c, it.err
}

// Close closes every resource opened through s, and makes later Gets fail. Calling it again
// is harmless. It returns the errors of the resources that failed to close, joined.
func (s *Shared) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	items := s.items
	s.items = nil
	s.mu.Unlock()
	var errs []error
	for _, it := range items {
		<-it.ready
		if it.err == nil && it.c != nil {
			errs = append(errs, it.c.Close())
		}
	}
	return errors.Join(errs...)
}
