// Package postgres is the `postgres` authority: the password of a PostgreSQL login role.
//
// Two strategies:
//
//   - overlap, with two alternating roles (roles: [orders_a, orders_b]). Each rotation sets a
//     new password on the role that is not in use, consumers move to it, and at revoke the
//     previous role is made NOLOGIN: old and new work side by side during the cutover.
//     Readiness checks that both roles have the same privileges and memberships, and names
//     the difference when they do not.
//   - in-place, with one role (role: reporting_ro). Enable (at cutover) changes its password:
//     the old one stops working at once. Rollback sets the previous value again.
//
// The password never reaches the server in clear: rotor computes the SCRAM-SHA-256 verifier
// itself, as psql's \password does, and sends only that, so a server logging every statement
// (log_statement = all) logs the verifier and nothing a client could log in with.
//
// Mint draws the value and changes nothing at the server (beyond creating a missing alternate
// from template_role, with no password): the engine stores the value before Enable sets it,
// so a crash between the two can never leave a password that no store holds.
//
// The admin connection string is read from the environment at each call — from admin_dsn_env,
// or from the dsn_env of the identity named by admin. Within an engine operation (a rotation,
// or a thousand of them) the admin connections come from a pool the engine keeps for that
// operation (provider.Env.Shared) and closes at its end; built alone, the authority opens and
// closes a connection per call.
//
// Residual use (provider.UsageReporter) is read from pg_stat_activity: the sessions of the
// previous role (overlap), or the sessions of the role that began before the cutover
// (in-place), with their application_name, client address and start. Sessions that came and
// went between two looks are not seen; the server log (log_connections) is not read.
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// PasswordLength is the length of a new password: 40 letters and digits, about 238 bits.
const PasswordLength = 40

// connectTimeout bounds a connection attempt when the admin DSN sets none.
const connectTimeout = 10 * time.Second

// Authority changes the passwords of PostgreSQL roles. It keeps no state between calls.
type Authority struct {
	cfg      Config
	strategy string
	env      provider.Env
	gen      secret.Generator
}

// The authority's optional powers.
var (
	_ provider.Authority     = (*Authority)(nil)
	_ provider.Restorer      = (*Authority)(nil)
	_ provider.ManageChecker = (*Authority)(nil)
	_ provider.UsageReporter = (*Authority)(nil)
	_ provider.Discarder     = (*Authority)(nil)
)

// New returns the `postgres` authority. env.Rand is required (passwords and salts); the
// admin connection string is looked up only when a call needs it.
func New(cfg Config, env provider.Env) (*Authority, error) {
	if err := provider.CheckNew("postgres authority", cfg.Validate(), env); err != nil {
		return nil, err
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	cfg.Roles = slices.Clone(cfg.Roles)
	return &Authority{cfg: cfg, strategy: cfg.Strategies()[0], env: env,
		gen: secret.Generator{Length: PasswordLength, Alphabet: secret.AlphaNum}}, nil
}

// common validates what every request carries.
// strategyProblems refuses a strategy that does not fit this authority; the request types
// check the rest (provider's Problems).
func (a *Authority) strategyProblems(strategy string) []error {
	if strategy != a.strategy {
		return []error{fmt.Errorf("strategy %q does not fit this authority: %s", strategy, a.describe())}
	}
	return nil
}

func (a *Authority) describe() string {
	if a.strategy == InPlace {
		return "role " + a.cfg.Role + " changed in place (in-place)"
	}
	return "alternating roles " + a.cfg.Roles[0] + " and " + a.cfg.Roles[1] + " (overlap)"
}

// Mint implements provider.Authority: a new password, for the role that is not in use
// (overlap; roles[0] on a first rotation) or for the one role (in-place). It changes nothing
// at the server, except that a missing alternate is created from template_role (NOLOGIN, no
// password); without a template the role must exist. A retried Mint draws another password:
// the first was never set anywhere, and the store keeps whichever was stored first.
func (a *Authority) Mint(ctx context.Context, req provider.MintRequest) (provider.MintResponse, error) {
	const op = "mint password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.MintResponse{}, err
	}
	role, err := a.mintRole(op, req.Current)
	if err != nil {
		return provider.MintResponse{}, err
	}
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return provider.MintResponse{}, err
	}
	defer release()
	if err := a.ensureRole(ctx, conn, op, role); err != nil {
		return provider.MintResponse{}, err
	}
	v, err := a.gen.Generate(a.env.Rand)
	if err != nil {
		return provider.MintResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	return provider.MintResponse{Value: v, AuthorityRef: role}, nil
}

// mintRole picks the role a new value is for.
func (a *Authority) mintRole(op string, current *provider.Version) (string, error) {
	if a.strategy == InPlace {
		if current != nil && current.AuthorityRef != "" && current.AuthorityRef != a.cfg.Role {
			return "", provider.Errorf(provider.NeedsHuman, op, "the current version %s is a password of role %s, but the authority now names role %s: "+
				"rotating in place would leave %s's password valid; move the credential to the new role by hand, or name %s again",
				current.ID, current.AuthorityRef, a.cfg.Role, current.AuthorityRef, current.AuthorityRef)
		}
		return a.cfg.Role, nil
	}
	return a.pair().Next(op, current)
}

// ensureRole checks that role exists, creating it from the template when the config has one.
func (a *Authority) ensureRole(ctx context.Context, conn *pgx.Conn, op, role string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
		return classify(op, "look up role "+role, err)
	}
	if exists {
		return nil
	}
	if a.cfg.TemplateRole == "" {
		return provider.Errorf(provider.Terminal, op, "role %s does not exist: create it with the same privileges and memberships as the other role, or set template_role", role)
	}
	_, err := conn.Exec(ctx, "CREATE ROLE "+ident(role)+" NOLOGIN IN ROLE "+ident(a.cfg.TemplateRole))
	if err != nil && SQLState(err) != "42710" { // duplicate_object: created meanwhile
		return classify(op, "create role "+role+" as a member of "+a.cfg.TemplateRole, err)
	}
	a.logf(ctx, "created role %s as a member of %s (NOLOGIN)", role, a.cfg.TemplateRole)
	return nil
}

// Enable implements provider.Authority: the version's password is set on its role, as a
// SCRAM-SHA-256 verifier computed here, and the role may log in. Overlap enables the
// alternate, never the previous version's role; in-place replaces the role's password. Done
// twice, it sets the same password again (with another salt): harmless.
func (a *Authority) Enable(ctx context.Context, req provider.EnableRequest) (provider.EnableResponse, error) {
	const op = "enable password"
	errs := append(req.Problems(), a.strategyProblems(req.Strategy)...)
	if err := provider.Refuse(op, errs); err != nil {
		return provider.EnableResponse{}, err
	}
	role, err := a.roleOf(op, req.Version)
	if err != nil {
		return provider.EnableResponse{}, err
	}
	if a.strategy == Overlap && req.Previous != nil && req.Previous.AuthorityRef == role {
		return provider.EnableResponse{}, provider.Errorf(provider.Terminal, op,
			"version %s is for role %s, the role of the previous version %s: setting it would change the password in use", req.Version.ID, role, req.Previous.ID)
	}
	if err := a.setPassword(ctx, op, role, req.Value); err != nil {
		return provider.EnableResponse{}, err
	}
	detail := "role " + role + ": password set (as a SCRAM-SHA-256 verifier computed by rotor), LOGIN"
	if a.strategy == InPlace {
		detail += "; the previous password no longer works"
	}
	return provider.EnableResponse{Detail: detail}, nil
}

// setPassword sets value as role's password, sending only its SCRAM verifier, and lets the
// role log in.
func (a *Authority) setPassword(ctx context.Context, op, role string, value secret.Value) error {
	pw := value.Reveal()
	defer clear(pw)
	verifier, err := scramVerifier(pw, a.env.Rand)
	if err != nil {
		return provider.Errorf(provider.Terminal, op, "role %s: %v", role, err)
	}
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	// ALTER ROLE takes no bind parameters: the verifier is a literal (base64, digits, $ and :).
	if _, err := conn.Exec(ctx, "ALTER ROLE "+ident(role)+" WITH LOGIN PASSWORD "+literal(verifier)); err != nil {
		return classify(op, "alter role "+role, err, pw, []byte(verifier))
	}
	return nil
}

// roleOf is the role a version's value belongs to, checked against the config.
func (a *Authority) roleOf(op string, v provider.Version) (string, error) {
	ref := v.AuthorityRef
	if a.strategy == InPlace {
		if ref != "" && ref != a.cfg.Role {
			return "", provider.Errorf(provider.Terminal, op, "version %s is a password of role %s, not of %s", v.ID, ref, a.cfg.Role)
		}
		return a.cfg.Role, nil
	}
	return a.pair().Of(op, v)
}

// Revoke implements provider.Authority. Overlap: the previous version's role is made NOLOGIN
// (new logins refused; with terminate_sessions and a person's approval carried by
// req.EndSessions, its open sessions are ended too); again is
// harmless. In-place: nothing at the server — the previous password stopped working when
// Enable replaced it.
func (a *Authority) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	const op = "revoke password"
	errs := append(req.Problems(), a.strategyProblems(req.Strategy)...)
	if err := provider.Refuse(op, errs); err != nil {
		return provider.RevokeResponse{}, err
	}
	prev, err := a.roleOf(op, req.Previous)
	if err != nil {
		return provider.RevokeResponse{}, err
	}
	if a.strategy == InPlace {
		return provider.RevokeResponse{Detail: "nothing to do at the server: role " + prev + "'s previous password stopped working when the new one was set"}, nil
	}
	if _, err := a.pair().Revoked(op, req.Previous, req.Current); err != nil {
		return provider.RevokeResponse{}, err
	}
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return provider.RevokeResponse{}, err
	}
	defer release()
	if _, err := conn.Exec(ctx, "ALTER ROLE "+ident(prev)+" NOLOGIN"); err != nil {
		return provider.RevokeResponse{}, classify(op, "alter role "+prev+" NOLOGIN", err)
	}
	detail := "role " + prev + ": NOLOGIN, new logins refused"
	if a.cfg.Terminate && req.EndSessions {
		n, err := terminate(ctx, conn, prev)
		if err != nil { // after the role was made NOLOGIN
			return provider.RevokeResponse{}, provider.PartlyDone(classify(op, "role "+prev+" is NOLOGIN, but terminating its sessions failed", err))
		}
		return provider.RevokeResponse{Detail: fmt.Sprintf("%s; %d open session(s) terminated (terminate_sessions)", detail, n)}, nil
	}
	sessions, err := listSessions(ctx, conn, prev)
	if err == nil && len(sessions) > 0 {
		detail += fmt.Sprintf("; %d session(s) opened before stay open until they end: %s", len(sessions), strings.Join(who(sessions), ", "))
	}
	return provider.RevokeResponse{Detail: detail}, nil
}

// Restore implements provider.Restorer (rollback). Overlap: the previous version's role may
// log in again, with its password unchanged. In-place: the previous value is set again.
func (a *Authority) Restore(ctx context.Context, req provider.RestoreRequest) error {
	const op = "restore password"
	errs := append(req.Problems(), a.strategyProblems(req.Strategy)...)
	if err := provider.Refuse(op, errs); err != nil {
		return err
	}
	role, err := a.roleOf(op, req.Version)
	if err != nil {
		return err
	}
	if a.strategy == InPlace {
		return a.setPassword(ctx, op, role, req.Value)
	}
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	if _, err := conn.Exec(ctx, "ALTER ROLE "+ident(role)+" LOGIN"); err != nil {
		return classify(op, "alter role "+role+" LOGIN", err)
	}
	return nil
}

// Discard implements provider.Discarder (a run cancelled before cutover). Overlap: when the
// run's enable gave the alternate role the cancelled value (req.Enabled), the role is made
// NOLOGIN and its password removed — never the role of the current version; without an
// enable the role was never given the value (enable comes after read-access) and nothing
// changes. In-place: nothing at the server, since the password is set at cutover; a run whose
// in-place enable began is not cancelled but rolled back, and Discard refuses it. Again is
// harmless.
func (a *Authority) Discard(ctx context.Context, req provider.DiscardRequest) (provider.DiscardResponse, error) {
	const op = "discard password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.DiscardResponse{}, err
	}
	role, err := a.roleOf(op, req.Version)
	if err != nil {
		return provider.DiscardResponse{}, err
	}
	if a.strategy == InPlace {
		if req.Enabled {
			return provider.DiscardResponse{}, provider.Errorf(provider.NeedsHuman, op,
				"the in-place enable of version %s may already have set role %s's password, so the previous value may no longer work: restore it with a rollback, not a discard", req.Version.ID, role)
		}
		return provider.DiscardResponse{Detail: "nothing to do at the server: role " + role + "'s password was never changed (in-place sets it at cutover)"}, nil
	}
	if _, err := a.pair().Discarded(op, req.Version, req.Current); err != nil {
		return provider.DiscardResponse{}, err
	}
	if !req.Enabled {
		return provider.DiscardResponse{Detail: "nothing to do at the server: role " + role + " was never given this value (enable comes after read-access)"}, nil
	}
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return provider.DiscardResponse{}, err
	}
	defer release()
	if _, err := conn.Exec(ctx, "ALTER ROLE "+ident(role)+" NOLOGIN PASSWORD NULL"); err != nil {
		return provider.DiscardResponse{}, classify(op, "alter role "+role+" NOLOGIN PASSWORD NULL", err)
	}
	return provider.DiscardResponse{Detail: "role " + role + ": NOLOGIN, password removed"}, nil
}

// adminDSN returns the admin connection string and where it came from (for messages; the
// string itself is never shown).
func (a *Authority) adminDSN(op string) (dsn, from string, err error) {
	envName := a.cfg.AdminDSNEnv
	from = "environment variable " + envName
	if a.cfg.Admin != "" {
		if a.env.Identity == nil {
			return "", "", provider.Errorf(provider.Terminal, op, "admin identity %s cannot be resolved here (no identities given to the authority): use admin_dsn_env", a.cfg.Admin)
		}
		id, ok := a.env.Identity(a.cfg.Admin)
		if !ok {
			return "", "", provider.Errorf(provider.Terminal, op, "admin identity %s is not in the inventory", a.cfg.Admin)
		}
		var pd *identity.PostgresDSN
		switch c := id.Config.(type) {
		case *identity.PostgresDSN:
			pd = c
		case identity.PostgresDSN:
			pd = &c
		}
		if pd == nil || pd.DSNEnv == "" {
			return "", "", provider.Errorf(provider.Terminal, op, "admin identity %s is of type %s, not postgres-dsn with a dsn_env: %w", a.cfg.Admin, id.Type, provider.ErrUnsupported)
		}
		envName = pd.DSNEnv
		from = "environment variable " + envName + " (dsn_env of identity " + a.cfg.Admin + ")"
	}
	dsn = a.env.Getenv(envName)
	if dsn == "" {
		return "", "", provider.Errorf(provider.Terminal, op, "the admin connection string is missing: %s is not set", from)
	}
	return dsn, from, nil
}

// connect returns an admin connection and what to call when done with it. Within an engine
// operation (env.Shared set) it is taken from a pool of admin connections to the server,
// opened on first use and closed by the engine when the operation ends: a thousand rotations
// make a handful of logins instead of five each. Without it, a connection is opened for the
// call and closed by release. The connection carries no session state between calls: the
// authority sets nothing but what each statement says.
func (a *Authority) connect(ctx context.Context, op string) (*pgx.Conn, func(), error) {
	dsn, from, err := a.adminDSN(op)
	if err != nil {
		return nil, nil, err
	}
	if a.env.Shared != nil {
		return a.pooled(ctx, op, dsn, from)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, nil, unparsable(op, from)
	}
	adminDefaults(cfg)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, connectFailed(op, cfg, from, err)
	}
	return conn, func() { conn.Close(context.WithoutCancel(ctx)) }, nil
}

// pooled acquires a connection from the operation's pool for dsn. The pool is kept under a
// digest of the connection string, never the string: two strings (another server, another
// password) are two pools.
func (a *Authority) pooled(ctx context.Context, op, dsn, from string) (*pgx.Conn, func(), error) {
	sum := sha256.Sum256([]byte(dsn))
	key := "postgres admin pool " + hex.EncodeToString(sum[:])
	c, err := a.env.Shared.Get(key, func() (io.Closer, error) {
		pc, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			return nil, unparsable(op, from)
		}
		adminDefaults(pc.ConnConfig)
		p, err := pgxpool.NewWithConfig(context.WithoutCancel(ctx), pc)
		if err != nil {
			return nil, connectFailed(op, pc.ConnConfig, from, err)
		}
		return adminPool{p}, nil
	})
	if err != nil {
		if errors.Is(err, provider.ErrSharedClosed) {
			return nil, nil, provider.Wrap(provider.Retryable, op, err)
		}
		return nil, nil, err
	}
	pool := c.(adminPool).Pool
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return nil, nil, connectFailed(op, pool.Config().ConnConfig, from, err)
	}
	return pc.Conn(), pc.Release, nil
}

// adminPool is a pool of admin connections as provider.Shared keeps it.
type adminPool struct{ *pgxpool.Pool }

func (p adminPool) Close() error { p.Pool.Close(); return nil }

// adminDefaults sets what an admin connection has unless its string says otherwise.
func adminDefaults(cfg *pgx.ConnConfig) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "rotor"
	}
}

// unparsable reports a connection string that does not parse. pgx's parse error quotes the
// string (redacting passwords only as best it can) and keeps it in a field: none of it is
// passed on.
func unparsable(op, from string) error {
	return provider.Errorf(provider.Terminal, op, "the admin connection string in %s does not parse as a PostgreSQL URL or key=value string", from)
}

func (a *Authority) logf(ctx context.Context, format string, args ...any) {
	if a.env.Log != nil {
		a.env.Log.InfoContext(ctx, fmt.Sprintf(format, args...), "authority", "postgres")
	}
}

// ident quotes a role name as an SQL identifier.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// literal quotes s as an SQL string literal (standard_conforming_strings, on since 9.1).
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// pair is the two roles the authority alternates between (overlap).
func (a *Authority) pair() provider.Alternating {
	return provider.Alternating{Accounts: [2]string{a.cfg.Roles[0], a.cfg.Roles[1]}, Noun: "role"}
}
