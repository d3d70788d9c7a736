// Package webhook is the `webhook` authority: an HMAC-SHA256 signing key shared by a sender,
// which signs every webhook with the current key, and a receiver, which verifies with every
// enabled key (see internal/webhooksig for the two header styles).
//
// A new key is `length` random bytes, encoded as lowercase hex (encoding: hex, the default) or
// as Stripe's `whsec_` and standard base64 (encoding: whsec). The signing key is that string
// as stored, never decoded: sender and receiver read the same value and cannot disagree.
//
// No external system mints or accepts the key: validity lives in the store, as for the
// `generated` authority. So Enable, Revoke, Restore and Discard have no external effect (they
// still validate their requests). The "reload hooks for both sides" are the consumers'
// reloads: the receiver is a consumer with `accepts: true`, reloaded at cutover (it then
// accepts old and new) and again after revoke (it then refuses the old key); the sender is a
// consumer reloaded at cutover (it then signs with the new key). Consumers reload in the
// inventory's order, so the receiver is listed before the sender. `sender` and `receiver` name
// those consumers (or an external party) for the reader of the inventory.
package webhook

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// The strategies.
const (
	Overlap = "overlap"
	InPlace = "in-place"
)

// The encodings of a new key.
const (
	EncodingHex   = "hex"
	EncodingWhsec = "whsec"
)

// Key lengths in bytes: the default, and the bounds of a configured one (below 16 bytes is
// too weak; 64 is the HMAC-SHA256 block size, beyond which a key is hashed first).
const (
	DefaultLength = 32
	MinLength     = 16
	MaxLength     = 64
)

// Config is the `webhook` authority's block in the inventory.
type Config struct {
	Algorithm string `yaml:"algorithm" rotor:"enum=hmac-sha256" doc:"The signature's MAC; hmac-sha256 (the default) is the one supported."`
	Length    int    `yaml:"length" doc:"Random bytes in a new key (default 32, 16 to 64)."`
	Encoding  string `yaml:"encoding" rotor:"enum=hex|whsec" doc:"How the key is written: hex (default), or whsec (whsec_ and base64, as Stripe's). Sender and receiver sign with the string as stored."`
	Sender    string `yaml:"sender" doc:"Who signs (a consumer id or an external party); it reads the current key."`
	Receiver  string `yaml:"receiver" doc:"Who verifies (a consumer id with accepts: true, or an external party); it reads every enabled key."`
}

// Strategies implements provider.StrategySupporter.
func (Config) Strategies() []string { return []string{Overlap, InPlace} }

// Validate implements provider.ConfigValidator.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if c.Algorithm != "" && c.Algorithm != "hmac-sha256" {
		out = append(out, provider.FieldError{Field: "algorithm", Msg: "must be hmac-sha256"})
	}
	if c.Length != 0 && (c.Length < MinLength || c.Length > MaxLength) {
		out = append(out, provider.FieldError{Field: "length", Msg: fmt.Sprintf("must be between %d and %d bytes", MinLength, MaxLength)})
	}
	switch c.Encoding {
	case "", EncodingHex, EncodingWhsec:
	default:
		out = append(out, provider.FieldError{Field: "encoding", Msg: "must be hex or whsec"})
	}
	return out
}

// Authority mints signing keys. It keeps no state: every method is idempotent because none
// has an effect outside rotor.
type Authority struct {
	length   int
	encoding string
	env      provider.Env
}

// The authority's optional powers.
var (
	_ provider.Authority     = (*Authority)(nil)
	_ provider.Restorer      = (*Authority)(nil)
	_ provider.Discarder     = (*Authority)(nil)
	_ provider.ManageChecker = (*Authority)(nil)
)

// New returns the `webhook` authority. env.Rand is required.
func New(cfg Config, env provider.Env) (*Authority, error) {
	if err := provider.CheckNew("webhook authority", cfg.Validate(), env); err != nil {
		return nil, err
	}
	a := &Authority{length: cfg.Length, encoding: cfg.Encoding, env: env}
	if a.length == 0 {
		a.length = DefaultLength
	}
	if a.encoding == "" {
		a.encoding = EncodingHex
	}
	return a, nil
}

var strategies = []string{Overlap, InPlace}

func refuse(op, strategy string, problems []error) error {
	return provider.Refuse(op, append(problems, provider.StrategyProblems(strategy, strategies)...))
}

// Mint implements provider.Authority: a new key of the configured length from env.Rand. A
// retried Mint makes another key; the first was never given to anything outside rotor.
func (a *Authority) Mint(_ context.Context, req provider.MintRequest) (provider.MintResponse, error) {
	const op = "mint webhook key"
	if err := refuse(op, req.Strategy, req.Problems()); err != nil {
		return provider.MintResponse{}, err
	}
	raw := make([]byte, a.length)
	defer clear(raw)
	if _, err := io.ReadFull(a.env.Rand, raw); err != nil {
		return provider.MintResponse{}, provider.Wrap(provider.Retryable, op, errors.New("reading randomness failed"))
	}
	var out []byte
	switch a.encoding {
	case EncodingWhsec:
		out = make([]byte, len("whsec_")+base64.StdEncoding.EncodedLen(len(raw)))
		copy(out, "whsec_")
		base64.StdEncoding.Encode(out[len("whsec_"):], raw)
	default:
		out = make([]byte, hex.EncodedLen(len(raw)))
		hex.Encode(out, raw)
	}
	v := secret.New(out)
	clear(out)
	return provider.MintResponse{Value: v}, nil
}

// Enable implements provider.Authority. It has no effect: the receiver reads every enabled
// version of the store, and is reloaded at cutover.
func (a *Authority) Enable(_ context.Context, req provider.EnableRequest) (provider.EnableResponse, error) {
	if err := refuse("enable webhook key", req.Strategy, req.Problems()); err != nil {
		return provider.EnableResponse{}, err
	}
	return provider.EnableResponse{Detail: "no external effect: the receiver verifies with every enabled version of the store"}, nil
}

// Revoke implements provider.Authority. It has no effect: the engine disables the previous
// version at the store and reloads the receiver (accepts: true), which then refuses it.
func (a *Authority) Revoke(_ context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	if err := refuse("revoke webhook key", req.Strategy, req.Problems()); err != nil {
		return provider.RevokeResponse{}, err
	}
	return provider.RevokeResponse{Detail: "no external effect: disabling the previous version at the store and reloading the receiver revokes it"}, nil
}

// Restore implements provider.Restorer. It has no effect: re-enabling the version at the
// store and reloading the receiver restores it.
func (a *Authority) Restore(_ context.Context, req provider.RestoreRequest) error {
	return refuse("restore webhook key", req.Strategy, req.Problems())
}

// Discard implements provider.Discarder (a run cancelled before cutover). It has no effect:
// the engine removes the pending version from the store next.
func (a *Authority) Discard(_ context.Context, req provider.DiscardRequest) (provider.DiscardResponse, error) {
	if err := refuse("discard webhook key", req.Strategy, req.Problems()); err != nil {
		return provider.DiscardResponse{}, err
	}
	return provider.DiscardResponse{Detail: "no external effect: the key is accepted only while the store keeps it, and its pending version is removed next"}, nil
}

// CheckManage implements provider.ManageChecker: nothing outside rotor must allow the change.
func (a *Authority) CheckManage(_ context.Context, req provider.CheckManageRequest) error {
	var errs []error
	if req.Credential == "" {
		errs = append(errs, errors.New("no credential named"))
	}
	return refuse("check manage", req.Strategy, errs)
}
