package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/internal/provider"
)

// session is one row of pg_stat_activity. Start is zero and Hidden true when the admin may
// not see the session's details (it needs pg_read_all_stats, or membership in the role).
type session struct {
	PID    int32
	App    string
	Client string // address, or "local" for a Unix socket
	Start  time.Time
	Hidden bool
}

// name is how a session is named to a person: application@client.
func (s session) name() string {
	if s.Hidden {
		return "a session hidden from the admin (grant it pg_read_all_stats to see which)"
	}
	app := s.App
	if app == "" {
		app = "(no application_name)"
	}
	return app + "@" + s.Client
}

// sessionsSQL lists the client sessions of a role other than our own. A session the admin
// may not inspect has a NULL backend_type and backend_start: it is counted all the same.
const sessionsSQL = `SELECT pid, coalesce(application_name, ''), coalesce(host(client_addr), 'local'), backend_start
FROM pg_stat_activity
WHERE usename = $1 AND pid <> pg_backend_pid() AND coalesce(backend_type, 'client backend') = 'client backend'
ORDER BY backend_start NULLS FIRST, pid`

func listSessions(ctx context.Context, conn *pgx.Conn, role string) ([]session, error) {
	rows, err := conn.Query(ctx, sessionsSQL, role)
	if err != nil {
		return nil, err
	}
	var out []session
	for rows.Next() {
		var s session
		var start *time.Time
		if err := rows.Scan(&s.PID, &s.App, &s.Client, &start); err != nil {
			rows.Close()
			return nil, err
		}
		if start == nil {
			s.Hidden, s.Client = true, ""
		} else {
			s.Start = *start
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// who names the sessions, one entry per application@client with its count.
func who(sessions []session) []string {
	counts := map[string]int{}
	var order []string
	for _, s := range sessions {
		n := s.name()
		if counts[n] == 0 {
			order = append(order, n)
		}
		counts[n]++
	}
	out := make([]string, 0, len(order))
	for _, n := range order {
		if c := counts[n]; c > 1 {
			n = fmt.Sprintf("%s (%d sessions)", n, c)
		}
		out = append(out, n)
	}
	return out
}

// terminate ends the client sessions of role, other than ours, and returns how many ended.
func terminate(ctx context.Context, conn *pgx.Conn, role string) (int, error) {
	var n int
	err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE usename = $1 AND pid <> pg_backend_pid() AND coalesce(backend_type, 'client backend') = 'client backend'`, role).Scan(&n)
	return n, err
}

// Usage implements provider.UsageReporter from pg_stat_activity. Overlap: every session of
// the previous version's role is residual use (that role's password is the previous value).
// In-place: the sessions of the role that began before req.Since (the cutover) logged in with
// the previous password. No session is a pass; any is a fail, named; a query that fails, or
// (in-place) sessions whose start the admin may not see, are unknown.
//
// It sees the sessions open now: a client that logged in and out since the cutover is not
// seen (the server log, with log_connections, would show it; it is not read).
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
	role, err := a.roleOf(op, req.Version)
	if err != nil {
		return provider.UsageResponse{}, err
	}
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return provider.UsageResponse{}, err
	}
	defer release()
	all, err := listSessions(ctx, conn, role)
	if err != nil {
		return provider.UsageResponse{}, classify(op, "read pg_stat_activity for role "+role, err)
	}
	var sessions []session
	hidden := 0
	for _, s := range all {
		switch {
		case s.Hidden:
			hidden++
			sessions = append(sessions, s)
		case a.strategy == Overlap || req.Since.IsZero() || s.Start.Before(req.Since):
			sessions = append(sessions, s)
		}
	}
	if a.strategy == InPlace && hidden > 0 {
		return provider.UsageResponse{Verdict: provider.Unknown, Count: len(sessions), Who: who(sessions),
			Detail: fmt.Sprintf("role %s has %d session(s) whose start the admin may not see, so rotor cannot tell whether they logged in with the previous password; grant the admin pg_read_all_stats", role, hidden)}, nil
	}
	if len(sessions) == 0 {
		detail := "no session of role " + role + " in pg_stat_activity"
		if a.strategy == InPlace {
			detail = "no session of role " + role + " that began before " + req.Since.UTC().Format(time.RFC3339) + " (the previous password) in pg_stat_activity"
		}
		return provider.UsageResponse{Verdict: provider.Pass, Detail: detail}, nil
	}
	sort.SliceStable(sessions, func(i, j int) bool { return sessions[i].Start.Before(sessions[j].Start) })
	var parts []string
	for i, s := range sessions {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more", len(sessions)-i))
			break
		}
		p := fmt.Sprintf("pid %d %s", s.PID, s.name())
		if !s.Hidden {
			p += " since " + s.Start.UTC().Format(time.RFC3339)
		}
		parts = append(parts, p)
	}
	what := "role " + role + " (the previous version's role)"
	if a.strategy == InPlace {
		what = "role " + role + " opened before " + req.Since.UTC().Format(time.RFC3339) + ", with the previous password,"
	}
	detail := fmt.Sprintf("%d session(s) of %s still open in pg_stat_activity: %s", len(sessions), what, strings.Join(parts, "; "))
	return provider.UsageResponse{Verdict: provider.Fail, Count: len(sessions), Who: who(sessions), Detail: detail}, nil
}
