package testenv

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// postgresqlDefaults are the settings of every started server, before PostgreSQLOptions.
var postgresqlDefaults = map[string]string{
	"listen_addresses":    "127.0.0.1",
	"password_encryption": "scram-sha-256",
	"max_connections":     "200",
	"shared_buffers":      "32MB", // several clusters may run at once (go test runs packages in parallel)
	// Tests only: a crash may lose or corrupt the cluster, which is thrown away anyway, and
	// in exchange commits do not wait for the disk. Never set these on a server that matters.
	"fsync":              "off",
	"synchronous_commit": "off",
	"full_page_writes":   "off",
	// Log to stderr, which is the log file; no collector process.
	"logging_collector": "off",
	"log_destination":   "stderr",
	"log_line_prefix":   "%m [%p] %q%u@%d ",
	"log_connections":   "off",
	"log_statement":     "none",
}

const (
	superUser      = "postgres"
	maxSocketPath  = 100 // sockaddr_un holds 108 bytes on Linux, 104 on the BSDs
	socketFileName = "/.s.PGSQL.65535"
)

// startPostgreSQL creates a cluster in a new temporary directory and starts it. On error
// nothing is left running or on disk.
func startPostgreSQL(ctx context.Context, opts PostgreSQLOptions) (_ *PostgreSQL, err error) {
	bin, err := findPostgreSQLBin()
	if err != nil {
		return nil, err
	}
	owner, err := serverUser()
	if err != nil {
		return nil, err
	}
	base, err := makeBaseDir(owner)
	if err != nil {
		return nil, err
	}
	p := &PostgreSQL{
		Host:          "127.0.0.1",
		SuperUser:     superUser,
		SuperPassword: rand.Text(),
		Database:      "postgres",
		DataDir:       filepath.Join(base, "data"),
		LogFile:       filepath.Join(base, "postgres.log"),
		srv:           &daemon{dir: base},
	}
	defer cleanUpOnError(&err, p.stop)
	if err := initdb(ctx, bin, owner, p); err != nil {
		return nil, err
	}
	settings := maps.Clone(postgresqlDefaults)
	if opts.LogStatementAll {
		settings["log_statement"] = "all"
	}
	if opts.LogConnections {
		settings["log_connections"] = "on"
	}
	maps.Copy(settings, opts.Settings)
	settings["listen_addresses"] = "127.0.0.1" // whatever a test asks, nothing beyond this host

	if err := withFreePort(func(port int) error {
		p.Port = port
		return p.launch(ctx, bin, owner, settings)
	}); err != nil {
		return nil, err
	}
	if err := p.checkPasswords(ctx); err != nil {
		return nil, err
	}
	p.relaunch = func(ctx context.Context) error { return p.launch(ctx, bin, owner, settings) }
	return p, nil
}

// initdb creates the cluster with a scram-sha-256 superuser whose password it reads from a
// 0600 file that is removed right after.
func initdb(ctx context.Context, bin string, owner *osUser, p *PostgreSQL) error {
	pwfile := filepath.Join(p.srv.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.SuperPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("write initdb password file: %w", err)
	}
	defer os.Remove(pwfile)
	if err := owner.chown(pwfile); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"--pgdata="+p.DataDir,
		"--username="+p.SuperUser,
		"--pwfile="+pwfile,
		"--auth-local=scram-sha-256",
		"--auth-host=scram-sha-256",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync", // tests only: the cluster is thrown away
	)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	proc, err := startProcess(cmd, p.srv.dir, owner)
	if err != nil {
		return fmt.Errorf("run initdb: %w", err)
	}
	<-proc.done
	if proc.err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", p.DataDir, proc.err, strings.TrimSpace(out.String()))
	}
	return nil
}

// launch starts postgres on p.Port and waits until the superuser can log in over TCP.
func (p *PostgreSQL) launch(ctx context.Context, bin string, owner *osUser, settings map[string]string) error {
	args := []string{"-D", p.DataDir, "-p", strconv.Itoa(p.Port), "-k", filepath.Join(p.srv.dir, "socket")}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", name+"="+settings[name])
	}
	return p.srv.launch(ctx, attempt{
		name:      "postgres",
		addr:      "127.0.0.1:" + strconv.Itoa(p.Port),
		cmd:       exec.Command(filepath.Join(bin, "postgres"), args...),
		owner:     owner,
		log:       p.LogFile,
		portTaken: "could not create any TCP/IP sockets",
		ready:     p.ready,
	})
}

// ready logs in as the superuser and checks that the server answering is ours.
func (p *PostgreSQL) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := p.connect(ctx, p.SuperUser, p.SuperPassword, p.Database)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var dataDir string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory'), current_setting('server_version')").Scan(&dataDir, &p.Version); err != nil {
		return err
	}
	if filepath.Clean(dataDir) != filepath.Clean(p.DataDir) {
		return fmt.Errorf("127.0.0.1:%d is answered by another PostgreSQL (data directory %s)", p.Port, dataDir)
	}
	return nil
}

// Stop shuts a started server down as an outage would (fast shutdown: open sessions are
// ended, new connections refused) and keeps its data, so that Start brings it back as it
// was, on the same port. It fails the test for an external server (ROTOR_TEST_PG_DSN), which
// is not ours to stop. Tests that inject a database outage use it.
func (p *PostgreSQL) Stop(t testing.TB) {
	t.Helper()
	if p.srv == nil {
		t.Fatalf("testenv: the external PostgreSQL from %s cannot be stopped by a test; ask StartPostgreSQL for a started cluster (a Settings entry does)", EnvPostgreSQLDSN)
	}
	if err := p.srv.halt((*process).stop); err != nil {
		t.Fatalf("testenv: stop PostgreSQL on 127.0.0.1:%d: %v", p.Port, err)
	}
}

// Start starts a server that Stop stopped, on the same port and with the same data, and
// waits until the superuser can log in. It fails the test if the port was taken meanwhile.
func (p *PostgreSQL) Start(t testing.TB) {
	t.Helper()
	if p.srv == nil || p.relaunch == nil {
		t.Fatalf("testenv: only a PostgreSQL started by StartPostgreSQL can be started again")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.relaunch(ctx); err != nil {
		t.Fatalf("testenv: start PostgreSQL again on 127.0.0.1:%d: %v", p.Port, err)
	}
}

// stop shuts the server down (fast shutdown: SIGINT, then SIGQUIT, then SIGKILL) and removes
// its directory. An external server is left alone.
func (p *PostgreSQL) stop() error {
	return p.srv.shutdown(fmt.Sprintf("PostgreSQL on 127.0.0.1:%d", p.Port), (*process).stop)
}

// makeBaseDir creates the server's directory, owned by owner, under the temporary directory,
// or under /tmp when owner could not reach it there or the socket path would be too long.
func makeBaseDir(owner *osUser) (string, error) {
	parent := os.TempDir()
	if len(parent)+len("/rotor-pg-0123456789/socket")+len(socketFileName) > maxSocketPath || !owner.canTraverse(parent) {
		parent = "/tmp"
	}
	base, err := os.MkdirTemp(parent, "rotor-pg-")
	if err != nil {
		return "", fmt.Errorf("create PostgreSQL directory: %w", err)
	}
	if err := os.Mkdir(filepath.Join(base, "socket"), 0o700); err != nil {
		os.RemoveAll(base)
		return "", fmt.Errorf("create PostgreSQL socket directory: %w", err)
	}
	for _, dir := range []string{base, filepath.Join(base, "socket")} {
		if err := owner.chown(dir); err != nil {
			os.RemoveAll(base)
			return "", err
		}
	}
	return base, nil
}

// findPostgreSQLBin returns the directory holding initdb and postgres: $ROTOR_TEST_PG_BIN,
// else pg_config --bindir, else the newest /usr/lib/postgresql/*/bin, else PATH.
// scripts/test.sh searches the same places before it installs PostgreSQL.
func findPostgreSQLBin() (string, error) {
	return findPostgreSQLBinIn(os.Getenv(EnvPostgreSQLBin), "/usr/lib/postgresql/*/bin")
}

// findPostgreSQLBinIn is findPostgreSQLBin with $ROTOR_TEST_PG_BIN as dir and the pattern of
// distribution bin directories as libGlob.
func findPostgreSQLBinIn(dir, libGlob string) (string, error) {
	if dir != "" {
		if hasServerBinaries(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%s=%s holds no initdb and postgres executables\nhint: point it at a PostgreSQL bin directory, e.g. /usr/lib/postgresql/15/bin, or unset it", EnvPostgreSQLBin, dir)
	}
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	versions, _ := filepath.Glob(libGlob)
	slices.SortFunc(versions, func(a, b string) int { // newest first
		return compareVersions(filepath.Base(filepath.Dir(b)), filepath.Base(filepath.Dir(a)))
	})
	candidates = append(candidates, versions...)
	if initdb, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(initdb))
	}
	for _, dir := range candidates {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found in $" + EnvPostgreSQLBin +
		", pg_config --bindir, /usr/lib/postgresql/*/bin or PATH; tests that need PostgreSQL cannot run" +
		"\nhint: run scripts/test.sh, which installs them, or: apt-get install -y --no-install-recommends postgresql" +
		"\nhint: or set " + EnvPostgreSQLDSN + " to a superuser DSN of a server that checks passwords")
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// compareVersions compares dotted version numbers such as "9.6" and "15".
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}
