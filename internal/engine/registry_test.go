package engine_test

import (
	acmeauthority "github.com/rotorhq/rotor/internal/authority/acme"
	"github.com/rotorhq/rotor/internal/authority/randomvalue"
	checkexec "github.com/rotorhq/rotor/internal/check/exec"
	checklog "github.com/rotorhq/rotor/internal/check/log"
	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	reloadhttp "github.com/rotorhq/rotor/internal/reload/http"
	"github.com/rotorhq/rotor/internal/store/file"
)

// testRegistry holds the provider types the engine's tests use, and no others: the engine
// receives its registry as a value, so its tests build and link only what they run (no
// vendor SDK), as a composition root would for a smaller build.
func testRegistry() *provider.Registry {
	r := provider.NewRegistry()
	provider.RegisterStore(r, "file", provider.ByValue(file.New))
	provider.RegisterAuthority(r, "generated", provider.ByValue(randomvalue.New))
	provider.RegisterAuthority(r, "acme", provider.ByValue(acmeauthority.New))
	provider.RegisterReload(r, "http", reloadhttp.New)
	provider.RegisterCheck(r, "exec", checkexec.New)
	provider.RegisterCheck(r, "log", checklog.New)
	provider.Declare[identity.Age](r, provider.KindIdentity, "age")
	provider.Declare[identity.OSUser](r, provider.KindIdentity, "os-user")
	return r
}
