package x509ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rotorhq/rotor/internal/atomicfile"
	"github.com/rotorhq/rotor/internal/filelock"
	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
)

// The trust bundle is a file other programs read at any moment, so it is replaced whole
// (temporary file in the same directory, then rename): a reader sees the old bundle or the
// new one, never half of one. Several credentials (two intermediates) may share one bundle, so
// every edit holds a lock. Beside the bundle, in .<name>.rotor/, the authority keeps the lock
// file and a copy of every CA certificate it added (public data), from which Restore puts a
// revoked CA back when the engine passes no value.

const bundleMode = 0o644 // a trust bundle is public and read by every consumer

// sidecar is the directory beside the bundle holding the lock and the copies.
func (a *Authority) sidecar() string {
	return filepath.Join(filepath.Dir(a.bundle), "."+filepath.Base(a.bundle)+".rotor")
}

// refFile is the copy of the certificate named ref.
func (a *Authority) refFile(ref string) string {
	return filepath.Join(a.sidecar(), strings.TrimPrefix(ref, "sha256:")+".pem")
}

// addToBundle adds cert to the bundle unless it is there, and keeps a copy. It reports
// whether the bundle changed.
func (a *Authority) addToBundle(ctx context.Context, cert *x509.Certificate) (bool, error) {
	if err := a.keepCopy(cert); err != nil {
		return false, err
	}
	return a.editBundle(ctx, func(certs []*x509.Certificate) ([]*x509.Certificate, bool) {
		for _, c := range certs {
			if bytes.Equal(c.Raw, cert.Raw) {
				return certs, false
			}
		}
		return append(certs, cert), true
	})
}

// removeFromBundle removes the certificate named ref. When current is named, it must be in
// the bundle first: removing the previous CA while the current one is missing would leave
// consumers trusting neither.
func (a *Authority) removeFromBundle(ctx context.Context, ref, current string) (bool, error) {
	const op = "revoke certificate"
	var missingCurrent bool
	changed, err := a.editBundle(ctx, func(certs []*x509.Certificate) ([]*x509.Certificate, bool) {
		var out []*x509.Certificate
		var found, haveCurrent bool
		for _, c := range certs {
			switch pki.Ref(c) {
			case ref:
				found = true
				continue
			case current:
				haveCurrent = true
			}
			out = append(out, c)
		}
		if found && current != "" && !haveCurrent {
			missingCurrent = true
			return certs, false
		}
		return out, found
	})
	if err != nil {
		return false, provider.Wrap(provider.Retryable, op, err)
	}
	if missingCurrent {
		return false, provider.Errorf(provider.NeedsHuman, op, "trust bundle %s does not hold the current CA certificate %s, so removing the previous one %s would leave nothing of this CA trusted: enable the current version first",
			a.bundle, current, ref)
	}
	return changed, nil
}

// archived reads the copy of the certificate named ref.
func (a *Authority) archived(ref string) (*x509.Certificate, error) {
	b, err := os.ReadFile(a.refFile(ref))
	if err != nil {
		return nil, fmt.Errorf("no copy of CA certificate %s was kept (%v): pass the version's value, or add the certificate to %s by hand", ref, err, a.bundle)
	}
	certs, err := parseBundle(b)
	if err != nil || len(certs) != 1 || pki.Ref(certs[0]) != ref {
		return nil, fmt.Errorf("the copy of CA certificate %s in %s is damaged", ref, a.sidecar())
	}
	return certs[0], nil
}

func (a *Authority) keepCopy(cert *x509.Certificate) error {
	if err := os.MkdirAll(a.sidecar(), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", a.sidecar(), err)
	}
	path := a.refFile(pki.Ref(cert))
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return atomicfile.Write(path, pki.CertsPEM([]*x509.Certificate{cert}), bundleMode)
}

// editBundle reads the bundle (a missing file is an empty bundle), applies edit under the
// lock, and replaces the file when edit reports a change.
func (a *Authority) editBundle(ctx context.Context, edit func([]*x509.Certificate) ([]*x509.Certificate, bool)) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := os.MkdirAll(a.sidecar(), 0o755); err != nil {
		return false, fmt.Errorf("create %s: %w", a.sidecar(), err)
	}
	unlock, err := filelock.Lock(ctx, filepath.Join(a.sidecar(), "lock"), 0o644)
	if err != nil {
		return false, fmt.Errorf("lock trust bundle %s: %w", a.bundle, err)
	}
	defer unlock()
	raw, err := os.ReadFile(a.bundle)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read trust bundle: %w", err)
	}
	certs, err := parseBundle(raw)
	if err != nil {
		return false, fmt.Errorf("trust bundle %s: %w", a.bundle, err)
	}
	out, changed := edit(certs)
	if !changed {
		return false, nil
	}
	if err := atomicfile.Write(a.bundle, pki.CertsPEM(out), bundleMode); err != nil {
		return false, fmt.Errorf("write trust bundle: %w", err)
	}
	return true, nil
}

// parseBundle parses PEM certificates. Anything else (a key, garbage) is refused rather than
// dropped: rotor rewrites the file, and must not lose what it does not understand.
func parseBundle(raw []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := raw
	for n := 1; ; n++ {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q: a trust bundle that rotor maintains holds certificates only", n, blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d is not a valid certificate: %v", n, err)
		}
		certs = append(certs, c)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("holds data that is not PEM after its certificates")
	}
	return certs, nil
}
