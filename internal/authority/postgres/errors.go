package postgres

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"

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
func classify(op, what string, err error, hide ...[]byte) error {
	if err == nil {
		return nil
	}
	msg := scrub(err.Error(), hide)
	de := &dbError{msg: msg}
	if what != "" {
		de.msg = what + ": " + msg
	}
	kind := provider.Terminal
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		de.pg = &pgconn.PgError{Severity: pe.Severity, Code: pe.Code, Message: scrub(pe.Message, hide)}
		kind = kindOf(pe.Code)
	case transient(err):
		kind = provider.Retryable
	}
	return &provider.Error{Kind: kind, Op: op, Err: de}
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
