package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/sqlite"
)

// stateLocation reads --db. Only the embedded SQLite database exists in this build.
func (g *globals) stateLocation() (state.Location, error) {
	loc, err := state.ParseURL(g.db)
	if err != nil {
		return state.Location{}, withHint(ExitUsage, err, "--db takes a SQLite path or sqlite:PATH")
	}
	if loc.Driver != state.DriverSQLite {
		return state.Location{}, withHint(ExitUsage, fmt.Errorf("--db %s: the PostgreSQL state store is not available in this build yet", loc),
			"use the embedded SQLite database (the default): a path, or sqlite:PATH")
	}
	return loc, nil
}

// openState opens the state database for a command that acts: read-write, created (with its
// folder) on first use.
func (g *globals) openState(ctx context.Context) (*sqlite.DB, state.Location, error) {
	loc, err := g.stateLocation()
	if err != nil {
		return nil, loc, err
	}
	db, err := sqlite.Open(ctx, loc.Path, sqlite.Options{Clock: g.env.Now})
	return db, loc, err
}

// openStateReadOnly opens the state database for a command that only reads: nothing is
// created, migrated or written. A file that does not exist comes back as a handle whose
// Absent() is true; the caller says what that means for it.
func (g *globals) openStateReadOnly(ctx context.Context) (*sqlite.DB, state.Location, error) {
	loc, err := g.stateLocation()
	if err != nil {
		return nil, loc, err
	}
	db, err := sqlite.Open(ctx, loc.Path, sqlite.Options{ReadOnly: true})
	return db, loc, err // a *state.FormatError says what to do for each kind of file
}

// view opens the inventory and the state database read-only for the commands that read runs
// (status, runs, journal, journal verify). They never create a database, write to it, take a
// lock or send a notification: a database that does not exist is an error naming it.
func (g *globals) view(ctx context.Context) (engine.View, func(), error) {
	inv, err := g.loadOrPrint()
	if err != nil {
		return engine.View{}, nil, err
	}
	db, loc, err := g.openStateReadOnly(ctx)
	if err != nil {
		return engine.View{}, nil, err
	}
	if db.Absent() {
		db.Close()
		return engine.View{}, nil, withHint(ExitError, fmt.Errorf("no state database at %s", loc.Path),
			"--db (or ROTOR_DB) names the database; rotor rotate creates it with the first run")
	}
	return engine.View{Inv: inv, Registry: g.registry, State: db, Clock: g.env.Now}, func() { db.Close() }, nil
}

// baseDir is the inventory's folder: relative paths in provider configs resolve against it.
func (g *globals) baseDir() string {
	base := g.inventory
	if st, err := os.Stat(base); err == nil && !st.IsDir() {
		base = filepath.Dir(base)
	}
	abs, err := filepath.Abs(base)
	if err != nil {
		return base
	}
	return abs
}
