package engine

import (
	"github.com/rotorhq/rotor/internal/provider"
)

// share joins the engine's shared provider resources (provider.Shared: the postgres
// authority's admin connection pool, say), creating them when no operation holds them, and
// returns a release that closes them when the last operation holding them ends. Rotate and
// the commands that change a run hold them while they run; RotateMany holds them across all
// its runs, so a thousand rotations against one server share one pool. Nothing stays open
// between operations, and nothing is global: each engine has its own.
func (e *Engine) share() (*provider.Shared, func()) {
	e.sharedMu.Lock()
	defer e.sharedMu.Unlock()
	if e.shared == nil {
		e.shared = provider.NewShared()
	}
	sh := e.shared
	e.sharedUsers++
	released := false
	return sh, func() {
		e.sharedMu.Lock()
		if released {
			e.sharedMu.Unlock()
			return
		}
		released = true
		e.sharedUsers--
		last := e.sharedUsers == 0
		if last {
			e.shared = nil
		}
		e.sharedMu.Unlock()
		if last {
			if err := sh.Close(); err != nil && e.Log != nil {
				e.Log.Warn("closing shared provider resources", "err", err)
			}
		}
	}
}
