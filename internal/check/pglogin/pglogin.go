// Package pglogin is the `postgres-login` check: it logs in to PostgreSQL as a consumer
// would — as the role of the version it proves (the version's authority ref), with the value
// the consumer reads from the store — and runs a query.
//
// A refused login or a failing query is a fail, with the server's reason; a server that cannot
// be reached, or a value that cannot be read, has proven nothing and is unknown. The password
// is handed to pgx in its config, never in a connection string that an error could quote, and
// its bytes are wiped after the login (pgx keeps a string copy for the connection's life).
package pglogin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// Config is the `postgres-login` check's configuration.
type Config struct {
	Host     string `yaml:"host" rotor:"required" doc:"Server host name or address, as the consumer reaches it."`
	Port     int    `yaml:"port" doc:"Default 5432."`
	Database string `yaml:"database" rotor:"required"`
	SSLMode  string `yaml:"sslmode" rotor:"enum=disable|require|verify-ca|verify-full" doc:"Default verify-full."`
	Query    string `yaml:"query" doc:"Run after logging in; an error fails the check. Default SELECT 1."`
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if c.Host == "" {
		out = append(out, provider.FieldError{Field: "host", Msg: "needs the server's host"})
	}
	if c.Port < 0 || c.Port > 65535 {
		out = append(out, provider.FieldError{Field: "port", Msg: "must be between 1 and 65535"})
	}
	if c.Database == "" {
		out = append(out, provider.FieldError{Field: "database", Msg: "needs the database the consumer connects to"})
	}
	switch c.SSLMode {
	case "", "disable", "require", "verify-ca", "verify-full":
	default:
		out = append(out, provider.FieldError{Field: "sslmode", Msg: "must be one of disable, require, verify-ca, verify-full"})
	}
	return out
}

// Defaults.
const (
	DefaultPort    = 5432
	DefaultSSLMode = "verify-full"
	DefaultQuery   = "SELECT 1"
	connectTimeout = 10 * time.Second
	// ApplicationName is the check's application_name, so its sessions are told apart from
	// the consumer's in pg_stat_activity.
	ApplicationName = "rotor-check"
)

// Checker logs in and runs the query.
type Checker struct {
	cfg Config
	env provider.Env
}

const op = "postgres-login check"

// New builds the check; a configuration that fails Validate is a Terminal error.
func New(cfg *Config, env provider.Env) (*Checker, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, provider.Errorf(provider.Terminal, op, "invalid configuration: %v", errors.Join(toErrors(errs)...))
	}
	c := *cfg
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.SSLMode == "" {
		c.SSLMode = DefaultSSLMode
	}
	if strings.TrimSpace(c.Query) == "" {
		c.Query = DefaultQuery
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	return &Checker{cfg: c, env: env}, nil
}

func toErrors(fes []provider.FieldError) []error {
	out := make([]error, len(fes))
	for i, fe := range fes {
		out[i] = fe
	}
	return out
}

// Check logs in as req.Current's role with the value req.Value reads, runs the query, and
// judges. The error is always nil: what went wrong is in the result.
func (c *Checker) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResult, error) {
	res := provider.CheckResult{Query: c.cfg.Query, Threshold: "login and query succeed", At: req.Now}
	if res.At.IsZero() {
		res.At = c.env.Now()
	}
	where := net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port)) + "/" + c.cfg.Database
	role := req.Current.AuthorityRef
	if role == "" {
		return unknown(res, fmt.Sprintf("version %s has no role recorded (authority ref): rotor does not know which role to log in as", req.Current.ID)), nil
	}
	if req.Value == nil {
		return unknown(res, "the value cannot be read here, so the login cannot be tried"), nil
	}
	v, err := req.Value(ctx)
	if err != nil {
		return unknown(res, "read the value as the consumer: "+err.Error()), nil
	}
	defer v.Wipe()
	if v.IsZero() {
		return unknown(res, "the value read is empty"), nil
	}
	cfg, err := pgx.ParseConfig(c.connString(role))
	if err != nil {
		// The string holds no password; it is built from the config only.
		return unknown(res, "connection settings for "+where+": "+err.Error()), nil
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	// One query on a connection that is closed right after: no statement or description
	// cache (pgx allocates one per connection otherwise), and the query sent in one round trip
	// (parse, bind, execute) instead of a prepare first.
	cfg.StatementCacheCapacity, cfg.DescriptionCacheCapacity = 0, 0
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	pw := v.Reveal()
	cfg.Password = string(pw)
	clear(pw)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	cfg.Password = ""
	if err != nil {
		return judgeLogin(res, role, where, err, v), nil
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, c.cfg.Query); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			res.Verdict = provider.Fail
			res.Reason = fmt.Sprintf("logged in as role %s, but the query failed: %s (SQLSTATE %s)", role, scrub(pe.Message, v), pe.Code)
			return res, nil
		}
		return unknown(res, fmt.Sprintf("logged in as role %s, then lost the server running the query: %s", role, scrub(err.Error(), v))), nil
	}
	res.Verdict = provider.Pass
	res.Reason = "logged in as role " + role + " to " + where + " and ran the query"
	res.Observed = "login as " + role + " accepted"
	return res, nil
}

// judgeLogin turns a failed login into a verdict: a refusal by the server is a fail; no
// answer is unknown.
func judgeLogin(res provider.CheckResult, role, where string, err error, v secret.Value) provider.CheckResult {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return unknown(res, "could not reach PostgreSQL at "+where+" to log in as role "+role+": "+scrub(err.Error(), v))
	}
	res.Verdict = provider.Fail
	res.Observed = "SQLSTATE " + pe.Code
	switch {
	case pe.Code == "28P01":
		res.Reason = "password authentication failed for role " + role
	case pe.Code == "28000":
		res.Reason = "role " + role + " may not log in: " + scrub(pe.Message, v)
	case pe.Code == "3D000":
		res.Reason = "database at " + where + " does not exist: " + scrub(pe.Message, v)
	case strings.HasPrefix(pe.Code, "28"), strings.HasPrefix(pe.Code, "42"):
		res.Reason = "role " + role + " was refused: " + scrub(pe.Message, v) + " (SQLSTATE " + pe.Code + ")"
	default:
		// Too many connections, a server starting or shutting down: nothing proven either way.
		return unknown(res, "PostgreSQL at "+where+" did not take the login as role "+role+": "+scrub(pe.Message, v)+" (SQLSTATE "+pe.Code+")")
	}
	return res
}

func unknown(res provider.CheckResult, reason string) provider.CheckResult {
	res.Verdict = provider.Unknown
	res.Reason = reason
	return res
}

// quoteValue escapes a value of a keyword/value connection string, inside single quotes.
var quoteValue = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// connString is the keyword/value connection string without a password.
func (c *Checker) connString(role string) string {
	kv := [][2]string{
		{"host", c.cfg.Host}, {"port", strconv.Itoa(c.cfg.Port)}, {"dbname", c.cfg.Database},
		{"user", role}, {"sslmode", c.cfg.SSLMode}, {"application_name", ApplicationName},
	}
	var b strings.Builder
	for i, p := range kv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p[0] + "='" + quoteValue.Replace(p[1]) + "'")
	}
	return b.String()
}

// scrub removes the value from text that came from the server or the network; none is
// expected there, but a check's reason goes to the journal.
func scrub(msg string, v secret.Value) string {
	b := v.Reveal()
	defer clear(b)
	if len(b) == 0 {
		return msg
	}
	return string(bytes.ReplaceAll([]byte(msg), b, []byte(secret.Redacted)))
}
