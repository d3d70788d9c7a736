package provider

import (
	"fmt"
	"slices"
	"strings"
)

// Registry holds one entry per provider type rotor knows: the config its inventory block
// decodes into, how to build the provider from that config (nil when the type is declared
// but not implemented in this build), and the optional powers the built provider has.
//
// The composition root fills one (internal/builtin) and hands it down as a value: the
// inventory decodes with it, the engine builds providers with it, and read-only views (plan,
// status, metrics) learn a type's powers from it without building anything. Nothing else
// imports the list of implementations. A test builds a registry of just the types it uses.
//
// A Registry is filled once, before use, and is then safe for concurrent reads.
type Registry struct {
	entries map[Kind]map[string]*entry
}

type entry struct {
	newConfig func() any
	build     func(cfg any, env Env) (any, error) // nil: declared, not implemented
	caps      Capability
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{entries: map[Kind]map[string]*entry{}}
}

// Capability is an optional power of a provider type beyond its kind's contract, such as a
// store that can disable a version. The engine still discovers it on the built provider with
// a type assertion; the registry knows it ahead, from the provider's Go type, so that views
// which build nothing (status, plan, metrics) judge a run the way the engine will.
type Capability uint16

// The capabilities, each named for the optional interface that grants it.
const (
	CanToggle           Capability = 1 << iota // Store: VersionToggler
	CanDelete                                  // Store: VersionDeleter
	CanPin                                     // Store: Pinner
	CanCheckWrite                              // Store: WriteChecker
	CanRestore                                 // Authority: Restorer
	CanCheckManage                             // Authority: ManageChecker
	CanAdviseRenewal                           // Authority: RenewalAdvisor
	CanReportUsage                             // Authority, Checker or Store: UsageReporter
	CanListCertificates                        // Store: CertificateLister
	CanCheckIdentity                           // Store: IdentityChecker
	CanReseal                                  // Store: Resealer
	CanDiscard                                 // Authority: Discarder
	CanCheckRead                               // Store: ReadChecker
)

// capabilities maps each capability to the interface test that grants it and its name.
var capabilities = []struct {
	c    Capability
	name string
	has  func(any) bool
}{
	{CanToggle, "toggle", implements[VersionToggler]},
	{CanDelete, "delete", implements[VersionDeleter]},
	{CanPin, "pin", implements[Pinner]},
	{CanCheckWrite, "check-write", implements[WriteChecker]},
	{CanRestore, "restore", implements[Restorer]},
	{CanCheckManage, "check-manage", implements[ManageChecker]},
	{CanAdviseRenewal, "renewal-advice", implements[RenewalAdvisor]},
	{CanReportUsage, "usage", implements[UsageReporter]},
	{CanListCertificates, "list-certificates", implements[CertificateLister]},
	{CanCheckIdentity, "check-identity", implements[IdentityChecker]},
	{CanReseal, "reseal", implements[Resealer]},
	{CanDiscard, "discard", implements[Discarder]},
	{CanCheckRead, "check-read", implements[ReadChecker]},
}

func implements[I any](v any) bool { _, ok := v.(I); return ok }

// Has reports whether c includes every capability of want.
func (c Capability) Has(want Capability) bool { return c&want == want }

// String lists the capabilities by name, for documentation and test failures.
func (c Capability) String() string {
	var names []string
	for _, k := range capabilities {
		if c.Has(k.c) {
			names = append(names, k.name)
		}
	}
	return strings.Join(names, ",")
}

// capabilitiesOf reads the capabilities from a provider's Go type. P is a pointer type in
// practice: its zero value, a typed nil, carries the method set without building anything.
func capabilitiesOf[P any]() Capability {
	var p P
	var c Capability
	for _, k := range capabilities {
		if k.has(any(p)) {
			c |= k.c
		}
	}
	return c
}

// A builder makes a provider from its decoded config (the pointer the registry's NewConfig
// gave) and the environment.
type builder[C, P any] func(cfg *C, env Env) (P, error)

// RegisterStore adds an implemented store type with config C.
func RegisterStore[C any, P Store](r *Registry, typ string, build func(cfg *C, env Env) (P, error)) {
	register(r, KindStore, typ, builder[C, P](build))
}

// RegisterAuthority adds an implemented authority type with config C.
func RegisterAuthority[C any, P Authority](r *Registry, typ string, build func(cfg *C, env Env) (P, error)) {
	register(r, KindAuthority, typ, builder[C, P](build))
}

// RegisterReload adds an implemented reload type with config C.
func RegisterReload[C any, P Reloader](r *Registry, typ string, build func(cfg *C, env Env) (P, error)) {
	register(r, KindReload, typ, builder[C, P](build))
}

// RegisterCheck adds an implemented check type with config C.
func RegisterCheck[C any, P Checker](r *Registry, typ string, build func(cfg *C, env Env) (P, error)) {
	register(r, KindCheck, typ, builder[C, P](build))
}

// Declare adds a type with config C that validates but does not run in this build: every
// identity type (identities are configs the providers read, never built on their own), and
// the provider types whose implementation has not landed. `rotor validate` warns about a
// declared provider type an inventory uses, and the engine refuses to run it at readiness.
func Declare[C any](r *Registry, kind Kind, typ string) {
	r.add(kind, typ, &entry{newConfig: func() any { return new(C) }})
}

func register[C, P any](r *Registry, kind Kind, typ string, build builder[C, P]) {
	r.add(kind, typ, &entry{
		newConfig: func() any { return new(C) },
		caps:      capabilitiesOf[P](),
		build: func(cfg any, env Env) (any, error) {
			c, ok := cfg.(*C)
			if !ok || c == nil {
				// The inventory decoded the config from this same entry, so a mismatch is a
				// caller's bug: said plainly rather than panicking.
				return nil, fmt.Errorf("%s type %q: config is %T, want %T", kind, typ, cfg, c)
			}
			return build(c, env)
		},
	})
}

// ByValue adapts a constructor that takes its config by value to the registry's builder.
func ByValue[C, P any](f func(cfg C, env Env) (P, error)) func(cfg *C, env Env) (P, error) {
	return func(cfg *C, env Env) (P, error) { return f(*cfg, env) }
}

// add panics on a type registered twice: the registry is an explicit list written by hand
// and checked by its tests, so a duplicate is a programming error found at start-up.
func (r *Registry) add(kind Kind, typ string, e *entry) {
	if r.entries[kind] == nil {
		r.entries[kind] = map[string]*entry{}
	}
	if _, dup := r.entries[kind][typ]; dup {
		panic(fmt.Sprintf("provider.Registry: %s type %q registered twice", kind, typ))
	}
	r.entries[kind][typ] = e
}

// NewConfig returns a pointer to a new zero config for the provider type, and false when the
// kind has no such type.
func (r *Registry) NewConfig(kind Kind, typ string) (any, bool) {
	e, ok := r.entries[kind][typ]
	if !ok {
		return nil, false
	}
	return e.newConfig(), true
}

// Types lists the types of a kind, sorted.
func (r *Registry) Types(kind Kind) []string {
	out := make([]string, 0, len(r.entries[kind]))
	for name := range r.entries[kind] {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Implemented reports whether a type can run in this build (not only validate).
func (r *Registry) Implemented(kind Kind, typ string) bool {
	e, ok := r.entries[kind][typ]
	return ok && e.build != nil
}

// Capabilities are the optional powers of an implemented type; none for any other.
func (r *Registry) Capabilities(kind Kind, typ string) Capability {
	if e, ok := r.entries[kind][typ]; ok {
		return e.caps
	}
	return 0
}

// ErrNotImplemented is returned when building a type that is declared but not implemented
// in this build, or not known at all.
type ErrNotImplemented struct {
	Kind Kind
	Type string
}

func (e *ErrNotImplemented) Error() string {
	return fmt.Sprintf("%s type %q is declared but not implemented in this build yet", e.Kind, e.Type)
}

func (r *Registry) build(kind Kind, typ string, cfg any, env Env) (any, error) {
	e, ok := r.entries[kind][typ]
	if !ok || e.build == nil {
		return nil, &ErrNotImplemented{Kind: kind, Type: typ}
	}
	return e.build(cfg, env)
}

// built asserts what a builder made. The Register functions constrain P to the kind's
// contract, so the assertion only fails on a nil provider returned with a nil error.
func built[T any](kind Kind, typ string, p any, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := p.(T)
	if !ok {
		return zero, fmt.Errorf("%s type %q: its builder returned %T", kind, typ, p)
	}
	return t, nil
}

// Store builds a store of the type from its decoded config.
func (r *Registry) Store(typ string, cfg any, env Env) (Store, error) {
	p, err := r.build(KindStore, typ, cfg, env)
	return built[Store](KindStore, typ, p, err)
}

// Authority builds an authority of the type from its decoded config.
func (r *Registry) Authority(typ string, cfg any, env Env) (Authority, error) {
	p, err := r.build(KindAuthority, typ, cfg, env)
	return built[Authority](KindAuthority, typ, p, err)
}

// Reloader builds a reload of the type from its decoded config.
func (r *Registry) Reloader(typ string, cfg any, env Env) (Reloader, error) {
	p, err := r.build(KindReload, typ, cfg, env)
	return built[Reloader](KindReload, typ, p, err)
}

// Checker builds a check of the type from its decoded config.
func (r *Registry) Checker(typ string, cfg any, env Env) (Checker, error) {
	p, err := r.build(KindCheck, typ, cfg, env)
	return built[Checker](KindCheck, typ, p, err)
}
