package postgres

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// SCRAM-SHA-256 parameters, as PostgreSQL and psql's \password use them.
const (
	scramIterations = 4096
	scramSaltLen    = 16
)

// errNonASCII refuses a password PostgreSQL would normalise with SASLprep before hashing:
// rotor would have to do the same, byte for byte, or the verifier would not match.
var errNonASCII = errors.New("the value holds non-ASCII bytes, which PostgreSQL normalises (SASLprep) before hashing; rotor sets only ASCII passwords")

// scramVerifier returns the SCRAM-SHA-256 verifier of password with a fresh random salt:
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// (RFC 5802, RFC 7677; PostgreSQL's scram_build_secret). Sent as the PASSWORD of ALTER ROLE,
// the server stores it as it is: the password itself never leaves rotor. For an ASCII
// password SASLprep is the identity (PostgreSQL hashes a password that SASLprep prohibits,
// such as one with control characters, as raw bytes too), so the raw bytes are hashed.
func scramVerifier(password []byte, rand io.Reader) (string, error) {
	for _, c := range password {
		if c >= 0x80 {
			return "", errNonASCII
		}
	}
	salt := make([]byte, scramSaltLen)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("draw a salt: %w", err)
	}
	return scramVerifierWith(password, salt, scramIterations), nil
}

func scramVerifierWith(password, salt []byte, iterations int) string {
	salted := hi(password, salt, iterations)
	defer clear(salted)
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	clear(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(storedKey[:]), b64(serverKey))
}

// hi is SCRAM's Hi(): PBKDF2-HMAC-SHA-256 with one output block. It is written out rather
// than taken from crypto/pbkdf2, whose password is a string that could not be wiped.
func hi(password, salt []byte, iterations int) []byte {
	mac := hmac.New(sha256.New, password)
	mac.Write(salt)
	mac.Write([]byte{0, 0, 0, 1})
	u := mac.Sum(nil)
	out := append([]byte(nil), u...)
	for i := 1; i < iterations; i++ {
		mac.Reset()
		mac.Write(u)
		u = mac.Sum(u[:0])
		for j := range out {
			out[j] ^= u[j]
		}
	}
	clear(u)
	return out
}

func hmacSHA256(key []byte, msg string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}
