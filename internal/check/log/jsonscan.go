package log

import (
	"encoding/json"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonFields extracts a few fields from one JSON object per line without decoding the rest:
// a log line is read millions of times, and only five of its keys matter.
//
// A field is named by its key, or by a dotted path into nested objects (request.path); a
// top-level key that itself holds dots ("http.status") matches too. When a key repeats, the
// last one wins, as with encoding/json.
type jsonFields struct {
	full  [numFields]string
	parts [numFields][]string
	want  uint8 // the fields that are mapped
	// scratch holds unescaped strings for the current line.
	scratch []byte
}

// jsonValue is one extracted value: a string's content (unescaped), or a literal.
type jsonValue struct {
	b     []byte
	isStr bool
}

func newJSONFields(names map[string]string) *jsonFields {
	j := &jsonFields{}
	for f, field := range fieldNames {
		key := field
		if k, ok := names[field]; ok && k != "" {
			key = k
		}
		j.full[f] = key
		j.parts[f] = strings.Split(key, ".")
		j.want |= 1 << f
	}
	return j
}

// extract fills vals for the fields the line holds (null counts as absent) and reports
// whether the line is one valid JSON object.
func (j *jsonFields) extract(line []byte, vals *[numFields]jsonValue) bool {
	*vals = [numFields]jsonValue{}
	j.scratch = j.scratch[:0]
	if !json.Valid(line) {
		return false
	}
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return false
	}
	j.object(line, i, 0, j.want, vals)
	return true
}

// object walks the (valid) object starting at b[i] == '{' at the given depth, looking for the
// fields in mask, and returns the index just past its closing brace.
func (j *jsonFields) object(b []byte, i, depth int, mask uint8, vals *[numFields]jsonValue) int {
	i++ // '{'
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return i
		}
		switch b[i] {
		case '}':
			return i + 1
		case ',':
			i++
			continue
		}
		// A key.
		ks, ke, esc := stringSpan(b, i)
		key := b[ks:ke]
		if esc {
			key = j.unescape(key)
		}
		i = skipSpace(b, ke+1)
		if i < len(b) && b[i] == ':' {
			i = skipSpace(b, i+1)
		}
		if i >= len(b) {
			return i
		}
		var leaf, inner uint8
		for f := range numFields {
			if mask&(1<<f) == 0 {
				continue
			}
			parts := j.parts[f]
			switch {
			case depth == 0 && len(parts) > 1 && string(key) == j.full[f]:
				leaf |= 1 << f
			case depth < len(parts) && string(key) == parts[depth]:
				if depth == len(parts)-1 {
					leaf |= 1 << f
				} else {
					inner |= 1 << f
				}
			}
		}
		switch {
		case leaf != 0:
			v, next := j.scalar(b, i)
			for f := range numFields {
				if leaf&(1<<f) != 0 {
					vals[f] = v
				}
			}
			i = next
		case inner != 0 && b[i] == '{':
			i = j.object(b, i, depth+1, inner, vals)
		default:
			i = skipValue(b, i)
		}
	}
}

// scalar reads the value at b[i]: a string (unescaped), a number or a literal. An object or
// array is skipped and yields no value, and so does null.
func (j *jsonFields) scalar(b []byte, i int) (jsonValue, int) {
	switch b[i] {
	case '"':
		s, e, esc := stringSpan(b, i)
		v := b[s:e]
		if esc {
			v = j.unescape(v)
		}
		return jsonValue{b: v, isStr: true}, e + 1
	case '{', '[':
		return jsonValue{}, skipValue(b, i)
	}
	e := skipValue(b, i)
	if string(b[i:e]) == "null" {
		return jsonValue{}, e
	}
	return jsonValue{b: b[i:e]}, e
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringSpan returns the content bounds of the string starting at b[i] == '"' (the closing
// quote is at end) and whether it holds escapes.
func stringSpan(b []byte, i int) (start, end int, escaped bool) {
	start = i + 1
	for k := start; k < len(b); k++ {
		switch b[k] {
		case '\\':
			escaped = true
			k++
		case '"':
			return start, k, escaped
		}
	}
	return start, len(b), escaped
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		_, e, _ := stringSpan(b, i)
		return e + 1
	case '{', '[':
		depth := 0
		for k := i; k < len(b); k++ {
			switch b[k] {
			case '"':
				_, e, _ := stringSpan(b, k)
				k = e
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return k + 1
				}
			}
		}
		return len(b)
	}
	k := i
	for ; k < len(b); k++ {
		switch b[k] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return k
		}
	}
	return k
}

// unescape decodes the escapes of a (valid) JSON string's content into j.scratch.
func (j *jsonFields) unescape(s []byte) []byte {
	start := len(j.scratch)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			j.scratch = append(j.scratch, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			j.scratch = append(j.scratch, '\b')
		case 'f':
			j.scratch = append(j.scratch, '\f')
		case 'n':
			j.scratch = append(j.scratch, '\n')
		case 'r':
			j.scratch = append(j.scratch, '\r')
		case 't':
			j.scratch = append(j.scratch, '\t')
		case 'u':
			r, n := hex4(s[i+1:])
			i += n
			if utf16.IsSurrogate(r) {
				if i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2, n2 := hex4(s[i+3:])
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 2 + n2
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			j.scratch = utf8.AppendRune(j.scratch, r)
		default: // " \ /
			j.scratch = append(j.scratch, s[i])
		}
	}
	return j.scratch[start:len(j.scratch):len(j.scratch)]
}

func hex4(s []byte) (rune, int) {
	if len(s) < 4 {
		return utf8.RuneError, len(s)
	}
	var r rune
	for _, c := range s[:4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return utf8.RuneError, 4
		}
	}
	return r, 4
}
