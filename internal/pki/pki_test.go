package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/secret"
)

func selfSigned(t *testing.T, keyType, cn string) Bundle {
	t.Helper()
	k, err := GenerateKey(keyType, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(0x1a2b), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{cn}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return Bundle{Leaf: c, Key: k}
}

func TestRoundTripEveryKeyType(t *testing.T) {
	for _, kt := range KeyTypes {
		t.Run(kt, func(t *testing.T) {
			b := selfSigned(t, kt, "svc.test")
			issuer := selfSigned(t, "ecdsa-p256", "ca.test")
			b.Chain = []*x509.Certificate{issuer.Leaf}
			v, err := Encode(b)
			if err != nil {
				t.Fatal(err)
			}
			if s := v.String(); s != secret.Redacted {
				t.Fatalf("bundle prints %q", s)
			}
			got, err := Decode(v)
			if err != nil {
				t.Fatal(err)
			}
			if Ref(got.Leaf) != Ref(b.Leaf) || len(got.Chain) != 1 || Ref(got.Chain[0]) != Ref(issuer.Leaf) {
				t.Fatalf("leaf or chain changed in the round trip")
			}
			if Matches(got.Leaf, got.Key.Public()) != nil {
				t.Fatal("decoded key does not match")
			}
		})
	}
}

func TestMismatchedKeyRefused(t *testing.T) {
	a, b := selfSigned(t, "", "a.test"), selfSigned(t, "", "b.test")
	if _, err := Encode(Bundle{Leaf: a.Leaf, Key: b.Key}); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("Encode of a mismatched pair: %v", err)
	}
	v, _ := Encode(b)
	mixed := strings.Replace(string(v.Reveal()), string(CertsPEM([]*x509.Certificate{b.Leaf})), string(CertsPEM([]*x509.Certificate{a.Leaf})), 1)
	if _, err := Decode(secret.FromString(mixed)); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("Decode of a mismatched pair: %v", err)
	}
}

func TestGarbageIsAClearError(t *testing.T) {
	for name, in := range map[string]string{
		"empty":    "",
		"not pem":  "hello",
		"bad cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"no key":   string(CertsPEM([]*x509.Certificate{selfSigned(t, "", "x.test").Leaf})),
		"bad key":  string(CertsPEM([]*x509.Certificate{selfSigned(t, "", "x.test").Leaf})) + "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWNhbmFyeQ==\n-----END PRIVATE KEY-----\n",
	} {
		_, err := Decode(secret.FromString(in))
		if err == nil {
			t.Fatalf("%s: decoded", name)
		}
		if strings.Contains(err.Error(), "c2VjcmV0") {
			t.Fatalf("%s: error quotes the bytes: %v", name, err)
		}
	}
}

func TestSerialAndRef(t *testing.T) {
	b := selfSigned(t, "", "s.test")
	if got := Serial(b.Leaf); got != "1A:2B" {
		t.Fatalf("Serial = %s", got)
	}
	if r := Ref(b.Leaf); !strings.HasPrefix(r, "sha256:") || len(r) != 7+64 {
		t.Fatalf("Ref = %s", r)
	}
}

func FuzzDecode(f *testing.F) {
	b := selfSigned(&testing.T{}, "", "f.test")
	v, _ := Encode(b)
	f.Add(v.Reveal())
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := Decode(secret.New(in))
		if err == nil && Matches(got.Leaf, got.Key.Public()) != nil {
			t.Fatal("decoded a bundle whose key does not match")
		}
	})
}
