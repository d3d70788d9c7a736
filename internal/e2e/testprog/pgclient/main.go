// Command pgclient is a PostgreSQL consumer for rotor's end-to-end tests. It reads its login —
// the role (the version's authority name) and the password — from rotor's file store with its
// own age identity, honouring a rollback pin for its consumer name, and connects with pgx as a
// real service or job would:
//
//	-mode once   connect, SELECT 1, exit 0 (a job run; exit 1 when the login is refused)
//	-mode pool   open -conns connections at start and keep them (a long-lived pool that
//	             holds sessions authenticated with the value it read), pinging each every
//	             -every; on SIGHUP it reads the store again and replaces every connection,
//	             the way a service reloads its secrets; -pid-file says where to signal it
//
// It prints one line per attempt: "pgclient APP: role R version V -> ok|refused (SQLSTATE)".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotorhq/rotor/internal/store/file"
)

func main() {
	dir := flag.String("dir", "", "file store directory")
	name := flag.String("name", "", "credential name in the store")
	ident := flag.String("identity", "", "age identity file")
	consumer := flag.String("consumer", "", "consumer name (for rollback pins)")
	host := flag.String("host", "127.0.0.1", "server host")
	port := flag.Int("port", 5432, "server port")
	db := flag.String("db", "postgres", "database")
	app := flag.String("app", "pgclient", "application_name")
	mode := flag.String("mode", "once", "once or pool")
	conns := flag.Int("conns", 2, "pool: connections to hold")
	every := flag.Duration("every", time.Second, "pool: ping interval")
	pidFile := flag.String("pid-file", "", "pool: write the pid here")
	flag.Parse()
	if *pidFile != "" {
		if err := os.WriteFile(*pidFile, []byte(fmt.Sprint(os.Getpid())), 0o600); err != nil {
			fail(2, err)
		}
	}

	r, err := file.OpenReader(*dir, *name, *ident)
	if err != nil {
		fail(2, err)
	}
	var use file.VersionValue
	var cfg *pgx.ConnConfig
	// login reads the store (as this consumer) and builds the connection settings from it.
	login := func() error {
		u, err := r.Use(*consumer)
		if err != nil {
			return err
		}
		c, err := pgx.ParseConfig("")
		if err != nil {
			return err
		}
		c.Host, c.Port, c.Database, c.User = *host, uint16(*port), *db, u.AuthorityRef
		pw := u.Value.Reveal()
		c.Password = string(pw)
		clear(pw)
		u.Value.Wipe()
		c.RuntimeParams["application_name"] = *app
		c.ConnectTimeout = 5 * time.Second
		use, cfg = u, c
		return nil
	}
	loggedIn := login() == nil
	if !loggedIn && *mode != "pool" {
		fail(2, errors.New("no login in the store yet"))
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	connect := func() *pgx.Conn {
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			_, err = c.Exec(ctx, "SELECT 1")
		}
		report(*app, use, err)
		if err != nil {
			if c != nil {
				c.Close(context.Background())
			}
			return nil
		}
		return c
	}
	switch *mode {
	case "once":
		c := connect()
		if c == nil {
			os.Exit(1)
		}
		c.Close(context.Background())
	case "pool":
		// A service started before its first secret waits for the reload that brings it.
		var pool []*pgx.Conn
		for range *conns {
			if !loggedIn {
				fmt.Println("pgclient " + *app + ": no login yet, waiting for SIGHUP")
				break
			}
			if c := connect(); c != nil {
				pool = append(pool, c)
			}
		}
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-hup:
				if err := login(); err != nil {
					fmt.Fprintln(os.Stderr, "pgclient: reload:", err)
					continue
				}
				for _, c := range pool {
					c.Close(context.Background())
				}
				pool = pool[:0]
				for range *conns {
					if c := connect(); c != nil {
						pool = append(pool, c)
					}
				}
			case <-time.After(*every):
				for _, c := range pool {
					_, err := c.Exec(ctx, "SELECT 1")
					if ctx.Err() == nil {
						report(*app, use, err)
					}
				}
			}
		}
		for _, c := range pool {
			c.Close(context.Background())
		}
	default:
		fail(2, fmt.Errorf("unknown -mode %q", *mode))
	}
}

func report(app string, use file.VersionValue, err error) {
	what := "ok"
	if err != nil {
		what = "refused"
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			what += " (" + pe.Code + ")"
		}
	}
	fmt.Printf("pgclient %s: role %s version %s -> %s\n", app, use.AuthorityRef, use.ID, what)
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "pgclient:", err)
	os.Exit(code)
}
