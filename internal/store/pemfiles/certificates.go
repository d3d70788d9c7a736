package pemfiles

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

	"github.com/rotorhq/rotor/internal/provider"
)

// Certificates implements provider.CertificateLister: the cert file of each version directory
// — the key file is never opened — and, when the visible cert name is not yet the store's
// symlink, the certificate the consumers read there instead.
//
// It reads without the lock, as Versions does: taking it would create the directory and the
// lock file, and `rotor scan` promises to write nothing. A version directory is complete once
// it has its name (Put renames it into place), so the only race is a prune removing one
// between the listing and the read: that version is left out.
func (s *Store) Certificates(ctx context.Context, req provider.CertificatesRequest) (provider.CertificatesResponse, error) {
	const op = "list certificates"
	if err := ctx.Err(); err != nil {
		return provider.CertificatesResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	st, err := s.load(op)
	if err != nil {
		return provider.CertificatesResponse{}, err
	}
	visible := filepath.Join(s.dir, s.names.cert)
	target, err := os.Readlink(visible)
	managed := err == nil && target == liveName+"/"+s.names.cert
	out := []provider.Certificate{}
	for _, id := range st.newestFirst() {
		vdir := filepath.Join(s.dir, versionsDir, id)
		p := filepath.Join(vdir, s.names.cert)
		der, err := leafDER(p)
		if errors.Is(err, fs.ErrNotExist) {
			if _, derr := os.Lstat(vdir); errors.Is(derr, fs.ErrNotExist) {
				continue // pruned since load
			}
			return provider.CertificatesResponse{}, provider.Errorf(provider.NeedsHuman, op, "version %s has no %s; inspect %s", id, s.names.cert, vdir)
		}
		if err != nil {
			return provider.CertificatesResponse{}, provider.Errorf(provider.NeedsHuman, op, "version %s: %v; inspect %s", id, err, vdir)
		}
		where := p
		if id == st.current && managed {
			where = visible // what the consumers open
		}
		out = append(out, provider.Certificate{Version: st.version(id), Leaf: der, Where: where})
	}
	if managed {
		return provider.CertificatesResponse{Certificates: out}, nil
	}
	// Before the first promote the visible name is the operator's file (or a link of theirs),
	// and it is what the consumers serve. It is not the store's: one that does not hold a
	// certificate is not an error of the store, only nothing to list.
	der, err := leafDER(visible)
	if err != nil {
		return provider.CertificatesResponse{Certificates: out}, nil
	}
	for _, c := range out {
		if bytes.Equal(c.Leaf, der) {
			return provider.CertificatesResponse{Certificates: out}, nil // already listed as that version
		}
	}
	out = append(out, provider.Certificate{Version: provider.Version{Stage: provider.StageCurrent, Enabled: true}, Leaf: der, Where: visible})
	return provider.CertificatesResponse{Certificates: out}, nil
}

// leafDER reads the first PEM block of a cert file and checks that it is one certificate: a
// damaged file is said here rather than handed on as a fingerprint of garbage.
func leafDER(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s does not start with a PEM certificate", path)
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return blk.Bytes, nil
}
