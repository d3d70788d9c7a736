package x509ca

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/atomicfile"
	"github.com/rotorhq/rotor/internal/filelock"
	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
)

// With crl, the authority maintains a certificate revocation list signed by the issuing CA:
// revoke adds the previous certificate's serial, restore removes it. The engine names the
// previous version by its Ref only, so Mint keeps a copy of each certificate it issues
// (public) in .<crl name>.rotor/ beside the list, to find the serial at revoke.
//
// The list's nextUpdate is the CA's not-after: rotor rewrites it only when something is
// revoked or restored, so it must not go stale in between. Relying parties that want fresher
// lists need a CRL service, which this is not.

// crlSidecar is the directory beside the CRL holding its lock and the certificate copies.
func (a *Authority) crlSidecar() string {
	return filepath.Join(filepath.Dir(a.crl), "."+filepath.Base(a.crl)+".rotor")
}

func (a *Authority) crlCopy(ref string) string {
	return filepath.Join(a.crlSidecar(), strings.TrimPrefix(ref, "sha256:")+".pem")
}

// keepIssued keeps a copy of a certificate issued, for its revocation.
func (a *Authority) keepIssued(cert *x509.Certificate) error {
	if err := os.MkdirAll(a.crlSidecar(), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", a.crlSidecar(), err)
	}
	return atomicfile.Write(a.crlCopy(pki.Ref(cert)), pki.CertsPEM([]*x509.Certificate{cert}), bundleMode)
}

// issued reads the copy of the certificate named ref.
func (a *Authority) issued(ref string) (*x509.Certificate, error) {
	b, err := os.ReadFile(a.crlCopy(ref))
	if err != nil {
		return nil, fmt.Errorf("no copy of certificate %s was kept at mint (%v), so its serial is unknown: add it to %s by hand", ref, errors.Unwrap(err), a.crl)
	}
	certs, err := parseBundle(b)
	if err != nil || len(certs) != 1 || pki.Ref(certs[0]) != ref {
		return nil, fmt.Errorf("the copy of certificate %s in %s is damaged", ref, a.crlSidecar())
	}
	return certs[0], nil
}

// editCRL adds (revoke) or removes (restore) the serial of the certificate named ref in the
// CRL, signing a new list with the issuing CA when it changes. It reports whether it did.
func (a *Authority) editCRL(ctx context.Context, op, ref string, revoke bool) (bool, error) {
	cert, err := a.issued(ref)
	if err != nil {
		return false, provider.Wrap(provider.NeedsHuman, op, err)
	}
	now := a.now()
	issuer, err := a.readCA(ctx, op, now)
	if err != nil {
		return false, err
	}
	if err := cert.CheckSignatureFrom(issuer.Leaf); err != nil {
		return false, provider.Errorf(provider.NeedsHuman, op, "certificate %s was issued by another CA than the current value of %s, whose CRL %s cannot list it", ref, a.cfg.CA, a.crl)
	}
	if err := os.MkdirAll(a.crlSidecar(), 0o755); err != nil {
		return false, provider.Wrap(provider.Retryable, op, err)
	}
	unlock, err := filelock.Lock(ctx, filepath.Join(a.crlSidecar(), "lock"), 0o644)
	if err != nil {
		return false, provider.Wrap(provider.Retryable, op, fmt.Errorf("lock CRL %s: %w", a.crl, err))
	}
	defer unlock()
	var entries []x509.RevocationListEntry
	number := big.NewInt(0)
	raw, err := os.ReadFile(a.crl)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, provider.Wrap(provider.Retryable, op, fmt.Errorf("read CRL: %w", err))
	default:
		blk, _ := pem.Decode(raw)
		if blk == nil || blk.Type != "X509 CRL" {
			return false, provider.Errorf(provider.Terminal, op, "CRL %s is not a PEM X509 CRL", a.crl)
		}
		old, err := x509.ParseRevocationList(blk.Bytes)
		if err != nil {
			return false, provider.Errorf(provider.Terminal, op, "CRL %s: %v", a.crl, err)
		}
		if err := old.CheckSignatureFrom(issuer.Leaf); err != nil {
			return false, provider.Errorf(provider.NeedsHuman, op, "CRL %s was signed by another CA than the current value of %s: move it aside to start a list for this CA", a.crl, a.cfg.CA)
		}
		entries, number = old.RevokedCertificateEntries, old.Number
	}
	i := slices.IndexFunc(entries, func(e x509.RevocationListEntry) bool { return e.SerialNumber.Cmp(cert.SerialNumber) == 0 })
	switch {
	case revoke && i >= 0, !revoke && i < 0:
		return false, nil
	case revoke:
		entries = append(entries, x509.RevocationListEntry{SerialNumber: cert.SerialNumber, RevocationTime: now.UTC(), ReasonCode: 4}) // superseded
	default:
		entries = slices.Delete(entries, i, i+1)
	}
	der, err := x509.CreateRevocationList(a.env.Rand, &x509.RevocationList{
		Number:                    new(big.Int).Add(number, big.NewInt(1)),
		ThisUpdate:                now.UTC(),
		NextUpdate:                issuer.Leaf.NotAfter.Add(time.Second).UTC(),
		RevokedCertificateEntries: entries,
	}, issuer.Leaf, issuer.Key)
	if err != nil {
		return false, provider.Wrap(provider.Terminal, op, fmt.Errorf("sign CRL with %s: %w", a.cfg.CA, err))
	}
	if err := atomicfile.Write(a.crl, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), bundleMode); err != nil {
		return false, provider.Wrap(provider.Retryable, op, fmt.Errorf("write CRL: %w", err))
	}
	return true, nil
}
