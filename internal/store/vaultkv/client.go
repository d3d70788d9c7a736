package vaultkv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"

	vault "github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
)

// clients logs in once per identity for the life of the Store (one engine operation) and
// keeps the token in memory only.
type clients struct {
	mu   sync.Mutex
	base *vault.Client
	err  error
	by   map[string]*vault.Client // identity id -> logged-in client
}

// baseClient is the client every identity's is cloned from: the address, the TLS settings
// from VAULT_CACERT/VAULT_CAPATH, no token, no retries (the engine retries by policy, and a
// retried write could hide a check-and-set conflict).
func (s *Store) baseClient() (*vault.Client, error) {
	s.cl.mu.Lock()
	defer s.cl.mu.Unlock()
	if s.cl.base != nil || s.cl.err != nil {
		return s.cl.base, s.cl.err
	}
	addr := s.cfg.Address
	if addr == "" && s.env.Getenv != nil {
		addr = s.env.Getenv("VAULT_ADDR")
	}
	if addr == "" {
		s.cl.err = provider.Errorf(provider.Terminal, "vault-kv store", "no server address: set the store's address or VAULT_ADDR")
		return nil, s.cl.err
	}
	conf := vault.DefaultConfig()
	if conf.Error != nil {
		s.cl.err = provider.Wrap(provider.Terminal, "vault-kv store", fmt.Errorf("client settings from the environment: %w", conf.Error))
		return nil, s.cl.err
	}
	conf.Address = addr
	conf.MaxRetries = 0
	c, err := vault.NewClient(conf)
	if err != nil {
		s.cl.err = provider.Wrap(provider.Terminal, "vault-kv store", err)
		return nil, s.cl.err
	}
	c.ClearToken()
	c.ClearNamespace()
	s.cl.base = c
	return c, nil
}

// as returns a client logged in as the identity, in the store's namespace.
func (s *Store) as(ctx context.Context, op string, id provider.Identity) (*vault.Client, error) {
	base, err := s.baseClient()
	if err != nil {
		return nil, err
	}
	s.cl.mu.Lock()
	c := s.cl.by[id.ID]
	s.cl.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err = s.login(ctx, op, base, id)
	if err != nil {
		return nil, err
	}
	s.cl.mu.Lock()
	if s.cl.by == nil {
		s.cl.by = map[string]*vault.Client{}
	}
	s.cl.by[id.ID] = c
	s.cl.mu.Unlock()
	return c, nil
}

// executor is the client of the store's executor identity (provider.Env.Executor).
func (s *Store) executor(ctx context.Context, op string) (*vault.Client, error) {
	if s.env.Executor.ID == "" {
		return nil, provider.Errorf(provider.Terminal, op, "the store names no executor identity (store.identity)")
	}
	return s.as(ctx, op, s.env.Executor)
}

func (s *Store) login(ctx context.Context, op string, base *vault.Client, id provider.Identity) (*vault.Client, error) {
	c, err := base.Clone()
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, op, err)
	}
	c.ClearToken()
	if s.cfg.Namespace != "" {
		c.SetNamespace(trimSlash(s.cfg.Namespace))
	}
	switch cfg := id.Config.(type) {
	case *identity.VaultToken:
		tok, err := s.secretFrom(op, id, "token", cfg.TokenEnv, cfg.TokenFile)
		if err != nil {
			return nil, err
		}
		c.SetToken(tok)
		return c, nil
	case *identity.VaultAppRole:
		return s.approle(ctx, op, c, id, cfg)
	}
	return nil, provider.Errorf(provider.Terminal, op, "identity %q is of type %q, which cannot log in to Vault; vault-kv reads and writes as vault-token or vault-approle identities: %w",
		id.ID, id.Type, provider.ErrUnsupported)
}

// approle logs in at auth/MOUNT/login with the role's role_id and secret_id.
func (s *Store) approle(ctx context.Context, op string, c *vault.Client, id provider.Identity, cfg *identity.VaultAppRole) (*vault.Client, error) {
	roleID, err := s.secretFrom(op, id, "role_id", cfg.RoleIDEnv, cfg.RoleIDFile)
	if err != nil {
		return nil, err
	}
	body := map[string]string{"role_id": roleID}
	if cfg.SecretIDEnv != "" || cfg.SecretIDFile != "" {
		sid, err := s.secretFrom(op, id, "secret_id", cfg.SecretIDEnv, cfg.SecretIDFile)
		if err != nil {
			return nil, err
		}
		body["secret_id"] = sid
	}
	mount := trimSlash(cfg.Mount)
	if mount == "" {
		mount = "approle"
	}
	login := c
	if cfg.Namespace != "" { // the auth mount may live in another namespace than the secret
		login = c.WithNamespace(trimSlash(cfg.Namespace))
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, op, err)
	}
	where := "auth/" + mount + "/login"
	out, err := s.do(ctx, login, op, http.MethodPost, where, nil, raw, "application/json")
	if errors.Is(err, errNotFound404) {
		return nil, provider.Errorf(provider.Terminal, op, "log in as %s (approle role %s): %s not found: is the AppRole auth method mounted at %q?", id.ID, cfg.Role, where, mount)
	}
	if err != nil {
		if provider.KindOf(err) == provider.Terminal && strings.Contains(err.Error(), "HTTP 400") {
			// AppRole answers 400 "invalid role or secret ID": the identity cannot log in.
			return nil, provider.Wrap(provider.Denied, op, fmt.Errorf("log in as %s (approle role %s): %w", id.ID, cfg.Role, err))
		}
		return nil, provider.Wrap(provider.KindOf(err), op, fmt.Errorf("log in as %s (approle role %s): %w", id.ID, cfg.Role, err))
	}
	var resp struct {
		Auth *struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.Auth == nil || resp.Auth.ClientToken == "" {
		return nil, provider.Errorf(provider.Retryable, op, "log in as %s (approle role %s): the answer has no token", id.ID, cfg.Role)
	}
	c.SetToken(resp.Auth.ClientToken)
	return c, nil
}

// secretFrom reads a login secret from an environment variable or a file (trailing
// whitespace trimmed). What names it is in the error; what it holds never is.
func (s *Store) secretFrom(op string, id provider.Identity, what, env, file string) (string, error) {
	switch {
	case env != "":
		var v string
		if s.env.Getenv != nil {
			v = s.env.Getenv(env)
		}
		if v == "" {
			return "", provider.Errorf(provider.Terminal, op, "identity %s: the environment variable %s (its %s) is empty or unset", id.ID, env, what)
		}
		return v, nil
	case file != "":
		p := s.env.Path(file)
		b, err := os.ReadFile(p)
		if err != nil {
			return "", provider.Errorf(provider.Terminal, op, "identity %s: its %s file %s: %v", id.ID, what, p, errors.Unwrap(err))
		}
		v := string(bytes.TrimSpace(b))
		clear(b)
		if v == "" {
			return "", provider.Errorf(provider.Terminal, op, "identity %s: its %s file %s is empty", id.ID, what, p)
		}
		return v, nil
	}
	return "", provider.Errorf(provider.Terminal, op, "identity %s names no %s (set %s_env or %s_file)", id.ID, what, what, what)
}

// classify turns a failed request into a classified error naming the path and the cause,
// never a value: Vault's messages are about paths, versions and permissions, and the store
// scrubs what it sent before anything is returned (see scrub).
func (s *Store) classify(op, apiPath string, err error) error {
	where := apiPath
	if s.cfg.Namespace != "" {
		where = trimSlash(s.cfg.Namespace) + "/" + apiPath
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return provider.Wrap(provider.Retryable, op, fmt.Errorf("%s: %w", where, err))
	}
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msg := strings.Join(re.Errors, "; ")
		if re.RawError || msg == "" {
			msg = http.StatusText(re.StatusCode)
		}
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		cause := fmt.Sprintf("HTTP %d: %s", re.StatusCode, msg)
		switch {
		case re.StatusCode == http.StatusForbidden:
			return provider.Errorf(provider.Denied, op, "%s: permission denied (%s)", where, cause)
		case re.StatusCode == http.StatusServiceUnavailable && strings.Contains(strings.ToLower(msg), "sealed"):
			return provider.Errorf(provider.Retryable, op, "%s: the server is sealed (%s): it must be unsealed; nothing was changed", where, cause)
		case strings.Contains(msg, "check-and-set parameter did not match"):
			return provider.Wrap(provider.Terminal, op, fmt.Errorf("%s: someone else wrote the secret since rotor read it (%s); nothing was overwritten: %w", where, cause, ErrConflict))
		case re.StatusCode == http.StatusTooManyRequests || re.StatusCode == http.StatusPreconditionFailed || re.StatusCode >= 500:
			return provider.Errorf(provider.Retryable, op, "%s: %s", where, cause)
		}
		return provider.Errorf(provider.Terminal, op, "%s: %s", where, cause)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return provider.Wrap(provider.Retryable, op, fmt.Errorf("%s: %w", where, err))
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && strings.Contains(err.Error(), "connection") {
		return provider.Wrap(provider.Retryable, op, fmt.Errorf("%s: %w", where, err))
	}
	return provider.Wrap(provider.Terminal, op, fmt.Errorf("%s: %w", where, err))
}

// ErrConflict is wrapped by the error of a write that check-and-set refused: someone else
// wrote the secret since rotor read it, and rotor did not overwrite their version.
var ErrConflict = errors.New("concurrent write detected by check-and-set")
