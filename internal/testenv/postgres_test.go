package testenv

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { RunMain(m) }

// The server refuses a wrong password with 28P01 and accepts the right one, through the
// DSN a test would hand to the code under test; when the test ends it is gone.
func TestStartPostgreSQLChecksPasswords(t *testing.T) {
	t.Parallel()
	var p *PostgreSQL
	t.Run("running", func(t *testing.T) {
		p = StartPostgreSQL(t, PostgreSQLOptions{})
		ctx := t.Context()
		role := UniqueName("app")
		password := `p@ss:w/rd?#%'"` + "\\ é"
		p.CreateRole(t, role, password)

		if err := p.CanLogin(ctx, role, password); err != nil {
			t.Fatalf("right password: %v", err)
		}
		if err := p.CanLogin(ctx, role, password+"x"); SQLState(err) != InvalidPassword {
			t.Fatalf("wrong password: got %v, want SQLSTATE %s", err, InvalidPassword)
		}
		if err := p.CanLogin(ctx, UniqueName("nobody"), password); SQLState(err) != InvalidPassword {
			t.Fatalf("unknown role: got %v, want SQLSTATE %s", err, InvalidPassword)
		}
		conn, err := pgx.Connect(ctx, p.DSN(role, password, p.Database))
		if err != nil {
			t.Fatalf("pgx.Connect(DSN): %v", err)
		}
		defer conn.Close(ctx)
		var user string
		if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != role {
			t.Fatalf("current_user = %q, %v; want %q", user, err, role)
		}
		if p.srv == nil {
			t.Logf("using the external server from %s", EnvPostgreSQLDSN)
			return
		}
		if p.Host != "127.0.0.1" || !strings.Contains(p.DSN("u", "p", "d"), "@127.0.0.1:"+strconv.Itoa(p.Port)+"/d?sslmode=disable") {
			t.Errorf("Host %q, DSN %q: want 127.0.0.1 and sslmode=disable", p.Host, p.DSN("u", "p", "d"))
		}
		if _, err := os.Stat(filepath.Join(p.DataDir, "PG_VERSION")); err != nil {
			t.Errorf("DataDir: %v", err)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p.DataDir), "pwfile")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("initdb's password file was not removed: %v", err)
		}
		hba, err := os.ReadFile(filepath.Join(p.DataDir, "pg_hba.conf"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(hba), "\n") {
			if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") && f[len(f)-1] != "scram-sha-256" {
				t.Errorf("pg_hba.conf line %q: want scram-sha-256", line)
			}
		}
	})
	if p == nil || p.srv == nil {
		return
	}
	if _, err := os.Stat(p.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after the test, DataDir %s: %v; want it removed", p.DataDir, err)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(p.Host, strconv.Itoa(p.Port)), time.Second); err == nil {
		c.Close()
		t.Errorf("after the test, 127.0.0.1:%d still accepts connections", p.Port)
	}
}

// With LogStatementAll, Log shows every statement, including a password sent in one, so a
// test asserting that a password never reaches the log can fail. testenv's own set-up
// statements (CreateRole) stay out of it, and so does the superuser's password.
func TestLogStatementAll(t *testing.T) {
	t.Parallel()
	p := StartPostgreSQL(t, PostgreSQLOptions{LogStatementAll: true})
	ctx := t.Context()
	role, oldPassword, newPassword := UniqueName("app"), UniqueName("old"), UniqueName("new")
	p.CreateRole(t, role, oldPassword)
	marker := UniqueName("marker")
	p.Exec(t, "SELECT 1 AS "+marker)

	// What careless rotation code would do: send the new password in plain SQL.
	conn, err := pgx.Connect(ctx, p.DSN(role, oldPassword, p.Database))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ALTER ROLE "+role+" PASSWORD "+quoteLiteral(newPassword)); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	log, err := p.Log()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "statement: SELECT 1 AS "+marker) {
		t.Errorf("log lacks the statement SELECT 1 AS %s:\n%s", marker, log)
	}
	if !strings.Contains(log, newPassword) {
		t.Errorf("log lacks the password sent in ALTER ROLE, so it cannot catch a leak:\n%s", log)
	}
	if strings.Contains(log, oldPassword) {
		t.Errorf("log shows the password CreateRole set:\n%s", log)
	}
	if strings.Contains(log, p.SuperPassword) {
		t.Error("log shows the superuser's password")
	}
}

// Without LogStatementAll statements are not logged; LogConnections logs logins.
func TestLogConnections(t *testing.T) {
	t.Parallel()
	p := StartPostgreSQL(t, PostgreSQLOptions{LogConnections: true})
	marker := UniqueName("marker")
	p.Exec(t, "SELECT 1 AS "+marker)
	log, err := p.Log()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log, marker) {
		t.Errorf("log shows a statement although log_statement is none:\n%s", log)
	}
	if !strings.Contains(log, "connection authorized: user=postgres database=postgres") {
		t.Errorf("log lacks the superuser's login:\n%s", log)
	}
}

func TestSharedPostgreSQL(t *testing.T) {
	t.Parallel()
	a := SharedPostgreSQL(t)
	var b *PostgreSQL
	t.Run("another test", func(t *testing.T) { b = SharedPostgreSQL(t) })
	if a != b {
		t.Fatalf("SharedPostgreSQL returned two servers: 127.0.0.1:%d and 127.0.0.1:%d", a.Port, b.Port)
	}
	if err := a.CanLogin(t.Context(), a.SuperUser, a.SuperPassword); err != nil {
		t.Fatalf("superuser login: %v", err)
	}
	if err := a.CanLogin(t.Context(), a.SuperUser, a.SuperPassword+"x"); SQLState(err) != InvalidPassword {
		t.Fatalf("superuser with a wrong password: got %v, want SQLSTATE %s", err, InvalidPassword)
	}
}

// The password self-check is what keeps a trust-auth server from passing every rotation
// test: switch a running cluster to trust and watch it, and the ROTOR_TEST_PG_DSN check,
// refuse the server.
func TestPasswordCheckRefusesTrust(t *testing.T) {
	t.Parallel()
	// A setting, any setting, gets a cluster of our own even when ROTOR_TEST_PG_DSN is set.
	p := StartPostgreSQL(t, PostgreSQLOptions{Settings: map[string]string{"log_min_messages": "warning"}})
	ctx := t.Context()

	ext, err := externalPostgreSQL(ctx, p.AdminDSN())
	if err != nil {
		t.Fatalf("the cluster, used as %s: %v", EnvPostgreSQLDSN, err)
	}
	if ext.Host != p.Host || ext.Port != p.Port || ext.SuperUser != p.SuperUser || ext.Database != p.Database || ext.LogFile != "" {
		t.Errorf("parsed %s as %+v", EnvPostgreSQLDSN, ext)
	}
	if _, err := ext.Log(); err == nil {
		t.Error("Log of an external server: want an error")
	}

	trust := "local all all trust\nhost all all 127.0.0.1/32 trust\n"
	if err := os.WriteFile(filepath.Join(p.DataDir, "pg_hba.conf"), []byte(trust), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Exec(t, "SELECT pg_reload_conf()")
	for deadline := time.Now().Add(10 * time.Second); p.CanLogin(ctx, p.SuperUser, "wrong") != nil; {
		if time.Now().After(deadline) {
			t.Fatal("the server still checks passwords 10 s after switching pg_hba.conf to trust")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := p.checkPasswords(ctx); err == nil || !strings.Contains(err.Error(), "trust") {
		t.Errorf("self-check of a trust cluster: got %v, want a trust error", err)
	}
	_, err = externalPostgreSQL(ctx, p.AdminDSN())
	want := EnvPostgreSQLDSN + " points at a server that does not check passwords (trust auth)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s at a trust server: got %v, want %q", EnvPostgreSQLDSN, err, want)
	}
	if err != nil && strings.Contains(err.Error(), p.SuperPassword) {
		t.Error("the error shows the superuser's password")
	}
}

func TestFindPostgreSQLBin(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(EnvPostgreSQLBin, empty)
	if _, err := findPostgreSQLBin(); err == nil || !strings.Contains(err.Error(), EnvPostgreSQLBin+"="+empty+" holds no initdb") {
		t.Errorf("%s=<empty dir>: got %v", EnvPostgreSQLBin, err)
	}
	t.Setenv(EnvPostgreSQLBin, "")
	dir, err := findPostgreSQLBin()
	if err != nil {
		t.Fatal(err) // the install hint is in err
	}
	if !hasServerBinaries(dir) {
		t.Errorf("found %s, which lacks initdb or postgres", dir)
	}

	// Nothing anywhere: the error says how to install PostgreSQL.
	t.Setenv("PATH", empty)
	_, err = findPostgreSQLBinIn("", filepath.Join(empty, "*", "bin"))
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y --no-install-recommends postgresql") {
		t.Errorf("no binaries anywhere: got %v, want an install hint", err)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int // sign
	}{{"15", "9.6", 1}, {"9.6", "10", -1}, {"16", "16", 0}, {"10", "9", 1}} {
		if got := compareVersions(c.a, c.b); sign(got) != c.want {
			t.Errorf("compareVersions(%q, %q) = %d, want sign %d", c.a, c.b, got, c.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestRedactLiterals(t *testing.T) {
	for in, want := range map[string]string{
		`ALTER ROLE app PASSWORD 's3cret'`:               `ALTER ROLE app PASSWORD '[redacted]'`,
		`CREATE ROLE a PASSWORD 'it''s' VALID UNTIL 'x'`: `CREATE ROLE a PASSWORD '[redacted]' VALID UNTIL '[redacted]'`,
		`SELECT 'unterminated`:                           `SELECT '[redacted]'`,
		`SELECT 1`:                                       `SELECT 1`,
	} {
		if got := redactLiterals(in); got != want {
			t.Errorf("redactLiterals(%q) = %q, want %q", in, got, want)
		}
	}
}

// Exec's error names the statement without its literals.
func TestExecErrorRedacts(t *testing.T) {
	t.Parallel()
	p := SharedPostgreSQL(t)
	err := p.exec(false, "ALTER ROLE "+UniqueName("missing")+" PASSWORD 'hunter2'")
	if SQLState(err) != "42704" { // undefined_object
		t.Fatalf("ALTER ROLE of a missing role: got %v, want SQLSTATE 42704", err)
	}
	if msg := err.Error(); strings.Contains(msg, "hunter2") || !strings.Contains(msg, "PASSWORD '[redacted]'") {
		t.Errorf("error %q: want the statement with its password redacted", msg)
	}
}

// Stop is an outage: connections are refused until Start brings the same cluster back, on
// the same port, with what it held.
func TestPostgreSQLStopAndStart(t *testing.T) {
	t.Parallel()
	p := StartPostgreSQL(t, PostgreSQLOptions{LogConnections: true})
	role, password := UniqueName("app"), UniqueName("pw")
	p.CreateRole(t, role, password)
	p.Stop(t)
	err := p.CanLogin(t.Context(), role, password)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("login while stopped: got %v, want connection refused", err)
	}
	p.Stop(t) // stopping a stopped server does nothing
	p.Start(t)
	if err := p.CanLogin(t.Context(), role, password); err != nil {
		t.Fatalf("login after Start: %v", err)
	}
}
