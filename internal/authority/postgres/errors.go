package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// dbError is a failure of PostgreSQL or of the way to it, reduced to its message and, when
// the server answered, a copy of its code and message. pgx's own errors are not kept in the
// chain: a connect error carries the connection's config, password included.
type dbError struct {
	msg string
	pg  *pgconn.PgError
}

func (e *dbError) Error() string { return e.msg }

// Unwrap gives errors.As the server's error (code and message only), if there was one.
func (e *dbError) Unwrap() error {
	if e.pg == nil {
		return nil
	}
	return e.pg
}

// SQLState returns the SQLSTATE of the PostgreSQL error in err's chain, or "".
func SQLState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// classify turns a pgx error into a classified provider error that says what failed. The
// texts in hide (a password, a verifier) are replaced wherever they would appear; none is
// expected to, since PostgreSQL does not echo the statements it refuses.
//
// It also says whether the statement can have taken effect (provider.Error.NotStarted): not
// when pgx knows nothing was sent (pgconn.SafeToRetry), nor when the server answered the
// statement with an ERROR, which rolls back the statement's implicit transaction whole. A
// connection lost after the statement was sent, a FATAL (the server shutting down while the
// statement ran) or a timeout waiting for the answer may have: the commit may have happened
// before the answer was lost. The caller whose request had already changed something before
// this statement says so with provider.PartlyDone.
func classify(op, what string, err error, hide ...[]byte) error {
	if err == nil {
		return nil
	}
	msg := scrub(err.Error(), hide)
	if what != "" {
		msg = what + ": " + msg
	}
	e := classified(op, msg, err, hide)
	var pe *pgconn.PgError
	e.NotStarted = pgconn.SafeToRetry(err) || errors.As(err, &pe) && severity(pe) == "ERROR"
	return e
}

// connectFailed is the error of a failed attempt to get an admin connection: where to, and
// why in the fewest words (the server's answer, or the innermost network error: "connection
// refused"). When the cause is the connection string's to fix (a refused login, a TLS
// setting), it says where that string came from; a server that does not answer is not. Nothing
// was sent that could change anything: a failed connection or login is always
// provider.Error.NotStarted.
func connectFailed(op string, cfg *pgx.ConnConfig, from string, err error) error {
	msg := fmt.Sprintf("connect as admin %s to %s: %s", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), cause(err))
	e := classified(op, msg, err, nil)
	if e.Kind != provider.Retryable {
		e.Err.(*dbError).msg += " (admin connection string from " + from + ")"
	}
	e.NotStarted = true
	return e
}

// classified is err as a provider error of its kind with msg as its text, keeping a copy of
// the server's answer (code and message) when there was one.
func classified(op, msg string, err error, hide [][]byte) *provider.Error {
	de := &dbError{msg: msg}
	kind := provider.Terminal
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		de.pg = &pgconn.PgError{Severity: pe.Severity, SeverityUnlocalized: pe.SeverityUnlocalized, Code: pe.Code, Message: scrub(pe.Message, hide)}
		kind = kindOf(pe.Code)
	case transient(err):
		kind = provider.Retryable
	}
	return &provider.Error{Kind: kind, Op: op, Err: de}
}

// severity is the server's severity of pe, untranslated when the server says it.
func severity(pe *pgconn.PgError) string {
	if pe.SeverityUnlocalized != "" {
		return pe.SeverityUnlocalized
	}
	return pe.Severity
}

// cause is why a connection attempt failed, as briefly as it can be said: the server's
// answer to the login ("FATAL: password authentication failed for user …"), else the
// innermost error of the chain ("connection refused", "i/o timeout") — of the last address
// tried, when pgx tried several. pgx's own message names the user and database again and
// repeats the address three times.
func cause(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	for {
		var inner error
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			inner = u.Unwrap()
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				inner = errs[len(errs)-1]
			}
		}
		if inner == nil {
			return err.Error()
		}
		err = inner
	}
}

// kindOf classifies a SQLSTATE.
func kindOf(code string) provider.ErrorKind {
	switch {
	case code == "28P01" || code == "28000": // invalid_password, invalid_authorization_specification
		return provider.Denied
	case code == "42501": // insufficient_privilege
		return provider.Denied
	case code == "42704": // undefined_object: no such role
		return provider.Terminal
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"),                     // insufficient resources (too many connections)
		code == "57P01", code == "57P02", code == "57P03", // shutdown, crash, cannot connect now
		code == "57014",                  // query_canceled (a timeout)
		code == "40001", code == "40P01", // serialization failure, deadlock
		code == "55P03": // lock_not_available
		return provider.Retryable
	}
	return provider.Terminal
}

// transient reports a failure to reach the server or a lost connection: worth retrying.
func transient(err error) bool {
	var ne net.Error
	var ce *pgconn.ConnectError
	return pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &ne) || errors.As(err, &ce)
}

func scrub(msg string, hide [][]byte) string {
	b := []byte(msg)
	for _, h := range hide {
		if len(h) > 0 {
			b = bytes.ReplaceAll(b, h, []byte(secret.Redacted))
		}
	}
	return string(b)
}
