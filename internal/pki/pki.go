// Package pki is how rotor carries a certificate as a credential value: one PEM bundle —
// the leaf certificate, then its chain, then the private key (PKCS #8) — held in a
// secret.Value, because the key is the secret and must never leave that type. Authorities
// that issue certificates (x509-ca, acme) encode bundles; stores that hand certificates to
// consumers as files (pem-files) and checks that compare a served certificate (tls) decode
// them or use their Ref.
//
// A certificate version is named, wherever rotor names versions (Version.AuthorityRef, the
// journal, `rotor scan`), by Ref: "sha256:" and the lowercase hex SHA-256 of the leaf's DER.
// The serial alone is not enough: two CAs may issue the same serial.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/rotorhq/rotor/internal/secret"
)

// Bundle is a certificate with its chain and private key.
type Bundle struct {
	Leaf  *x509.Certificate
	Chain []*x509.Certificate // issuer first, up to (not always including) a root
	Key   crypto.Signer
}

// Ref names a certificate: "sha256:" + hex SHA-256 of its DER.
func Ref(c *x509.Certificate) string { return RefDER(c.Raw) }

// RefDER is Ref of a DER certificate.
func RefDER(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Serial is the certificate's serial number as colon-separated upper-case hex, as openssl
// and browsers show it.
func Serial(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	if len(b) == 0 {
		return "00"
	}
	var sb strings.Builder
	for i, x := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02X", x)
	}
	return sb.String()
}

// Encode writes the bundle as PEM into a secret.Value: leaf, chain, key. It checks that the
// key belongs to the leaf first, so a mismatched pair is never stored.
func Encode(b Bundle) (secret.Value, error) {
	if b.Leaf == nil || b.Key == nil {
		return secret.Value{}, errors.New("pki: a bundle needs a leaf certificate and its key")
	}
	if err := Matches(b.Leaf, b.Key.Public()); err != nil {
		return secret.Value{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(b.Key)
	if err != nil {
		return secret.Value{}, fmt.Errorf("pki: encoding the private key: %w", err)
	}
	var buf bytes.Buffer
	buf.Write(CertsPEM(append([]*x509.Certificate{b.Leaf}, b.Chain...)))
	if err := pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return secret.Value{}, err
	}
	clear(der)
	v := secret.New(buf.Bytes())
	clear(buf.Bytes())
	return v, nil
}

// CertsPEM encodes certificates (no key) as PEM.
func CertsPEM(certs []*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

// ErrNoKey is returned by Decode for a bundle without a private key.
var ErrNoKey = errors.New("pki: the bundle holds no private key")

// Decode parses a bundle from a secret.Value. The first certificate is the leaf, the others
// its chain; exactly one private key (PKCS #8, PKCS #1 or SEC 1) must be there and belong to
// the leaf. Errors say what is wrong, never what the bytes were.
func Decode(v secret.Value) (*Bundle, error) {
	raw := v.Reveal()
	defer clear(raw)
	var b Bundle
	rest := raw
	for n := 1; ; n++ {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pki: PEM block %d: not a valid certificate: %v", n, err)
			}
			if b.Leaf == nil {
				b.Leaf = c
			} else {
				b.Chain = append(b.Chain, c)
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if b.Key != nil {
				return nil, fmt.Errorf("pki: PEM block %d: a second private key; a bundle holds one", n)
			}
			k, err := ParseKey(blk)
			clear(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pki: PEM block %d: %v", n, err)
			}
			b.Key = k
		default:
			return nil, fmt.Errorf("pki: PEM block %d: unexpected type %q", n, blk.Type)
		}
	}
	if b.Leaf == nil {
		return nil, errors.New("pki: no PEM certificate found")
	}
	if b.Key == nil {
		return nil, ErrNoKey
	}
	if err := Matches(b.Leaf, b.Key.Public()); err != nil {
		return nil, err
	}
	return &b, nil
}

// ParseKey parses a PEM private key block of any of the usual encodings.
func ParseKey(blk *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, errors.New("not a valid private key") // the parser's message may quote bytes
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return s, nil
}

// ErrKeyMismatch is returned when a private key does not belong to a certificate.
var ErrKeyMismatch = errors.New("pki: the private key does not match the certificate")

// Matches reports whether pub is the certificate's public key.
func Matches(c *x509.Certificate, pub crypto.PublicKey) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := c.PublicKey.(equaler)
	if !ok || !e.Equal(pub) {
		return fmt.Errorf("%w (certificate %s, serial %s)", ErrKeyMismatch, c.Subject.CommonName, Serial(c))
	}
	return nil
}

// KeyTypes are the key types rotor generates.
var KeyTypes = []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"}

// GenerateKey makes a private key of a type in KeyTypes ("" is ecdsa-p256).
func GenerateKey(keyType string, rand io.Reader) (crypto.Signer, error) {
	switch keyType {
	case "", "ecdsa-p256":
		return ecdsa.GenerateKey(elliptic.P256(), rand)
	case "ecdsa-p384":
		return ecdsa.GenerateKey(elliptic.P384(), rand)
	case "rsa-2048":
		return rsa.GenerateKey(rand, 2048)
	case "rsa-3072":
		return rsa.GenerateKey(rand, 3072)
	case "rsa-4096":
		return rsa.GenerateKey(rand, 4096)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand)
		return k, err
	}
	return nil, fmt.Errorf("pki: unknown key type %q (one of %s)", keyType, strings.Join(KeyTypes, ", "))
}

// NameProblem says what is wrong with s as a name in a certificate — a DNS name (a leading
// "*." allowed) or an IP address — or "" when nothing is.
func NameProblem(s string) string {
	if net.ParseIP(s) != nil {
		return ""
	}
	const bad = "is not a DNS name or an IP address"
	name := strings.TrimPrefix(s, "*.")
	if name == "" || len(s) > 253 {
		return bad
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return bad
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-') {
				return bad
			}
		}
	}
	return ""
}
