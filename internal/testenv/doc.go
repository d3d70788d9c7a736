// Package testenv starts real servers on 127.0.0.1 for tests: no mocks, no emulators of the
// systems rotor rotates secrets in.
//
// A rotation test that passes against a server which accepts any password proves nothing, so
// every server started here checks credentials and proves it before a test gets it: the
// PostgreSQL cluster is created with initdb --auth=scram-sha-256, and before it is handed out
// testenv logs in as a throwaway role with a wrong password and fails the test unless the
// server refuses it (SQLSTATE 28P01).
//
// When the server binaries are missing the test fails with a hint on how to install them; it
// is never skipped, because a test that silently does not run in CI is worse than none.
// scripts/test.sh installs them.
//
// Starting a PostgreSQL cluster takes about two seconds. Tests that only need "a PostgreSQL"
// share one per test binary through [SharedPostgreSQL]; such a package stops it from its
// TestMain:
//
//	func TestMain(m *testing.M) { testenv.RunMain(m) }
//
// Tests that need their own server settings (log_statement=all, for example) call
// [StartPostgreSQL], which stops the server when the test ends.
//
// Environment:
//
//	ROTOR_TEST_PG_DSN  superuser DSN of a running, password-checking server to use instead of
//	                   starting one (only for servers without special settings; see
//	                   [PostgreSQLOptions]). It is checked like a started one.
//	ROTOR_TEST_PG_BIN  directory holding initdb and postgres, overriding the search in
//	                   pg_config --bindir, /usr/lib/postgresql/*/bin and PATH.
package testenv
