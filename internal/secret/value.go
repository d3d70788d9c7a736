package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// Redacted is what every printed, logged or encoded form of a Value shows.
const Redacted = "[redacted]"

var (
	// ErrEncode is returned when a Value is asked to encode itself in a form
	// that would carry the bytes (gob, binary, a database/sql argument).
	// Store a fingerprint instead.
	ErrEncode = errors.New("secret: a secret value cannot be encoded or stored; store its fingerprint instead")

	// ErrDecode is returned when a Value is asked to decode itself from JSON,
	// YAML, text or gob. Secret values are read from their store by code
	// that means to, never decoded from a file or a request by accident.
	ErrDecode = errors.New("secret: a secret value cannot be decoded from text, JSON, YAML or gob; read it from its store")
)

// Value holds one secret value.
//
// The bytes sit two pointers deep, masked. fmt (and anything built on
// reflection) cannot call methods on an unexported field, so it walks into
// it; at depth > 0 it prints pointers as addresses. But for a verb that does
// not fit a pointer (%s, %q, %c, ...) fmt restarts at depth 0 on that pointer
// ("%!s(*secret.box=&{...})") and follows it once — hence the second
// pointer, which it then prints as an address. So a Value inside someone's
// struct prints either [Redacted] (exported field: our methods run) or an
// address (unexported field), never the bytes. Dumpers that follow every
// pointer (spew, the diffs of test libraries) find only bytes masked with a
// per-process key, so they cannot show the value either.
//
// The zero Value is empty and ready to use. Copies of a Value share the same
// bytes, so [Value.Wipe] on one copy wipes all of them. A Value is safe for
// concurrent use by several goroutines, except that Wipe must not run
// concurrently with any other method.
type Value struct {
	p *box
}

// box and sealed have no methods, so there is nothing on them for fmt to
// call even if a reflection walk reaches them.
type box struct {
	s *sealed
}

// sealed holds the value XORed with an AES-CTR keystream under maskBlock
// and nonce. This is not encryption against someone who can read the process's
// memory (the key is in it too); it keeps the plain bytes out of reflection
// dumps, heap scans for known strings and accidental prints.
type sealed struct {
	nonce [aes.BlockSize]byte
	b     []byte
}

// maskBlock is set once at start-up from crypto/rand and never changes. It
// does not affect any result, only how bytes are kept in memory, so it is
// not injected like the randomness that makes values.
var maskBlock = func() cipher.Block {
	var key [32]byte
	_, _ = rand.Read(key[:]) // never fails since Go 1.24; it crashes instead
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // unreachable: the key size is valid
	}
	return b
}()

// New returns a Value holding a copy of b. The caller may (and should) clear
// b afterwards.
func New(b []byte) Value {
	if len(b) == 0 {
		return Value{}
	}
	return own(append([]byte(nil), b...))
}

// FromString returns a Value holding the bytes of s. Go strings cannot be
// wiped, so prefer New when the value arrives as []byte.
func FromString(s string) Value {
	if s == "" {
		return Value{}
	}
	return own([]byte(s))
}

// own seals b in place and wraps it; b must not be used by the caller
// afterwards.
func own(b []byte) Value {
	if len(b) == 0 {
		return Value{}
	}
	s := &sealed{b: b}
	_, _ = rand.Read(s.nonce[:])
	s.xor(b, b)
	return Value{p: &box{s: s}}
}

func (s *sealed) xor(dst, src []byte) {
	cipher.NewCTR(maskBlock, s.nonce[:]).XORKeyStream(dst, src)
}

func (v Value) stored() *sealed {
	if v.p == nil || v.p.s == nil {
		return nil
	}
	return v.p.s
}

// open returns a fresh plain copy of the bytes, or nil if v is empty. The
// caller must clear it when done, and it must never escape the package
// except through Reveal.
func (v Value) open() []byte {
	s := v.stored()
	if s == nil || len(s.b) == 0 {
		return nil
	}
	out := make([]byte, len(s.b))
	s.xor(out, s.b)
	return out
}

// Clone returns a Value holding the same bytes, which can be wiped independently of v.
func (v Value) Clone() Value { return own(v.open()) }

// Reveal returns a copy of the secret bytes. It is the single, greppable exit
// door: every call site is a place where a value leaves rotor's protection
// (to a store, an authority, a consumer) and deserves review. Clear the
// returned slice when done with it. Reveal on an empty Value returns nil.
func (v Value) Reveal() []byte { return v.open() }

// IsZero reports whether v holds no bytes (the zero Value, an empty value, or
// a wiped one). encoding/json's omitzero uses it.
func (v Value) IsZero() bool { return v.Len() == 0 }

// Len returns the number of secret bytes. The length is not secret in rotor:
// policies and generators state it openly.
func (v Value) Len() int {
	if s := v.stored(); s != nil {
		return len(s.b)
	}
	return 0
}

// Equal reports whether v and o hold the same bytes, in time that depends
// only on the lengths, not on the contents.
func (v Value) Equal(o Value) bool {
	a, b := v.open(), o.open()
	defer clear(a)
	defer clear(b)
	return subtle.ConstantTimeCompare(a, b) == 1
}

// Wipe overwrites the bytes with zeros and leaves v (and every copy of it)
// empty. It is best effort: the Go runtime may have copied the bytes before
// (when a slice grew, or through a string passed to FromString), and it
// cannot reach copies handed out by Reveal.
func (v Value) Wipe() {
	if s := v.stored(); s != nil {
		clear(s.b)
		s.b = nil
	}
}

// String returns [Redacted].
func (v Value) String() string { return Redacted }

// GoString returns [Redacted], so %#v shows no bytes either.
func (v Value) GoString() string { return Redacted }

// Format prints [Redacted] for every verb — %v %+v %#v %s %q %x %X %d and
// any other — so that no verb can format the bytes. %q quotes it. A width is
// honoured (left or right aligned) so tables still line up; precision is
// ignored so that the literal is never cut into something that looks like
// data.
func (v Value) Format(s fmt.State, verb rune) {
	out := Redacted
	if verb == 'q' {
		out = strconv.Quote(Redacted)
	}
	if w, ok := s.Width(); ok && w > len(out) {
		pad := strings.Repeat(" ", w-len(out))
		if s.Flag('-') {
			out += pad
		} else {
			out = pad + out
		}
	}
	_, _ = io.WriteString(s, out)
}

// LogValue makes slog print [Redacted], whatever the handler.
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON returns the JSON string "[redacted]".
func (v Value) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(Redacted)), nil }

// MarshalText returns [Redacted]. encoding/json uses it for map keys,
// encoding/xml for elements and attributes, slog's text handler for values.
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalYAML returns [Redacted]; it satisfies the go.yaml.in/yaml/v3
// Marshaler interface without importing it.
func (v Value) MarshalYAML() (any, error) { return Redacted, nil }

// UnmarshalJSON always fails with [ErrDecode]; see there for why. The error
// never quotes the input.
func (v *Value) UnmarshalJSON([]byte) error { return ErrDecode }

// UnmarshalText always fails with [ErrDecode]. YAML decoders
// (go.yaml.in/yaml/v3) use it for scalars, so a Value field in a YAML
// document fails to decode as well.
func (v *Value) UnmarshalText([]byte) error { return ErrDecode }

// GobEncode always fails with [ErrEncode]: gob would otherwise carry the
// bytes to a file or across a wire.
func (v Value) GobEncode() ([]byte, error) { return nil, ErrEncode }

// GobDecode always fails with [ErrDecode].
func (v *Value) GobDecode([]byte) error { return ErrDecode }

// MarshalBinary always fails with [ErrEncode], for the encoders (caches,
// queues) that use encoding.BinaryMarshaler when they find it.
func (v Value) MarshalBinary() ([]byte, error) { return nil, ErrEncode }

// Value implements database/sql/driver.Valuer and always fails with
// [ErrEncode], so a Value passed as a query argument is refused before it
// reaches the database: rotor stores fingerprints, never values.
func (v Value) Value() (driver.Value, error) { return nil, ErrEncode }
