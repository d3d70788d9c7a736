package log

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"testing"
	"time"
	"unicode/utf8"
)

var parseSeeds = []string{
	`{"ts":"2026-11-30T10:00:01Z","key_id":"v1","status":200,"path":"/data","client":"a"}`,
	`{"ts":"2026-11-30 10:00:01.123456+01:00","key_id":7,"status":"503","path":"/a?b=c","client":"b\u00e9\"q"}`,
	`{"ts":1796032801.25,"http":{"status":401,"path":"/x"},"auth":{"kid":"key-aaa"}}`,
	`{"ts":1796032801250,"key_id":null,"status":200}`,
	`{"ts":"2026-11-30T10:00:01Z","key_id":"\ud83d\ude00","path":["/no"],"client":{"x":1}}`,
	`{"ts":"2026-11-30T10:00:01Z","http.status":404,"key_id":"a","key_id":"b"}`,
	`10.0.0.1 - - [30/Nov/2026:10:00:01 +0000] "GET /orders?id=1 HTTP/1.1" 401 512 "-" "curl/8.5"`,
	`10.0.0.1 - alice [30/Nov/2026:11:00:01 +0100] "POST /a\"b HTTP/2.0" 500 0`,
	`10.0.0.1 - - [30/Nov/2026:10:00:01 +0000] "-" 400 0 "-" "-"`,
	`2026-11-30T10:00:01Z web-1 200 /search key=key-bbb`,
	`not a log line`,
	`{`,
	``,
	`10.0.0.1 - - [30/Nov/2026:10:00:01 +0000] "GET /a\\\\" 200 1 "-" "x key_id=\"k\"" key_id="key-aaa" rt=0.1`,
	`10.0.0.1 - - [30/Nov/2026:10:00:01 +0000] "GET /a\\\" b" 200 1 "-" "-" key_id=v1`,
	`10.0.0.1 - - [2026-11-30T10:00:01Z] "GET /" 2000 0 key_id="-" key_id=x`,
	`10.0.0.1 - - [30/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 1 "-" "x key_id=\"k\"" key_id="key-aaa"`,
}

// newFuzzParsers returns the parsers a fuzzed line is given to: json with the brief's field
// names and nested ones, combined, and a regexp.
func newFuzzParsers() []parser {
	return []parser{
		&jsonParser{fields: newJSONFields(map[string]string{"time": "ts", "host": "client"})},
		&jsonParser{fields: newJSONFields(map[string]string{"time": "ts", "status": "http.status", "path": "http.path", "key_id": "auth.kid"})},
		combinedParser{},
		newRegexpParser(regexp.MustCompile(`^(?P<time>\S+) (?P<host>\S+) (?P<status>\d+) (?P<path>\S+) key=(?P<key_id>\S*)$`)),
	}
}

// FuzzParseLine feeds lines to every parser: none may panic, a parsed line always has a time,
// and the JSON fields found agree with encoding/json.
func FuzzParseLine(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	parsers := newFuzzParsers()
	f.Fuzz(func(t *testing.T, line []byte) {
		orig := bytes.Clone(line)
		for i, p := range parsers {
			var r record
			if !p.parse(line, &r) {
				continue
			}
			if !r.has(fTime) || r.t.IsZero() {
				t.Fatalf("parser %d: parsed %q without a time", i, line)
			}
			if r.has(fStatus) && r.status < 0 {
				t.Fatalf("parser %d: negative status from %q", i, line)
			}
		}
		if !bytes.Equal(line, orig) {
			t.Fatalf("a parser changed the line: %q -> %q", orig, line)
		}
		// The combined parser reads a line as the one-byte-at-a-time reference does.
		var got, want record
		if ok, wantOK := (combinedParser{}).parse(line, &got), (referenceCombined{}).parse(line, &want); ok != wantOK || (ok && !reflect.DeepEqual(got, want)) {
			t.Fatalf("combined parser: %v %+v, reference %v %+v, from %q", ok, got, wantOK, want, line)
		}
		// The first parser reads top-level keys: what it finds is what encoding/json finds.
		var r record
		if !utf8.Valid(line) || !parsers[0].parse(line, &r) {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("the scanner accepted %q, encoding/json did not: %v", line, err)
		}
		for _, c := range []struct {
			key string
			got []byte
			has bool
		}{{"key_id", r.keyID, r.has(fKeyID)}, {"path", r.path, r.has(fPath)}, {"client", r.host, r.has(fHost)}} {
			want, isStr := m[c.key].(string)
			switch {
			case c.key == "key_id" && m[c.key] != nil && !isStr:
				// A number is kept as written; an object or array is no value.
			case isStr && (!c.has || string(c.got) != want):
				t.Fatalf("%s: got %q (present %v), encoding/json %q, from %q", c.key, c.got, c.has, want, line)
			case !isStr && c.has && c.key != "key_id":
				t.Fatalf("%s: got %q, encoding/json has no string (%v), from %q", c.key, c.got, m[c.key], line)
			}
		}
	})
}

func TestParseSeeds(t *testing.T) {
	ps := newFuzzParsers()
	want := time.Date(2026, 11, 30, 10, 0, 1, 0, time.UTC)
	cases := []struct {
		parser int
		line   string
		ok     bool
		t      time.Time
		status int
		path   string
		host   string
		keyID  string
	}{
		{0, parseSeeds[0], true, want, 200, "/data", "a", "v1"},
		{0, parseSeeds[1], true, want.Add(123456*time.Microsecond - time.Hour), 503, "/a?b=c", "b\u00e9\"q", "7"},
		{1, parseSeeds[2], true, want.Add(250 * time.Millisecond), 401, "/x", "", "key-aaa"},
		{0, parseSeeds[3], true, want.Add(250 * time.Millisecond), 200, "", "", ""},
		{0, parseSeeds[4], true, want, 0, "", "", "\U0001F600"},
		{0, parseSeeds[5], true, want, 0, "", "", "b"},
		{2, parseSeeds[6], true, want, 401, "/orders?id=1", "10.0.0.1", ""},
		{2, parseSeeds[7], true, want, 500, `/a\"b`, "10.0.0.1", ""},
		{2, parseSeeds[8], true, want, 400, "", "10.0.0.1", ""},
		{3, parseSeeds[9], true, want, 200, "/search", "web-1", "key-bbb"},
		{2, parseSeeds[13], true, want, 200, `/a\\\\`, "10.0.0.1", ""}, // key_id is not the last field
		{2, parseSeeds[14], true, want, 200, `/a\\\"`, "10.0.0.1", "v1"},
		{2, parseSeeds[15], true, want, 2000, "/", "10.0.0.1", "x"},
		{2, parseSeeds[16], true, want, 200, "/", "10.0.0.1", "key-aaa"},
		{0, parseSeeds[10], false, time.Time{}, 0, "", "", ""},
		{2, parseSeeds[10], false, time.Time{}, 0, "", "", ""},
		{0, `{"ts":"2026-11-30T10:00:01"}`, false, time.Time{}, 0, "", "", ""}, // no zone
		{0, `{"ts":"2026-11-30T10:00:01Z","status":"2xx"}`, false, time.Time{}, 0, "", "", ""},
	}
	for _, c := range cases {
		var r record
		ok := ps[c.parser].parse([]byte(c.line), &r)
		if ok != c.ok {
			t.Errorf("parser %d %q: ok %v, want %v", c.parser, c.line, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if !r.t.Equal(c.t) || r.status != c.status || string(r.path) != c.path || string(r.host) != c.host || string(r.keyID) != c.keyID {
			t.Errorf("parser %d %q:\n got  %v %d %q %q %q\n want %v %d %q %q %q", c.parser, c.line,
				r.t, r.status, r.path, r.host, r.keyID, c.t, c.status, c.path, c.host, c.keyID)
		}
	}
}
