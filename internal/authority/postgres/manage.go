package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/internal/provider"
)

// admin is what the admin connection may do.
type admin struct {
	name              string
	super, createRole bool
	version           int // server_version_num
}

// roleInfo is a role as readiness sees it.
type roleInfo struct {
	name    string
	exists  bool
	oid     uint32
	super   bool
	adminOf bool // the admin holds ADMIN OPTION on it (PostgreSQL 16+: needed to alter it)
}

// problem is one reason readiness fails, with its kind.
type problem struct {
	kind provider.ErrorKind
	msg  string
}

// CheckManage implements provider.ManageChecker. Without changing anything it proves that the
// admin connection works and may alter the roles (superuser; or CREATEROLE, with ADMIN OPTION
// on the roles from PostgreSQL 16), that the roles exist (or, with template_role, that a
// missing alternate can be created), and — overlap — that both roles hold the same privileges
// and memberships, so that consumers moving from one to the other lose nothing. A difference
// is named: "orders_b lacks SELECT on table public.orders that orders_a has".
//
// Privileges are compared in the admin connection's database (tables, views, sequences,
// columns, schemas, functions, default privileges, row-security policies, ownership) and
// cluster-wide (databases, memberships, role attributes, per-role settings). Types,
// languages, large objects, tablespaces, foreign servers and other databases' objects are not
// compared.
func (a *Authority) CheckManage(ctx context.Context, req provider.CheckManageRequest) error {
	const op = "check manage"
	var errs []error
	if req.Credential == "" {
		errs = append(errs, errors.New("no credential named"))
	}
	if req.Strategy != a.strategy {
		errs = append(errs, fmt.Errorf("strategy %q does not fit this authority: %s", req.Strategy, a.describe()))
	}
	if err := provider.Refuse(op, errs); err != nil {
		return err
	}
	conn, release, err := a.connect(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	var ad admin
	err = conn.QueryRow(ctx, `SELECT current_user, rolsuper, rolcreaterole, current_setting('server_version_num')::int
FROM pg_roles WHERE rolname = current_user`).Scan(&ad.name, &ad.super, &ad.createRole, &ad.version)
	if err != nil {
		return classify(op, "read the admin's role", err)
	}

	names := []string{a.cfg.Role}
	if a.strategy == Overlap {
		names = a.cfg.Roles
	}
	var roles []roleInfo
	for _, n := range names {
		ri, err := lookupRole(ctx, conn, n)
		if err != nil {
			return classify(op, "look up role "+n, err)
		}
		roles = append(roles, ri)
	}
	var template roleInfo
	if a.cfg.TemplateRole != "" {
		if template, err = lookupRole(ctx, conn, a.cfg.TemplateRole); err != nil {
			return classify(op, "look up role "+a.cfg.TemplateRole, err)
		}
	}

	var problems []problem
	add := func(kind provider.ErrorKind, format string, args ...any) {
		problems = append(problems, problem{kind, fmt.Sprintf(format, args...)})
	}
	missing := 0
	for _, r := range roles {
		switch {
		case !r.exists && a.cfg.TemplateRole == "":
			add(provider.Terminal, "role %s does not exist: create it with the same privileges and memberships as the other role, or set template_role", r.name)
		case !r.exists:
			missing++
		default:
			if why := ad.cannotAlter(r); why != "" {
				add(provider.Denied, "admin %s may not change role %s's password: %s", ad.name, r.name, why)
			}
		}
	}
	if missing > 0 {
		switch {
		case !template.exists:
			add(provider.Terminal, "template role %s does not exist, so a missing alternate cannot be created from it", template.name)
		default:
			if why := ad.cannotCreateFrom(template); why != "" {
				add(provider.Denied, "admin %s may not create the missing alternate as a member of %s: %s", ad.name, template.name, why)
			}
		}
	}
	if a.cfg.Terminate && !ad.super {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_has_role(current_user, 'pg_signal_backend', 'USAGE')").Scan(&ok); err != nil {
			return classify(op, "check pg_signal_backend", err)
		}
		if !ok {
			add(provider.Denied, "terminate_sessions is set but admin %s may not terminate other sessions: grant it pg_signal_backend", ad.name)
		}
	}
	if a.strategy == Overlap && len(problems) == 0 {
		diff, err := a.compareRoles(ctx, conn, ad, roles, template)
		if err != nil {
			return classify(op, "compare the privileges of "+roles[0].name+" and "+roles[1].name, err)
		}
		if diff != "" {
			add(provider.NeedsHuman, "%s", diff)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	kind := problems[0].kind
	var msgs []string
	for _, p := range problems {
		msgs = append(msgs, p.msg)
		if rank(p.kind) < rank(kind) {
			kind = p.kind
		}
	}
	return provider.Errorf(kind, op, "%s", strings.Join(msgs, "; "))
}

// rank orders kinds by what must be fixed first: the config, then a grant, then a person's
// judgement.
func rank(k provider.ErrorKind) int {
	switch k {
	case provider.Terminal:
		return 0
	case provider.Denied:
		return 1
	}
	return 2
}

func lookupRole(ctx context.Context, conn *pgx.Conn, name string) (roleInfo, error) {
	ri := roleInfo{name: name}
	err := conn.QueryRow(ctx, `SELECT oid, rolsuper, pg_has_role(current_user, oid, 'MEMBER WITH ADMIN OPTION')
FROM pg_roles WHERE rolname = $1`, name).Scan(&ri.oid, &ri.super, &ri.adminOf)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ri, nil
	case err != nil:
		return ri, err
	}
	ri.exists = true
	return ri, nil
}

// cannotAlter says why the admin may not set r's password, or "".
func (ad admin) cannotAlter(r roleInfo) string {
	switch {
	case ad.super:
		return ""
	case r.super:
		return "it is a superuser, and only a superuser may change a superuser's password"
	case !ad.createRole:
		return "it needs CREATEROLE (or superuser)"
	case ad.version >= 160000 && !r.adminOf:
		return "from PostgreSQL 16, CREATEROLE needs ADMIN OPTION on the role too: GRANT " + r.name + " TO " + ad.name + " WITH ADMIN OPTION"
	}
	return ""
}

// cannotCreateFrom says why the admin may not create a role that is a member of template.
func (ad admin) cannotCreateFrom(template roleInfo) string {
	switch {
	case ad.super:
		return ""
	case !ad.createRole:
		return "it needs CREATEROLE (or superuser)"
	case ad.version >= 160000 && !template.adminOf:
		return "from PostgreSQL 16, granting membership in a role needs ADMIN OPTION on it: GRANT " + template.name + " TO " + ad.name + " WITH ADMIN OPTION"
	}
	return ""
}

// compareRoles returns the differences between the two roles' privileges and memberships,
// or "" when they hold the same. A missing alternate is compared as what it will be when
// created: a member of the template and nothing else.
func (a *Authority) compareRoles(ctx context.Context, conn *pgx.Conn, ad admin, roles []roleInfo, template roleInfo) (string, error) {
	have := make([][]string, 2)
	verb := make([]string, 2)
	note := ""
	for i, r := range roles {
		verb[i] = "has"
		if !r.exists {
			verb[i] = "would have"
			note = " (" + r.name + " does not exist yet: it is compared as what it will be when created, a member of " + template.name + " and nothing else)"
			var m string
			if err := conn.QueryRow(ctx, "SELECT 'membership in role ' || quote_ident($1)", template.name).Scan(&m); err != nil {
				return "", err
			}
			have[i] = []string{m}
			continue
		}
		p, err := privileges(ctx, conn, ad, r.oid)
		if err != nil {
			return "", err
		}
		have[i] = p
	}
	if !roles[0].exists && !roles[1].exists {
		return "", nil // both will be created alike
	}
	var diffs []string
	for i := range 2 {
		j := 1 - i
		lacks := "lacks"
		if verb[j] == "would have" {
			lacks = "would lack"
		}
		for _, p := range have[i] {
			if !slices.Contains(have[j], p) {
				diffs = append(diffs, fmt.Sprintf("%s %s %s that %s %s", roles[j].name, lacks, p, roles[i].name, verb[i]))
			}
		}
	}
	if len(diffs) == 0 {
		return "", nil
	}
	const maxShown = 20
	n := len(diffs)
	if n > maxShown {
		diffs = append(diffs[:maxShown], fmt.Sprintf("and %d more", n-maxShown))
	}
	return fmt.Sprintf("roles %s and %s differ%s (%d difference(s)), so consumers moving from one to the other would gain or lose access: %s; "+
		"grant both the same privileges and memberships (simplest: make both members of one group role that holds them), then check again",
		roles[0].name, roles[1].name, note, n, strings.Join(diffs, "; ")), nil
}

// privileges lists, as sorted phrases, what a role holds: its memberships, attributes and
// settings, its privileges on the objects of this database and on databases, the objects it
// owns, the default privileges granted to it and the policies that name it. Grants to PUBLIC
// apply to both roles alike and are left out.
//
// The relations, columns and functions looked at are those pg_shdepend names for the role:
// PostgreSQL records there every object whose owner, ACL or policy names a role (it is how
// DROP OWNED finds them), with an index on the role. So the cost of readiness follows what
// the role holds, not how many objects the database has: scanning and exploding the ACL of
// every relation took 18 ms per role in a database of 2,000 tables (bench/p1).
func privileges(ctx context.Context, conn *pgx.Conn, ad admin, role uint32) ([]string, error) {
	membership := `'membership in role ' || quote_ident(g.rolname) || CASE WHEN m.admin_option THEN ' with admin option' ELSE '' END`
	if ad.version >= 160000 {
		membership += ` || CASE WHEN NOT m.inherit_option THEN ' without inherit' ELSE '' END || CASE WHEN NOT m.set_option THEN ' without set' ELSE '' END`
	}
	relkind := `CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
	WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'relation' END`
	relname := `quote_ident(n.nspname) || '.' || quote_ident(c.relname)`
	grant := `CASE WHEN x.is_grantable THEN ' with grant option' ELSE '' END`
	sql := `
WITH dep AS MATERIALIZED (
	SELECT classid, objid, objsubid FROM pg_shdepend
	WHERE refclassid = 'pg_authid'::regclass AND refobjid = $1
	AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database()))
SELECT ` + membership + ` FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = $1
UNION ALL
SELECT 'attribute ' || a FROM pg_roles r, unnest(ARRAY[
	CASE WHEN r.rolsuper THEN 'SUPERUSER' END, CASE WHEN NOT r.rolinherit THEN 'NOINHERIT' END,
	CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
	CASE WHEN r.rolreplication THEN 'REPLICATION' END, CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END,
	CASE WHEN r.rolconnlimit <> -1 THEN 'CONNECTION LIMIT ' || r.rolconnlimit END]) AS a
	WHERE r.oid = $1 AND a IS NOT NULL
UNION ALL
SELECT 'setting ' || s || coalesce(' in database ' || quote_ident(d.datname), '')
	FROM pg_db_role_setting rs LEFT JOIN pg_database d ON d.oid = rs.setdatabase, unnest(rs.setconfig) AS s WHERE rs.setrole = $1
UNION ALL
SELECT x.privilege_type || ' on database ' || quote_ident(d.datname) || ` + grant + `
	FROM pg_database d, aclexplode(d.datacl) x WHERE x.grantee = $1 AND x.grantee <> d.datdba
UNION ALL
SELECT 'ownership of database ' || quote_ident(d.datname) FROM pg_database d WHERE d.datdba = $1
UNION ALL
SELECT x.privilege_type || ' on schema ' || quote_ident(n.nspname) || ` + grant + `
	FROM pg_namespace n, aclexplode(n.nspacl) x WHERE x.grantee = $1 AND x.grantee <> n.nspowner
UNION ALL
SELECT 'ownership of schema ' || quote_ident(n.nspname) FROM pg_namespace n WHERE n.nspowner = $1
UNION ALL
SELECT x.privilege_type || ' on ' || ` + relkind + ` || ' ' || ` + relname + ` || ` + grant + `
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) x
	WHERE c.oid IN (SELECT objid FROM dep WHERE classid = 'pg_class'::regclass) AND x.grantee = $1 AND x.grantee <> c.relowner
UNION ALL
SELECT x.privilege_type || ' (' || quote_ident(at.attname) || ') on ' || ` + relkind + ` || ' ' || ` + relname + ` || ` + grant + `
	FROM pg_attribute at JOIN pg_class c ON c.oid = at.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(at.attacl) x
	WHERE (at.attrelid, at.attnum) IN (SELECT objid, objsubid FROM dep WHERE classid = 'pg_class'::regclass AND objsubid > 0)
	AND at.attacl IS NOT NULL AND NOT at.attisdropped AND x.grantee = $1
UNION ALL
SELECT 'ownership of ' || ` + relkind + ` || ' ' || ` + relname + `
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.oid IN (SELECT objid FROM dep WHERE classid = 'pg_class'::regclass) AND c.relowner = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
UNION ALL
SELECT x.privilege_type || ' on ' || CASE p.prokind WHEN 'p' THEN 'procedure ' ELSE 'function ' END
	|| quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')' || ` + grant + `
	FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace, aclexplode(p.proacl) x
	WHERE p.oid IN (SELECT objid FROM dep WHERE classid = 'pg_proc'::regclass) AND x.grantee = $1 AND x.grantee <> p.proowner
UNION ALL
SELECT 'ownership of ' || CASE p.prokind WHEN 'p' THEN 'procedure ' ELSE 'function ' END
	|| quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')'
	FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	WHERE p.oid IN (SELECT objid FROM dep WHERE classid = 'pg_proc'::regclass) AND p.proowner = $1
UNION ALL
SELECT 'default ' || x.privilege_type || ' on new ' || CASE da.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
	WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE 'objects' END
	|| ' created by ' || quote_ident(pg_get_userbyid(da.defaclrole)) || coalesce(' in schema ' || quote_ident(n.nspname), '') || ` + grant + `
	FROM pg_default_acl da LEFT JOIN pg_namespace n ON n.oid = da.defaclnamespace, aclexplode(da.defaclacl) x WHERE x.grantee = $1
UNION ALL
SELECT 'default privileges on new objects it creates' FROM pg_default_acl da WHERE da.defaclrole = $1
UNION ALL
SELECT 'a place in policy ' || quote_ident(pol.polname) || ' on ' || ` + relname + `
	FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE $1 = ANY (pol.polroles)`
	rows, err := conn.Query(ctx, sql, role)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
