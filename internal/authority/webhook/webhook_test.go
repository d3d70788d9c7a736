package webhook_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/authority/webhook"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/provider/providertest"
)

func env() provider.Env {
	return provider.Env{Now: func() time.Time { return time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC) }, Rand: rand.Reader}
}

func TestConformance(t *testing.T) {
	for _, enc := range []string{"", webhook.EncodingWhsec} {
		t.Run("encoding="+enc, func(t *testing.T) {
			providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
				a, err := webhook.New(webhook.Config{Encoding: enc, Sender: "notifier", Receiver: "partner"}, env())
				if err != nil {
					t.Fatal(err)
				}
				return providertest.AuthorityFixture{Authority: a, Credential: "partner-webhook-hmac", Strategies: []string{webhook.Overlap, webhook.InPlace}}
			})
		})
	}
}

// TestMintShapes: length random bytes, written as hex or as whsec_ and base64.
func TestMintShapes(t *testing.T) {
	for _, tc := range []struct {
		cfg    webhook.Config
		decode func(string) ([]byte, error)
		bytes  int
	}{
		{webhook.Config{}, hex.DecodeString, webhook.DefaultLength},
		{webhook.Config{Length: 48, Encoding: "hex"}, hex.DecodeString, 48},
		{webhook.Config{Length: 24, Encoding: "whsec"}, func(s string) ([]byte, error) {
			if !strings.HasPrefix(s, "whsec_") {
				t.Fatalf("no whsec_ prefix")
			}
			return base64.StdEncoding.DecodeString(s[len("whsec_"):])
		}, 24},
	} {
		a, err := webhook.New(tc.cfg, env())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Mint(context.Background(), provider.MintRequest{Credential: "k", RunID: "r1", Strategy: webhook.Overlap})
		if err != nil {
			t.Fatal(err)
		}
		s := string(resp.Value.Reveal())
		raw, err := tc.decode(s)
		if err != nil || len(raw) != tc.bytes {
			t.Errorf("%+v: %d bytes decoded (%v), want %d", tc.cfg, len(raw), err, tc.bytes)
		}
		if bytes.Count(raw, []byte{0}) == len(raw) {
			t.Errorf("%+v: all-zero key", tc.cfg)
		}
	}
}

// TestConfigRefused: every problem at once, by field.
func TestConfigRefused(t *testing.T) {
	_, err := webhook.New(webhook.Config{Algorithm: "hmac-sha512", Length: 8, Encoding: "base32"}, env())
	if err == nil || provider.KindOf(err) != provider.Terminal {
		t.Fatalf("err = %v, want terminal", err)
	}
	for _, f := range []string{"algorithm", "length", "encoding"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%q not named in %v", f, err)
		}
	}
	if _, err := webhook.New(webhook.Config{}, provider.Env{}); err == nil {
		t.Error("no randomness: want an error")
	}
}
