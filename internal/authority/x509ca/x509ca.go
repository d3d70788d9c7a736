// Package x509ca is the `x509-ca` authority: it issues certificates from an internal CA
// whose certificate and key are another credential of the inventory, kept in a store like
// any other secret and read at each mint through provider.Env.ReadCredential. It issues
// leaves (servers, clients) and CA certificates, so a CA's own rotation — a new intermediate
// beside the old one — is a credential like any other; a self-signed root is the one
// certificate issued without an issuing CA.
//
// A certificate is valid once issued: Enable has nothing to tell anyone about a leaf. A CA
// certificate is trusted where it is listed, so with trust_bundle the authority maintains a
// PEM file of trusted CA certificates: Enable adds the new CA, Revoke removes the previous one,
// and in between both are in the bundle, so that certificates issued by either verify during
// the overlap. With crl, the authority also maintains a revocation list signed by the issuing
// CA: revoke adds the previous certificate to it (see crl.go). Without crl, revoking a leaf has
// no effect outside rotor: the previous certificate stays valid until its not-after, and
// disabling the version at the store is what retires it. Revoke says so in its detail, which
// the engine journals.
//
// Mint cannot be idempotent per run in the usual sense: a signature is new every time and the
// key exists only in the minted value. A retried Mint issues another certificate; the engine
// keeps the first value it stored, and the other one is an orphan nothing can use, since its
// key was never stored anywhere. To make such orphans recognisable, the first 8 bytes of every
// serial number are derived from the credential and the run id (the other 8 are random, so
// serials stay unique per CA): two certificates of one run share the prefix.
package x509ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
)

// backdate is how far before now a new certificate's validity starts, so that a consumer
// whose clock is a little behind accepts it at once.
const backdate = 5 * time.Minute

// Authority issues certificates from the CA credential named in its config.
type Authority struct {
	cfg    Config
	env    provider.Env
	bundle string // absolute path of trust_bundle; "" when none
	crl    string // absolute path of crl; "" when none
}

// The authority's optional powers.
var (
	_ provider.Authority     = (*Authority)(nil)
	_ provider.Restorer      = (*Authority)(nil)
	_ provider.ManageChecker = (*Authority)(nil)
)

// New returns the `x509-ca` authority. env.Rand is required; env.ReadCredential is needed
// at mint (and readiness) for a config with ca or new_key: never, and its absence is reported
// there, so that the config can be built and validated outside an engine.
func New(cfg Config, env provider.Env) (*Authority, error) {
	if err := provider.CheckNew("x509-ca authority", cfg.Validate(), env); err != nil {
		return nil, err
	}
	a := &Authority{cfg: cfg, env: env, bundle: env.Path(cfg.TrustBundle), crl: env.Path(cfg.CRL)}
	return a, nil
}

func (a *Authority) now() time.Time {
	if a.env.Now != nil {
		return a.env.Now()
	}
	return time.Now()
}

// selfIssued refuses a credential named as its own issuing CA: its current value would sign
// its successor, which is a root's rotation done wrong (a root has no ca).
func (a *Authority) selfIssued(credential string) []error {
	if a.cfg.CA != "" && credential == a.cfg.CA {
		return []error{fmt.Errorf("credential %s names itself as its issuing CA: a self-signed root has no ca", credential)}
	}
	return nil
}

// strategyProblems refuses a strategy other than the config's (overlap).
func (a *Authority) strategyProblems(strategy string) []error {
	return provider.StrategyProblems(strategy, a.cfg.Strategies())
}

// Mint implements provider.Authority: a new certificate (and, unless new_key: never, a new
// key) signed by the CA credential, or self-signed for a root. The value is the pki bundle
// of the certificate, the CA's certificate and chain, and the key.
func (a *Authority) Mint(ctx context.Context, req provider.MintRequest) (provider.MintResponse, error) {
	const op = "issue certificate"
	if err := provider.Refuse(op, append(append(req.Problems(), a.strategyProblems(req.Strategy)...), a.selfIssued(req.Credential)...)); err != nil {
		return provider.MintResponse{}, err
	}
	now := a.now()
	var issuer *pki.Bundle
	if a.cfg.CA != "" {
		var err error
		if issuer, err = a.readCA(ctx, op, now); err != nil {
			return provider.MintResponse{}, err
		}
	}
	key, err := a.key(ctx, op, req)
	if err != nil {
		return provider.MintResponse{}, err
	}
	serial, err := serialFor(req.Credential, req.RunID, a.env.Rand)
	if err != nil {
		return provider.MintResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	tmpl := a.template(serial, now, key)
	parent, signer := tmpl, crypto.Signer(key)
	var chain []*x509.Certificate
	if issuer != nil {
		parent, signer = issuer.Leaf, issuer.Key
		chain = append([]*x509.Certificate{issuer.Leaf}, issuer.Chain...)
		// A certificate never outlives its issuer: past the CA's not-after nothing verifies
		// it anyway, and Expires must say when it really stops being accepted.
		if tmpl.NotAfter.After(issuer.Leaf.NotAfter) {
			tmpl.NotAfter = issuer.Leaf.NotAfter
		}
		if tmpl.NotBefore.Before(issuer.Leaf.NotBefore) {
			tmpl.NotBefore = issuer.Leaf.NotBefore
		}
	}
	der, err := x509.CreateCertificate(a.env.Rand, tmpl, parent, key.Public(), signer)
	if err != nil {
		return provider.MintResponse{}, provider.Wrap(provider.Terminal, op, fmt.Errorf("sign certificate %s: %w", a.cfg.CommonName, err))
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return provider.MintResponse{}, provider.Wrap(provider.Terminal, op, fmt.Errorf("parse the certificate just signed: %w", err))
	}
	if a.crl != "" {
		if err := a.keepIssued(leaf); err != nil {
			return provider.MintResponse{}, provider.Wrap(provider.Retryable, op, fmt.Errorf("keep a copy of the certificate for its revocation: %w", err))
		}
	}
	v, err := pki.Encode(pki.Bundle{Leaf: leaf, Chain: chain, Key: key})
	if err != nil {
		return provider.MintResponse{}, provider.Wrap(provider.Terminal, op, err)
	}
	return provider.MintResponse{Value: v, AuthorityRef: pki.Ref(leaf), Expires: leaf.NotAfter}, nil
}

// template is the certificate to sign, before the issuer bounds its validity.
func (a *Authority) template(serial *big.Int, now time.Time, key crypto.Signer) *x509.Certificate {
	dns, ips := splitSANs(a.cfg.SANs)
	t := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: a.cfg.CommonName},
		DNSNames:              dns,
		IPAddresses:           ips,
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              now.Add(a.cfg.validity()).UTC(),
		BasicConstraintsValid: true,
	}
	if a.cfg.IsCA {
		t.IsCA = true
		t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
		return t
	}
	t.KeyUsage = x509.KeyUsageDigitalSignature
	if _, ok := key.(*rsa.PrivateKey); ok {
		t.KeyUsage |= x509.KeyUsageKeyEncipherment // RSA key exchange in TLS 1.2
	}
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	return t
}

// serialFor returns a positive 128-bit serial: 8 bytes derived from the credential and run
// (so the certificates of one run are recognisable), 8 random bytes (so they are unique).
func serialFor(credential, runID string, rand io.Reader) (*big.Int, error) {
	sum := sha256.Sum256([]byte("rotor x509-ca serial\x00" + credential + "\x00" + runID))
	b := make([]byte, 16)
	copy(b, sum[:8])
	if _, err := io.ReadFull(rand, b[8:]); err != nil {
		return nil, fmt.Errorf("read randomness for the serial number: %w", err)
	}
	b[0] &= 0x7f // positive in DER
	b[0] |= 0x40 // and never short: a serial of 16 bytes whatever the hash
	return new(big.Int).SetBytes(b), nil
}

// SerialPrefix is the first 8 bytes of the serial number of every certificate a run issues
// for a credential, as colon-separated hex (like pki.Serial): a certificate whose serial
// starts with it and that is not in the store is an orphan of a retried mint.
func SerialPrefix(credential, runID string) string {
	s, _ := serialFor(credential, runID, zeroReader{})
	return pki.Serial(&x509.Certificate{SerialNumber: s})[:23]
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// readCA reads the issuing CA's bundle from its credential, wipes the value read, and checks
// that it can issue now.
func (a *Authority) readCA(ctx context.Context, op string, now time.Time) (*pki.Bundle, error) {
	if a.env.ReadCredential == nil {
		return nil, provider.Errorf(provider.Terminal, op, "cannot read the issuing CA credential %s: the authority was built outside an engine, which reads credentials", a.cfg.CA)
	}
	resp, err := a.env.ReadCredential(ctx, a.cfg.CA)
	defer resp.Value.Wipe()
	if err != nil {
		return nil, provider.Wrap(provider.KindOf(err), op, fmt.Errorf("read the issuing CA credential %s: %w", a.cfg.CA, err))
	}
	b, err := pki.Decode(resp.Value)
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, op, fmt.Errorf("issuing CA credential %s: %w", a.cfg.CA, err))
	}
	if err := a.canIssue(b.Leaf, now); err != nil {
		return nil, provider.Wrap(provider.Terminal, op, fmt.Errorf("issuing CA credential %s: %w", a.cfg.CA, err))
	}
	return b, nil
}

// canIssue says why a CA certificate cannot issue what the config asks for now, or nil.
func (a *Authority) canIssue(ca *x509.Certificate, now time.Time) error {
	name := fmt.Sprintf("certificate %q (serial %s)", ca.Subject.CommonName, pki.Serial(ca))
	switch {
	case !ca.BasicConstraintsValid || !ca.IsCA:
		return fmt.Errorf("%s is not a CA certificate", name)
	case ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("%s may not sign certificates (no certSign key usage)", name)
	case now.After(ca.NotAfter):
		return fmt.Errorf("%s expired on %s: rotate the CA first", name, ca.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(ca.NotBefore):
		return fmt.Errorf("%s is not valid before %s", name, ca.NotBefore.UTC().Format(time.RFC3339))
	case a.cfg.IsCA && ca.MaxPathLen == 0 && ca.MaxPathLenZero:
		return fmt.Errorf("%s may not issue CA certificates (path length 0), and is_ca is set", name)
	}
	return nil
}

// key returns the key of the new certificate: the current version's with new_key: never
// (once there is a current version), else a new one.
func (a *Authority) key(ctx context.Context, op string, req provider.MintRequest) (crypto.Signer, error) {
	if a.cfg.NewKey != NewKeyNever || req.Current == nil {
		k, err := pki.GenerateKey(a.cfg.keyType(), a.env.Rand)
		if err != nil {
			return nil, provider.Wrap(provider.Retryable, op, fmt.Errorf("generate a %s key: %w", a.cfg.keyType(), err))
		}
		return k, nil
	}
	if a.env.ReadCredential == nil {
		return nil, provider.Errorf(provider.Terminal, op, "new_key is never but the current certificate of %s cannot be read: the authority was built outside an engine", req.Credential)
	}
	resp, err := a.env.ReadCredential(ctx, req.Credential)
	defer resp.Value.Wipe()
	if err != nil {
		return nil, provider.Wrap(provider.KindOf(err), op, fmt.Errorf("new_key is never: read the current certificate of %s: %w", req.Credential, err))
	}
	b, err := pki.Decode(resp.Value)
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, op, fmt.Errorf("new_key is never: the current value of %s: %w", req.Credential, err))
	}
	if ref := pki.Ref(b.Leaf); req.Current.AuthorityRef != "" && ref != req.Current.AuthorityRef {
		return nil, provider.Errorf(provider.NeedsHuman, op, "new_key is never: the store's current certificate of %s is %s, not %s of version %s the run started from; the store changed under the run",
			req.Credential, ref, req.Current.AuthorityRef, req.Current.ID)
	}
	if got := keyType(b.Key); a.cfg.KeyType != "" && got != a.cfg.KeyType {
		return nil, provider.Errorf(provider.Terminal, op, "new_key is never, so the current %s key of %s is kept, but key_type is %s: set new_key: always for one rotation to change the key type",
			got, req.Credential, a.cfg.KeyType)
	}
	return b.Key, nil
}

// keyType names a key as pki.KeyTypes does ("" when it is none of them).
func keyType(k crypto.Signer) string {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return "ecdsa-p256"
		case elliptic.P384():
			return "ecdsa-p384"
		}
	case *rsa.PrivateKey:
		return fmt.Sprintf("rsa-%d", k.N.BitLen())
	case ed25519.PrivateKey:
		return "ed25519"
	}
	return ""
}

// Enable implements provider.Authority. A leaf has nothing to enable. A CA certificate with
// trust_bundle is added to the bundle (once: enabling it again changes nothing).
func (a *Authority) Enable(ctx context.Context, req provider.EnableRequest) (provider.EnableResponse, error) {
	const op = "enable certificate"
	if err := provider.Refuse(op, append(req.Problems(), a.strategyProblems(req.Strategy)...)); err != nil {
		return provider.EnableResponse{}, err
	}
	if a.bundle == "" {
		return provider.EnableResponse{Detail: "nothing to do: a certificate is valid once issued"}, nil
	}
	b, err := pki.Decode(req.Value)
	if err != nil {
		return provider.EnableResponse{}, provider.Wrap(provider.Terminal, op, fmt.Errorf("version %s: %w", req.Version.ID, err))
	}
	ref := pki.Ref(b.Leaf)
	if req.Version.AuthorityRef != "" && req.Version.AuthorityRef != ref {
		return provider.EnableResponse{}, provider.Errorf(provider.Terminal, op, "version %s names certificate %s but its value holds %s", req.Version.ID, req.Version.AuthorityRef, ref)
	}
	if !b.Leaf.IsCA {
		return provider.EnableResponse{}, provider.Errorf(provider.Terminal, op, "version %s holds certificate %s, which is not a CA: it does not belong in trust bundle %s", req.Version.ID, ref, a.bundle)
	}
	added, err := a.addToBundle(ctx, b.Leaf)
	if err != nil {
		return provider.EnableResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	if !added {
		return provider.EnableResponse{Detail: fmt.Sprintf("CA certificate %s (serial %s) already in trust bundle %s", ref, pki.Serial(b.Leaf), a.bundle)}, nil
	}
	return provider.EnableResponse{Detail: fmt.Sprintf("added CA certificate %s (serial %s) to trust bundle %s", ref, pki.Serial(b.Leaf), a.bundle)}, nil
}

// Revoke implements provider.Authority. With trust_bundle, the previous CA certificate leaves
// the bundle (once the current one is in it); with crl, the previous certificate's serial is
// added to the CRL. Without either, revoking has no effect outside rotor: the detail says the
// certificate stays valid until it expires.
func (a *Authority) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	const op = "revoke certificate"
	errs := append(req.Problems(), a.strategyProblems(req.Strategy)...)
	if (a.bundle != "" || a.crl != "") && req.Previous.AuthorityRef == "" {
		errs = append(errs, fmt.Errorf("previous version %s names no certificate (no authority ref), so it cannot be revoked", req.Previous.ID))
	}
	if err := provider.Refuse(op, errs); err != nil {
		return provider.RevokeResponse{}, err
	}
	ref := req.Previous.AuthorityRef
	var details []string
	if a.bundle != "" {
		removed, err := a.removeFromBundle(ctx, ref, req.Current.AuthorityRef)
		if err != nil {
			return provider.RevokeResponse{}, err
		}
		if removed {
			details = append(details, fmt.Sprintf("removed CA certificate %s from trust bundle %s", ref, a.bundle))
		} else {
			details = append(details, fmt.Sprintf("CA certificate %s was not in trust bundle %s (already removed)", ref, a.bundle))
		}
	}
	if a.crl != "" {
		added, err := a.editCRL(ctx, op, ref, true)
		if err != nil {
			return provider.RevokeResponse{}, err
		}
		if added {
			details = append(details, fmt.Sprintf("added certificate %s to CRL %s", ref, a.crl))
		} else {
			details = append(details, fmt.Sprintf("certificate %s was in CRL %s already", ref, a.crl))
		}
	}
	if len(details) == 0 {
		until := "its not-after"
		if !req.Previous.Expires.IsZero() {
			until = req.Previous.Expires.UTC().Format(time.RFC3339)
		}
		details = append(details, fmt.Sprintf("recorded only: no crl is configured, so certificate %s stays valid until %s; disabling version %s at the store retires it",
			orUnnamed(ref), until, req.Previous.ID))
	}
	return provider.RevokeResponse{Detail: strings.Join(details, "; ")}, nil
}

func orUnnamed(ref string) string {
	if ref == "" {
		return "(unnamed)"
	}
	return ref
}

// Restore implements provider.Restorer: a CA certificate revoked from the trust bundle goes
// back into it (from the value when the engine passes it, else from the copy kept at enable),
// and a certificate listed in the CRL leaves it. Without either there is nothing to restore.
func (a *Authority) Restore(ctx context.Context, req provider.RestoreRequest) error {
	const op = "restore certificate"
	errs := append(req.Problems(), a.strategyProblems(req.Strategy)...)
	if (a.bundle != "" || a.crl != "") && req.Version.AuthorityRef == "" && req.Value.IsZero() {
		errs = append(errs, fmt.Errorf("version %s names no certificate (no authority ref) and no value was given", req.Version.ID))
	}
	if err := provider.Refuse(op, errs); err != nil {
		return err
	}
	if a.bundle == "" && a.crl == "" {
		return nil
	}
	var cert *x509.Certificate
	if !req.Value.IsZero() {
		b, err := pki.Decode(req.Value)
		if err != nil {
			return provider.Wrap(provider.Terminal, op, fmt.Errorf("version %s: %w", req.Version.ID, err))
		}
		cert = b.Leaf
	}
	ref := req.Version.AuthorityRef
	if cert != nil {
		ref = pki.Ref(cert)
	}
	if a.bundle != "" {
		if cert == nil {
			var err error
			if cert, err = a.archived(ref); err != nil {
				return provider.Wrap(provider.NeedsHuman, op, err)
			}
		}
		if _, err := a.addToBundle(ctx, cert); err != nil {
			return provider.Wrap(provider.Retryable, op, err)
		}
	}
	if a.crl != "" {
		if _, err := a.editCRL(ctx, op, ref, false); err != nil {
			return err
		}
	}
	return nil
}
