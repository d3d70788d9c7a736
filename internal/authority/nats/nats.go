// Package nats is the `nats` authority: the password of a NATS user kept in a server
// configuration file, with two alternating users (users: [app_a, app_b], the same
// permissions). NATS holds one password per user, so each rotation gives the user that is not
// in use a new password, consumers move to it, and at revoke the previous user's password is
// replaced by one nobody knows. Readiness compares the two users' entries (everything but
// user and password) and names the difference.
//
// Rotor owns the auth file named by config, NATS configuration included from the server's
// (authorization { include users.conf }). It writes only bcrypt hashes there, and changes
// only the bytes of one password value; other entries stay byte for byte. The file is
// replaced atomically, then the server is reloaded: SIGHUP to the pid in pid_file, confirmed
// when /varz on the monitoring endpoint shows a new config_load_time. A reload makes the
// server check its clients again: connections of a user whose password changed are closed,
// so residual use (provider.UsageReporter, from /connz?auth=true) is what revoke waits on.
//
// A revoked user's hash is of cost 4 (bcrypt.MinCost) over 40 random characters nobody
// kept — as unguessable as any, and a mark: a rollback without the value can tell a revoked
// user from one still holding its password. Hashes of values rotor hands out are of cost 11.
package nats

import (
	"context"
	"fmt"
	"os"
	"slices"

	"golang.org/x/crypto/bcrypt"

	"github.com/rotorhq/rotor/internal/atomicfile"
	"github.com/rotorhq/rotor/internal/filelock"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// PasswordLength is the length of a new password: 40 letters and digits, about 238 bits.
const PasswordLength = 40

// The bcrypt costs: of a value handed out, and of a revoked user's unknown password.
const (
	Cost        = 11
	revokedCost = bcrypt.MinCost
)

// Authority changes the passwords of NATS users in an auth file. It keeps no state.
type Authority struct {
	cfg Config
	env provider.Env
	gen secret.Generator
}

var (
	_ provider.Authority     = (*Authority)(nil)
	_ provider.Restorer      = (*Authority)(nil)
	_ provider.ManageChecker = (*Authority)(nil)
	_ provider.UsageReporter = (*Authority)(nil)
	_ provider.Discarder     = (*Authority)(nil)
)

// New returns the `nats` authority. env.Rand is required.
func New(cfg Config, env provider.Env) (*Authority, error) {
	if err := provider.CheckNew("nats authority", cfg.Validate(), env); err != nil {
		return nil, err
	}
	cfg.Users = slices.Clone(cfg.Users)
	return &Authority{cfg: cfg, env: env, gen: secret.Generator{Length: PasswordLength, Alphabet: secret.AlphaNum}}, nil
}

func (a *Authority) strategyProblems(strategy string) []error {
	if strategy != Overlap {
		return []error{fmt.Errorf("strategy %q does not fit this authority: alternating users %s and %s (overlap)", strategy, a.cfg.Users[0], a.cfg.Users[1])}
	}
	return nil
}

// readEntry reads the auth file and finds user's entry (errors are NotStarted).
func (a *Authority) readEntry(op, user string) ([]byte, userEntry, error) {
	data, err := os.ReadFile(a.cfg.Config)
	if err != nil {
		return nil, userEntry{}, provider.NotStarted(provider.Errorf(provider.Terminal, op, "read the auth file: %v", err))
	}
	e, err := findUser(data, user)
	if err != nil {
		return nil, userEntry{}, provider.NotStarted(provider.Errorf(provider.Terminal, op, "auth file %s: %v", a.cfg.Config, err))
	}
	return data, e, nil
}

// Mint implements provider.Authority: a new password for the user not in use (users[0] on a
// first rotation), after checking that its entry is in the auth file. Nothing changes.
func (a *Authority) Mint(ctx context.Context, req provider.MintRequest) (provider.MintResponse, error) {
	const op = "mint password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.MintResponse{}, err
	}
	user, err := a.mintUser(op, req.Current)
	if err != nil {
		return provider.MintResponse{}, err
	}
	if _, _, err := a.readEntry(op, user); err != nil {
		return provider.MintResponse{}, err
	}
	v, err := a.gen.Generate(a.env.Rand)
	if err != nil {
		return provider.MintResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	return provider.MintResponse{Value: v, AuthorityRef: user}, nil
}

func (a *Authority) mintUser(op string, current *provider.Version) (string, error) {
	return a.pair().Next(op, current)
}

// pair is the two users the authority alternates between.
func (a *Authority) pair() provider.Alternating {
	return provider.Alternating{Accounts: [2]string{a.cfg.Users[0], a.cfg.Users[1]}, Noun: "user"}
}

// userOf is the user a version's value belongs to, checked against the config.
func (a *Authority) userOf(op string, v provider.Version) (string, error) {
	return a.pair().Of(op, v)
}

// setPassword gives user the password value (a zero value: one nobody knows, at revokedCost)
// and reloads the server. When the file already holds what is asked (a retry), it is not
// written again, but the server is reloaded all the same (the first try may have stopped
// before). It returns whether the file was written.
func (a *Authority) setPassword(ctx context.Context, op, user string, value secret.Value) (bool, error) {
	pid, before, err := a.preflight(ctx, op)
	if err != nil {
		return false, err
	}
	release, err := filelock.Lock(ctx, a.cfg.Config+".lock", 0o600)
	if err != nil {
		return false, provider.NotStarted(provider.Errorf(provider.Retryable, op, "lock the auth file: %v", err))
	}
	defer release()
	data, e, err := a.readEntry(op, user)
	if err != nil {
		return false, err
	}
	old := passwordOf(data, e)
	var hash []byte
	if value.IsZero() {
		if cost, err := bcrypt.Cost([]byte(old)); err == nil && cost == revokedCost {
			return false, a.reload(ctx, op, pid, before)
		}
		unknown, err := a.gen.Generate(a.env.Rand)
		if err != nil {
			return false, provider.NotStarted(provider.Wrap(provider.Retryable, op, err))
		}
		pw := unknown.Reveal()
		hash, err = bcrypt.GenerateFromPassword(pw, revokedCost)
		clear(pw)
		if err != nil {
			return false, provider.NotStarted(provider.Wrap(provider.Retryable, op, err))
		}
	} else {
		pw := value.Reveal()
		defer clear(pw)
		if bcrypt.CompareHashAndPassword([]byte(old), pw) == nil {
			return false, a.reload(ctx, op, pid, before)
		}
		if hash, err = bcrypt.GenerateFromPassword(pw, Cost); err != nil {
			return false, provider.NotStarted(provider.Wrap(provider.Terminal, op, err))
		}
	}
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(a.cfg.Config); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := atomicfile.Write(a.cfg.Config, withPassword(data, e, string(hash)), mode); err != nil {
		return false, provider.NotStarted(provider.Errorf(provider.Retryable, op, "write the auth file: %v", err))
	}
	return true, a.reload(ctx, op, pid, before)
}

// Enable implements provider.Authority: the version's user gets the password (its bcrypt
// hash) and the server reloads. Never the previous version's user. Done twice, the second
// finds the hash in place and only reloads.
func (a *Authority) Enable(ctx context.Context, req provider.EnableRequest) (provider.EnableResponse, error) {
	const op = "enable password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.EnableResponse{}, err
	}
	user, err := a.userOf(op, req.Version)
	if err != nil {
		return provider.EnableResponse{}, err
	}
	if req.Previous != nil && req.Previous.AuthorityRef == user {
		return provider.EnableResponse{}, provider.Errorf(provider.Terminal, op,
			"version %s is for user %s, the user of the previous version %s: setting it would change the password in use", req.Version.ID, user, req.Previous.ID)
	}
	wrote, err := a.setPassword(ctx, op, user, req.Value)
	if err != nil {
		return provider.EnableResponse{}, err
	}
	if !wrote {
		return provider.EnableResponse{Detail: "user " + user + ": the auth file already holds the password's hash; server reloaded"}, nil
	}
	return provider.EnableResponse{Detail: "user " + user + ": password set in " + a.cfg.Config + " (bcrypt hash), server reloaded"}, nil
}

// Revoke implements provider.Authority: the previous version's user gets a password nobody
// knows and the server reloads, which closes the connections that user still held. Again is
// harmless.
func (a *Authority) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	const op = "revoke password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.RevokeResponse{}, err
	}
	prev, err := a.pair().Revoked(op, req.Previous, req.Current)
	if err != nil {
		return provider.RevokeResponse{}, err
	}
	wrote, err := a.setPassword(ctx, op, prev, secret.Value{})
	if err != nil {
		return provider.RevokeResponse{}, err
	}
	if !wrote {
		return provider.RevokeResponse{Detail: "user " + prev + ": already revoked; server reloaded"}, nil
	}
	return provider.RevokeResponse{Detail: "user " + prev + ": password replaced by the hash of one nobody knows, server reloaded (it closes that user's connections)"}, nil
}

// Restore implements provider.Restorer (rollback): the previous version's user gets its
// password back when the value is given; without it, it must not have been revoked.
func (a *Authority) Restore(ctx context.Context, req provider.RestoreRequest) error {
	const op = "restore password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return err
	}
	user, err := a.userOf(op, req.Version)
	if err != nil {
		return err
	}
	if req.Value.IsZero() {
		data, e, err := a.readEntry(op, user)
		if err != nil {
			return err
		}
		if cost, err := bcrypt.Cost([]byte(passwordOf(data, e))); err == nil && cost == revokedCost {
			return provider.NotStarted(provider.Errorf(provider.NeedsHuman, op,
				"user %s was revoked and rotor was not given version %s's value to set it back: rotate again, or set its hash by hand", user, req.Version.ID))
		}
		return nil
	}
	_, err = a.setPassword(ctx, op, user, req.Value)
	return err
}

// Discard implements provider.Discarder (a run cancelled before cutover): when the run's
// enable gave the alternate user the value, that user gets a password nobody knows — never
// the current version's user. Again is harmless.
func (a *Authority) Discard(ctx context.Context, req provider.DiscardRequest) (provider.DiscardResponse, error) {
	const op = "discard password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.DiscardResponse{}, err
	}
	user, err := a.pair().Discarded(op, req.Version, req.Current)
	if err != nil {
		return provider.DiscardResponse{}, err
	}
	if !req.Enabled {
		return provider.DiscardResponse{Detail: "nothing to do: user " + user + " was never given this value"}, nil
	}
	if _, err := a.setPassword(ctx, op, user, secret.Value{}); err != nil {
		return provider.DiscardResponse{}, err
	}
	return provider.DiscardResponse{Detail: "user " + user + ": password replaced by the hash of one nobody knows, server reloaded"}, nil
}
