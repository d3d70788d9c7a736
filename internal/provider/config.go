// Package provider holds the contracts between rotor's engine and the systems it drives:
// stores, authorities, reloaders, checks and identities. It declares interfaces and the
// request/response types only; implementations live in their own packages and are listed in
// internal/builtin.
package provider

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
