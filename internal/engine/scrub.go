package engine

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// scrubber removes known values from text that came from outside (a provider's error, a
// command's output) before it reaches the journal, the database or a terminal. Providers
// promise never to include values; this is the second belt.
type scrubber struct{ forms []string }

func (s *scrubber) add(v secret.Value) {
	if v.IsZero() {
		return
	}
	b := v.Reveal()
	defer clear(b)
	if len(b) < 6 {
		return // too short to scrub without mangling ordinary text; generators refuse such values
	}
	s.forms = append(s.forms, string(b), base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b), hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)))
}

func (s *scrubber) text(t string) string {
	for _, f := range s.forms {
		t = strings.ReplaceAll(t, f, secret.Redacted)
	}
	return t
}

func (s *scrubber) err(err error) error {
	if err == nil || len(s.forms) == 0 {
		return err
	}
	msg := s.text(err.Error())
	if msg == err.Error() {
		return err
	}
	return &provider.Error{Kind: provider.KindOf(err), Op: "provider", Err: errors.New(msg)}
}
