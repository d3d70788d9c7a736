package acme

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/rotorhq/rotor/internal/provider"
)

// CheckManage implements provider.ManageChecker. Without ordering anything it proves that
// the directory answers (over TLS trusted through ca_bundle), that account_dir can hold the
// account key and the certificate copies (and that an existing key is private and readable),
// and that rotor can listen where it answers challenges. It registers no account.
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
	ctx, cancel := context.WithTimeout(ctx, a.cfg.timeout())
	defer cancel()
	if err := os.MkdirAll(filepath.Join(a.accountDir, "certs"), 0o700); err != nil {
		return provider.Wrap(provider.Denied, op, fmt.Errorf("account_dir %s cannot be created: %w", a.accountDir, err))
	}
	f, err := os.CreateTemp(a.accountDir, ".rotor-check-*")
	if err != nil {
		return provider.Wrap(provider.Denied, op, fmt.Errorf("account_dir %s is not writable: %w", a.accountDir, err))
	}
	f.Close()
	os.Remove(f.Name())
	// connect reads an existing account key (refusing one others can read) and fetches the
	// directory; without register it creates nothing.
	if _, err := a.connect(ctx, op, false); err != nil {
		return err
	}
	addr, what := a.cfg.http01(), "http-01"
	if a.cfg.challenge() == "tls-alpn-01" {
		addr, what = a.cfg.tlsALPN01(), "tls-alpn-01"
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return provider.Wrap(provider.Terminal, op, fmt.Errorf("cannot listen on %s to answer %s challenges: %w; free the port, or listen elsewhere (%s_address) behind a proxy that forwards the challenges there",
			addr, what, err, map[string]string{"http-01": "http01", "tls-alpn-01": "tls_alpn01"}[what]))
	}
	l.Close()
	return nil
}
