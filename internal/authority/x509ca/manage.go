package x509ca

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rotorhq/rotor/internal/provider"
)

// CheckManage implements provider.ManageChecker. Without issuing anything it proves that the
// CA credential can be read, holds a CA certificate with its own key, and can issue now (not
// expired, allowed to sign, allowed to issue a CA when is_ca); with trust_bundle, that the
// bundle parses and its directory is writable; with crl, that the list parses, is signed by
// the CA and its directory is writable.
func (a *Authority) CheckManage(ctx context.Context, req provider.CheckManageRequest) error {
	const op = "check manage"
	var errs []error
	if req.Credential == "" {
		errs = append(errs, errors.New("no credential named"))
	}
	errs = append(errs, a.strategyProblems(req.Strategy)...)
	errs = append(errs, a.selfIssued(req.Credential)...)
	if err := provider.Refuse(op, errs); err != nil {
		return err
	}
	if a.cfg.CA != "" {
		if _, err := a.readCA(ctx, op, a.now()); err != nil {
			return err
		}
	}
	if a.crl != "" {
		if err := a.checkCRL(ctx, op); err != nil {
			return err
		}
	}
	if a.bundle == "" {
		return nil
	}
	dir := filepath.Dir(a.bundle)
	f, err := os.CreateTemp(dir, ".rotor-check-*")
	if err != nil {
		return provider.Wrap(provider.Denied, op, fmt.Errorf("trust bundle %s cannot be replaced: its directory is not writable: %w", a.bundle, err))
	}
	f.Close()
	os.Remove(f.Name())
	raw, err := os.ReadFile(a.bundle)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Created at the first enable.
	case err != nil:
		return provider.Wrap(provider.Denied, op, fmt.Errorf("read trust bundle %s: %w", a.bundle, err))
	default:
		if _, err := parseBundle(raw); err != nil {
			return provider.Wrap(provider.Terminal, op, fmt.Errorf("trust bundle %s: %w", a.bundle, err))
		}
	}
	return nil
}

// checkCRL proves the CRL can be rewritten: its directory is writable and an existing list
// parses and is signed by the current CA.
func (a *Authority) checkCRL(ctx context.Context, op string) error {
	f, err := os.CreateTemp(filepath.Dir(a.crl), ".rotor-check-*")
	if err != nil {
		return provider.Wrap(provider.Denied, op, fmt.Errorf("CRL %s cannot be replaced: its directory is not writable: %w", a.crl, err))
	}
	f.Close()
	os.Remove(f.Name())
	raw, err := os.ReadFile(a.crl)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // created at the first revoke
	case err != nil:
		return provider.Wrap(provider.Denied, op, fmt.Errorf("read CRL %s: %w", a.crl, err))
	}
	blk, _ := pem.Decode(raw)
	if blk == nil || blk.Type != "X509 CRL" {
		return provider.Errorf(provider.Terminal, op, "CRL %s is not a PEM X509 CRL", a.crl)
	}
	crl, err := x509.ParseRevocationList(blk.Bytes)
	if err != nil {
		return provider.Errorf(provider.Terminal, op, "CRL %s: %v", a.crl, err)
	}
	issuer, err := a.readCA(ctx, op, a.now())
	if err != nil {
		return err
	}
	if err := crl.CheckSignatureFrom(issuer.Leaf); err != nil {
		return provider.Errorf(provider.NeedsHuman, op, "CRL %s was signed by another CA than the current value of %s", a.crl, a.cfg.CA)
	}
	return nil
}
