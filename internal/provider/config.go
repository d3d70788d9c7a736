// Package provider holds the contracts between rotor's engine and the systems it drives:
// stores, authorities, reloaders, checks and identities — the interfaces, their
// request/response types and optional powers, the error kinds every provider classifies its
// failures with — and the Registry type through which the composition root hands the
// implementations down. Implementations live in their own packages and are listed in
// internal/builtin; a few helpers every provider shares (Env.Path, LockFile, Shared) live here
// too, so that no provider imports another.
package provider

import "errors"

// Kind is the family a provider type belongs to.
type Kind string

// The provider kinds an inventory can name.
const (
	KindStore     Kind = "store"
	KindAuthority Kind = "authority"
	KindReload    Kind = "reload"
	KindCheck     Kind = "check"
	KindIdentity  Kind = "identity"
)

// FieldError is a problem with one key of a provider's configuration. Field is the YAML key
// (dotted for nested keys); the inventory loader turns it into file:line:col.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// ConfigValidator is implemented by provider configs with rules beyond their field types
// (one of two keys required, a list of exactly two roles). It reports every problem at once.
type ConfigValidator interface {
	Validate() []FieldError
}

// StrategySupporter is implemented by authority configs; the first strategy is the default.
type StrategySupporter interface {
	Strategies() []string
}

// SessionEnder is implemented by authority configs that may end the sessions still open with
// the previous value at revoke (the postgres authority's terminate_sessions): the lifecycle
// then offers a person that choice when residual use finds sessions.
type SessionEnder interface {
	EndsSessions() bool
}

// UsageSwitch is implemented by the configs of provider types that can report residual use
// (UsageReporter) only when configured to — a vault-kv store with an audit_log: the engine
// asks the provider about residual use only when ReportsUsage is true. A type whose config
// does not implement it is asked whenever it can report usage.
type UsageSwitch interface {
	ReportsUsage() bool
}

// Targeter is implemented by authority configs that name the system they talk to (a database
// server's address): rotations against the same target share the authority's parallel limit.
type Targeter interface {
	Target() string
}

// CheckNew is what every authority's constructor checks before it builds anything: its
// config's problems, all at once, and that the environment has randomness to mint with. More
// problems of the constructor's own (a value outside a table) come in more. The error is
// Terminal, named op ("postgres authority").
func CheckNew(op string, problems []FieldError, env Env, more ...error) error {
	var errs []error
	for _, fe := range problems {
		errs = append(errs, fe)
	}
	errs = append(errs, more...)
	if env.Rand == nil {
		errs = append(errs, errors.New("the environment has no randomness"))
	}
	if len(errs) > 0 {
		return Wrap(Terminal, op, errors.Join(errs...))
	}
	return nil
}
