package webhooksig_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/webhooksig"
)

// RFC 4231 test case 2: HMAC-SHA256 of "what do ya want for nothing?" under "Jefe".
const rfc4231 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

func TestVectors(t *testing.T) {
	key, body := []byte("Jefe"), []byte("what do ya want for nothing?")
	if got := webhooksig.SignHex(key, body); got != rfc4231 {
		t.Fatalf("SignHex = %s, want %s", got, rfc4231)
	}
	// The Stripe style is the hex HMAC of "<t>.<body>".
	at := time.Unix(1700000000, 0)
	want := "t=1700000000,v1=" + webhooksig.SignHex(key, []byte("1700000000."+string(body)))
	if got := webhooksig.SignStripe(key, body, at); got != want {
		t.Fatalf("SignStripe = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	key, other, body := []byte("whsec_k1"), []byte("whsec_k2"), []byte(`{"type":"ping"}`)
	now := time.Unix(1700000000, 0)
	stripe := webhooksig.SignStripe(key, body, now)
	for _, tc := range []struct {
		name   string
		key    []byte
		header string
		at     time.Time
		want   error
	}{
		{"stripe", key, stripe, now, nil},
		{"stripe, two signatures, second matches", key, webhooksig.SignStripe(other, body, now) + ",v1=" + stripe[len("t=1700000000,v1="):], now, nil},
		{"stripe, wrong key", other, stripe, now, webhooksig.ErrMismatch},
		{"stripe, replayed late", key, stripe, now.Add(6 * time.Minute), webhooksig.ErrTimestamp},
		{"stripe, no v1", key, "t=1700000000", now, webhooksig.ErrMalformed},
		{"hex", key, webhooksig.SignHex(key, body), now, nil},
		{"hex with sha256=", key, "sha256=" + webhooksig.SignHex(key, body), now, nil},
		{"hex, wrong key", other, webhooksig.SignHex(key, body), now, webhooksig.ErrMismatch},
		{"hex, not hex", key, "zz", now, webhooksig.ErrMalformed},
		{"hex, other body", key, webhooksig.SignHex(key, []byte("{}")), now, webhooksig.ErrMismatch},
	} {
		if err := webhooksig.Verify(tc.key, body, tc.header, tc.at, 0); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("t=1,v1=00")
	f.Add("sha256=00")
	f.Fuzz(func(t *testing.T, header string) {
		_ = webhooksig.Verify([]byte("k"), []byte("b"), header, time.Unix(1, 0), 0)
	})
}
