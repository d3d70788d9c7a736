package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestNewCopiesAndRevealCopies(t *testing.T) {
	in := []byte("s3cret-value")
	v := New(in)
	in[0] = 'X'
	if got := string(v.Reveal()); got != "s3cret-value" {
		t.Fatalf("Reveal after changing New's input = %q: New did not copy", got)
	}
	out := v.Reveal()
	out[0] = 'Y'
	if got := string(v.Reveal()); got != "s3cret-value" {
		t.Fatalf("Reveal after changing a revealed slice = %q: Reveal did not copy", got)
	}
	if v.Len() != len("s3cret-value") || v.IsZero() {
		t.Errorf("Len = %d, IsZero = %v", v.Len(), v.IsZero())
	}
	if got := string(FromString("abc").Reveal()); got != "abc" {
		t.Errorf("FromString round trip = %q", got)
	}
}

func TestZeroAndEmpty(t *testing.T) {
	for name, v := range map[string]Value{"zero": {}, "New(nil)": New(nil), "New(empty)": New([]byte{}), `FromString("")`: FromString("")} {
		if !v.IsZero() || v.Len() != 0 || v.Reveal() != nil {
			t.Errorf("%s: IsZero=%v Len=%d Reveal=%v, want empty", name, v.IsZero(), v.Len(), v.Reveal())
		}
		if !v.Equal(Value{}) {
			t.Errorf("%s is not Equal to the zero Value", name)
		}
		v.Wipe() // must not panic
		if s := fmt.Sprint(v); s != Redacted {
			t.Errorf("%s prints %q, want %s", name, s, Redacted)
		}
	}
}

func TestEqual(t *testing.T) {
	a, b := FromString("correct horse"), New([]byte("correct horse"))
	if !a.Equal(b) || !b.Equal(a) || !a.Equal(a) {
		t.Error("equal values are not Equal")
	}
	for _, o := range []Value{FromString("correct horsf"), FromString("correct hors"), FromString("correct horse "), {}} {
		if a.Equal(o) || o.Equal(a) {
			t.Errorf("different values of length %d and %d are Equal", a.Len(), o.Len())
		}
	}
}

func TestWipeClearsEveryCopy(t *testing.T) {
	v := FromString("to-be-wiped")
	c := v
	s := v.p.s
	buf := s.b
	v.Wipe()
	if !v.IsZero() || !c.IsZero() || c.Reveal() != nil {
		t.Errorf("after Wipe: IsZero=%v copy IsZero=%v copy Reveal=%q", v.IsZero(), c.IsZero(), c.Reveal())
	}
	if !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Errorf("Wipe left the stored bytes non-zero: %v", buf)
	}
}

// TestCloneIsIndependent: a clone holds the same bytes under its own mask, and wiping one
// leaves the other whole (the engine keeps a clone while steps wipe what they are given).
func TestCloneIsIndependent(t *testing.T) {
	v := FromString("kept-for-the-drive")
	c := v.Clone()
	if !c.Equal(v) || string(c.Reveal()) != "kept-for-the-drive" {
		t.Fatalf("clone reveals %q", c.Reveal())
	}
	if bytes.Equal(c.p.s.b, v.p.s.b) {
		t.Error("clone stores the same masked bytes: it shares the nonce")
	}
	c.Wipe()
	if string(v.Reveal()) != "kept-for-the-drive" {
		t.Errorf("wiping the clone changed the original: %q", v.Reveal())
	}
	if z := (Value{}).Clone(); !z.IsZero() {
		t.Error("the clone of an empty value is not empty")
	}
}

// TestBytesAreMaskedAtRest looks at what is actually stored: it must not be
// the plain value, and two Values of the same bytes must not store the same
// bytes (each has its own nonce).
func TestBytesAreMaskedAtRest(t *testing.T) {
	v, w := FromString(canary), FromString(canary)
	if bytes.Contains(v.p.s.b, []byte(canary)) || len(leaks(canary, string(v.p.s.b))) > 0 {
		t.Fatalf("stored bytes contain the plain value")
	}
	if bytes.Equal(v.p.s.b, w.p.s.b) {
		t.Errorf("two Values of the same bytes store identical masked bytes")
	}
	if !v.Equal(w) {
		t.Errorf("masking broke Equal")
	}
}

// dump walks everything reachable from x by reflection, following every
// pointer and reading unexported fields, and writes every byte slice and
// string it finds — what a deep dumper (spew with methods disabled, a test
// library's diff) would show.
func dump(x any) string {
	var out bytes.Buffer
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			walk(v.Elem())
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				for i := range v.Len() {
					out.WriteByte(byte(v.Index(i).Uint()))
				}
				out.WriteByte(' ')
				return
			}
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			it := v.MapRange()
			for it.Next() {
				walk(it.Key())
				walk(it.Value())
			}
		case reflect.String:
			out.WriteString(v.String())
			out.WriteByte(' ')
		}
	}
	walk(reflect.ValueOf(x))
	return out.String()
}

func TestDeepDumpFindsNoPlainBytes(t *testing.T) {
	// The dumper must see plain data where there is some, or this test
	// proves nothing.
	if d := dump(&struct{ b []byte }{[]byte(canary)}); !strings.Contains(d, canary) {
		t.Fatalf("dumper is blind: %q", d)
	}
	for name, s := range subjects() {
		assertNoLeak(t, "deep dump of "+name, dump(s))
	}
	key := bytes.Repeat([]byte{0xA7}, KeySize)
	f, err := NewFingerprinter(key)
	if err != nil {
		t.Fatal(err)
	}
	if d := dump(f); bytes.Contains([]byte(d), key[:8]) {
		t.Errorf("deep dump of a Fingerprinter shows its key")
	}
}

func TestFormatExact(t *testing.T) {
	v := FromString(canary)
	for verb, want := range map[string]string{
		"%v":    Redacted,
		"%+v":   Redacted,
		"%#v":   Redacted,
		"%s":    Redacted,
		"%x":    Redacted,
		"%X":    Redacted,
		"%d":    Redacted,
		"%q":    `"[redacted]"`,
		"%.3s":  Redacted,
		"%14s":  "    [redacted]",
		"%-14s": "[redacted]    ",
		"%5s":   Redacted,
		"%-14q": `"[redacted]"  `,
	} {
		if got := fmt.Sprintf(verb, v); got != want {
			t.Errorf("Sprintf(%q) = %q, want %q", verb, got, want)
		}
	}
	if v.String() != Redacted || v.GoString() != Redacted {
		t.Errorf("String/GoString = %q/%q", v.String(), v.GoString())
	}
	if lv := v.LogValue(); lv.String() != Redacted {
		t.Errorf("LogValue = %v", lv)
	}
	if b, _ := v.MarshalText(); string(b) != Redacted {
		t.Errorf("MarshalText = %q", b)
	}
	if y, _ := v.MarshalYAML(); y != Redacted {
		t.Errorf("MarshalYAML = %v", y)
	}
	if b, _ := v.MarshalJSON(); string(b) != `"[redacted]"` {
		t.Errorf("MarshalJSON = %s", b)
	}
}

func TestDecodeMethodsRefuse(t *testing.T) {
	var v Value
	for name, err := range map[string]error{
		"UnmarshalJSON": v.UnmarshalJSON([]byte(`"x"`)),
		"UnmarshalText": v.UnmarshalText([]byte("x")),
		"GobDecode":     v.GobDecode([]byte("x")),
	} {
		if !errors.Is(err, ErrDecode) {
			t.Errorf("%s error = %v, want ErrDecode", name, err)
		}
	}
	if _, err := v.GobEncode(); !errors.Is(err, ErrEncode) {
		t.Errorf("GobEncode error = %v, want ErrEncode", err)
	}
	if !v.IsZero() {
		t.Errorf("a refused decode filled the Value")
	}
}

func TestJSONOmitZero(t *testing.T) {
	type doc struct {
		Password Value `json:"password,omitzero"`
	}
	if got := string(must(json.Marshal(doc{}))); got != `{}` {
		t.Errorf("omitzero of an empty Value = %s, want {}", got)
	}
	if got := string(must(json.Marshal(doc{FromString("x")}))); got != `{"password":"[redacted]"}` {
		t.Errorf("json = %s", got)
	}
}

func TestConcurrentReaders(t *testing.T) {
	v := FromString("shared-between-goroutines")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if string(v.Reveal()) != "shared-between-goroutines" || !v.Equal(v) || fmt.Sprint(v) != Redacted {
					t.Error("concurrent read saw a wrong value")
					return
				}
			}
		})
	}
	wg.Wait()
}

// addr matches a printed pointer with any padding fmt put around it (with
// the # flag fmt drops the 0x). Only the bad-verb reports of %w and %p rely
// on it: every other verb must print the exact literal.
var addr = regexp.MustCompile(` *(0x)?[0-9a-f]{6,} *`)

// FuzzFormat checks that for any value and any format directive, the output
// is the literal, possibly quoted and padded, and nothing else.
func FuzzFormat(f *testing.F) {
	f.Add([]byte(canary), "#+", uint8(0), 'v')
	f.Add([]byte("x"), "-", uint8(20), 'q')
	f.Add([]byte{0, 1, 2, 0xff}, " 0", uint8(8), 'x')
	f.Add([]byte("[redacted]"), "", uint8(3), 's')
	f.Fuzz(func(t *testing.T, value []byte, flags string, width uint8, verb rune) {
		if !(verb >= 'a' && verb <= 'z' || verb >= 'A' && verb <= 'Z') {
			verb = 'v'
		}
		var fl strings.Builder
		for _, c := range flags {
			if strings.ContainsRune("+-# 0", c) {
				fl.WriteRune(c)
			}
		}
		format := "%" + fl.String()
		if width > 0 {
			format += strconv.Itoa(int(width % 64))
		}
		format += string(verb)
		v := New(value)
		// other has the same shape as v (empty or not) and other content.
		other := New(append([]byte("other:"), value...))
		if len(value) == 0 {
			other = Value{}
		}
		for _, args := range [][2]any{{v, other}, {&v, &other}} {
			out := fmt.Sprintf(format, args[0])
			// Whatever fmt does, the output must not depend on the
			// content: formatting another value gives the same text, up
			// to addresses.
			if a, b := addr.ReplaceAllString(out, "ADDR"), addr.ReplaceAllString(fmt.Sprintf(format, args[1]), "ADDR"); a != b {
				t.Fatalf("Sprintf(%q, %T) depends on the content: %q vs %q", format, args[0], a, b)
			}
			switch verb {
			case 'T', 'p', 'w':
				// The type name, the pointer itself, or (Sprintf does not
				// wrap) a bad-verb report that prints the struct with
				// methods off: an address, checked above.
				continue
			}
			if trimmed := strings.TrimSpace(out); trimmed != Redacted && trimmed != strconv.Quote(Redacted) {
				t.Fatalf("Sprintf(%q, %T) = %q", format, args[0], out)
			}
		}
		if got := v.Reveal(); !bytes.Equal(got, value) && len(value) > 0 {
			t.Fatalf("Reveal = %x, want %x", got, value)
		}
	})
}
