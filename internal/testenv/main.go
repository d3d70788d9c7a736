package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// mainRunning is set by RunMain: only then is someone there to stop shared servers.
var mainRunning atomic.Bool

// shared holds the servers started once per test binary.
var shared struct {
	sync.Mutex
	pgStarted bool
	pg        *PostgreSQL
	pgErr     error
}

// RunMain runs the tests and then stops the servers they shared. Call it from TestMain in
// every package that uses SharedPostgreSQL:
//
//	func TestMain(m *testing.M) { testenv.RunMain(m) }
func RunMain(m *testing.M) {
	mainRunning.Store(true)
	code := m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// SharedPostgreSQL returns the PostgreSQL cluster shared by every test of this test binary,
// starting it on first use (with zero PostgreSQLOptions, so ROTOR_TEST_PG_DSN replaces it).
// Tests share its roles and databases: name what you create with UniqueName. Starting it
// fails the test unless TestMain calls RunMain, which stops it after the tests.
func SharedPostgreSQL(t testing.TB) *PostgreSQL {
	t.Helper()
	if !mainRunning.Load() {
		t.Fatal("testenv: SharedPostgreSQL needs this package's TestMain to call testenv.RunMain, which stops the shared server after the tests:\n\tfunc TestMain(m *testing.M) { testenv.RunMain(m) }")
	}
	shared.Lock()
	defer shared.Unlock()
	if !shared.pgStarted {
		shared.pgStarted = true
		began := time.Now()
		shared.pg, shared.pgErr = sharedPostgreSQL()
		if shared.pgErr == nil && shared.pg.srv != nil {
			t.Logf("testenv: shared PostgreSQL %s on 127.0.0.1:%d started in %s", shared.pg.Version, shared.pg.Port, time.Since(began).Round(time.Millisecond))
		}
	}
	if shared.pgErr != nil {
		t.Fatalf("testenv: shared PostgreSQL: %v", shared.pgErr)
	}
	return shared.pg
}

func sharedPostgreSQL() (*PostgreSQL, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if dsn := os.Getenv(EnvPostgreSQLDSN); dsn != "" {
		return externalPostgreSQL(ctx, dsn)
	}
	return startPostgreSQL(ctx, PostgreSQLOptions{})
}

func stopShared() error {
	shared.Lock()
	defer shared.Unlock()
	if shared.pg == nil {
		return nil
	}
	err := shared.pg.stop()
	shared.pg, shared.pgErr = nil, fmt.Errorf("the shared PostgreSQL was stopped: RunMain has returned")
	return err
}
