package nats

import (
	"fmt"
	"slices"
	"strings"
)

// The auth file is NATS configuration (the format nats-server's `include` reads): rotor does
// not rewrite it, it finds the users' entries — maps with a `user` key, wherever they are — and
// replaces the bytes of one `password` value, so that everything else, other users' entries
// included, stays byte for byte. Quoted strings ("…" with escapes, '…'), comments (# and //)
// and nested maps and arrays are skipped as the server's lexer reads them.

// span is a byte range [start, end) of the file.
type span struct{ start, end int }

// field is one key and the raw bytes of its value in a map.
type field struct {
	key string
	val span
}

// userEntry is a map with a `user` key.
type userEntry struct {
	name   string
	fields []field
}

func (e userEntry) field(key string) (field, bool) {
	for _, f := range e.fields {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

// userEntries finds the user maps of data.
func userEntries(data []byte) ([]userEntry, error) {
	var out []userEntry
	for i := 0; i < len(data); {
		switch c := data[i]; {
		case c == '"' || c == '\'':
			end, err := skipQuoted(data, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '#' || (c == '/' && i+1 < len(data) && data[i+1] == '/'):
			i = skipComment(data, i)
		case c == '{':
			fields, end, err := parseMap(data, i)
			if err != nil {
				return nil, err
			}
			var e userEntry
			for _, f := range fields {
				if f.key == "user" || f.key == "username" {
					e.name = unquote(data[f.val.start:f.val.end])
				}
			}
			if e.name == "" {
				i++ // not a user: look inside it
				continue
			}
			e.fields = fields
			out = append(out, e)
			i = end
		default:
			i++
		}
	}
	return out, nil
}

// parseMap reads the map opening at data[i] == '{' and returns its fields and the index after
// its closing brace.
func parseMap(data []byte, i int) ([]field, int, error) {
	var out []field
	i++
	for {
		i = skipSpace(data, i, true)
		if i >= len(data) {
			return nil, 0, fmt.Errorf("a map opened at byte %d is not closed", i)
		}
		if data[i] == '}' {
			return out, i + 1, nil
		}
		// the key: a bare word or a quoted string
		var key string
		if data[i] == '"' || data[i] == '\'' {
			end, err := skipQuoted(data, i)
			if err != nil {
				return nil, 0, err
			}
			key, i = unquote(data[i:end]), end
		} else {
			start := i
			for i < len(data) && !strings.ContainsRune(" \t\r\n:=}{,;#", rune(data[i])) {
				i++
			}
			key = string(data[start:i])
			if key == "" {
				return nil, 0, fmt.Errorf("unexpected %q at byte %d", data[i], i)
			}
		}
		i = skipSpace(data, i, false)
		if i < len(data) && (data[i] == ':' || data[i] == '=') {
			i = skipSpace(data, i+1, false)
		}
		end, err := skipValue(data, i)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, field{key: key, val: span{i, end}})
		i = end
	}
}

// skipValue returns the index after the value starting at data[i].
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, fmt.Errorf("a value is missing at the end of the file")
	}
	switch data[i] {
	case '"', '\'':
		return skipQuoted(data, i)
	case '{':
		_, end, err := parseMap(data, i)
		return end, err
	case '[':
		i++
		for {
			i = skipSpace(data, i, true)
			if i >= len(data) {
				return 0, fmt.Errorf("an array is not closed")
			}
			if data[i] == ']' {
				return i + 1, nil
			}
			end, err := skipValue(data, i)
			if err != nil {
				return 0, err
			}
			i = end
		}
	}
	start := i
	for i < len(data) && !strings.ContainsRune("\r\n,;}]#", rune(data[i])) {
		i++
	}
	for i > start && (data[i-1] == ' ' || data[i-1] == '\t') {
		i--
	}
	if i == start {
		return 0, fmt.Errorf("a value is missing at byte %d", start)
	}
	return i, nil
}

// skipSpace skips blanks; with seps, also newlines, commas, semicolons and comments.
func skipSpace(data []byte, i int, seps bool) int {
	for i < len(data) {
		switch c := data[i]; {
		case c == ' ' || c == '\t':
			i++
		case seps && (c == '\r' || c == '\n' || c == ',' || c == ';'):
			i++
		case seps && (c == '#' || (c == '/' && i+1 < len(data) && data[i+1] == '/')):
			i = skipComment(data, i)
		default:
			return i
		}
	}
	return i
}

func skipComment(data []byte, i int) int {
	for i < len(data) && data[i] != '\n' {
		i++
	}
	return i
}

// skipQuoted returns the index after the quoted string opening at data[i].
func skipQuoted(data []byte, i int) (int, error) {
	q := data[i]
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			if q == '"' {
				j++
			}
		case q:
			return j + 1, nil
		case '\n':
			return 0, fmt.Errorf("a string opened at byte %d is not closed on its line", i)
		}
	}
	return 0, fmt.Errorf("a string opened at byte %d is not closed", i)
}

// unquote is a value without its quotes (escapes are kept: names and bcrypt hashes hold none).
func unquote(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// findUser returns the entry of user, or an error saying why there is not exactly one.
func findUser(data []byte, user string) (userEntry, error) {
	entries, err := userEntries(data)
	if err != nil {
		return userEntry{}, err
	}
	var found []userEntry
	for _, e := range entries {
		if e.name == user {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return userEntry{}, fmt.Errorf("no entry for user %s", user)
	case 1:
	default:
		return userEntry{}, fmt.Errorf("%d entries for user %s", len(found), user)
	}
	if _, ok := found[0].field("password"); !ok {
		return userEntry{}, fmt.Errorf("the entry of user %s has no password (nkey users and users without a password are not rotated here)", user)
	}
	return found[0], nil
}

// passwordOf is the password value (a bcrypt hash, when rotor wrote it) of user's entry.
func passwordOf(data []byte, e userEntry) string {
	f, _ := e.field("password")
	return unquote(data[f.val.start:f.val.end])
}

// withPassword returns data with the password value of user's entry replaced by the quoted
// hash; every other byte is kept.
func withPassword(data []byte, e userEntry, hash string) []byte {
	f, _ := e.field("password")
	out := make([]byte, 0, len(data)+len(hash))
	out = append(out, data[:f.val.start]...)
	out = append(out, '"')
	out = append(out, hash...)
	out = append(out, '"')
	return append(out, data[f.val.end:]...)
}

// rights are the fields of an entry other than its name and password, blanks squeezed, sorted:
// what readiness compares between the two users.
func rights(data []byte, e userEntry) []string {
	var out []string
	for _, f := range e.fields {
		if f.key == "user" || f.key == "username" || f.key == "password" {
			continue
		}
		out = append(out, f.key+": "+strings.Join(strings.Fields(string(data[f.val.start:f.val.end])), " "))
	}
	slices.Sort(out)
	return out
}
