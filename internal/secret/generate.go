package secret

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// Preset alphabets for a Generator.
const (
	// AlphaNum is letters and digits: 62 characters, about 5.95 bits each.
	AlphaNum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	// URLSafe is the base64url alphabet (RFC 4648 §5): 64 characters, 6 bits each.
	URLSafe = AlphaNum + "-_"
	// Hex is lower-case hexadecimal: 16 characters, 4 bits each.
	Hex = "0123456789abcdef"
	// Printable is printable ASCII without space, quotes (' " `) and
	// backslash: 90 characters, about 6.49 bits each. Those four are left
	// out because they break shell, YAML, JSON and connection-string quoting
	// in consumers' configuration more often than they add strength.
	Printable = "!#$%&()*+,-./" + "0123456789" + ":;<=>?@" +
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "[]^_" + "abcdefghijklmnopqrstuvwxyz" + "{|}~"
)

// Bounds on Generator.Length.
const (
	MinLength = 8
	MaxLength = 4096
)

// maxRandomBytes bounds how many bytes a single value may read. It is reached
// only with a broken source: a fair source gets a byte accepted with
// probability above 1/2 (see Generate), so needing more than 16 bytes per
// character plus 1 KiB has a probability far below 2^-1000.
func maxRandomBytes(length int) int { return 16*length + 1024 }

// Generator makes random secret values of Length characters drawn uniformly
// from Alphabet.
type Generator struct {
	Length   int
	Alphabet string
}

// Validate reports why g cannot generate, or nil. All problems are reported
// together.
func (g Generator) Validate() error {
	var errs []error
	if g.Length < MinLength || g.Length > MaxLength {
		errs = append(errs, fmt.Errorf("secret: generator length %d is out of range: use %d to %d characters", g.Length, MinLength, MaxLength))
	}
	var seen [128]bool
	unique := 0
	for i := 0; i < len(g.Alphabet); i++ {
		c := g.Alphabet[i]
		switch {
		case c <= ' ' || c > '~':
			// Space, controls and non-ASCII bytes: invisible, ambiguous or
			// encoding-dependent in the consumers' configuration files.
			errs = append(errs, fmt.Errorf("secret: generator alphabet has byte 0x%02x at offset %d: use printable ASCII without space", c, i))
		case seen[c]:
			errs = append(errs, fmt.Errorf("secret: generator alphabet repeats %q at offset %d: each character must appear once, or the output is biased", c, i))
		default:
			seen[c] = true
			unique++
		}
	}
	if unique < 2 {
		errs = append(errs, fmt.Errorf("secret: generator alphabet has %d distinct characters: it needs at least 2", unique))
	}
	return errors.Join(errs...)
}

// EntropyBits returns the entropy of one generated value in bits:
// Length × log2(len(Alphabet)). It returns 0 for a generator that does not
// validate, so that nobody relies on a figure for something that cannot run.
func (g Generator) EntropyBits() float64 {
	if g.Validate() != nil {
		return 0
	}
	return float64(g.Length) * math.Log2(float64(len(g.Alphabet)))
}

// Generate returns a new value read from r, which should be crypto/rand.Reader
// outside tests.
//
// Each character comes from one random byte. Bytes at or above the largest
// multiple of len(Alphabet) that fits in 256 are rejected and another byte is
// read, so every character is exactly equally likely (a plain modulo would
// favour the first 256 % len(Alphabet) characters). A valid alphabet has at most
// 94 characters, so at least 2/3 of the bytes are accepted.
func (g Generator) Generate(r io.Reader) (Value, error) {
	if err := g.Validate(); err != nil {
		return Value{}, err
	}
	n := len(g.Alphabet)
	limit := 256 - 256%n // bytes in [limit, 256) are rejected

	out := make([]byte, 0, g.Length)
	buf := make([]byte, g.Length)
	defer clear(buf)
	read := 0
	for len(out) < g.Length {
		if read >= maxRandomBytes(g.Length) {
			clear(out)
			return Value{}, fmt.Errorf("secret: generate: the random source gave %d bytes that were nearly all rejected: it is broken, nothing was generated", read)
		}
		// Ask for exactly as many bytes as characters are missing: even if
		// all are accepted none is wasted, so Generate reads the shortest
		// prefix of r that yields the value, and a test's reader is
		// consumed predictably.
		k, err := io.ReadFull(r, buf[:g.Length-len(out)])
		if err != nil {
			clear(out)
			return Value{}, fmt.Errorf("secret: generate: reading randomness: %w", err)
		}
		read += k
		for _, b := range buf[:k] {
			if int(b) >= limit {
				continue
			}
			out = append(out, g.Alphabet[int(b)%n])
		}
	}
	return own(out), nil
}

// RandomBytes returns a value of n bytes read from r (crypto/rand.Reader
// outside tests), for keys rather than passwords. n must be 1 to 65536.
func RandomBytes(r io.Reader, n int) (Value, error) {
	if n < 1 || n > 1<<16 {
		return Value{}, fmt.Errorf("secret: random bytes: length %d is out of range: use 1 to %d", n, 1<<16)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		clear(b)
		return Value{}, fmt.Errorf("secret: random bytes: reading randomness: %w", err)
	}
	return own(b), nil
}
