package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rotorhq/rotor/internal/provider"
)

// user is an ACL user as ACL GETUSER shows it: its flags and its password hashes.
type user struct {
	flags     []string
	passwords []string // SHA-256 hex
}

// matching returns the user's password hashes that begin with prefix.
func (u user) matching(prefix string) []string {
	var out []string
	for _, h := range u.passwords {
		if strings.HasPrefix(h, prefix) {
			out = append(out, h)
		}
	}
	return out
}

func (u user) has(flag string) bool {
	for _, f := range u.flags {
		if f == flag {
			return true
		}
	}
	return false
}

// adminCredentials returns the admin user and password from admin_env (user:password; the
// password may hold colons).
func (a *Authority) adminCredentials(op string) (name, password string, err error) {
	s := a.env.Getenv(a.cfg.AdminEnv)
	if s == "" {
		return "", "", provider.NotStarted(provider.Errorf(provider.Terminal, op, "the admin credentials are missing: environment variable %s is not set", a.cfg.AdminEnv))
	}
	name, password, ok := strings.Cut(s, ":")
	if !ok || name == "" || password == "" {
		return "", "", provider.NotStarted(provider.Errorf(provider.Terminal, op, "environment variable %s does not hold the admin credentials as user:password", a.cfg.AdminEnv))
	}
	return name, password, nil
}

// connect opens an admin connection and proves it works (PING after AUTH). A failure here
// changed nothing: it is provider.Error.NotStarted.
func (a *Authority) connect(ctx context.Context, op string) (*goredis.Client, error) {
	name, password, err := a.adminCredentials(op)
	if err != nil {
		return nil, err
	}
	opts := &goredis.Options{
		Addr: a.cfg.Address, Username: name, Password: password,
		Protocol: 2, DisableIdentity: true, MaxRetries: -1, PoolSize: 1,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
	}
	if a.cfg.TLS {
		host, _, _ := net.SplitHostPort(a.cfg.Address)
		opts.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	c := goredis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		e := classify(op, fmt.Sprintf("connect as admin %s to %s", name, a.cfg.Address), err, "")
		if provider.KindOf(e) != provider.Retryable {
			e = fmt.Errorf("%w (admin credentials from environment variable %s)", e, a.cfg.AdminEnv)
		}
		return nil, provider.NotStarted(e)
	}
	return c, nil
}

// getUser reads the configured user with ACL GETUSER; a missing user is Terminal.
func (a *Authority) getUser(ctx context.Context, c *goredis.Client, op string) (user, error) {
	v, err := c.Do(ctx, "ACL", "GETUSER", a.cfg.User).Result()
	if errors.Is(err, goredis.Nil) || err == nil && v == nil {
		return user{}, provider.NotStarted(provider.Errorf(provider.Terminal, op, "user %s does not exist at %s: create it (ACL SETUSER %s on ...) with the rules its consumers need", a.cfg.User, a.cfg.Address, a.cfg.User))
	}
	if err != nil {
		return user{}, provider.NotStarted(classify(op, "ACL GETUSER "+a.cfg.User, err, ""))
	}
	items, ok := v.([]any)
	if !ok || len(items)%2 != 0 {
		return user{}, provider.NotStarted(provider.Errorf(provider.Terminal, op, "ACL GETUSER %s: unexpected reply %T", a.cfg.User, v))
	}
	var u user
	for i := 0; i < len(items); i += 2 {
		key, _ := items[i].(string)
		switch key {
		case "flags":
			u.flags = strings1(items[i+1])
		case "passwords":
			u.passwords = strings1(items[i+1])
		}
	}
	return u, nil
}

func strings1(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// setUser runs ACL SETUSER user rules... Redis applies the rules of one command all or none.
// hide is a hash sent in the rules, kept out of error messages (Redis echoes a rule it
// refuses).
func (a *Authority) setUser(ctx context.Context, c *goredis.Client, op, hide string, rules ...string) error {
	args := []any{"ACL", "SETUSER", a.cfg.User}
	for _, r := range rules {
		args = append(args, r)
	}
	if err := c.Do(ctx, args...).Err(); err != nil {
		return classify(op, "ACL SETUSER "+a.cfg.User, err, hide)
	}
	return nil
}

// replyError is a Redis error reply, reduced to its text.
type replyError struct{ msg string }

func (e *replyError) Error() string { return e.msg }

// classify turns a go-redis error into a classified provider error saying what failed. An
// error reply means the command was refused whole (Redis commands are atomic), so nothing
// changed; a lost connection or a timeout after sending may have changed something.
func classify(op, what string, err error, hide string) error {
	msg := err.Error()
	for _, h := range strings.Fields(hide) {
		msg = strings.ReplaceAll(msg, h, "[hash]")
	}
	var re goredis.Error
	if errors.As(err, &re) {
		kind := provider.Terminal
		switch {
		case goredis.IsPermissionError(err), goredis.IsAuthError(err), strings.HasPrefix(msg, "WRONGPASS"):
			kind = provider.Denied
		case goredis.IsLoadingError(err), goredis.IsReadOnlyError(err), goredis.IsTryAgainError(err),
			goredis.IsMasterDownError(err), goredis.IsMaxClientsError(err), strings.HasPrefix(msg, "BUSY"):
			kind = provider.Retryable
		}
		return &provider.Error{Kind: kind, Op: op, Err: &replyError{what + ": " + msg}, NotStarted: true}
	}
	kind := provider.Terminal
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed) {
		kind = provider.Retryable
	}
	return &provider.Error{Kind: kind, Op: op, Err: &replyError{what + ": " + msg}}
}
