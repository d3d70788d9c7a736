package engine

import (
	"context"
	"sync"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
)

// Outcome is one credential's result in a rotation of many.
type Outcome struct {
	Credential string
	Result     Result
	Err        error
}

// RotateMany rotates several credentials at once — after a leak, every credential it
// touched — each in its own run, at most parallel at a time overall and at most each
// authority's own `parallel` at a time against one authority (a database server should not
// see a thousand ALTER ROLEs at once). Outcomes come back in the order of credentials; one
// credential's failure does not stop the others.
func (e *Engine) RotateMany(ctx context.Context, call Call, credentials []string, through rotation.Stage, parallel int) []Outcome {
	if parallel < 1 {
		parallel = 1
	}
	// One set of shared provider resources (one admin pool per server) for every run.
	_, release := e.share()
	defer release()
	global := make(chan struct{}, parallel)
	var mu sync.Mutex
	perAuthority := map[string]chan struct{}{}
	limit := func(c *inventory.Credential) chan struct{} {
		if c.Authority.Parallel <= 0 {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		key := authorityKey(c)
		ch, ok := perAuthority[key]
		if !ok {
			ch = make(chan struct{}, c.Authority.Parallel)
			perAuthority[key] = ch
		}
		return ch
	}
	out := make([]Outcome, len(credentials))
	var wg sync.WaitGroup
	for i, id := range credentials {
		out[i].Credential = id
		c, ok := e.Inv.Credential(id)
		if !ok {
			out[i].Err = errUnknownCredential(id)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := acquire(ctx, global); err != nil {
				out[i].Err = err
				return
			}
			defer func() { <-global }()
			if ch := limit(c); ch != nil {
				if err := acquire(ctx, ch); err != nil {
					out[i].Err = err
					return
				}
				defer func() { <-ch }()
			}
			out[i].Result, out[i].Err = e.Rotate(ctx, call, id, through)
		}()
	}
	wg.Wait()
	return out
}

// authorityKey names the system an authority block talks to: runs against the same one share
// its parallel limit. Blocks of the same type and executor identity are taken to be the same
// system unless the provider's config names its target.
func authorityKey(c *inventory.Credential) string {
	if t, ok := c.Authority.Config.(provider.Targeter); ok {
		return c.Authority.Type + " " + t.Target()
	}
	return c.Authority.Type + " " + c.Authority.Identity
}

func acquire(ctx context.Context, ch chan struct{}) error {
	select {
	case ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
