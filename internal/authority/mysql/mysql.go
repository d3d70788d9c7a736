// Package mysql is the `mysql` authority: the password of a MySQL or MariaDB account, with
// two alternating users (users: [orders_a, orders_b], both 'name'@host). Each rotation sets
// a new password on the user that is not in use and unlocks it (ACCOUNT UNLOCK); consumers
// move to it; at revoke the previous user is locked (ACCOUNT LOCK), so its unchanged password
// is refused; restore unlocks it. Old and new work side by side during the cutover.
// Readiness compares the two users' grants (SHOW GRANTS, user names and authentication
// clauses removed) and names the difference.
//
// The password never reaches the server in clear: rotor computes the mysql_native_password
// hash ('*' + hex(SHA1(SHA1(password)))) itself and sends only that — `IDENTIFIED BY
// PASSWORD '*…'` on MariaDB, `IDENTIFIED WITH mysql_native_password AS '*…'` on MySQL — so
// the general query log, which records statements as received (MariaDB does not mask
// `IDENTIFIED BY 'clear'` there), holds the hash and not the value. The hash is not a
// password a client can send, but a client that also captured a login's handshake could
// derive one from it: keep the general log off where it is not needed. Accounts so rotated
// use mysql_native_password (on MySQL 8.4 the plugin must be enabled; MySQL 9 removed it).
//
// MySQL 8.0.14's dual passwords (RETAIN CURRENT PASSWORD / DISCARD OLD PASSWORD) would let
// one account overlap with itself; this authority does not use them yet: it alternates two
// users on MySQL and MariaDB alike (MariaDB has no dual passwords).
//
// Mint draws the value and changes nothing at the server: the engine stores the value before
// Enable sets it. Residual use (provider.UsageReporter) is read from
// information_schema.PROCESSLIST: the connections the previous user still holds.
//
// The admin connection string is read from the environment at each call (admin_dsn_env, or
// the dsn_env of the mysql-dsn identity named by admin); a connection is opened per call.
package mysql

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// PasswordLength is the length of a new password: 40 letters and digits, about 238 bits.
const PasswordLength = 40

const connectTimeout = 10 * time.Second

// Authority changes the passwords of MySQL/MariaDB accounts. It keeps no state between calls.
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

// New returns the `mysql` authority. env.Rand is required.
func New(cfg Config, env provider.Env) (*Authority, error) {
	if err := provider.CheckNew("mysql authority", cfg.Validate(), env); err != nil {
		return nil, err
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	cfg.Users = slices.Clone(cfg.Users)
	return &Authority{cfg: cfg, env: env, gen: secret.Generator{Length: PasswordLength, Alphabet: secret.AlphaNum}}, nil
}

func (a *Authority) strategyProblems(strategy string) []error {
	if strategy != Overlap {
		return []error{fmt.Errorf("strategy %q does not fit this authority: alternating users %s and %s (overlap)", strategy, a.account(a.cfg.Users[0]), a.account(a.cfg.Users[1]))}
	}
	return nil
}

// account is 'user'@'host' as SQL and messages write it (names hold no quote: Validate).
func (a *Authority) account(user string) string { return "'" + user + "'@'" + a.cfg.host() + "'" }

// Mint implements provider.Authority: a new password for the user not in use (users[0] on a
// first rotation), after checking that the user exists. Nothing changes at the server.
func (a *Authority) Mint(ctx context.Context, req provider.MintRequest) (provider.MintResponse, error) {
	const op = "mint password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.MintResponse{}, err
	}
	user, err := a.mintUser(op, req.Current)
	if err != nil {
		return provider.MintResponse{}, err
	}
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return provider.MintResponse{}, err
	}
	defer release()
	ok, err := a.exists(ctx, conn, user)
	if err != nil {
		return provider.MintResponse{}, classify(op, "look up user "+a.account(user), err)
	}
	if !ok {
		return provider.MintResponse{}, provider.Errorf(provider.Terminal, op, "user %s does not exist: create it with the same grants as the other user", a.account(user))
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

func (a *Authority) exists(ctx context.Context, conn *sql.Conn, user string) (bool, error) {
	var n int
	err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?", user, a.cfg.host()).Scan(&n)
	return n > 0, err
}

// userOf is the user a version's value belongs to, checked against the config.
func (a *Authority) userOf(op string, v provider.Version) (string, error) {
	return a.pair().Of(op, v)
}

// Enable implements provider.Authority: in one statement, the version's user gets the
// password (as its hash, computed here) and is unlocked. Never the previous version's user.
// Done twice, it sets the same hash again: harmless. A user dropped meanwhile fails it
// (Terminal, nothing changed).
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
	pw := req.Value.Reveal()
	defer clear(pw)
	if err := a.alterUser(ctx, op, user, nativeHash(pw), "ACCOUNT UNLOCK", pw); err != nil {
		return provider.EnableResponse{}, err
	}
	return provider.EnableResponse{Detail: "user " + a.account(user) + ": password set (as a mysql_native_password hash computed by rotor), ACCOUNT UNLOCK"}, nil
}

// alterUser sets user's password hash, with a trailing clause, in one ALTER USER.
func (a *Authority) alterUser(ctx context.Context, op, user, hash, clause string, hide ...[]byte) error {
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	maria, err := isMariaDB(ctx, conn)
	if err != nil {
		return classify(op, "read the server version", err)
	}
	auth := "IDENTIFIED WITH mysql_native_password AS '" + hash + "'"
	if maria {
		auth = "IDENTIFIED BY PASSWORD '" + hash + "'"
	}
	// ALTER USER takes no placeholders: the hash is a literal ('*' and hex digits).
	if _, err := conn.ExecContext(ctx, "ALTER USER "+a.account(user)+" "+auth+" "+clause); err != nil {
		return classify(op, "alter user "+a.account(user), err, append(hide, []byte(hash))...)
	}
	return nil
}

func isMariaDB(ctx context.Context, conn *sql.Conn) (bool, error) {
	var v string
	err := conn.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v)
	return strings.Contains(v, "MariaDB"), err
}

// nativeHash is mysql_native_password's stored form of pw: '*' + uppercase hex of
// SHA1(SHA1(pw)), as the server's PASSWORD() computes it.
func nativeHash(pw []byte) string {
	h1 := sha1.Sum(pw)
	h2 := sha1.Sum(h1[:])
	clear(h1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
}

// Revoke implements provider.Authority: the previous version's user is locked (new logins
// refused; connections already open stay, and are named). Again is harmless.
func (a *Authority) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	const op = "revoke password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.RevokeResponse{}, err
	}
	prev, err := a.pair().Revoked(op, req.Previous, req.Current)
	if err != nil {
		return provider.RevokeResponse{}, err
	}
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return provider.RevokeResponse{}, err
	}
	defer release()
	if _, err := conn.ExecContext(ctx, "ALTER USER "+a.account(prev)+" ACCOUNT LOCK"); err != nil {
		return provider.RevokeResponse{}, classify(op, "alter user "+a.account(prev)+" ACCOUNT LOCK", err)
	}
	detail := "user " + a.account(prev) + ": ACCOUNT LOCK, new logins refused"
	if conns, err := listConnections(ctx, conn, prev); err == nil && len(conns) > 0 {
		detail += fmt.Sprintf("; %d connection(s) opened before stay open until they end: %s", len(conns), names(conns))
	}
	return provider.RevokeResponse{Detail: detail}, nil
}

// Restore implements provider.Restorer (rollback): the previous version's user is unlocked,
// its password unchanged.
func (a *Authority) Restore(ctx context.Context, req provider.RestoreRequest) error {
	const op = "restore password"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return err
	}
	user, err := a.userOf(op, req.Version)
	if err != nil {
		return err
	}
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	if _, err := conn.ExecContext(ctx, "ALTER USER "+a.account(user)+" ACCOUNT UNLOCK"); err != nil {
		return classify(op, "alter user "+a.account(user)+" ACCOUNT UNLOCK", err)
	}
	return nil
}

// Discard implements provider.Discarder (a run cancelled before cutover): when the run's
// enable gave the alternate user the value, the user is locked and its password replaced by
// one nobody knows, in one statement — never the current version's user. Again is harmless.
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
		return provider.DiscardResponse{Detail: "nothing to do at the server: user " + a.account(user) + " was never given this value (enable comes after read-access)"}, nil
	}
	unknown, err := a.gen.Generate(a.env.Rand)
	if err != nil {
		return provider.DiscardResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	pw := unknown.Reveal()
	defer clear(pw)
	if err := a.alterUser(ctx, op, user, nativeHash(pw), "ACCOUNT LOCK"); err != nil {
		return provider.DiscardResponse{}, err
	}
	return provider.DiscardResponse{Detail: "user " + a.account(user) + ": ACCOUNT LOCK, password replaced by one nobody knows"}, nil
}

// adminConfig returns the parsed admin connection string and where it came from (the string
// itself is never shown).
func (a *Authority) adminConfig(op string) (*mysqldriver.Config, string, error) {
	envName := a.cfg.AdminDSNEnv
	from := "environment variable " + envName
	if a.cfg.Admin != "" {
		if a.env.Identity == nil {
			return nil, "", provider.Errorf(provider.Terminal, op, "admin identity %s cannot be resolved here (no identities given to the authority): use admin_dsn_env", a.cfg.Admin)
		}
		id, ok := a.env.Identity(a.cfg.Admin)
		if !ok {
			return nil, "", provider.Errorf(provider.Terminal, op, "admin identity %s is not in the inventory", a.cfg.Admin)
		}
		var md *identity.MySQLDSN
		switch c := id.Config.(type) {
		case *identity.MySQLDSN:
			md = c
		case identity.MySQLDSN:
			md = &c
		}
		if md == nil || md.DSNEnv == "" {
			return nil, "", provider.Errorf(provider.Terminal, op, "admin identity %s is of type %s, not mysql-dsn with a dsn_env: %w", a.cfg.Admin, id.Type, provider.ErrUnsupported)
		}
		envName = md.DSNEnv
		from = "environment variable " + envName + " (dsn_env of identity " + a.cfg.Admin + ")"
	}
	dsn := a.env.Getenv(envName)
	if dsn == "" {
		return nil, "", provider.Errorf(provider.Terminal, op, "the admin connection string is missing: %s is not set", from)
	}
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil { // the driver's message may quote the string: not passed on
		return nil, "", provider.Errorf(provider.Terminal, op, "the admin connection string in %s does not parse as a go-sql-driver/mysql DSN (user:password@tcp(host:port)/)", from)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = connectTimeout
	}
	return cfg, from, nil
}

// connect opens one admin connection and returns it with what to call when done.
func (a *Authority) connect(ctx context.Context, op string) (*sql.Conn, func(), error) {
	cfg, from, err := a.adminConfig(op)
	if err != nil {
		return nil, nil, err
	}
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		return nil, nil, provider.Errorf(provider.Terminal, op, "the admin connection string in %s is not usable", from)
	}
	db := sql.OpenDB(connector)
	db.SetMaxIdleConns(0)
	conn, err := db.Conn(ctx)
	if err == nil {
		err = conn.PingContext(ctx)
	}
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		db.Close()
		return nil, nil, connectFailed(op, cfg.User, cfg.Addr, from, err)
	}
	return conn, func() { conn.Close(); db.Close() }, nil
}
