// Package webhooksig computes and verifies the HMAC-SHA256 signatures of webhooks shared by a
// sender and a receiver, in the two header styles rotor's `webhook` authority serves:
//
//   - Stripe's: `t=<unix seconds>,v1=<hex HMAC of "<t>.<body>">`; a receiver accepts a header
//     with several v1 entries (a sender signing with two keys during a switch) and refuses a
//     timestamp outside its tolerance (a replay);
//   - plain hex: the hex HMAC of the body alone, optionally after `sha256=` (GitHub's style).
//
// The key is the secret's bytes exactly as the store holds them (for a `whsec_…` value, the
// whole string, as Stripe's libraries use it): both sides read the same value and neither
// decodes it, so they cannot disagree on an encoding. The `webhook-test` check and the test
// receiver both use this package, so what the check sends is what a receiver verifies.
package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The header styles.
const (
	Stripe = "stripe"
	Hex    = "hex"
)

// DefaultTolerance is how far a Stripe-style timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

func mac(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// SignStripe is the Stripe-style header of body signed at t.
func SignStripe(key, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(key, []byte(ts), []byte("."), body))
}

// SignHex is the plain hex header of body.
func SignHex(key, body []byte) string {
	return hex.EncodeToString(mac(key, body))
}

// Errors of a verification, for a receiver's log and answer. None carries a key.
var (
	ErrMalformed = errors.New("malformed signature header")
	ErrTimestamp = errors.New("timestamp outside the tolerance")
	ErrMismatch  = errors.New("no signature matches")
)

// VerifyStripe checks a Stripe-style header: one of its v1 signatures is body's under key,
// and its timestamp is within tolerance of now (0: DefaultTolerance).
func VerifyStripe(key, body []byte, header string, now time.Time, tolerance time.Duration) error {
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformed
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformed
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	want := mac(key, []byte(ts), []byte("."), body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrMismatch
}

// VerifyHex checks a plain hex header (an optional `sha256=` in front).
func VerifyHex(key, body []byte, header string) error {
	got, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(header), "sha256="))
	if err != nil || len(got) != sha256.Size {
		return ErrMalformed
	}
	if !hmac.Equal(got, mac(key, body)) {
		return ErrMismatch
	}
	return nil
}

// Verify checks a header of either style: Stripe's when it carries `t=`, plain hex otherwise.
func Verify(key, body []byte, header string, now time.Time, tolerance time.Duration) error {
	if strings.HasPrefix(strings.TrimSpace(header), "t=") {
		return VerifyStripe(key, body, header, now, tolerance)
	}
	return VerifyHex(key, body, header)
}
