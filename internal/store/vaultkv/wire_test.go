package vaultkv

import (
	"encoding/json"
	"testing"
)

// TestJSONStrings: values go into and come out of request and response bodies through
// rotor's own JSON string encoder and decoder (so they stay bytes that can be wiped); both
// agree with encoding/json, escapes and surrogate pairs included.
func TestJSONStrings(t *testing.T) {
	for _, v := range []string{"", "plain", `q"uo\te`, "new\nline\ttab\r", "\x00\x01\x1f<>&", "é ü 漢字", "emoji 😀 pair", "/slash"} {
		enc := appendJSONString(nil, []byte(v))
		var std string
		if err := json.Unmarshal(enc, &std); err != nil || std != v {
			t.Errorf("appendJSONString(%q) = %s: encoding/json reads %q, %v", v, enc, std, err)
		}
		stdEnc, _ := json.Marshal(v)
		for _, in := range [][]byte{enc, stdEnc, []byte(asciiJSON(v))} {
			got, err := unquoteJSON(in)
			if err != nil || string(got) != v {
				t.Errorf("unquoteJSON(%s) = %q, %v; want %q", in, got, err, v)
			}
		}
	}
	for _, bad := range []string{`"unterminated`, `"\x"`, `"\u12"`, `nope`} {
		if _, err := unquoteJSON([]byte(bad)); err == nil {
			t.Errorf("unquoteJSON(%s) succeeded", bad)
		}
	}
}

// asciiJSON escapes every non-ASCII rune as \uXXXX (surrogate pairs beyond the BMP), as some
// servers write JSON.
func asciiJSON(s string) string {
	out := []byte{'"'}
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			out = append(out, '\\', byte(r))
		case r < 0x20 || r > 0x7e:
			if r > 0xffff {
				r -= 0x10000
				out = append(out, []byte(jsonU(0xd800+(r>>10))+jsonU(0xdc00+(r&0x3ff)))...)
				continue
			}
			out = append(out, []byte(jsonU(r))...)
		default:
			out = append(out, byte(r))
		}
	}
	return string(append(out, '"'))
}

func jsonU(r rune) string {
	const hex = "0123456789abcdef"
	return string([]byte{'\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf]})
}
