package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// EnvMariaDBBin is the directory holding mariadbd and mariadb-install-db, instead of PATH,
// /usr/sbin and /usr/bin.
const EnvMariaDBBin = "ROTOR_TEST_MARIADB_BIN"

// MySQL error numbers tests assert on.
const (
	// AccessDenied is what MySQL and MariaDB answer to a wrong password (ER_ACCESS_DENIED_ERROR).
	AccessDenied = 1045
	// AccountLocked is MariaDB's answer to a login as a locked account (ER_ACCOUNT_HAS_BEEN_LOCKED);
	// MySQL's is 3118.
	AccountLocked = 4151
)

// MariaDB is a running MariaDB server for tests, checking passwords. The machine's own server
// (if any) is never used: a test starts its own, on a free port of 127.0.0.1, with a data
// directory of its own, and stops it at the end.
type MariaDB struct {
	Host string // 127.0.0.1
	Port int
	// AdminUser and AdminPassword log in over TCP as an account with every privilege WITH
	// GRANT OPTION. The password is random and never logged. No account has an empty password.
	AdminUser, AdminPassword string
	Version                  string // VERSION(), e.g. "10.11.19-MariaDB-0+deb12u1"
	DataDir, LogFile         string
	// GeneralLog is the general query log, which records every statement the server received
	// (on from the start).
	GeneralLog string

	srv      *daemon
	relaunch func(context.Context) error
}

// StartMariaDB initialises a data directory (mariadb-install-db) in a new temporary directory
// and starts mariadbd on it, on a free port of 127.0.0.1, with the general query log on; it
// stops the server and removes its files when the test ends. It fails the test when the
// binaries are missing (with a hint) or the server does not refuse a wrong password.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	m, err := startMariaDB(ctx)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	stopAtEnd(t, "MariaDB error log", m.LogFile, m.stop)
	t.Logf("testenv: MariaDB %s on 127.0.0.1:%d started in %s", m.Version, m.Port, time.Since(began).Round(time.Millisecond))
	return m
}

var mariadbd = executable{
	name: "mariadbd", envVar: EnvMariaDBBin, noun: "a directory holding mariadbd and mariadb-install-db",
	paths: []string{"/usr/sbin/mariadbd"}, where: "PATH or /usr/sbin/mariadbd", needs: "MariaDB",
	hints: []string{"apt-get install -y --no-install-recommends mariadb-server (scripts/test.sh does; no service is started)",
		"or set " + EnvMariaDBBin + " to the directory holding mariadbd and mariadb-install-db"},
}

func findMariaDB() (server, installDB string, err error) {
	if dir := os.Getenv(EnvMariaDBBin); dir != "" {
		server, installDB = filepath.Join(dir, "mariadbd"), filepath.Join(dir, "mariadb-install-db")
		if !isExecutable(server) || !isExecutable(installDB) {
			return "", "", fmt.Errorf("%s=%s holds no mariadbd and mariadb-install-db\nhint: point it at %s, or unset it", EnvMariaDBBin, dir, mariadbd.noun)
		}
		return server, installDB, nil
	}
	if server, err = mariadbd.find(""); err != nil {
		return "", "", err
	}
	for _, p := range []string{filepath.Join(filepath.Dir(server), "mariadb-install-db"), "/usr/bin/mariadb-install-db"} {
		if isExecutable(p) {
			return server, p, nil
		}
	}
	if p, err := exec.LookPath("mariadb-install-db"); err == nil {
		return server, p, nil
	}
	return "", "", errors.New("mariadb-install-db not found next to " + server + ", in /usr/bin or PATH\nhint: " + strings.Join(mariadbd.hints, "\nhint: "))
}

func startMariaDB(ctx context.Context) (_ *MariaDB, err error) {
	server, installDB, err := findMariaDB()
	if err != nil {
		return nil, err
	}
	owner, err := serverUser() // mariadbd refuses to run as root without --user
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp("/tmp", "rotor-mariadb-") // short: the socket path is bounded
	if err != nil {
		return nil, fmt.Errorf("create MariaDB directory: %w", err)
	}
	if err := owner.chown(base); err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	m := &MariaDB{
		Host: "127.0.0.1", AdminUser: "rotor_admin", AdminPassword: rand.Text(),
		DataDir: filepath.Join(base, "data"), LogFile: filepath.Join(base, "mariadb.log"),
		GeneralLog: filepath.Join(base, "general.log"), srv: &daemon{dir: base},
	}
	defer cleanUpOnError(&err, m.stop)
	// Its own tmpdir: servers bootstrapping at once in /tmp collide on temporary table names.
	tmp := filepath.Join(base, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("create MariaDB tmpdir: %w", err)
	}
	if err := owner.chown(tmp); err != nil {
		return nil, err
	}
	installCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(installCtx, installDB, "--no-defaults", "--datadir="+m.DataDir,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve", "--tmpdir="+tmp)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	proc, err := startProcess(cmd, base, owner)
	if err != nil {
		return nil, fmt.Errorf("run mariadb-install-db: %w", err)
	}
	<-proc.done
	if proc.err != nil {
		return nil, fmt.Errorf("mariadb-install-db %s: %w\n%s", m.DataDir, proc.err, strings.TrimSpace(out.String()))
	}
	socket := filepath.Join(base, "sock")
	launch := func(ctx context.Context, secured bool) error {
		return m.srv.launch(ctx, attempt{
			name: "mariadbd", addr: net.JoinHostPort(m.Host, strconv.Itoa(m.Port)),
			cmd: exec.Command(server, "--no-defaults", "--datadir="+m.DataDir, "--port="+strconv.Itoa(m.Port),
				"--bind-address=127.0.0.1", "--socket="+socket, "--tmpdir="+tmp, "--pid-file="+filepath.Join(base, "mariadbd.pid"),
				"--skip-name-resolve", "--log-error="+m.LogFile, "--general-log=1", "--general-log-file="+m.GeneralLog,
				"--innodb-buffer-pool-size=16M", "--max-connections=200", "--skip-log-bin"),
			owner: owner, log: filepath.Join(base, "stdout.log"), serverLog: m.LogFile,
			portTaken: "Do you already have another server running on port",
			ready:     func(ctx context.Context) error { return m.ready(ctx, socket, secured) },
		})
	}
	if err := withFreePort(func(port int) error {
		m.Port = port
		return launch(ctx, false)
	}); err != nil {
		return nil, err
	}
	m.relaunch = func(ctx context.Context) error { return launch(ctx, true) }
	if err := m.checkPasswords(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// ready is nil once the server answers on its port and is ours. Before it is secured, it
// logs in as root over the socket (no password: mariadb-install-db's normal authentication),
// gives root a random password, drops root's passwordless TCP accounts and creates the admin.
func (m *MariaDB) ready(ctx context.Context, socket string, secured bool) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if !secured {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Net, cfg.Addr = "root", "unix", socket
		db := sql.OpenDB(mustConnector(cfg))
		defer db.Close()
		for _, stmt := range []string{
			"DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1'",
			"ALTER USER 'root'@'localhost' IDENTIFIED BY '" + m.AdminPassword + "'",
			"CREATE USER IF NOT EXISTS '" + m.AdminUser + "'@'127.0.0.1' IDENTIFIED BY '" + m.AdminPassword + "'",
			"GRANT ALL PRIVILEGES ON *.* TO '" + m.AdminUser + "'@'127.0.0.1' WITH GRANT OPTION",
		} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("secure the new server: %w", err)
			}
		}
	}
	db, err := m.open(m.AdminUser, m.AdminPassword)
	if err != nil {
		return err
	}
	defer db.Close()
	var dataDir string
	if err := db.QueryRowContext(ctx, "SELECT @@datadir, VERSION()").Scan(&dataDir, &m.Version); err != nil {
		return err
	}
	if filepath.Clean(dataDir) != filepath.Clean(m.DataDir) {
		return fmt.Errorf("127.0.0.1:%d is answered by another server (data directory %s)", m.Port, dataDir)
	}
	return nil
}

// checkPasswords proves that the server refuses a wrong password.
func (m *MariaDB) checkPasswords(ctx context.Context) error {
	err := m.CanLogin(ctx, m.AdminUser, m.AdminPassword+"x")
	if ErrorNumber(err) != AccessDenied {
		return fmt.Errorf("MariaDB on 127.0.0.1:%d did not refuse a wrong password (got %v): tests that rotate passwords would prove nothing", m.Port, err)
	}
	return nil
}

func mustConnector(cfg *mysql.Config) driver.Connector {
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		panic(err) // only for a config built in this file
	}
	return c
}

// DSN returns a go-sql-driver/mysql DSN to log in as user over TCP. The password is in it:
// do not log it.
func (m *MariaDB) DSN(user, password string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, password, "tcp", net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
	cfg.Timeout = 5 * time.Second
	return cfg.FormatDSN()
}

// AdminDSN is the admin's DSN.
func (m *MariaDB) AdminDSN() string { return m.DSN(m.AdminUser, m.AdminPassword) }

func (m *MariaDB) open(user, password string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(m.DSN(user, password))
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(mustConnector(cfg)), nil
}

// Connect opens one connection as user, held until the test ends or the caller closes the
// returned pool (of that one connection): a client that logged in and stays.
func (m *MariaDB) Connect(t testing.TB, user, password string) *sql.DB {
	t.Helper()
	db, err := m.open(user, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("testenv: log in to MariaDB as %s: %v", user, err)
	}
	return db
}

// CanLogin logs in as user with password over TCP and returns why that failed, if it did: a
// wrong password gives an error whose ErrorNumber is AccessDenied.
func (m *MariaDB) CanLogin(ctx context.Context, user, password string) error {
	db, err := m.open(user, password)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// Exec runs statements as the admin, failing the test on error.
func (m *MariaDB) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	db, err := m.open(m.AdminUser, m.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("testenv: MariaDB %q: %v", s, err)
		}
	}
}

// Log returns the general query log and the error log so far: every statement the server
// received, and what it said.
func (m *MariaDB) Log() (string, error) {
	var b strings.Builder
	for _, f := range []string{m.GeneralLog, m.LogFile} {
		data, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		b.Write(data)
	}
	return b.String(), nil
}

// ErrorNumber returns the MySQL error number in err's chain, or 0.
func ErrorNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// Stop shuts the server down as an outage would and keeps its data; Start brings it back on
// the same port.
func (m *MariaDB) Stop(t testing.TB) {
	t.Helper()
	if err := m.srv.halt(stopMariaDB); err != nil {
		t.Fatalf("testenv: stop MariaDB on 127.0.0.1:%d: %v", m.Port, err)
	}
}

// Start starts a server that Stop stopped, on the same port and with the same data.
func (m *MariaDB) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.relaunch(ctx); err != nil {
		t.Fatalf("testenv: start MariaDB again on 127.0.0.1:%d: %v", m.Port, err)
	}
}

func (m *MariaDB) stop() error {
	return m.srv.shutdown(fmt.Sprintf("MariaDB on 127.0.0.1:%d", m.Port), stopMariaDB)
}

// stopMariaDB shuts mariadbd down with SIGTERM (it ignores SIGINT), then SIGKILL.
func stopMariaDB(p *process) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.done
	return fmt.Errorf("did not stop within %s of SIGTERM; killed", stopTimeout)
}
