package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/rotorhq/rotor/internal/provider"
)

// CheckManage implements provider.ManageChecker. Without changing anything it proves that the
// admin connection works and holds CREATE USER (to alter the users) and PROCESS (to see their
// connections), that both users exist, and that they hold the same grants (SHOW GRANTS, with
// the account name and its authentication clause removed), so that consumers moving from one
// to the other lose nothing. A difference is named: "'orders_b'@'%' lacks GRANT SELECT ON
// `shop`.* that 'orders_a'@'%' has".
func (a *Authority) CheckManage(ctx context.Context, req provider.CheckManageRequest) error {
	const op = "check manage"
	var errs []error
	if req.Credential == "" {
		errs = append(errs, errors.New("no credential named"))
	}
	errs = append(errs, a.strategyProblems(req.Strategy)...)
	if err := provider.Refuse(op, errs); err != nil {
		return err
	}
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	admin, privs, err := adminPrivileges(ctx, conn)
	if err != nil {
		return classify(op, "read the admin's privileges", err)
	}
	var problems []string
	kind := provider.Terminal
	for _, p := range []struct{ priv, why string }{
		{"CREATE USER", "to alter the users' passwords and lock them"},
		{"PROCESS", "to see the users' connections (residual use)"},
	} {
		if !slices.Contains(privs, p.priv) {
			problems = append(problems, fmt.Sprintf("admin %s lacks the %s privilege, needed %s", admin, p.priv, p.why))
			kind = provider.Denied
		}
	}
	grants := map[string][]string{}
	for _, u := range a.cfg.Users {
		ok, err := a.exists(ctx, conn, u)
		if err != nil {
			return classify(op, "look up user "+a.account(u), err)
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("user %s does not exist: create it with the same grants as the other user", a.account(u)))
			kind = provider.Terminal
			continue
		}
		g, err := a.showGrants(ctx, conn, u)
		if err != nil {
			return classify(op, "show grants for "+a.account(u), err)
		}
		grants[u] = g
	}
	if len(grants) == 2 {
		for i, u := range a.cfg.Users {
			other := a.cfg.Users[1-i]
			for _, g := range grants[other] {
				if !slices.Contains(grants[u], g) {
					problems = append(problems, fmt.Sprintf("%s lacks %s that %s has", a.account(u), g, a.account(other)))
					kind = provider.Terminal
				}
			}
		}
	}
	if len(problems) > 0 {
		return provider.Errorf(kind, op, "%s", strings.Join(problems, "; "))
	}
	return nil
}

// adminPrivileges returns the admin's account and its global privileges.
func adminPrivileges(ctx context.Context, conn *sql.Conn) (string, []string, error) {
	var admin string
	if err := conn.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&admin); err != nil {
		return "", nil, err
	}
	user, host, _ := strings.Cut(admin, "@")
	rows, err := conn.QueryContext(ctx, "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?", "'"+user+"'@'"+host+"'")
	if err != nil {
		return "", nil, err
	}
	defer rows.Close()
	var privs []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return "", nil, err
		}
		privs = append(privs, p)
	}
	return admin, privs, rows.Err()
}

// authClause is the authentication part SHOW GRANTS may append to a GRANT (MariaDB, MySQL
// 5.7): it carries the password hash and differs between the users by design.
var authClause = regexp.MustCompile(`\s+IDENTIFIED\s+(BY\s+PASSWORD\s+'[^']*'|(VIA|WITH)\s+\S+(\s+(USING|AS)\s+'[^']*')?(\s+OR\s+\S+(\s+(USING|AS)\s+'[^']*')?)*)`)

// anyHash is a mysql_native_password hash anywhere: never shown.
var anyHash = regexp.MustCompile(`\*[0-9A-Fa-f]{40}`)

// showGrants returns user's grants without the account they are granted to and without
// authentication clauses, sorted.
func (a *Authority) showGrants(ctx context.Context, conn *sql.Conn, user string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, "SHOW GRANTS FOR "+a.account(user))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names := []string{"`" + user + "`@`" + a.cfg.host() + "`", "'" + user + "'@'" + a.cfg.host() + "'", "`" + user + "`", "'" + user + "'"}
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		g = authClause.ReplaceAllString(g, "")
		g = anyHash.ReplaceAllString(g, "[hash]")
		for _, n := range names {
			g = strings.ReplaceAll(g, " TO "+n, "")
		}
		out = append(out, g)
	}
	slices.Sort(out)
	return out, rows.Err()
}
