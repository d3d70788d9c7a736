package randomvalue_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/authority/randomvalue"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/provider/providertest"
	"github.com/rotorhq/rotor/internal/secret"
)

func env() provider.Env {
	return provider.Env{Now: func() time.Time { return time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC) }, Rand: rand.Reader}
}

func TestConformance(t *testing.T) {
	providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
		a, err := randomvalue.New(randomvalue.Config{Prefix: "ak_"}, env())
		if err != nil {
			t.Fatal(err)
		}
		return providertest.AuthorityFixture{Authority: a, Credential: "partner-key", Strategies: []string{randomvalue.Overlap, randomvalue.InPlace}}
	})
}

func TestNoneConformance(t *testing.T) {
	providertest.AuthoritySuite(t, func(t *testing.T) providertest.AuthorityFixture {
		a, err := randomvalue.NewNone(randomvalue.NoneConfig{}, env())
		if err != nil {
			t.Fatal(err)
		}
		return providertest.AuthorityFixture{Authority: a, Credential: "shared-token", Strategies: []string{randomvalue.InPlace}}
	})
}

// TestMintHonoursConfig: length, alphabet and the public prefix shape every value.
func TestMintHonoursConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg      randomvalue.Config
		length   int
		alphabet string
	}{
		{randomvalue.Config{}, randomvalue.DefaultLength, secret.AlphaNum},
		{randomvalue.Config{Length: 64, Alphabet: "hex"}, 64, secret.Hex},
		{randomvalue.Config{Length: 20, Alphabet: "url-safe", Prefix: "sk_live_"}, 20, secret.URLSafe},
	} {
		a, err := randomvalue.New(tc.cfg, env())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Mint(context.Background(), provider.MintRequest{Credential: "k", RunID: "r1", Strategy: randomvalue.Overlap})
		if err != nil {
			t.Fatal(err)
		}
		b := resp.Value.Reveal()
		s, ok := strings.CutPrefix(string(b), tc.cfg.Prefix)
		if !ok {
			t.Errorf("%+v: value lacks the prefix %q", tc.cfg, tc.cfg.Prefix)
		}
		if len(s) != tc.length {
			t.Errorf("%+v: %d random characters, want %d", tc.cfg, len(s), tc.length)
		}
		for _, c := range s {
			if !strings.ContainsRune(tc.alphabet, c) {
				t.Errorf("%+v: %q is outside the alphabet", tc.cfg, c)
				break
			}
		}
		clear(b)
	}
}

// TestConfigRefused: a weak length, a prefix with quotes or spaces, and a strategy the
// authority does not have are refused with the field named.
func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		cfg  randomvalue.Config
		want string
	}{
		{randomvalue.Config{Length: 8}, "length"},
		{randomvalue.Config{Prefix: "bad prefix"}, "prefix"},
		{randomvalue.Config{Prefix: strings.Repeat("p", 40)}, "prefix"},
	} {
		errs := tc.cfg.Validate()
		if len(errs) == 0 || errs[0].Field != tc.want {
			t.Errorf("%+v: errors %v, want one on %s", tc.cfg, errs, tc.want)
		}
		if _, err := randomvalue.New(tc.cfg, env()); err == nil {
			t.Errorf("%+v: New accepted an invalid config", tc.cfg)
		}
	}
	a, err := randomvalue.NewNone(randomvalue.NoneConfig{}, env())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Mint(context.Background(), provider.MintRequest{Credential: "k", RunID: "r1", Strategy: randomvalue.Overlap}); err == nil {
		t.Error("the none authority minted for overlap, which it cannot hold")
	}
}
