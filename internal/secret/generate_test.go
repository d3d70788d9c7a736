package secret

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// stream returns a deterministic byte stream: the same seed gives the same
// bytes on every run, so a statistical failure is reproducible.
func stream(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

func TestPresetAlphabets(t *testing.T) {
	for name, tc := range map[string]struct {
		alphabet string
		size     int
	}{
		"AlphaNum": {AlphaNum, 62}, "URLSafe": {URLSafe, 64}, "Hex": {Hex, 16}, "Printable": {Printable, 90},
	} {
		if len(tc.alphabet) != tc.size {
			t.Errorf("%s has %d characters, want %d", name, len(tc.alphabet), tc.size)
		}
		if err := (Generator{Length: 32, Alphabet: tc.alphabet}).Validate(); err != nil {
			t.Errorf("%s does not validate: %v", name, err)
		}
	}
	if strings.ContainsAny(Printable, " '\"`\\") {
		t.Errorf("Printable contains space, a quote or a backslash")
	}
	for c := byte('!'); c <= '~'; c++ {
		if !strings.ContainsRune(" '\"`\\", rune(c)) && !strings.ContainsRune(Printable, rune(c)) {
			t.Errorf("Printable misses %q", c)
		}
	}
	if URLSafe != strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), "=") {
		t.Errorf("URLSafe is not the base64url alphabet")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    Generator
		want string // substring of the error, "" for valid
	}{
		{"shortest", Generator{8, Hex}, ""},
		{"longest", Generator{4096, AlphaNum}, ""},
		{"two characters", Generator{16, "01"}, ""},
		{"too short", Generator{7, Hex}, "length 7 is out of range"},
		{"too long", Generator{4097, Hex}, "length 4097 is out of range"},
		{"negative", Generator{-1, Hex}, "length -1"},
		{"empty alphabet", Generator{16, ""}, "0 distinct characters"},
		{"one character", Generator{16, "a"}, "1 distinct characters"},
		{"only duplicates", Generator{16, "aa"}, "repeats 'a'"},
		{"duplicate", Generator{16, "abcda"}, "repeats 'a' at offset 4"},
		{"space", Generator{16, "ab c"}, "byte 0x20 at offset 2"},
		{"newline", Generator{16, "ab\n"}, "byte 0x0a"},
		{"DEL", Generator{16, "ab\x7f"}, "byte 0x7f"},
		{"non-ASCII", Generator{16, "abé"}, "byte 0xc3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.g.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && err == nil:
				t.Errorf("Validate() = nil, want an error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("Validate() = %v, want it to contain %q", err, tc.want)
			}
			if tc.want != "" {
				if _, err := tc.g.Generate(stream(1)); err == nil {
					t.Errorf("Generate with an invalid generator succeeded")
				}
			}
		})
	}
	// All problems at once.
	err := Generator{Length: 1, Alphabet: "a a"}.Validate()
	for _, want := range []string{"length 1", "byte 0x20", "repeats 'a'", "1 distinct"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to report %q too", err, want)
		}
	}
}

func TestEntropyBits(t *testing.T) {
	for _, tc := range []struct {
		g    Generator
		want float64
	}{
		{Generator{32, Hex}, 128},
		{Generator{22, URLSafe}, 132},
		{Generator{22, AlphaNum}, 22 * math.Log2(62)},
		{Generator{20, Printable}, 20 * math.Log2(90)},
		{Generator{8, "01"}, 8},
		{Generator{7, Hex}, 0},
		{Generator{16, "aa"}, 0},
	} {
		if got := tc.g.EntropyBits(); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("EntropyBits(%d, %d chars) = %v, want %v", tc.g.Length, len(tc.g.Alphabet), got, tc.want)
		}
	}
}

func TestGenerateShape(t *testing.T) {
	for _, g := range []Generator{{8, Hex}, {32, AlphaNum}, {64, URLSafe}, {4096, Printable}, {16, "01"}} {
		v, err := g.Generate(stream(2))
		if err != nil {
			t.Fatal(err)
		}
		s := string(v.Reveal())
		if len(s) != g.Length {
			t.Errorf("len = %d, want %d", len(s), g.Length)
		}
		for _, c := range s {
			if !strings.ContainsRune(g.Alphabet, c) {
				t.Fatalf("generated %q is not in the alphabet", c)
			}
		}
	}
	g := Generator{32, AlphaNum}
	a, _ := g.Generate(stream(3))
	b, _ := g.Generate(stream(3))
	c, _ := g.Generate(stream(4))
	if !a.Equal(b) || a.Equal(c) {
		t.Errorf("Generate is not a function of its random source")
	}
}

// TestRejectionSampling feeds hand-picked bytes. With 10 digits, bytes 250
// to 255 would bias '0'..'5' under a plain modulo and must be skipped.
func TestRejectionSampling(t *testing.T) {
	g := Generator{Length: 10, Alphabet: "0123456789"}
	in := []byte{
		250, 3, 255, 249, 0, 251, 252, 253, 254, 11, // 3 9 0 1
		100, 255, 255, 255, 255, 255, 255, 255, 255, 255, // 0
		27, 38, 49, 55, 66, 250, // 7 8 9 5 6
	}
	v, err := g.Generate(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(v.Reveal()), "3901078956"; got != want {
		t.Errorf("Generate = %q, want %q", got, want)
	}
	r := bytes.NewReader(in)
	if _, err := g.Generate(r); err != nil || r.Len() != 1 {
		t.Errorf("Generate left %d bytes unread (err %v), want exactly the 1 after the last accepted byte", r.Len(), err)
	}
	// One byte per Read must give the same result.
	v, err = g.Generate(iotest.OneByteReader(bytes.NewReader(in)))
	if err != nil || string(v.Reveal()) != "3901078956" {
		t.Errorf("with one-byte reads: %q, %v", v.Reveal(), err)
	}
}

type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

func TestGenerateBrokenSources(t *testing.T) {
	g := Generator{Length: 16, Alphabet: "0123456789"}
	// A source stuck on a rejected byte must fail, not loop forever.
	if _, err := g.Generate(constReader(255)); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("stuck source: err = %v, want a broken-source error", err)
	}
	// A source that runs dry or fails.
	if _, err := g.Generate(bytes.NewReader([]byte{1, 2, 3})); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.Errorf("short source: err = %v, want EOF", err)
	}
	boom := errors.New("entropy pool on fire")
	if _, err := g.Generate(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("failing source: err = %v, want it to wrap %v", err, boom)
	}
}

// chiSquare returns the chi-square statistic of the character counts of
// values of g drawn from r, against a uniform distribution.
func chiSquare(t *testing.T, alphabet string, draw func() []byte, draws int) float64 {
	t.Helper()
	counts := map[byte]int{}
	total := 0
	for range draws {
		for _, c := range draw() {
			counts[c]++
			total++
		}
	}
	if len(counts) > len(alphabet) {
		t.Fatalf("saw %d distinct characters, alphabet has %d", len(counts), len(alphabet))
	}
	expected := float64(total) / float64(len(alphabet))
	var x2 float64
	for i := range len(alphabet) {
		d := float64(counts[alphabet[i]]) - expected
		x2 += d * d / expected
	}
	return x2
}

// chiSquareLimit is a loose upper bound for the statistic with df degrees of
// freedom: mean + 6 standard deviations, about p < 1e-6 for these sizes.
func chiSquareLimit(df int) float64 { return float64(df) + 6*math.Sqrt(2*float64(df)) }

func TestGenerateDistribution(t *testing.T) {
	const draws, length = 2000, 128
	for seed, alphabet := range []string{AlphaNum, Printable, "0123456789", "abc", Hex} {
		g := Generator{Length: length, Alphabet: alphabet}
		r := stream(byte(10 + seed))
		x2 := chiSquare(t, alphabet, func() []byte {
			v, err := g.Generate(r)
			if err != nil {
				t.Fatal(err)
			}
			return v.Reveal()
		}, draws)
		if limit := chiSquareLimit(len(alphabet) - 1); x2 > limit {
			t.Errorf("alphabet of %d: chi-square %.1f > %.1f: output is not uniform", len(alphabet), x2, limit)
		}
	}
}

// TestDistributionCheckDetectsModuloBias shows the check above has the
// power to catch the bug rejection sampling prevents: a plain modulo over
// the same stream is flagged.
func TestDistributionCheckDetectsModuloBias(t *testing.T) {
	const draws, length = 2000, 128
	r := stream(99)
	buf := make([]byte, length)
	x2 := chiSquare(t, AlphaNum, func() []byte {
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, length)
		for i, b := range buf {
			out[i] = AlphaNum[int(b)%len(AlphaNum)]
		}
		return out
	}, draws)
	if limit := chiSquareLimit(len(AlphaNum) - 1); x2 <= limit {
		t.Errorf("modulo-biased output has chi-square %.1f <= %.1f: the distribution test cannot see bias", x2, limit)
	}
}

func TestRandomBytes(t *testing.T) {
	src := bytes.Repeat([]byte{1, 2, 3, 4}, 16)
	v, err := RandomBytes(bytes.NewReader(src), 32)
	if err != nil || !bytes.Equal(v.Reveal(), src[:32]) {
		t.Errorf("RandomBytes = %x, %v; want %x", v.Reveal(), err, src[:32])
	}
	for _, n := range []int{0, -1, 1<<16 + 1} {
		if _, err := RandomBytes(stream(1), n); err == nil {
			t.Errorf("RandomBytes(%d) succeeded", n)
		}
	}
	if _, err := RandomBytes(bytes.NewReader(src[:10]), 32); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short source: err = %v, want ErrUnexpectedEOF", err)
	}
}
