package mysql

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// dbError is a failure of the server or of the way to it, reduced to its message and, when
// the server answered, its error number.
type dbError struct {
	msg    string
	number uint16
}

func (e *dbError) Error() string { return e.msg }

// ErrorNumber returns the MySQL error number in err's chain, or 0.
func ErrorNumber(err error) uint16 {
	var de *dbError
	if errors.As(err, &de) {
		return de.number
	}
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// classify turns a driver error into a classified provider error saying what failed, with
// the texts in hide (a password, its hash) replaced wherever they appear (a syntax error
// quotes the statement near the fault).
//
// NotStarted: the server answered the statement with an error (a single ALTER USER changes
// nothing when it fails), or the driver says nothing was sent (driver.ErrBadConn). A
// connection lost while the statement ran may have committed it.
func classify(op, what string, err error, hide ...[]byte) error {
	msg := scrub(err.Error(), hide)
	if what != "" {
		msg = what + ": " + msg
	}
	e := classified(op, msg, err)
	var me *mysqldriver.MySQLError
	e.NotStarted = errors.As(err, &me) || errors.Is(err, driver.ErrBadConn)
	return e
}

// connectFailed is a failed attempt to get an admin connection: nothing was sent.
func connectFailed(op, user, addr, from string, err error) error {
	msg := "connect as admin " + user + " to " + addr + ": " + cause(err)
	e := classified(op, msg, err)
	if e.Kind != provider.Retryable {
		e.Err.(*dbError).msg += " (admin connection string from " + from + ")"
	}
	e.NotStarted = true
	return e
}

func classified(op, msg string, err error) *provider.Error {
	de := &dbError{msg: msg}
	kind := provider.Terminal
	var me *mysqldriver.MySQLError
	switch {
	case errors.As(err, &me):
		de.number = me.Number
		kind = kindOf(me.Number)
	case transient(err):
		kind = provider.Retryable
	}
	return &provider.Error{Kind: kind, Op: op, Err: de}
}

// kindOf classifies a server error number.
func kindOf(n uint16) provider.ErrorKind {
	switch n {
	case 1044, 1045, 1142, 1143, 1227, 1410: // access denied (database, login, table, column, privilege, grant)
		return provider.Denied
	case 1040, 1053, 1205, 1213, 1317, 2006, 2013: // too many connections, shutdown, lock wait, deadlock, interrupted, gone away, lost
		return provider.Retryable
	}
	return provider.Terminal
}

func transient(err error) bool {
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysqldriver.ErrInvalidConn) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne)
}

// cause is the server's answer, else the innermost error ("connection refused").
func cause(err error) string {
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		return me.Error()
	}
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err.Error()
		}
		err = u.Unwrap()
	}
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
