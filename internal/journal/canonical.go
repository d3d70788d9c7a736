package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The canonical encoding of an entry body is written here by hand rather
// than by encoding/json, so that the bytes a hash covers depend on this file
// only, not on the Go release that wrote them: a journal sealed today must
// still verify after the standard library changes how it spaces, orders or
// escapes JSON.
//
// A body is one JSON object with the fields in this fixed order:
//
//	{"v":1,"seq":N,"run_id":S,"at":T,"actor":S,"kind":S,
//	 "phase":S,"step":S,"consumer":S,"summary":S,"verdict":S,"data":{...},
//	 "prev_hash":S}
//
// without spaces or newlines. phase, step, consumer, verdict and data are
// left out when empty; the others are always present. at is RFC 3339 in UTC
// with as many fraction digits as needed (time.RFC3339Nano). Strings escape
// only '"', '\\', control characters (as \b \f \n \r \t or \u00xx) and
// U+2028/U+2029; everything else is literal UTF-8. data's object keys are
// sorted by their UTF-8 bytes, recursively; numbers keep the text they were
// written with.

// formatVersion is the body's "v": bump it (and keep decoding the old one)
// if the layout above ever changes.
const formatVersion = 1

// encodeBody returns the canonical body of e (its Hash is not part of it).
// e must already be normalised (UTC time, valid UTF-8, canonical Data).
func encodeBody(e Entry) ([]byte, error) {
	if e.At.Year() < 0 || e.At.Year() > 9999 {
		return nil, fmt.Errorf("journal: time %d is outside the years RFC 3339 can write", e.At.Year())
	}
	var b bytes.Buffer
	b.WriteString(`{"v":`)
	b.WriteString(strconv.Itoa(formatVersion))
	b.WriteString(`,"seq":`)
	b.WriteString(strconv.FormatInt(e.Seq, 10))
	field := func(name, v string, always bool) error {
		if v == "" && !always {
			return nil
		}
		b.WriteString(`,"` + name + `":`)
		return writeString(&b, v)
	}
	for _, f := range []struct {
		name, v string
		always  bool
	}{
		{"run_id", e.RunID, true},
		{"at", e.At.UTC().Format(time.RFC3339Nano), true},
		{"actor", e.Actor, true},
		{"os_user", e.OSUser, false},
		{"kind", string(e.Kind), true},
		{"phase", e.Phase, false},
		{"step", e.Step, false},
		{"consumer", e.Consumer, false},
		{"summary", e.Summary, true},
		{"verdict", string(e.Verdict), false},
	} {
		if err := field(f.name, f.v, f.always); err != nil {
			return nil, err
		}
	}
	if len(e.Data) > 0 {
		b.WriteString(`,"data":`)
		b.Write(e.Data)
	}
	if err := field("prev_hash", e.PrevHash, true); err != nil {
		return nil, err
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// parseJSON decodes exactly one JSON value, keeping numbers as written.
func parseJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// writeCanonical writes a value produced by parseJSON.
func writeCanonical(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case json.Number:
		b.WriteString(string(v))
	case string:
		return writeString(b, v)
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, x); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys) // Go compares strings bytewise: UTF-8 byte order
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeString(b, k); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := writeCanonical(b, v[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("journal: cannot encode %T in entry data", v)
	}
	return nil
}

// writeString writes s as a JSON string with the canonical escapes. s must
// be valid UTF-8: the encoding has exactly one form for each text, and
// invalid bytes have none.
func writeString(b *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return errors.New("journal: string is not valid UTF-8")
	}
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hexDigits[r>>4])
			b.WriteByte(hexDigits[r&0xf])
		case r == '\u2028':
			b.WriteString(`\u2028`)
		case r == '\u2029':
			b.WriteString(`\u2029`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return nil
}

// jsonType names the JSON type of a parsed value, for error messages that
// must not quote the value itself.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}
