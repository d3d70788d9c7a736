package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/rotorhq/rotor/internal/provider"
)

// connection is one row of information_schema.PROCESSLIST.
type connection struct {
	ID      int64
	Host    string // client address:port
	DB      string
	Seconds int64 // in its current state
}

func (c connection) name() string {
	s := fmt.Sprintf("id %d from %s", c.ID, c.Host)
	if c.DB != "" {
		s += " (database " + c.DB + ")"
	}
	return s
}

// listConnections lists the connections of user other than ours. PROCESSLIST holds the user
// name without its host: with several 'user'@host accounts of one name, all are counted.
func listConnections(ctx context.Context, conn *sql.Conn, user string) ([]connection, error) {
	rows, err := conn.QueryContext(ctx, `SELECT ID, COALESCE(HOST, ''), COALESCE(DB, ''), COALESCE(TIME, 0)
FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID() ORDER BY ID`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []connection
	for rows.Next() {
		var c connection
		if err := rows.Scan(&c.ID, &c.Host, &c.DB, &c.Seconds); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func names(conns []connection) string {
	var parts []string
	for i, c := range conns {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more", len(conns)-i))
			break
		}
		parts = append(parts, c.name())
	}
	return strings.Join(parts, "; ")
}

// Usage implements provider.UsageReporter from information_schema.PROCESSLIST: every open
// connection of the previous version's user is residual use (that user's password is the
// previous value). None is a pass; any is a fail, named by id and client address. It sees
// connections open now, not one that came and went since the cutover. The admin needs the
// PROCESS privilege to see other users' connections (readiness checks it).
func (a *Authority) Usage(ctx context.Context, req provider.UsageRequest) (provider.UsageResponse, error) {
	const op = "residual use"
	var errs []error
	if req.Credential == "" {
		errs = append(errs, errors.New("no credential named"))
	}
	if req.Version.ID == "" {
		errs = append(errs, errors.New("no version id"))
	}
	if err := provider.Refuse(op, errs); err != nil {
		return provider.UsageResponse{}, err
	}
	user, err := a.userOf(op, req.Version)
	if err != nil {
		return provider.UsageResponse{}, err
	}
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return provider.UsageResponse{}, err
	}
	defer release()
	conns, err := listConnections(ctx, conn, user)
	if err != nil {
		return provider.UsageResponse{}, classify(op, "read information_schema.PROCESSLIST for user "+user, err)
	}
	if len(conns) == 0 {
		return provider.UsageResponse{Verdict: provider.Pass, Detail: "no connection of user " + a.account(user) + " in information_schema.PROCESSLIST"}, nil
	}
	who := make([]string, 0, len(conns))
	for _, c := range conns {
		who = append(who, c.name())
	}
	return provider.UsageResponse{Verdict: provider.Fail, Count: len(conns), Who: who,
		Detail: fmt.Sprintf("%d connection(s) of user %s (the previous version's user) still open in information_schema.PROCESSLIST: %s", len(conns), a.account(user), names(conns))}, nil
}
