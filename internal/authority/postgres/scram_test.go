package postgres

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"testing"
)

// hi is PBKDF2-HMAC-SHA-256 with one block: it agrees with the standard library's.
func TestHiIsPBKDF2(t *testing.T) {
	for _, tc := range []struct {
		password string
		iter     int
	}{{"pencil", 4096}, {"x", 1}, {"Tr0ub4dor&3 with spaces", 2}, {"", 10}} {
		salt := []byte("salt-" + tc.password)
		want, err := pbkdf2.Key(sha256.New, tc.password, salt, tc.iter, sha256.Size)
		if err != nil {
			t.Fatal(err)
		}
		if got := hi([]byte(tc.password), salt, tc.iter); !bytes.Equal(got, want) {
			t.Errorf("hi(%q, %d) = %x, want %x", tc.password, tc.iter, got, want)
		}
	}
}

// The verifier has PostgreSQL's shape, a fresh salt each time, and never the password in
// any encoding.
func TestVerifierShape(t *testing.T) {
	pw := []byte("correct-horse-battery-staple-0123456789")
	shape := regexp.MustCompile(`^SCRAM-SHA-256\$4096:([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$`)
	a, err := scramVerifier(pw, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := scramVerifier(pw, rand.Reader)
	m := shape.FindStringSubmatch(a)
	if m == nil {
		t.Fatalf("verifier %q has not the shape SCRAM-SHA-256$4096:salt$stored:server", a)
	}
	for i, n := range []int{scramSaltLen, sha256.Size, sha256.Size} {
		raw, err := base64.StdEncoding.DecodeString(m[i+1])
		if err != nil || len(raw) != n {
			t.Errorf("part %d of the verifier: %d bytes (%v), want %d", i+1, len(raw), err, n)
		}
	}
	if a == b {
		t.Error("two verifiers of one password share a salt")
	}
	for _, form := range [][]byte{pw, []byte(base64.StdEncoding.EncodeToString(pw)), []byte(base64.RawStdEncoding.EncodeToString(pw))} {
		if bytes.Contains([]byte(a), form) {
			t.Errorf("the verifier holds the password (form %q)", form)
		}
	}
	if _, err := scramVerifier([]byte("pässword"), rand.Reader); err == nil {
		t.Error("a non-ASCII password was hashed without SASLprep")
	}
}
