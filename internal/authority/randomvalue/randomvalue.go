// Package randomvalue holds the authorities whose values are random strings that no external
// system mints: `generated` (an API key, a shared token, with an optional public prefix) and
// `none` (a plain shared secret).
//
// Nothing outside rotor has to be told about a new value: validity lives in the store. The
// accepting side (the service that checks the key) reads every enabled version of the store,
// so during an overlap rotation old and new are both accepted; revoking the old value is the
// engine disabling the previous version at the store and reloading the accepting side. So
// Enable, Revoke and Restore have no external effect here, but they still validate their
// requests, so that an engine bug surfaces against this authority as it would against a real
// one.
package randomvalue

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// The strategies.
const (
	Overlap = "overlap"
	InPlace = "in-place"
)

// DefaultLength is the length of a new value when the config does not say.
const DefaultLength = 32

// Bounds on a configured length: shorter than 16 characters is too weak for a key nobody
// types; the upper bound is the generator's.
const (
	MinLength = 16
	MaxLength = secret.MaxLength
)

// maxPrefix bounds the public prefix: it names a kind of key, it is not a sentence.
const maxPrefix = 32

// alphabets maps the config's alphabet names to the secret package's presets.
var alphabets = map[string]string{
	"":             secret.AlphaNum,
	"alphanumeric": secret.AlphaNum,
	"url-safe":     secret.URLSafe,
	"hex":          secret.Hex,
	"printable":    secret.Printable,
}

// Generator holds the settings shared by authorities that make random values.
type Generator struct {
	Length   int
	Alphabet string
}

// Validate reports the settings' problems, with the YAML keys they come from.
func (g Generator) Validate() []provider.FieldError {
	var out []provider.FieldError
	if g.Length != 0 && (g.Length < MinLength || g.Length > MaxLength) {
		out = append(out, provider.FieldError{Field: "length", Msg: fmt.Sprintf("must be between %d and %d", MinLength, MaxLength)})
	}
	// The alphabet's names are an enum of the config's tag, which the inventory loader
	// already enforces; build checks it again for configs made in code.
	return out
}

// secret returns the secret.Generator for the settings, with the defaults filled in.
func (g Generator) secret() secret.Generator {
	n := g.Length
	if n == 0 {
		n = DefaultLength
	}
	return secret.Generator{Length: n, Alphabet: alphabets[g.Alphabet]}
}

// Config is the `generated` authority's block in the inventory.
type Config struct {
	Length   int    `yaml:"length" doc:"Characters in a new value (default 32)."`
	Alphabet string `yaml:"alphabet" rotor:"enum=alphanumeric|url-safe|hex|printable" doc:"Characters a new value is drawn from (default alphanumeric)."`
	Prefix   string `yaml:"prefix" doc:"A fixed, public prefix (like sk_live_) that makes leaked values findable."`
}

// Strategies implements provider.StrategySupporter.
func (Config) Strategies() []string { return []string{Overlap, InPlace} }

// Validate implements provider.ConfigValidator.
func (c *Config) Validate() []provider.FieldError {
	out := Generator{Length: c.Length, Alphabet: c.Alphabet}.Validate()
	for i := 0; i < len(c.Prefix); i++ {
		if b := c.Prefix[i]; b <= ' ' || b > '~' || strings.IndexByte(`'"\`+"`", b) >= 0 {
			out = append(out, provider.FieldError{Field: "prefix", Msg: "must be printable ASCII without space, quotes or backslash"})
			break
		}
	}
	if len(c.Prefix) > maxPrefix {
		out = append(out, provider.FieldError{Field: "prefix", Msg: fmt.Sprintf("must be at most %d characters", maxPrefix)})
	}
	return out
}

// NoneConfig is the `none` authority's block: a plain shared secret that no system has to
// accept beyond its readers.
type NoneConfig struct {
	Length   int    `yaml:"length" doc:"Characters in a new value (default 32)."`
	Alphabet string `yaml:"alphabet" rotor:"enum=alphanumeric|url-safe|hex|printable" doc:"Characters a new value is drawn from (default alphanumeric)."`
}

// Strategies implements provider.StrategySupporter.
func (NoneConfig) Strategies() []string { return []string{InPlace} }

// Validate implements provider.ConfigValidator.
func (n *NoneConfig) Validate() []provider.FieldError {
	return Generator{Length: n.Length, Alphabet: n.Alphabet}.Validate()
}

// Authority mints random values. It keeps no state: every method is idempotent because none
// has an effect outside rotor.
type Authority struct {
	gen        secret.Generator
	prefix     string
	strategies []string
	env        provider.Env
}

// The authority's optional powers.
var (
	_ provider.Authority     = (*Authority)(nil)
	_ provider.Restorer      = (*Authority)(nil)
	_ provider.ManageChecker = (*Authority)(nil)
)

// New returns the `generated` authority. env.Rand is required.
func New(cfg Config, env provider.Env) (*Authority, error) {
	return build(Generator{Length: cfg.Length, Alphabet: cfg.Alphabet}, cfg.Validate(), cfg.Prefix, cfg.Strategies(), env)
}

// NewNone returns the `none` authority. env.Rand is required.
func NewNone(cfg NoneConfig, env provider.Env) (*Authority, error) {
	return build(Generator{Length: cfg.Length, Alphabet: cfg.Alphabet}, cfg.Validate(), "", cfg.Strategies(), env)
}

func build(g Generator, problems []provider.FieldError, prefix string, strategies []string, env provider.Env) (*Authority, error) {
	var more []error
	if _, ok := alphabets[g.Alphabet]; !ok {
		more = append(more, provider.FieldError{Field: "alphabet", Msg: "must be one of alphanumeric, url-safe, hex, printable"})
	}
	if err := provider.CheckNew("generated authority", problems, env, more...); err != nil {
		return nil, err
	}
	return &Authority{gen: g.secret(), prefix: prefix, strategies: strategies, env: env}, nil
}

// common validates what every request carries.
// strategyProblems refuses a strategy this authority does not have; the request types check
// the rest (provider's Problems).
func (a *Authority) strategyProblems(strategy string) []error {
	return provider.StrategyProblems(strategy, a.strategies)
}

// Mint implements provider.Authority: a new value drawn from env.Rand, the prefix in front.
// A retried Mint makes another value; the first one was never given to anything outside
// rotor, so it is an orphan with no effect, and the store's Put (idempotent on the run id)
// keeps whichever value was stored first.
func (a *Authority) Mint(_ context.Context, req provider.MintRequest) (provider.MintResponse, error) {
	const op = "mint value"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.MintResponse{}, err
	}
	v, err := a.gen.Generate(a.env.Rand)
	if err != nil {
		return provider.MintResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	if a.prefix == "" {
		return provider.MintResponse{Value: v}, nil
	}
	body := v.Reveal() // joined with the public prefix, then sealed again
	b := make([]byte, 0, len(a.prefix)+len(body))
	b = append(append(b, a.prefix...), body...)
	out := secret.New(b)
	clear(body)
	clear(b)
	v.Wipe()
	return provider.MintResponse{Value: out}, nil
}

// Enable implements provider.Authority. It has no effect: the accepting side reads the
// store's enabled versions.
func (a *Authority) Enable(_ context.Context, req provider.EnableRequest) (provider.EnableResponse, error) {
	const op = "enable value"
	errs := append(req.Problems(), a.strategyProblems(req.Strategy)...)
	if err := provider.Refuse(op, errs); err != nil {
		return provider.EnableResponse{}, err
	}
	return provider.EnableResponse{Detail: "no external effect: the accepting side reads every enabled version of the store"}, nil
}

// Revoke implements provider.Authority. It has no effect: the engine disables the previous
// version at the store and reloads the accepting side.
func (a *Authority) Revoke(_ context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	const op = "revoke value"
	errs := append(req.Problems(), a.strategyProblems(req.Strategy)...)
	if err := provider.Refuse(op, errs); err != nil {
		return provider.RevokeResponse{}, err
	}
	return provider.RevokeResponse{Detail: "no external effect: disabling the previous version at the store revokes it"}, nil
}

// Restore implements provider.Restorer. It has no effect: re-enabling the version at the
// store restores it.
func (a *Authority) Restore(_ context.Context, req provider.RestoreRequest) error {
	const op = "restore value"
	errs := append(req.Problems(), a.strategyProblems(req.Strategy)...)
	return provider.Refuse(op, errs)
}

// Discard implements provider.Discarder (a run cancelled before cutover). It has no effect:
// the value is accepted only while the store keeps it enabled, and the engine removes the
// cancelled run's pending version from the store next.
func (a *Authority) Discard(_ context.Context, req provider.DiscardRequest) (provider.DiscardResponse, error) {
	const op = "discard value"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.DiscardResponse{}, err
	}
	return provider.DiscardResponse{Detail: "no external effect: the value is accepted only while the store keeps it, and its pending version is removed next"}, nil
}

// CheckManage implements provider.ManageChecker: there is nothing outside rotor to be allowed
// to change, so only the strategy is checked.
func (a *Authority) CheckManage(_ context.Context, req provider.CheckManageRequest) error {
	const op = "check manage"
	var errs []error
	if req.Credential == "" {
		errs = append(errs, errors.New("no credential named"))
	}
	errs = append(errs, a.strategyProblems(req.Strategy)...)
	return provider.Refuse(op, errs)
}
