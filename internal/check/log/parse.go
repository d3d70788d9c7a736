package log

import (
	"bytes"
	"regexp"
	"time"
)

// The fields a line can carry, in the order of fieldNames.
const (
	fTime = iota
	fStatus
	fPath
	fHost
	fKeyID
	numFields
)

// fieldNames are the rotor names of the fields: the keys of source.fields, the names of a
// regexp's groups, and what `by` may list.
var fieldNames = [numFields]string{"time", "status", "path", "host", "key_id"}

func fieldIndex(name string) int {
	for i, n := range fieldNames {
		if n == name {
			return i
		}
	}
	return -1
}

// record is one parsed line. Its byte slices point into the line (or a parser's scratch) and
// are valid until the next line is parsed.
type record struct {
	t       time.Time
	status  int
	path    []byte
	host    []byte
	keyID   []byte
	present uint8 // bit per field
}

func (r *record) has(f int) bool { return r.present&(1<<f) != 0 }

// parser turns a line into a record, or reports it malformed. A line without a readable
// time is malformed: it cannot be placed in a window.
type parser interface {
	parse(line []byte, r *record) bool
}

// jsonParser reads one JSON object per line.
type jsonParser struct{ fields *jsonFields }

func (p *jsonParser) parse(line []byte, r *record) bool {
	var vals [numFields]jsonValue
	if !p.fields.extract(line, &vals) {
		return false
	}
	*r = record{}
	t, ok := parseTime(vals[fTime].b, vals[fTime].isStr)
	if !ok {
		return false
	}
	r.t = t
	r.present = 1 << fTime
	if v := vals[fStatus].b; v != nil {
		st, ok := atoi(v)
		if !ok {
			return false
		}
		r.status = st
		r.present |= 1 << fStatus
	}
	if v := vals[fPath]; v.b != nil && v.isStr {
		r.path = v.b
		r.present |= 1 << fPath
	}
	if v := vals[fHost]; v.b != nil && v.isStr {
		r.host = v.b
		r.present |= 1 << fHost
	}
	if v := vals[fKeyID]; v.b != nil {
		// A key id may be logged as a number (a version counter).
		r.keyID = v.b
		r.present |= 1 << fKeyID
	}
	return true
}

// combinedParser reads the NCSA combined (and common) log format of nginx and Apache:
//
//	host ident user [02/Jan/2006:15:04:05 -0700] "GET /path HTTP/1.1" 200 123 "referer" "agent"
//
// A key id is read from the line's last field, when it is key_id="VALUE" (VALUE without a
// quote) or key_id=VALUE (without a space), as nginx appends it with
//
//	log_format keyed '$remote_addr - $remote_user [$time_local] "$request" $status '
//	                 '$body_bytes_sent "$http_referer" "$http_user_agent" key_id="$http_x_key_id"';
//
// The value is kept as written (nginx's \x escapes are not decoded); "-" and "" are no key id.
// Only the last field is looked at, so that a line is not searched for it: a log_format that
// logs other fields after the key id has no key id for rotor (a check that matches on it
// then says that the field is missing).
type combinedParser struct{}

func (combinedParser) parse(line []byte, r *record) bool {
	*r = record{}
	var c combinedLine
	if !cutCombined(line, &c, nil) {
		return false
	}
	t, ok := parseTime(c.ts, true)
	if !ok {
		return false
	}
	r.t = t
	r.status = c.status
	r.host = c.host
	r.present = 1<<fTime | 1<<fStatus | 1<<fHost
	if path := requestPath(c.request); path != nil {
		r.path = path
		r.present |= 1 << fPath
	}
	if k := combinedKeyID(c.tail); k != nil {
		r.keyID = k
		r.present |= 1 << fKeyID
	}
	return true
}

// combinedLine is a combined line cut into its fields, the time not parsed yet. The slices
// point into the line.
type combinedLine struct {
	host    []byte
	ts      []byte // between the brackets
	sameTS  bool   // ts is the hint cutCombined was given
	request []byte // between the quotes
	status  int
	tail    []byte // what follows the status
}

// cutCombined cuts a combined line; it reports false for a line that is not one, whatever
// its time. hint is a time the line may well repeat (the previous line's), without ']': when
// the line holds it, c.sameTS is set.
func cutCombined(line []byte, c *combinedLine, hint []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	c.host = line[:sp]
	// The first '[' after the host: most lines have no ident nor user ("host - - [").
	open := sp + 5
	if len(line) <= open || string(line[sp+1:open+1]) != "- - [" {
		for open = sp + 1; open < len(line) && line[open] != '['; open++ {
		}
		if open == len(line) {
			return false
		}
	}
	ts := line[open+1:]
	end := len(hint)
	c.sameTS = end > 0 && len(ts) > end && ts[end] == ']' && string(ts[:end]) == string(hint)
	if !c.sameTS {
		if end = bytes.IndexByte(ts, ']'); end < 0 {
			return false
		}
	}
	c.ts = ts[:end]
	rest := ts[end+1:]
	if len(rest) < 2 || rest[0] != ' ' || rest[1] != '"' {
		return false
	}
	rest = rest[2:]
	q := closingQuote(rest)
	if q < 0 {
		return false
	}
	c.request = rest[:q]
	rest = rest[q+1:]
	if len(rest) < 4 || rest[0] != ' ' {
		return false
	}
	rest = rest[1:]
	// The status: 1 to 9 digits (as atoi takes them) up to a space or the end; mostly 3.
	st, e := 0, 0
	if d0, d1, d2 := rest[0]-'0', rest[1]-'0', rest[2]-'0'; d0 <= 9 && d1 <= 9 && d2 <= 9 && len(rest) > 3 && rest[3] == ' ' {
		st, e = int(d0)*100+int(d1)*10+int(d2), 3
	} else {
		for ; e < len(rest) && rest[e] != ' '; e++ {
			d := rest[e] - '0'
			if d > 9 || e == 9 {
				return false
			}
			st = st*10 + int(d)
		}
		if e == 0 {
			return false
		}
	}
	c.status = st
	c.tail = rest[e:]
	return true
}

// requestPath is the target of "METHOD /path PROTO"; a bad request logs "-" or garbage, which
// has no path (nil).
func requestPath(request []byte) []byte {
	m := bytes.IndexByte(request, ' ')
	if m <= 0 {
		return nil
	}
	target := request[m+1:]
	if e := bytes.IndexByte(target, ' '); e >= 0 {
		target = target[:e]
	}
	if len(target) == 0 {
		return nil
	}
	return target
}

// combinedKeyID reads the key id of the last field; tail is what follows the status: empty
// or starting with a space.
func combinedKeyID(tail []byte) []byte {
	const field = " key_id="
	n := len(tail)
	var v []byte
	if n > 0 && tail[n-1] == '"' {
		q := bytes.LastIndexByte(tail[:n-1], '"')
		if q < len(field) || string(tail[q-len(field):q]) != field {
			return nil
		}
		v = tail[q+1 : n-1]
	} else {
		sp := bytes.LastIndexByte(tail, ' ')
		if sp < 0 || !bytes.HasPrefix(tail[sp:], []byte(field)) {
			return nil
		}
		v = tail[sp+len(field):]
	}
	if len(v) == 0 || string(v) == "-" {
		return nil
	}
	return v
}

// closingQuote finds the quote that ends a quoted field; nginx escapes quotes inside as \x22
// and Apache as \".
func closingQuote(b []byte) int {
	// A quote is escaped when an odd run of backslashes precedes it: a backslash escapes the
	// next byte, whatever it is, so the first of a run is never escaped itself.
	for from := 0; ; {
		q := bytes.IndexByte(b[from:], '"')
		if q < 0 {
			return -1
		}
		q += from
		run := 0
		for run < q && b[q-1-run] == '\\' {
			run++
		}
		if run%2 == 0 {
			return q
		}
		from = q + 1
	}
}

// regexpParser reads lines with a pattern whose named groups are the fields.
type regexpParser struct {
	re    *regexp.Regexp
	group [numFields]int // submatch index per field, -1 when the pattern lacks it
	idx   []int
}

func newRegexpParser(re *regexp.Regexp) *regexpParser {
	p := &regexpParser{re: re}
	for f, name := range fieldNames {
		p.group[f] = re.SubexpIndex(name)
	}
	return p
}

func (p *regexpParser) parse(line []byte, r *record) bool {
	*r = record{}
	p.idx = p.re.FindSubmatchIndex(line)
	if p.idx == nil {
		return false
	}
	val := func(f int) []byte {
		g := p.group[f]
		if g < 0 || p.idx[2*g] < 0 {
			return nil
		}
		return line[p.idx[2*g]:p.idx[2*g+1]]
	}
	t, ok := parseTime(val(fTime), true)
	if !ok {
		return false
	}
	r.t = t
	r.present = 1 << fTime
	if v := val(fStatus); len(v) > 0 {
		st, ok := atoi(v)
		if !ok {
			return false
		}
		r.status = st
		r.present |= 1 << fStatus
	}
	if v := val(fPath); len(v) > 0 {
		r.path = v
		r.present |= 1 << fPath
	}
	if v := val(fHost); len(v) > 0 {
		r.host = v
		r.present |= 1 << fHost
	}
	if v := val(fKeyID); len(v) > 0 {
		r.keyID = v
		r.present |= 1 << fKeyID
	}
	return true
}

// atoi parses a small non-negative decimal number.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseTime reads a log line's time: RFC 3339 (with T or a space, any fraction, Z or an
// offset), the combined format's 02/Jan/2006:15:04:05 -0700, or — unquoted in JSON, or all
// digits — a Unix time in seconds (with a fraction) or, above 10^12, milliseconds. A time
// without a zone is not accepted: it would be placed in the wrong window.
func parseTime(b []byte, isStr bool) (time.Time, bool) {
	if len(b) == 0 {
		return time.Time{}, false
	}
	if t, ok := parseRFC3339(b); ok {
		return t, true
	}
	if t, ok := parseCLF(b); ok {
		return t, true
	}
	if !isStr || (b[0] >= '0' && b[0] <= '9') {
		return parseEpoch(b)
	}
	return time.Time{}, false
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}

func parseRFC3339(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	if c := b[10]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	i := 19
	nsec := 0
	if i < len(b) && (b[i] == '.' || b[i] == ',') {
		i++
		start := i
		scale := 100000000
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			nsec += int(b[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return time.Time{}, false
		}
	}
	if i >= len(b) {
		return time.Time{}, false
	}
	var offset int
	switch b[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		z := b[i+1:]
		var hh, mm int
		var ok bool
		switch {
		case len(z) == 5 && z[2] == ':':
			hh, ok = digits(z[0:2])
			mm, ok2 = digits(z[3:5])
			ok = ok && ok2
		case len(z) == 4:
			hh, ok = digits(z[0:2])
			mm, ok2 = digits(z[2:4])
			ok = ok && ok2
		case len(z) == 2:
			hh, ok = digits(z)
		}
		if !ok || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		offset = hh*3600 + mm*60
		if b[i] == '-' {
			offset = -offset
		}
		i = len(b)
	default:
		return time.Time{}, false
	}
	if i != len(b) {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseCLF reads 02/Jan/2006:15:04:05 -0700.
func parseCLF(b []byte) (time.Time, bool) {
	if len(b) != 26 || b[2] != '/' || b[6] != '/' || b[11] != ':' || b[14] != ':' || b[17] != ':' || b[20] != ' ' {
		return time.Time{}, false
	}
	month := 0
	for i, m := range months {
		if string(b[3:6]) == m {
			month = i + 1
		}
	}
	day, ok1 := digits(b[0:2])
	year, ok2 := digits(b[7:11])
	hour, ok3 := digits(b[12:14])
	minute, ok4 := digits(b[15:17])
	sec, ok5 := digits(b[18:20])
	zh, ok6 := digits(b[22:24])
	zm, ok7 := digits(b[24:26])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || month == 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 || zm > 59 {
		return time.Time{}, false
	}
	offset := zh*3600 + zm*60
	switch b[21] {
	case '-':
		offset = -offset
	case '+':
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// parseEpoch reads seconds[.fraction] since 1970, or milliseconds when the number is at
// least 10^12 (a seconds value that large is thousands of years away).
func parseEpoch(b []byte) (time.Time, bool) {
	intPart, frac := b, []byte(nil)
	if i := bytes.IndexByte(b, '.'); i >= 0 {
		intPart, frac = b[:i], b[i+1:]
		if len(frac) == 0 {
			return time.Time{}, false
		}
	}
	if len(intPart) == 0 || len(intPart) > 16 {
		return time.Time{}, false
	}
	n, ok := digits(intPart)
	if !ok {
		return time.Time{}, false
	}
	unit := int64(time.Second)
	if int64(n) >= 1e12 {
		unit = int64(time.Millisecond)
	}
	if int64(n) > (1<<63-1)/unit-1 {
		return time.Time{}, false
	}
	nsec := int64(0)
	scale := unit / 10
	for _, c := range frac {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		nsec += int64(c-'0') * scale
		scale /= 10
	}
	return time.Unix(0, int64(n)*unit+nsec).UTC(), true
}
