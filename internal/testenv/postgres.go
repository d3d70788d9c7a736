package testenv

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Environment variables read by this package.
const (
	// EnvPostgreSQLDSN is a superuser DSN of a running server to use instead of starting one.
	EnvPostgreSQLDSN = "ROTOR_TEST_PG_DSN"
	// EnvPostgreSQLBin is the directory holding initdb and postgres.
	EnvPostgreSQLBin = "ROTOR_TEST_PG_BIN"
)

// SQLSTATE codes tests assert on.
const (
	// InvalidPassword is what PostgreSQL answers to a wrong password (and, so as not to reveal
	// which roles exist, to an unknown role).
	InvalidPassword = "28P01"
)

// PostgreSQL is a running server for tests.
type PostgreSQL struct {
	Host string // 127.0.0.1 for a started server
	Port int
	// SuperUser and SuperPassword log in as the superuser initdb created, with scram-sha-256.
	// The password is random and is never logged.
	SuperUser, SuperPassword string
	// Database is the database AdminDSN and CanLogin connect to ("postgres").
	Database string
	// DataDir and LogFile are empty when the server is external (ROTOR_TEST_PG_DSN).
	DataDir, LogFile string
	Version          string // server_version, e.g. "15.18 (Debian 15.18-0+deb12u1)"

	// srv is nil when external. A started cluster's directory holds:
	//
	//	<dir>/data          the cluster (initdb)
	//	<dir>/socket        its Unix socket, so it never collides with a system server's
	//	<dir>/postgres.log  its stderr
	srv *daemon
	// relaunch starts the stopped server again on its port, with its data (Start).
	relaunch func(context.Context) error
}

// PostgreSQLOptions configure a started server. A zero value asks for nothing special, and
// then ROTOR_TEST_PG_DSN, when set, replaces the started server; any other value always
// starts a cluster, because an external server's settings and log are out of our hands.
type PostgreSQLOptions struct {
	// LogStatementAll sets log_statement=all, so Log shows every statement the server
	// received: tests assert that a password never appears there.
	LogStatementAll bool
	// LogConnections sets log_connections=on.
	LogConnections bool
	// Settings are extra server settings (name -> value, passed as -c name=value); they
	// override testenv's defaults, except listen_addresses, which stays 127.0.0.1.
	Settings map[string]string
}

func (o PostgreSQLOptions) zero() bool {
	return !o.LogStatementAll && !o.LogConnections && len(o.Settings) == 0
}

// StartPostgreSQL starts a PostgreSQL cluster that checks passwords (scram-sha-256) on a free
// port of 127.0.0.1 and stops it, removing its files, when the test ends. It fails the test
// when the server binaries are missing (with a hint on how to install them) or the server
// does not refuse a wrong password.
//
// With zero options and ROTOR_TEST_PG_DSN set, it returns that server instead, after the
// same password check; nothing is stopped.
func StartPostgreSQL(t testing.TB, opts PostgreSQLOptions) *PostgreSQL {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if dsn := os.Getenv(EnvPostgreSQLDSN); dsn != "" && opts.zero() {
		p, err := externalPostgreSQL(ctx, dsn)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		return p
	}
	began := time.Now()
	p, err := startPostgreSQL(ctx, opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	stopAtEnd(t, "PostgreSQL log", p.LogFile, p.stop)
	t.Logf("testenv: PostgreSQL %s on 127.0.0.1:%d started in %s", p.Version, p.Port, time.Since(began).Round(time.Millisecond))
	return p
}

// DSN returns a URL to connect as user with password to database, over TCP without TLS.
// The password is in it: do not log it.
func (p *PostgreSQL) DSN(user, password, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(p.Host, strconv.Itoa(p.Port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// AdminDSN returns the superuser's DSN for Database.
func (p *PostgreSQL) AdminDSN() string {
	return p.DSN(p.SuperUser, p.SuperPassword, p.Database)
}

// Log returns what the server has logged so far. It fails for an external server.
func (p *PostgreSQL) Log() (string, error) {
	if p.LogFile == "" {
		return "", fmt.Errorf("the log of an external PostgreSQL (%s) cannot be read; ask StartPostgreSQL for a setting such as LogStatementAll to get a started cluster", EnvPostgreSQLDSN)
	}
	b, err := os.ReadFile(p.LogFile)
	if err != nil {
		return "", fmt.Errorf("read PostgreSQL log: %w", err)
	}
	return string(b), nil
}

// CanLogin connects as user with password to Database and returns why that failed, if it
// did: a wrong password gives an error whose SQLState is InvalidPassword.
func (p *PostgreSQL) CanLogin(ctx context.Context, user, password string) error {
	conn, err := p.connect(ctx, user, password, p.Database)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// Exec runs sql with args as the superuser, failing the test on error. The error message
// shows the statement with its string literals redacted, since they often hold passwords.
func (p *PostgreSQL) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if err := p.exec(false, sql, args...); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// CreateRole creates a role that can log in with password, and drops it when the test ends
// (a failed drop, for example because the role still owns objects, is only logged). The
// statement runs with log_statement=none, so a test asserting that a password never reaches
// the server log sees only what the code under test sent.
func (p *PostgreSQL) CreateRole(t testing.TB, name, password string) {
	t.Helper()
	ident := pgx.Identifier{name}.Sanitize()
	if err := p.exec(true, "CREATE ROLE "+ident+" LOGIN PASSWORD "+quoteLiteral(password)); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := p.exec(true, "DROP ROLE IF EXISTS "+ident); err != nil {
			t.Logf("testenv: %v", err)
		}
	})
}

// UniqueName returns prefix followed by "_" and 12 random lowercase letters and digits: a
// role or database name no other test, package or run uses on a shared server.
func UniqueName(prefix string) string {
	return prefix + "_" + strings.ToLower(rand.Text()[:12])
}

// SQLState returns the SQLSTATE of the PostgreSQL error in err's chain, or "".
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// connect opens a connection; errors name the user and database, never the password.
func (p *PostgreSQL) connect(ctx context.Context, user, password, database string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(p.DSN(user, password, database))
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL connection settings for %s:%d: %w", p.Host, p.Port, err)
	}
	cfg.ConnectTimeout = 10 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("log in to PostgreSQL %s:%d as %q: %w", p.Host, p.Port, user, err)
	}
	return conn, nil
}

// exec runs one statement as the superuser. A quiet statement runs with log_statement=none
// where the server lets us (a superuser may set it; with a non-superuser ROTOR_TEST_PG_DSN it
// is logged like any other).
func (p *PostgreSQL) exec(quiet bool, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := p.connect(ctx, p.SuperUser, p.SuperPassword, p.Database)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if quiet {
		if err := p.quiet(ctx, conn); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("%s: %w", redactLiterals(sql), err)
	}
	return nil
}

// quiet stops the server from logging conn's statements, which fails without superuser
// rights: an error only for a server we started, where we have them.
func (p *PostgreSQL) quiet(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, "SET log_statement = 'none'"); err != nil && p.srv != nil {
		return fmt.Errorf("%s: %w", p.describe(), err)
	}
	return nil
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings=on, the
// default since PostgreSQL 9.1). Statements such as CREATE ROLE take no bind parameters.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// redactLiterals replaces every single-quoted string literal in sql by '[redacted]'.
func redactLiterals(sql string) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case !in && c == '\'':
			in = true
			b.WriteString("'[redacted]")
		case in && c == '\'' && i+1 < len(sql) && sql[i+1] == '\'':
			i++ // an escaped quote inside the literal
		case in && c == '\'':
			in = false
			b.WriteByte('\'')
		case !in:
			b.WriteByte(c)
		}
	}
	if in {
		b.WriteByte('\'')
	}
	return b.String()
}

// externalPostgreSQL describes the server dsn points at after checking that it refuses a
// wrong password.
func externalPostgreSQL(ctx context.Context, dsn string) (*PostgreSQL, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		// pgconn redacts the password in its parse errors.
		return nil, fmt.Errorf("%s: %w", EnvPostgreSQLDSN, err)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		return nil, fmt.Errorf("%s names a Unix socket (%s); tests connect over TCP, so give host and port", EnvPostgreSQLDSN, cfg.Host)
	}
	p := &PostgreSQL{
		Host:          cfg.Host,
		Port:          int(cfg.Port),
		SuperUser:     cfg.User,
		SuperPassword: cfg.Password,
		Database:      cfg.Database,
	}
	if p.Database == "" {
		p.Database = p.SuperUser
	}
	if err := p.checkPasswords(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// checkPasswords proves that the server refuses a wrong password and accepts the right one:
// it creates a throwaway role, logs in as it twice and drops it. The statements run with
// log_statement=none where allowed, so they stay out of the log tests assert on.
func (p *PostgreSQL) checkPasswords(ctx context.Context) error {
	admin, err := p.connect(ctx, p.SuperUser, p.SuperPassword, p.Database)
	if err != nil {
		return fmt.Errorf("%s: %w", p.describe(), err)
	}
	defer admin.Close(ctx)
	if err := p.quiet(ctx, admin); err != nil {
		return err
	}
	if p.srv != nil {
		// Our own cluster: no pg_hba.conf line may trust anyone, over TCP or the socket.
		var trust int
		err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust' OR error IS NOT NULL").Scan(&trust)
		if err != nil {
			return fmt.Errorf("%s: read pg_hba_file_rules: %w", p.describe(), err)
		}
		if trust != 0 {
			return fmt.Errorf("%s: pg_hba.conf has %d trust or invalid lines; this is a bug in testenv", p.describe(), trust)
		}
	}

	role, password := UniqueName("rotor_selfcheck"), rand.Text()
	ident := pgx.Identifier{role}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE ROLE "+ident+" LOGIN PASSWORD "+quoteLiteral(password)); err != nil {
		return fmt.Errorf("%s: create a role to check that passwords are checked (the DSN must be a superuser's or have CREATEROLE): %w", p.describe(), err)
	}
	defer admin.Exec(context.WithoutCancel(ctx), "DROP ROLE IF EXISTS "+ident)

	err = p.CanLogin(ctx, role, password+"-wrong")
	switch {
	case err == nil && p.srv == nil:
		return fmt.Errorf("%s points at a server that does not check passwords (trust auth): role %s logged in to %s:%d with a wrong password; set the host lines of its pg_hba.conf to scram-sha-256", EnvPostgreSQLDSN, role, p.Host, p.Port)
	case err == nil:
		return fmt.Errorf("%s does not check passwords (trust auth): role %s logged in with a wrong password; this is a bug in testenv", p.describe(), role)
	case SQLState(err) != InvalidPassword:
		return fmt.Errorf("%s: a wrong password should fail with SQLSTATE %s (invalid_password), got: %w", p.describe(), InvalidPassword, err)
	}
	// The refusal above proves something only if the right password is accepted.
	if err := p.CanLogin(ctx, role, password); err != nil {
		return fmt.Errorf("%s: the right password was refused too, so the refusal proves nothing: %w", p.describe(), err)
	}
	return nil
}

func (p *PostgreSQL) describe() string {
	if p.srv == nil {
		return fmt.Sprintf("PostgreSQL from %s (%s:%d)", EnvPostgreSQLDSN, p.Host, p.Port)
	}
	return fmt.Sprintf("PostgreSQL started by testenv (127.0.0.1:%d, %s)", p.Port, p.DataDir)
}
