// Package redis is the `redis` authority: the password of a Redis ACL user (Redis 6+).
//
// Redis keeps several passwords per user, so one user is enough for both strategies:
//
//   - overlap: Enable adds the new password to the user (old and new both work during the
//     cutover); Revoke removes the previous one. Restore adds it back (the engine's rollback
//     comes before revoke, so it is normally still there).
//   - in-place: Enable replaces the user's passwords with the new one (the old one stops
//     working at once); Restore puts the previous one back in the same way.
//
// Only the user's passwords change: its on/off flag, commands, keys, channels and selectors
// are never sent, so its rules are the same before and after a rotation.
//
// The password never crosses the wire in clear: rotor sends `ACL SETUSER user #<sha256 hex>`,
// the form Redis stores, so MONITOR, the slowlog and a packet capture show the hash, from
// which nobody can log in. (Consumers still send the clear password with AUTH, as the Redis
// protocol requires; use tls.) A version is named at the authority by the user and the first
// 16 hex digits of that hash ("billing#3f2a…"), enough to find it among the user's passwords.
//
// The admin credentials (user:password in the variable admin_env names) are read at each
// call, and a connection is opened and closed per call. The admin needs `ACL SETUSER`,
// `ACL GETUSER` and `CLIENT LIST` (for residual use): +acl|setuser +acl|getuser +client|list
// +client|id +ping, or +@admin.
package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// PasswordLength is the length of a new password: 40 letters and digits, about 238 bits.
const PasswordLength = 40

// timeout bounds connecting and each command.
const timeout = 10 * time.Second

// refHexDigits is how much of a password's SHA-256 names it at the authority.
const refHexDigits = 16

// Authority changes the passwords of a Redis ACL user. It keeps no state between calls.
type Authority struct {
	cfg Config
	env provider.Env
	gen secret.Generator
}

// The authority's optional powers.
var (
	_ provider.Authority     = (*Authority)(nil)
	_ provider.Restorer      = (*Authority)(nil)
	_ provider.ManageChecker = (*Authority)(nil)
	_ provider.UsageReporter = (*Authority)(nil)
	_ provider.Discarder     = (*Authority)(nil)
)

// New returns the `redis` authority. env.Rand is required; the admin credentials are looked
// up only when a call needs them.
func New(cfg Config, env provider.Env) (*Authority, error) {
	if err := provider.CheckNew("redis authority", cfg.Validate(), env); err != nil {
		return nil, err
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	return &Authority{cfg: cfg, env: env, gen: secret.Generator{Length: PasswordLength, Alphabet: secret.AlphaNum}}, nil
}

// hashOf is the SHA-256 of a password in lowercase hex, the form ACL SETUSER's #<hash> takes.
func hashOf(v secret.Value) string {
	pw := v.Reveal()
	defer clear(pw)
	sum := sha256.Sum256(pw)
	return hex.EncodeToString(sum[:])
}

// refOf names a password at the authority: user#<first hex digits of its hash>.
func (a *Authority) refOf(hash string) string { return a.cfg.User + "#" + hash[:refHexDigits] }

// prefixOf is the hash prefix a version's AuthorityRef names, checked against the config.
func (a *Authority) prefixOf(op string, v provider.Version) (string, error) {
	i := strings.LastIndexByte(v.AuthorityRef, '#')
	if v.AuthorityRef == "" || i < 0 {
		return "", provider.Errorf(provider.NeedsHuman, op, "version %s has no password recorded at the authority (user#hash): rotor cannot tell which of user %s's passwords it is", v.ID, a.cfg.User)
	}
	user, prefix := v.AuthorityRef[:i], v.AuthorityRef[i+1:]
	if user != a.cfg.User {
		return "", provider.Errorf(provider.Terminal, op, "version %s is a password of user %s, but the authority names user %s", v.ID, user, a.cfg.User)
	}
	if len(prefix) != refHexDigits {
		return "", provider.Errorf(provider.Terminal, op, "version %s has a malformed authority reference", v.ID)
	}
	return prefix, nil
}

func (a *Authority) strategyProblems(strategy string) []error {
	return provider.StrategyProblems(strategy, a.cfg.Strategies())
}

// Mint implements provider.Authority: a new password for the user. It changes nothing at the
// server; it checks that the user exists, so that a run for a missing user stops before any
// value is stored. A retried Mint draws another password (the first was set nowhere).
func (a *Authority) Mint(ctx context.Context, req provider.MintRequest) (provider.MintResponse, error) {
	const op = "mint password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.MintResponse{}, err
	}
	c, err := a.connect(ctx, op)
	if err != nil {
		return provider.MintResponse{}, err
	}
	defer c.Close()
	if _, err := a.getUser(ctx, c, op); err != nil {
		return provider.MintResponse{}, err
	}
	v, err := a.gen.Generate(a.env.Rand)
	if err != nil {
		return provider.MintResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	return provider.MintResponse{Value: v, AuthorityRef: a.refOf(hashOf(v))}, nil
}

// Enable implements provider.Authority. Overlap: the version's password is added to the user,
// whose other passwords keep working. In-place: the user's passwords are replaced by it
// (resetpass then #hash, one command, so there is no moment without a password). Done twice,
// it has the same effect once.
func (a *Authority) Enable(ctx context.Context, req provider.EnableRequest) (provider.EnableResponse, error) {
	const op = "enable password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.EnableResponse{}, err
	}
	prefix, err := a.prefixOf(op, req.Version)
	if err != nil {
		return provider.EnableResponse{}, err
	}
	hash := hashOf(req.Value)
	if !strings.HasPrefix(hash, prefix) {
		return provider.EnableResponse{}, provider.Errorf(provider.Terminal, op, "the value given for version %s is not the password minted for it (its hash does not match %s)", req.Version.ID, req.Version.AuthorityRef)
	}
	c, err := a.connect(ctx, op)
	if err != nil {
		return provider.EnableResponse{}, err
	}
	defer c.Close()
	if _, err := a.getUser(ctx, c, op); err != nil {
		return provider.EnableResponse{}, err
	}
	if req.Strategy == InPlace {
		if err := a.setUser(ctx, c, op, hash, "resetpass", "#"+hash); err != nil {
			return provider.EnableResponse{}, err
		}
		return provider.EnableResponse{Detail: "user " + a.cfg.User + ": passwords replaced by the new one (sent as its SHA-256); the previous password no longer works"}, nil
	}
	if err := a.setUser(ctx, c, op, hash, "#"+hash); err != nil {
		return provider.EnableResponse{}, err
	}
	return provider.EnableResponse{Detail: "user " + a.cfg.User + ": new password added (sent as its SHA-256); the previous one keeps working until revoke"}, nil
}

// Revoke implements provider.Authority. Overlap: the previous version's password is removed
// from the user — only once the current version's password is seen among the user's
// passwords, so that a user edited by someone else is never left without the value in use.
// Open connections that authenticated with it stay open (Redis does not re-authenticate);
// residual use names them. Again is harmless. In-place: nothing at the server.
func (a *Authority) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	const op = "revoke password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.RevokeResponse{}, err
	}
	prev, err := a.prefixOf(op, req.Previous)
	if err != nil {
		return provider.RevokeResponse{}, err
	}
	if req.Strategy == InPlace {
		return provider.RevokeResponse{Detail: "nothing to do at the server: user " + a.cfg.User + "'s previous password stopped working when the new one replaced it"}, nil
	}
	cur, err := a.prefixOf(op, req.Current)
	if err != nil {
		return provider.RevokeResponse{}, err
	}
	if cur == prev {
		return provider.RevokeResponse{}, provider.Errorf(provider.Terminal, op, "the previous version %s and the current version %s are the same password: removing it would lock out the current version", req.Previous.ID, req.Current.ID)
	}
	c, err := a.connect(ctx, op)
	if err != nil {
		return provider.RevokeResponse{}, err
	}
	defer c.Close()
	u, err := a.getUser(ctx, c, op)
	if err != nil {
		return provider.RevokeResponse{}, err
	}
	if len(u.matching(cur)) == 0 {
		return provider.RevokeResponse{}, provider.NotStarted(provider.Errorf(provider.NeedsHuman, op,
			"the current version %s's password is not among user %s's passwords: someone changed the user since enable; nothing was removed, "+
				"so the previous password still works — find out who changed it, then enable the current version again", req.Current.ID, a.cfg.User))
	}
	old := u.matching(prev)
	if len(old) == 0 {
		return provider.RevokeResponse{Detail: "user " + a.cfg.User + ": the previous password was already removed"}, nil
	}
	if err := a.removeHashes(ctx, c, op, old); err != nil {
		return provider.RevokeResponse{}, err
	}
	return provider.RevokeResponse{Detail: "user " + a.cfg.User + ": previous password removed; new logins with it are refused (connections authenticated before stay open until they close)"}, nil
}

// removeHashes removes hashes from the user's passwords in one command (all or none).
func (a *Authority) removeHashes(ctx context.Context, c *goredis.Client, op string, hashes []string) error {
	rules := make([]string, 0, len(hashes))
	for _, h := range hashes {
		rules = append(rules, "!"+h)
	}
	return a.setUser(ctx, c, op, strings.Join(hashes, " "), rules...)
}

// Restore implements provider.Restorer (rollback). Overlap: the previous version's password
// is added back — from the value when the engine passes it, else it must still be there
// (rollback comes before revoke). In-place: the previous value replaces the user's passwords.
func (a *Authority) Restore(ctx context.Context, req provider.RestoreRequest) error {
	const op = "restore password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return err
	}
	prefix, err := a.prefixOf(op, req.Version)
	if err != nil {
		return err
	}
	var hash string
	if !req.Value.IsZero() {
		if hash = hashOf(req.Value); !strings.HasPrefix(hash, prefix) {
			return provider.Errorf(provider.Terminal, op, "the value given for version %s is not its password (its hash does not match %s)", req.Version.ID, req.Version.AuthorityRef)
		}
	}
	c, err := a.connect(ctx, op)
	if err != nil {
		return err
	}
	defer c.Close()
	u, err := a.getUser(ctx, c, op)
	if err != nil {
		return err
	}
	switch {
	case req.Strategy == InPlace:
		return a.setUser(ctx, c, op, hash, "resetpass", "#"+hash)
	case hash != "":
		return a.setUser(ctx, c, op, hash, "#"+hash)
	case len(u.matching(prefix)) > 0:
		return nil
	}
	return provider.NotStarted(provider.Errorf(provider.NeedsHuman, op,
		"version %s's password was removed from user %s and rotor was not given the value to add it back: add it by hand (ACL SETUSER %s #<sha256 of the value>)", req.Version.ID, a.cfg.User, a.cfg.User))
}

// Discard implements provider.Discarder (a run cancelled before cutover). Overlap: the
// cancelled version's password is removed if enable added it — never the current version's.
// In-place: nothing at the server, since the password is set at cutover; an in-place enable
// that began is rolled back, not discarded. Again is harmless.
func (a *Authority) Discard(ctx context.Context, req provider.DiscardRequest) (provider.DiscardResponse, error) {
	const op = "discard password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.DiscardResponse{}, err
	}
	prefix, err := a.prefixOf(op, req.Version)
	if err != nil {
		return provider.DiscardResponse{}, err
	}
	if req.Current != nil && req.Current.AuthorityRef == req.Version.AuthorityRef {
		return provider.DiscardResponse{}, provider.Errorf(provider.Terminal, op, "version %s is the password of the current version %s: removing it would lock out the value in use", req.Version.ID, req.Current.ID)
	}
	if req.Strategy == InPlace {
		if req.Enabled {
			return provider.DiscardResponse{}, provider.Errorf(provider.NeedsHuman, op,
				"the in-place enable of version %s may already have replaced user %s's password: restore the previous one with a rollback, not a discard", req.Version.ID, a.cfg.User)
		}
		return provider.DiscardResponse{Detail: "nothing to do at the server: user " + a.cfg.User + "'s password was never changed (in-place sets it at cutover)"}, nil
	}
	if !req.Enabled {
		return provider.DiscardResponse{Detail: "nothing to do at the server: the password was never added to user " + a.cfg.User}, nil
	}
	c, err := a.connect(ctx, op)
	if err != nil {
		return provider.DiscardResponse{}, err
	}
	defer c.Close()
	u, err := a.getUser(ctx, c, op)
	if err != nil {
		return provider.DiscardResponse{}, err
	}
	hashes := u.matching(prefix)
	if len(hashes) == 0 {
		return provider.DiscardResponse{Detail: "user " + a.cfg.User + ": the cancelled password is not among its passwords"}, nil
	}
	if err := a.removeHashes(ctx, c, op, hashes); err != nil {
		return provider.DiscardResponse{}, err
	}
	return provider.DiscardResponse{Detail: "user " + a.cfg.User + ": the cancelled password removed"}, nil
}
