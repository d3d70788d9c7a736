package log

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// genLines writes n lines of a format around the cutover, with what real logs hold besides
// well-formed lines: malformed and cut lines, blank lines, CRLF endings, escaped quotes, a key
// id inside a quoted field, lines before the baseline and after now, late stamps, and lines
// too long to hold.
func genLines(rng *rand.Rand, format string, n int, from, to time.Time) []string {
	keys := []string{"key-aaa", "key-bbb", "v1", "v2", "-", "key-aaaa", "other"}
	hosts := []string{"10.0.0.1", "10.0.0.2", "batch-7", "web-1", "web-2"}
	paths := []string{"/api/orders?id=1", "/api/items", "/health", "/a\\\"b", "/static/app.js", "/api/x#frag"}
	statuses := []int{200, 200, 200, 204, 401, 403, 404, 500}
	out := make([]string, 0, n)
	span := to.Sub(from)
	for i := range n {
		t := from.Add(span * time.Duration(i) / time.Duration(n))
		switch rng.IntN(40) {
		case 0:
			t = t.Add(-time.Duration(rng.IntN(120)) * time.Second) // logged late
		case 1:
			t = now.Add(time.Duration(1+rng.IntN(3600)) * time.Second) // a clock ahead
		}
		key, host, path, status := keys[rng.IntN(len(keys))], hosts[rng.IntN(len(hosts))], paths[rng.IntN(len(paths))], statuses[rng.IntN(len(statuses))]
		var line string
		switch format {
		case "json":
			line = jsonl(t, key, status, path, host)
		case "regexp":
			line = fmt.Sprintf("%s %s %d %s key=%s", t.Format(time.RFC3339), host, status, path, key)
		default:
			zone := time.UTC
			if rng.IntN(2) == 0 {
				zone = time.FixedZone("", -5*3600)
			}
			line = fmt.Sprintf(`%s - - [%s] "GET %s HTTP/1.1" %d 512 "-" "curl/8.5"`, host, t.In(zone).Format("02/Jan/2006:15:04:05 -0700"), path, status)
			switch rng.IntN(8) {
			case 0: // no key id field
			case 1:
				line += " key_id=" + key + " rt=0.003"
			case 2:
				line = strings.Replace(line, `"curl/8.5"`, `"agent key_id=\"key-aaa\""`, 1) + ` key_id="` + key + `"`
			default:
				line += ` key_id="` + key + `"`
			}
		}
		switch rng.IntN(60) {
		case 0:
			line = "garbage " + key
		case 1:
			line = line[:rng.IntN(len(line))]
		case 2:
			line = ""
		case 3:
			line = "  \t"
		case 4:
			line += "\r"
		case 5:
			if rng.IntN(10) == 0 {
				line += strings.Repeat("x", maxLine-len(line)-1+rng.IntN(3)) // about maxLine
			}
		}
		out = append(out, line)
	}
	return out
}

// readerVariant is one way of reading: how many parts, of what size, with what buffer,
// mapped into memory or read.
type readerVariant struct {
	minPart  int64
	maxParts int
	bufSize  int
	noMmap   bool
}

var readerVariants = []readerVariant{
	{minPart, defaultParts(), readBuf, false}, // as in production: small files are one part
	{minPart, defaultParts(), readBuf, true},
	{1, 2, readBuf, false},
	{1, 3, 4096, true},
	{1, 8, 100, true},
	{1, 8, 100, false},
	{1, 64, 1 << 17, false},
}

// compareReaders checks the fast reader against the reference: the same CheckResult, and
// the same counts, for every reader variant.
func compareReaders(t *testing.T, dir string, cfg Config, cells int) {
	t.Helper()
	req := request()
	ref, err := New(&cfg, provider.Env{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ref.fileReader = referenceFile
	ref.maxCells = cells
	want, err := ref.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	wantScan := scanWith(t, ref, req)
	for _, v := range readerVariants {
		chk, err := New(&cfg, provider.Env{BaseDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		chk.minPart, chk.maxParts, chk.bufSize, chk.maxCells, chk.noMmap = v.minPart, v.maxParts, v.bufSize, cells, v.noMmap
		got, err := chk.Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%+v: the fast reader's result differs:\n got  %+v\n want %+v", v, got, want)
		}
		gotScan := scanWith(t, chk, req)
		if !reflect.DeepEqual(gotScan, wantScan) {
			t.Fatalf("%+v: counts differ:\n got  %+v\n want %+v", v, gotScan, wantScan)
		}
	}
}

// scanCounts are a scan's numbers, with carry reduced to what is read of it: whether a
// field the match needs was seen at all.
type scanCounts struct {
	counts
	cells  map[string]int
	read   []string
	reason string
}

func scanWith(t *testing.T, c *Checker, req provider.CheckRequest) scanCounts {
	t.Helper()
	m, label, err := c.matcher(req)
	if err != nil {
		t.Fatal(err)
	}
	s := c.newScan(m, label)
	from := req.Since
	if c.cfg.Window > 0 && req.Now.Add(-c.cfg.Window).After(from) {
		from = req.Now.Add(-c.cfg.Window)
	}
	s.from, s.to, s.readFrom = from, req.Now, from
	if c.cfg.MaxIncrease > 0 {
		s.baseFrom, s.baseTo = req.Since.Add(-req.Now.Sub(from)), req.Since
		if s.baseFrom.Before(s.readFrom) {
			s.readFrom = s.baseFrom
		}
	}
	reason, _ := c.read(context.Background(), s)
	out := scanCounts{counts: s.counts, cells: map[string]int{}, read: s.read, reason: reason}
	for f, used := range m.uses() {
		out.carry[f] = min(out.carry[f], 1)
		if !used && f != fTime {
			out.carry[f] = 0
		}
	}
	for k, n := range s.cells {
		out.cells[k] = *n
	}
	return out
}

func TestFastReaderMatchesReference(t *testing.T) {
	configs := []struct {
		name  string
		cfg   Config
		cells int
	}{
		{"previous key by host", Config{Match: Match{KeyID: "previous"}, By: []string{"host"}, Max: intp(0)}, maxCells},
		{"current key by key_id, short window", Config{Match: Match{KeyID: "current"}, By: []string{"key_id"}, Window: 20 * time.Minute, Max: intp(5)}, maxCells},
		{"statuses and paths, rate and increase", Config{Match: Match{Status: []int{401, 500}, Paths: []string{"/api"}}, By: []string{"path", "status"}, MaxRate: 0.1, MaxIncrease: 2}, maxCells},
		{"hosts, few groups kept", Config{Match: Match{Hosts: []string{"batch-7", "web-1", "10.0.0.2"}}, By: []string{"key_id", "host", "path"}, Bin: time.Minute, MaxIncrease: 1.5}, 7},
		{"everything, 1m bins", Config{Bin: time.Minute, By: []string{"status"}, Max: intp(1000)}, maxCells},
		{"previous key by path, few groups kept", Config{Match: Match{KeyID: "previous"}, By: []string{"path"}, Bin: time.Minute, Max: intp(0)}, 3},
	}
	formats := map[string]Source{
		"combined": {Type: "file", Format: "combined"},
		"json":     {Type: "file", Format: "json", Fields: map[string]string{"time": "ts", "host": "client"}},
		"regexp":   {Type: "file", Format: "regexp", Pattern: `^(?P<time>\S+) (?P<host>\S+) (?P<status>\d+) (?P<path>\S+) key=(?P<key_id>\S*)$`},
	}
	for _, format := range []string{"combined", "json", "regexp"} {
		rng := rand.New(rand.NewPCG(1, uint64(len(format))))
		layouts := map[string]map[string][]string{
			"one file": {"access.log": genLines(rng, format, 3000, cutover.Add(-2*time.Hour), now)},
			"rotations": {
				"access.log":      genLines(rng, format, 800, cutover.Add(30*time.Minute), now),
				"access.log.1":    genLines(rng, format, 800, cutover.Add(-10*time.Minute), cutover.Add(30*time.Minute)),
				"access.log.2.gz": genLines(rng, format, 800, cutover.Add(-70*time.Minute), cutover.Add(-10*time.Minute)),
				"access.log.3.gz": genLines(rng, format, 800, cutover.Add(-3*time.Hour), cutover.Add(-70*time.Minute)),
			},
			"malformed first": {"access.log": append([]string{"junk", "junk", "", "junk"}, genLines(rng, format, 500, cutover.Add(time.Minute), now)...)},
			"only malformed":  {"access.log": {"junk", "more junk", strings.Repeat("y", maxLine+5), "tail without newline"}},
		}
		for lname, files := range layouts {
			dir := t.TempDir()
			for name, lines := range files {
				writeLines(t, filepath.Join(dir, name), lines)
				if err := os.Chtimes(filepath.Join(dir, name), now, now); err != nil {
					t.Fatal(err)
				}
			}
			// No line ending after the last line.
			live := filepath.Join(dir, "access.log")
			data, err := os.ReadFile(live)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(live, bytes.TrimSuffix(data, []byte("\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(live, now, now)
			for _, c := range configs {
				t.Run(format+"/"+lname+"/"+c.name, func(t *testing.T) {
					cfg := c.cfg
					cfg.Source = formats[format]
					cfg.Source.Path = "access.log"
					compareReaders(t, dir, cfg, c.cells)
				})
			}
		}
	}
}

// The equivalence is not vacuous: the generated files give failures, malformed lines, lines
// after now, groups past the cap, and parts that each see many lines.
func TestFastReaderCasesAreRich(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, uint64(len("combined"))))
	dir := t.TempDir()
	writeLines(t, filepath.Join(dir, "access.log"), genLines(rng, "combined", 3000, cutover.Add(-2*time.Hour), now))
	chk, err := New(&Config{Source: Source{Type: "file", Path: "access.log", Format: "combined"}, Match: Match{KeyID: "previous"}, By: []string{"path"}, Bin: time.Minute, Max: intp(0)}, provider.Env{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	chk.minPart, chk.maxParts, chk.maxCells = 1, 3, 3
	res, err := chk.Check(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"malformed", "stamped after now", "counted as other groups"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message %q lacks %q", res.Message, want)
		}
	}
	if res.Verdict != provider.Fail {
		t.Errorf("verdict %s, want fail", res.Verdict)
	}
}

// FuzzScan reads arbitrary bytes as a log with the fast reader, cut in a few parts, and with
// the reference: the counts must agree.
func FuzzScan(f *testing.F) {
	f.Add([]byte(clf(at(time.Minute), "a", "/x", 200)+` key_id="key-aaa"`+"\njunk\n\n"+clf(at(-time.Hour), "b", "/y", 401)+"\r\n"), uint8(3))
	f.Add([]byte("junk\n"+clf(at(2*time.Hour), "a", "/x", 200)+" key_id=v1 x\n"+clf(at(time.Second), "a", "/x", 500)+`"x key_id="key-aaa"`), uint8(2))
	for _, s := range parseSeeds {
		f.Add([]byte(s+"\n"+s), uint8(5))
	}
	configs := []Config{
		{Source: Source{Type: "file", Path: "access.log", Format: "combined"}, Match: Match{KeyID: "previous"}, By: []string{"host"}, Max: intp(0)},
		{Source: Source{Type: "file", Path: "access.log", Format: "combined"}, Match: Match{Status: []int{500}, Paths: []string{"/x"}}, By: []string{"key_id", "path"}, MaxIncrease: 1},
		{Source: Source{Type: "file", Path: "access.log", Format: "json", Fields: map[string]string{"time": "ts", "host": "client"}}, Match: Match{KeyID: "current"}, By: []string{"status"}, Max: intp(0)},
	}
	f.Fuzz(func(t *testing.T, data []byte, parts uint8) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "access.log"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, cfg := range configs {
			ref, err := New(&cfg, provider.Env{BaseDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			ref.fileReader = referenceFile
			ref.maxCells = 2
			want := scanWith(t, ref, request())
			chk, err := New(&cfg, provider.Env{BaseDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			chk.minPart, chk.maxParts, chk.bufSize, chk.maxCells, chk.noMmap = 1, 1+int(parts%8), 16+int(parts), 2, parts&8 != 0
			if got := scanWith(t, chk, request()); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s, %d parts: counts differ:\n got  %+v\n want %+v", cfg.Source.Format, chk.maxParts, got, want)
			}
		}
	})
}

// writeCombined writes a combined log of about size bytes over the hour after the cutover,
// one line in 1000 with the previous key id.
func writeCombined(tb testing.TB, path string, size int) int {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	n := 0
	for i := 0; n < size; i++ {
		key := "key-bbb"
		if i%1000 == 0 {
			key = "key-aaa"
		}
		t := cutover.Add(time.Duration(i) * 20 * time.Millisecond)
		k, _ := fmt.Fprintf(w, `10.1.%d.%d - - [%s] "GET /api/v1/items/%d HTTP/1.1" %d %d "https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0" key_id="%s"`+"\n",
			i%7, i%50, t.Format("02/Jan/2006:15:04:05 -0700"), i%5000, 200+i%3, i%30000, key)
		n += k
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	return n
}

// BenchmarkScanCombined scans a ~100 MB combined log for the previous key id, by host.
func BenchmarkScanCombined(b *testing.B) {
	path := filepath.Join(b.TempDir(), "access.log")
	size := writeCombined(b, path, 100<<20)
	chk, err := New(&Config{Source: Source{Type: "file", Path: path, Format: "combined"}, Match: Match{KeyID: "previous"}, By: []string{"host"}, Max: intp(0)}, provider.Env{})
	if err != nil {
		b.Fatal(err)
	}
	req := request()
	req.Now = cutover.Add(2 * time.Hour)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for b.Loop() {
		res, err := chk.Check(context.Background(), req)
		if err != nil || res.Verdict != provider.Fail {
			b.Fatalf("got %+v, %v", res, err)
		}
	}
}

// trailingKey says yes exactly when combinedKeyID reads one of the ids.
func TestTrailingKey(t *testing.T) {
	ids := [][]byte{[]byte("key-aaa"), []byte("v1"), []byte("a b"), []byte(`q"`), []byte(`"`), []byte("-"), []byte(""), []byte("x\"y")}
	s := &scan{keyTails: keyTails(ids)}
	m := &matcher{keyIDs: ids}
	rng := rand.New(rand.NewPCG(3, 4))
	parts := []string{" ", "\"", "key_id=", " key_id=", "key-aaa", "v1", "a b", "q", "-", "x", "\\", "y"}
	for range 200000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		tail := []byte(b.String())
		want := m.keyIDMatch(combinedKeyID(tail))
		if got := s.trailingKey(tail); got != want {
			t.Fatalf("trailingKey(%q) = %v, combinedKeyID reads %q", tail, got, combinedKeyID(tail))
		}
	}
}

// lineEnds finds every line ending, at every length and alignment.
func TestLineEnds(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 300)
	got, want := make([]int32, len(buf)), make([]int32, len(buf))
	for range 20000 {
		off, n := rng.IntN(40), rng.IntN(len(buf)-40)
		for i := range buf {
			buf[i] = "ab\n\r \x8a"[rng.IntN(6)]
			if rng.IntN(4) == 0 {
				buf[i] = 'x'
			}
		}
		data := buf[off : off+n]
		w := lineEndsGo(data, want)
		for _, impl := range lineEndsImpls() {
			if g := impl(data, got); g != w || !slices.Equal(got[:g], want[:w]) {
				t.Fatalf("lineEnds(%q) = %v, want %v", data, got[:g], want[:w])
			}
		}
	}
}
