package log

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

var (
	cutover = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	now     = cutover.Add(time.Hour)
	prevV   = provider.Version{ID: "v1", AuthorityRef: "key-aaa"}
	curV    = provider.Version{ID: "v2", AuthorityRef: "key-bbb"}
)

func request() provider.CheckRequest {
	p := prevV
	return provider.CheckRequest{Check: "old-key-unused", Credential: "search-api-key", Current: curV, Previous: &p, Since: cutover, Now: now}
}

func at(d time.Duration) time.Time { return cutover.Add(d) }

// jsonl is one JSON log line with the field names of the brief's example.
func jsonl(t time.Time, keyID string, status int, path, client string) string {
	return fmt.Sprintf(`{"ts":%q,"key_id":%q,"status":%d,"path":%q,"client":%q}`, t.Format(time.RFC3339Nano), keyID, status, path, client)
}

// clf is one nginx combined line.
func clf(t time.Time, host, path string, status int) string {
	return fmt.Sprintf(`%s - - [%s] "GET %s HTTP/1.1" %d 512 "-" "curl/8.5"`, host, t.Format("02/Jan/2006:15:04:05 -0700"), path, status)
}

// every returns lines made by f every step from a (inclusive) to b (exclusive).
func every(a, b time.Time, step time.Duration, f func(time.Time) string) []string {
	var out []string
	for t := a; t.Before(b); t = t.Add(step) {
		out = append(out, f(t))
	}
	return out
}

func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func writeLines(t testing.TB, path string, lines []string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	data := strings.Join(lines, "\n")
	if len(lines) > 0 {
		data += "\n"
	}
	if strings.HasSuffix(path, ".gz") {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		zw := gzip.NewWriter(f)
		zw.Write([]byte(data))
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func jsonSource(path string) Source {
	return Source{Type: "file", Path: path, Format: "json", Fields: map[string]string{"time": "ts", "host": "client"}}
}

func intp(n int) *int { return &n }

func bin(start time.Time, count, total int, group ...string) provider.Bin {
	b := provider.Bin{Start: start, Count: count, Total: total}
	if len(group) > 0 {
		b.Group = map[string]string{}
		for i := 0; i+1 < len(group); i += 2 {
			b.Group[group[i]] = group[i+1]
		}
	}
	return b
}

type checkCase struct {
	name  string
	files map[string][]string // relative path -> lines (a .gz name is compressed)
	cfg   Config
	req   func(*provider.CheckRequest)
	ctx   func() context.Context

	verdict  provider.Verdict
	reason   string // substring of the reason
	message  string // substring of the message
	observed string // substring of the observed numbers
	bins     []provider.Bin
	noBins   bool // assert that there are no bins
	window   *provider.Interval
}

func runCase(t *testing.T, c checkCase) provider.CheckResult {
	t.Helper()
	dir := t.TempDir()
	for name, lines := range c.files {
		writeLines(t, filepath.Join(dir, name), lines)
		// As if written by now: the files' age matters for lines without a time.
		if err := os.Chtimes(filepath.Join(dir, name), now, now); err != nil {
			t.Fatal(err)
		}
	}
	chk, err := New(&c.cfg, provider.Env{BaseDir: dir, Now: func() time.Time { panic("the request's now is used") }})
	if err != nil {
		t.Fatal(err)
	}
	req := request()
	if c.req != nil {
		c.req(&req)
	}
	ctx := context.Background()
	if c.ctx != nil {
		ctx = c.ctx()
	}
	res, err := chk.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != c.verdict || !strings.Contains(res.Reason, c.reason) || !strings.Contains(res.Message, c.message) || !strings.Contains(res.Observed, c.observed) {
		t.Fatalf("got %s\n reason   %q\n message  %q\n observed %q\nwant %s, reason ~%q, message ~%q, observed ~%q",
			res.Verdict, res.Reason, res.Message, res.Observed, c.verdict, c.reason, c.message, c.observed)
	}
	if c.bins != nil && !reflect.DeepEqual(res.Bins, c.bins) {
		t.Fatalf("bins:\n got  %+v\n want %+v", res.Bins, c.bins)
	}
	if c.noBins && len(res.Bins) != 0 {
		t.Fatalf("bins: got %+v, want none", res.Bins)
	}
	if c.window != nil && (res.Window == nil || *res.Window != *c.window) {
		t.Fatalf("window: got %+v, want %+v", res.Window, c.window)
	}
	if !res.At.Equal(req.Now) {
		t.Fatalf("At %v, want the request's now %v", res.At, req.Now)
	}
	return res
}

func TestCheckJSONKeyID(t *testing.T) {
	// Before the cutover v1 is in use; after it, v2, and batch-7 lags behind.
	before := every(at(-time.Hour), cutover, time.Minute, func(t time.Time) string { return jsonl(t, "v1", 200, "/data", "a") })
	after := every(cutover, now, time.Minute, func(t time.Time) string { return jsonl(t, "v2", 200, "/data", "a") })
	lagging := []string{
		jsonl(at(5*time.Minute+1*time.Second), "v1", 200, "/data?q=hunter2", "batch-7"),
		jsonl(at(5*time.Minute+2*time.Second), "v1", 200, "/data", "batch-7"),
		jsonl(at(6*time.Minute), "key-aaa", 200, "/data", "batch-7"), // the authority's name for v1
		jsonl(at(31*time.Minute), "v1", 401, "/other", "batch-8"),
	}
	cfg := Config{Source: jsonSource("search/access.jsonl"), Match: Match{KeyID: "previous"}, Max: intp(0), By: []string{"key_id", "host"}}
	cases := []checkCase{
		{
			name:  "previous unused passes",
			files: map[string][]string{"search/access.jsonl": cat(before, after)},
			cfg:   cfg, verdict: provider.Pass, reason: "0 matching of 60 lines in the window", noBins: true,
			observed: "0 matching of 60 lines in the window",
			window:   &provider.Interval{From: cutover, To: now},
		},
		{
			name:  "previous still used fails naming the worst bin and group",
			files: map[string][]string{"search/access.jsonl": cat(before, after, lagging)},
			cfg:   cfg, verdict: provider.Fail, reason: "3 matching lines in bin 10:05 UTC (key_id=v1, host=batch-7), max 0",
			bins: []provider.Bin{
				bin(at(5*time.Minute), 3, 8, "key_id", "v1", "host", "batch-7"),
				bin(at(30*time.Minute), 1, 6, "key_id", "v1", "host", "batch-8"),
			},
		},
		{
			name:  "max per bin and group tolerates up to the threshold",
			files: map[string][]string{"search/access.jsonl": cat(before, after, lagging)},
			cfg: func() Config {
				c := cfg
				c.Max = intp(3)
				return c
			}(),
			verdict: provider.Pass, observed: "4 matching of 64 lines in the window; highest bin 3 at 10:05 UTC (key_id=v1, host=batch-7)",
		},
		{
			name:  "without by, a bin counts every group",
			files: map[string][]string{"search/access.jsonl": cat(before, after, lagging)},
			cfg: func() Config {
				c := cfg
				c.By = nil
				c.Max = intp(2)
				return c
			}(),
			verdict: provider.Fail, reason: "3 matching lines in bin 10:05 UTC, max 2",
			bins: []provider.Bin{bin(at(5*time.Minute), 3, 8), bin(at(30*time.Minute), 1, 6)},
		},
		{
			name:  "current counts the new key",
			files: map[string][]string{"search/access.jsonl": cat(before, after, lagging)},
			cfg: func() Config {
				c := cfg
				c.Match.KeyID = "current"
				c.By = []string{"key_id"}
				c.Bin = 30 * time.Minute
				c.Max = intp(30)
				return c
			}(),
			verdict: provider.Pass,
			bins: []provider.Bin{
				bin(at(0), 30, 33, "key_id", "v2"),
				bin(at(30*time.Minute), 30, 31, "key_id", "v2"),
			},
		},
		{
			name:  "a first rotation (no previous version) passes: nothing can use it",
			files: map[string][]string{"search/access.jsonl": cat(before, after)},
			cfg:   cfg, req: func(r *provider.CheckRequest) { r.Previous = nil },
			verdict: provider.Pass, reason: "first rotation",
		},
		{
			name: "lines without a key_id field are unknown, not pass",
			files: map[string][]string{"search/access.jsonl": every(cutover, now, time.Minute, func(t time.Time) string {
				return fmt.Sprintf(`{"ts":%q,"status":200,"client":"a"}`, t.Format(time.RFC3339))
			})},
			cfg: cfg, verdict: provider.Unknown, reason: "field missing", message: "carries a key_id",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runCase(t, c) })
	}
}

func TestCheckWindowEdges(t *testing.T) {
	lines := []string{
		jsonl(cutover.Add(-time.Nanosecond), "v1", 200, "/", "before"),
		jsonl(cutover, "v1", 200, "/", "at-since"),
		jsonl(at(20*time.Minute), "v1", 200, "/", "middle"),
		jsonl(now, "v1", 200, "/", "at-now"),
		jsonl(now.Add(time.Nanosecond), "v1", 200, "/", "after-now"),
	}
	base := Config{Source: jsonSource("app.log"), Match: Match{KeyID: "previous"}, Max: intp(0), By: []string{"host"}}
	windowed := base
	windowed.Window = 45 * time.Minute
	longWindow := base
	longWindow.Window = 3 * time.Hour
	cases := []checkCase{
		{
			name: "since and now are both in", files: map[string][]string{"app.log": lines}, cfg: base,
			verdict: provider.Fail, message: "1 line stamped after now skipped",
			bins: []provider.Bin{
				bin(cutover, 1, 1, "host", "at-since"),
				bin(at(20*time.Minute), 1, 1, "host", "middle"),
				bin(now, 1, 1, "host", "at-now"),
			},
			window: &provider.Interval{From: cutover, To: now},
		},
		{
			name: "window later than since starts at now-window", files: map[string][]string{"app.log": lines}, cfg: windowed,
			verdict: provider.Fail,
			bins:    []provider.Bin{bin(at(20*time.Minute), 1, 1, "host", "middle"), bin(now, 1, 1, "host", "at-now")},
			window:  &provider.Interval{From: now.Add(-45 * time.Minute), To: now},
		},
		{
			name: "window longer than since-now keeps since", files: map[string][]string{"app.log": lines}, cfg: longWindow,
			verdict: provider.Fail, window: &provider.Interval{From: cutover, To: now},
			bins: []provider.Bin{
				bin(cutover, 1, 1, "host", "at-since"),
				bin(at(20*time.Minute), 1, 1, "host", "middle"),
				bin(now, 1, 1, "host", "at-now"),
			},
		},
		{
			name: "a window not full yet with no match is unknown, complete at since+window", cfg: longWindow,
			files:   map[string][]string{"app.log": {jsonl(cutover, "v2", 200, "/", "a"), jsonl(at(20*time.Minute), "v2", 200, "/", "b")}},
			verdict: provider.Unknown, reason: "window not full yet",
		},
		{
			name: "no since uses the window", files: map[string][]string{"app.log": lines}, cfg: windowed,
			req:     func(r *provider.CheckRequest) { r.Since = time.Time{} },
			verdict: provider.Fail, window: &provider.Interval{From: now.Add(-45 * time.Minute), To: now},
		},
		{
			name: "no since and no window is unknown", files: map[string][]string{"app.log": lines}, cfg: base,
			req:     func(r *provider.CheckRequest) { r.Since = time.Time{} },
			verdict: provider.Unknown, reason: "no start instant",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runCase(t, c) })
	}
	// The result says when the evidence will be complete, so the engine can come back then.
	res := runCase(t, checkCase{name: "complete-at", cfg: longWindow, verdict: provider.Unknown,
		files: map[string][]string{"app.log": {jsonl(cutover, "v2", 200, "/", "a")}}})
	if want := cutover.Add(3 * time.Hour); !res.CompleteAt.Equal(want) {
		t.Errorf("CompleteAt %s, want %s", res.CompleteAt, want)
	}
}

func TestCheckFormats(t *testing.T) {
	t.Run("combined", func(t *testing.T) {
		lines := cat(
			every(at(-10*time.Minute), now, time.Minute, func(t time.Time) string { return clf(t, "10.0.0.1", "/orders", 200) }),
			[]string{
				clf(at(-5*time.Minute), "10.0.0.9", "/orders", 401), // before the cutover
				clf(at(12*time.Minute).In(time.FixedZone("CET", 3600)), "10.0.0.2", "/orders?token=s3cr3t", 401),
				clf(at(13*time.Minute), "10.0.0.2", "/orders", 401),
				clf(at(14*time.Minute), "10.0.0.3", "/admin", 403),
				clf(at(40*time.Minute), "10.0.0.2", "/orders", 500), // not matched
			})
		res := runCase(t, checkCase{
			files: map[string][]string{"nginx/access.log": lines},
			cfg: Config{Source: Source{Type: "file", Path: "nginx/access.log", Format: "combined"},
				Match: Match{Status: []int{401, 403}}, By: []string{"host", "path", "status"}, Max: intp(0)},
			verdict: provider.Fail, reason: "2 matching lines in bin 10:10 UTC (host=10.0.0.2, path=/orders, status=401), max 0",
			bins: []provider.Bin{
				bin(at(10*time.Minute), 2, 8, "host", "10.0.0.2", "path", "/orders", "status", "401"),
				bin(at(10*time.Minute), 1, 8, "host", "10.0.0.3", "path", "/admin", "status", "403"),
			},
		})
		raw, _ := json.Marshal(res)
		if strings.Contains(string(raw), "s3cr3t") {
			t.Fatalf("the result carries a query string: %s", raw)
		}
	})
	t.Run("regexp", func(t *testing.T) {
		pattern := `^(?P<time>\S+) (?P<host>\S+) (?P<status>\d+) (?P<path>\S+) key=(?P<key_id>\S+)$`
		line := func(t time.Time, host, key string) string {
			return fmt.Sprintf("%s %s 200 /search key=%s", t.Format(time.RFC3339), host, key)
		}
		lines := cat(
			every(at(-30*time.Minute), now, time.Minute, func(t time.Time) string { return line(t, "web-1", "key-bbb") }),
			[]string{line(at(-10*time.Minute), "web-2", "key-aaa"), line(at(50*time.Minute+30*time.Second), "web-2", "key-aaa")},
		)
		runCase(t, checkCase{
			files: map[string][]string{"search.log": lines},
			cfg: Config{Source: Source{Type: "file", Path: "search.log", Format: "regexp", Pattern: pattern},
				Match: Match{KeyID: "previous"}, By: []string{"host", "key_id"}, Bin: 15 * time.Minute, Max: intp(0)},
			verdict: provider.Fail, reason: "1 matching line in bin 10:45 UTC (host=web-2, key_id=v1), max 0",
			bins: []provider.Bin{bin(at(45*time.Minute), 1, 16, "host", "web-2", "key_id", "v1")},
		})
	})
	t.Run("json nested fields and epoch times", func(t *testing.T) {
		line := func(t time.Time, key string, status int) string {
			return fmt.Sprintf(`{"@t":%d.250,"http":{"status":%d,"path":"/x"},"auth":{"kid":%q}}`, t.Unix(), status, key)
		}
		lines := every(at(-30*time.Minute), now, 10*time.Second, func(t time.Time) string {
			if t.After(cutover) && t.Minute()%10 == 0 && t.Second() == 0 {
				return line(t, "key-aaa", 200)
			}
			return line(t, "key-bbb", 200)
		})
		runCase(t, checkCase{
			files: map[string][]string{"app.jsonl": lines},
			cfg: Config{Source: Source{Type: "file", Path: "app.jsonl", Format: "json",
				Fields: map[string]string{"time": "@t", "status": "http.status", "path": "http.path", "key_id": "auth.kid"}},
				Match: Match{KeyID: "previous", Status: []int{200}}, Bin: 30 * time.Minute, Max: intp(2)},
			verdict: provider.Fail, reason: "3 matching lines in bin 10:30 UTC, max 2",
			bins: []provider.Bin{bin(at(0), 2, 180), bin(at(30*time.Minute), 3, 180)},
		})
	})
}

func TestCheckRotatedFiles(t *testing.T) {
	// access.log.3.gz ends before the cutover by more than the slack: it must not be read, so
	// its v1 lines (which would fail the check) do not count, and neither does its garbage.
	files := map[string][]string{
		"access.log":      every(at(40*time.Minute), now, time.Minute, func(t time.Time) string { return jsonl(t, "v2", 200, "/", "a") }),
		"access.log.1":    append(every(at(10*time.Minute), at(40*time.Minute), time.Minute, func(t time.Time) string { return jsonl(t, "v2", 200, "/", "a") }), jsonl(at(39*time.Minute), "v1", 200, "/", "batch-7")),
		"access.log.2.gz": append(every(at(-10*time.Minute), at(10*time.Minute), time.Minute, func(t time.Time) string { return jsonl(t, "v2", 200, "/", "a") }), jsonl(at(1*time.Minute), "v1", 200, "/", "batch-7")),
		"access.log.3.gz": append(every(at(-2*time.Hour), at(-10*time.Minute), time.Minute, func(t time.Time) string { return jsonl(t, "v1", 200, "/", "a") }), "garbage", "garbage"),
		"access.log.old":  {"not a rotation: never read"},
	}
	res := runCase(t, checkCase{
		files: files,
		cfg:   Config{Source: jsonSource("access.log"), Match: Match{KeyID: "previous"}, Max: intp(0), By: []string{"host"}},
		// In-window lines: 20 + 30 + 1 + 10 + 1 (the .2.gz lines from 10:00).
		verdict: provider.Fail, reason: "1 matching line in bin 10:00 UTC (host=batch-7), max 0",
		observed: "2 matching of 62 lines in the window",
		bins: []provider.Bin{
			bin(at(0), 1, 6, "host", "batch-7"),
			bin(at(35*time.Minute), 1, 6, "host", "batch-7"),
		},
	})
	for _, want := range []string{"access.log,", "access.log.1,", "access.log.2.gz;"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message %q does not list %s", res.Message, want)
		}
	}
	if strings.Contains(res.Message, "access.log.3.gz") || strings.Contains(res.Message, "access.log.old") {
		t.Errorf("message %q: read a file it did not need", res.Message)
	}

	t.Run("live file missing after a rotation", func(t *testing.T) {
		runCase(t, checkCase{
			files:   map[string][]string{"access.log.1": every(cutover, now, time.Minute, func(t time.Time) string { return jsonl(t, "v2", 200, "/", "a") })},
			cfg:     Config{Source: jsonSource("access.log"), Match: Match{KeyID: "previous"}, Max: intp(0)},
			verdict: provider.Pass, observed: "0 matching of 60 lines",
		})
	})
	t.Run("glob", func(t *testing.T) {
		runCase(t, checkCase{
			files: map[string][]string{
				"logs/a.log":   {jsonl(at(time.Minute), "v1", 200, "/", "a")},
				"logs/b.log":   {jsonl(at(2*time.Minute), "v1", 200, "/", "b")},
				"logs/b.log.1": {jsonl(at(3*time.Minute), "v1", 200, "/", "b")},
				"logs/c.txt":   {jsonl(at(4*time.Minute), "v1", 200, "/", "c")},
			},
			cfg:     Config{Source: jsonSource("logs/*.log"), Match: Match{KeyID: "previous"}, Max: intp(0), By: []string{"host"}},
			verdict: provider.Fail,
			bins:    []provider.Bin{bin(cutover, 1, 3, "host", "a"), bin(cutover, 2, 3, "host", "b")},
		})
	})
}

func TestCheckRateAndIncrease(t *testing.T) {
	// Ten lines every 5 minutes; before the cutover one in ten is a 401, after it two.
	gen := func(from, to time.Time, errs int) []string {
		var out []string
		for t0 := from; t0.Before(to); t0 = t0.Add(5 * time.Minute) {
			for i := range 10 {
				st := 200
				if i < errs {
					st = 401
				}
				out = append(out, jsonl(t0.Add(time.Duration(i)*time.Second), "v2", st, "/", fmt.Sprint("h", i%2)))
			}
		}
		return out
	}
	normal := map[string][]string{"app.log": cat(gen(at(-time.Hour), cutover, 1), gen(cutover, now, 2))}
	rate := func(r float64) Config {
		return Config{Source: jsonSource("app.log"), Match: Match{Status: []int{401}}, MaxRate: r}
	}
	increase := func(r float64) Config {
		return Config{Source: jsonSource("app.log"), Match: Match{Status: []int{401}}, MaxIncrease: r}
	}
	cases := []checkCase{
		{name: "rate within", files: normal, cfg: rate(0.25), verdict: provider.Pass, observed: "highest share 20% (2 of 10) at 10:00 UTC"},
		{name: "rate over", files: normal, cfg: rate(0.1), verdict: provider.Fail, reason: "2 of 10 lines (20%) matched in bin 10:00 UTC, max 10%"},
		{
			name: "rate names the worst bin", cfg: rate(0.3), verdict: provider.Fail, reason: "5 of 10 lines (50%) matched in bin 10:25 UTC, max 30%",
			files: map[string][]string{"app.log": cat(gen(cutover, at(25*time.Minute), 2), gen(at(25*time.Minute), at(30*time.Minute), 5), gen(at(30*time.Minute), now, 3))},
		},
		{name: "rate over names the largest group", files: normal, cfg: func() Config { c := rate(0.1); c.By = []string{"host"}; return c }(),
			verdict: provider.Fail, reason: "2 of 10 lines (20%) matched in bin 10:00 UTC (most from host=h0), max 10%"},
		{name: "increase within", files: normal, cfg: increase(2.5), verdict: provider.Pass, observed: "12 matching of 120 lines in the 1h before 2026-11-30T10:00:00Z"},
		{name: "increase over", files: normal, cfg: increase(1.5), verdict: provider.Fail, reason: "24 matching lines in the window against 12 in the 1h before 2026-11-30T10:00:00Z (2.00x), max 1.50x"},
		{
			name: "increase from zero is unbounded", cfg: increase(100), verdict: provider.Fail, reason: "an increase from zero is unbounded",
			files: map[string][]string{"app.log": cat(gen(at(-time.Hour), cutover, 0), gen(cutover, now, 1))},
		},
		{
			name: "none before and none after passes", cfg: increase(1), verdict: provider.Pass,
			files: map[string][]string{"app.log": cat(gen(at(-time.Hour), cutover, 0), gen(cutover, now, 0))},
		},
		{
			name: "no baseline lines is unknown", cfg: increase(2), verdict: provider.Unknown, reason: "no log lines in the 1h before",
			files: map[string][]string{"app.log": gen(cutover, now, 1)},
		},
		{
			name: "a window compares the same length before the cutover", verdict: provider.Fail, reason: "4 matching lines in the window against 2 in the 10m before",
			cfg:   func() Config { c := increase(1.5); c.Window = 10 * time.Minute; return c }(),
			files: normal,
		},
		{
			name: "a broken threshold fails even when another is unknown", verdict: provider.Fail, reason: "matching lines in bin",
			cfg:   func() Config { c := increase(2); c.Max = intp(1); return c }(),
			files: map[string][]string{"app.log": gen(cutover, now, 2)},
		},
		{
			name: "max_increase without a cutover is unknown", verdict: provider.Unknown, reason: "needs the cutover",
			cfg:   func() Config { c := increase(2); c.Window = 30 * time.Minute; return c }(),
			req:   func(r *provider.CheckRequest) { r.Since = time.Time{} },
			files: normal,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runCase(t, c) })
	}
}

func TestCheckMissingEvidence(t *testing.T) {
	prevOnly := Config{Source: jsonSource("app.log"), Match: Match{KeyID: "previous"}, Max: intp(0)}
	inWindow := every(cutover, now, time.Minute, func(t time.Time) string { return jsonl(t, "v2", 200, "/", "a") })
	cases := []checkCase{
		{
			name: "silent log", cfg: prevOnly, verdict: provider.Unknown, reason: "no log lines in the window",
			message: "no log lines since 2026-11-30T10:00:00Z: the source is silent",
			files:   map[string][]string{"app.log": every(at(-time.Hour), cutover, time.Minute, func(t time.Time) string { return jsonl(t, "v1", 200, "/", "a") })},
		},
		{name: "empty file", cfg: prevOnly, verdict: provider.Unknown, reason: "no log lines in the window", files: map[string][]string{"app.log": nil}},
		{name: "missing file", cfg: prevOnly, verdict: provider.Unknown, reason: "no log file at ", files: map[string][]string{"other.log": inWindow}},
		{name: "missing folder", cfg: Config{Source: jsonSource("nowhere/app.log"), Max: intp(0)}, verdict: provider.Unknown, reason: "nowhere/app.log"},
		{name: "glob matching nothing", cfg: Config{Source: jsonSource("logs/*.log"), Max: intp(0)}, verdict: provider.Unknown, reason: "no log file", message: "no file matches"},
		{
			name: "malformed majority", cfg: prevOnly, verdict: provider.Unknown, reason: "malformed lines", message: "40 of 60 lines in the window are not json lines",
			files: map[string][]string{"app.log": cat(inWindow[:20], strings.Split(strings.Repeat("not json\n", 40), "\n")[:40])},
		},
		{
			name: "wrong format is malformed, not silent", verdict: provider.Unknown, reason: "malformed lines", message: "60 of 60",
			cfg:   Config{Source: Source{Type: "file", Path: "app.log", Format: "combined"}, Max: intp(0)},
			files: map[string][]string{"app.log": inWindow},
		},
		{
			name: "a few malformed lines are tolerated", cfg: prevOnly, verdict: provider.Pass, message: "60 in the window, 3 malformed",
			files: map[string][]string{"app.log": cat(inWindow[:30], []string{"{", "oops", `{"ts":"yesterday"}`}, inWindow[30:])},
		},
		{
			name: "just over a tenth malformed is unknown", cfg: prevOnly, verdict: provider.Unknown, reason: "malformed lines", message: "7 of 67 lines",
			files: map[string][]string{"app.log": cat(inWindow, strings.Split(strings.Repeat("junk\n", 7), "\n")[:7])},
		},
		{
			name: "a tenth malformed is still judged", cfg: prevOnly, verdict: provider.Pass, message: "54 in the window, 6 malformed",
			files: map[string][]string{"app.log": cat(inWindow[:54], strings.Split(strings.Repeat("junk\n", 6), "\n")[:6])},
		},
		{
			name: "malformed lines at the head of a file count with the window", cfg: prevOnly, verdict: provider.Unknown, reason: "malformed lines", message: "10 of 30",
			files: map[string][]string{"app.log": cat(strings.Split(strings.Repeat("junk\n", 10), "\n")[:10], inWindow[:20])},
		},
		{
			name: "malformed lines before the window do not count", cfg: prevOnly, verdict: provider.Pass, message: "60 in the window, 0 malformed",
			files: map[string][]string{"app.log": cat(strings.Split(strings.Repeat("junk\n", 50), "\n")[:50],
				[]string{jsonl(at(-time.Hour), "v2", 200, "/", "a")}, strings.Split(strings.Repeat("junk\n", 50), "\n")[:50], inWindow)},
		},
		{
			name: "cancelled context", cfg: prevOnly, verdict: provider.Unknown, reason: "interrupted", files: map[string][]string{"app.log": inWindow},
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runCase(t, c) })
	}
}

func TestCheckUnreadable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	// A link to itself: it exists, and opening it fails even for root, whom a mode of 0 would
	// not stop.
	if err := os.Symlink("app.log", path); err != nil {
		t.Fatal(err)
	}
	chk, err := New(&Config{Source: jsonSource("app.log"), Max: intp(0)}, provider.Env{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	res, err := chk.Check(context.Background(), request())
	if err != nil || res.Verdict != provider.Unknown || res.Reason != "log file unreadable" {
		t.Fatalf("got %+v, %v", res, err)
	}
}

// A rotated file that cannot be decompressed leaves a hole in the evidence.
func TestCheckCorruptRotation(t *testing.T) {
	inWindow := every(cutover, now, time.Minute, func(t time.Time) string { return jsonl(t, "v2", 200, "/", "a") })
	var gz strings.Builder
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Join(inWindow, "\n")))
	zw.Close()
	for name, data := range map[string]string{
		"bad header": "\x1f\x8b garbage",
		"truncated":  gz.String()[:gz.Len()/2],
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeLines(t, filepath.Join(dir, "app.log"), inWindow[30:])
			if err := os.WriteFile(filepath.Join(dir, "app.log.1.gz"), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			chk, err := New(&Config{Source: jsonSource("app.log"), Max: intp(0)}, provider.Env{BaseDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			res, err := chk.Check(context.Background(), request())
			if err != nil || res.Verdict != provider.Unknown || res.Reason != "log file unreadable" || !strings.Contains(res.Message, "app.log.1.gz") {
				t.Fatalf("got %+v, %v", res, err)
			}
		})
	}
}

// cancelAfter is a context cancelled after n looks at Err.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

// A large file is read with the context in view: a cancellation stops it part way.
func TestCheckCancelMidFile(t *testing.T) {
	dir := t.TempDir()
	line := jsonl(at(time.Minute), "v2", 200, "/", "a") + "\n"
	writeLines(t, filepath.Join(dir, "app.log"), []string{strings.TrimSuffix(strings.Repeat(line, 100_000), "\n")})
	chk, err := New(&Config{Source: jsonSource("app.log"), Max: intp(0)}, provider.Env{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	res, err := chk.Check(&cancelAfter{Context: context.Background(), n: 1}, request())
	if err != nil || res.Verdict != provider.Unknown || res.Reason != "interrupted" || !strings.Contains(res.Message, fmt.Sprintf("stopped after %d lines", checkEvery)) {
		t.Fatalf("got %+v, %v", res, err)
	}
}

func TestCheckGroupsAndBins(t *testing.T) {
	t.Run("bins are capped and say so", func(t *testing.T) {
		var lines []string
		for i := range 600 {
			lines = append(lines, jsonl(at(time.Duration(i)*time.Second), "v2", 404, fmt.Sprintf("/p%03d", i), "a"))
		}
		lines = append(lines, jsonl(at(30*time.Minute), "v2", 404, "/p000", "a"), jsonl(at(30*time.Minute), "v2", 404, "/p000", "a"))
		res := runCase(t, checkCase{
			files:   map[string][]string{"app.log": lines},
			cfg:     Config{Source: jsonSource("app.log"), Match: Match{Status: []int{404}}, By: []string{"path"}, Max: intp(1)},
			verdict: provider.Fail, reason: "2 matching lines in bin 10:30 UTC (path=/p000), max 1",
			message: "500 of 601 bins shown (the highest counts)",
		})
		if len(res.Bins) != maxBins {
			t.Fatalf("%d bins, want %d", len(res.Bins), maxBins)
		}
		if last := res.Bins[len(res.Bins)-1]; last.Count != 2 || !last.Start.Equal(at(30*time.Minute)) {
			t.Fatalf("the highest bin was dropped: %+v", last)
		}
	})
	t.Run("groups past the limit are counted together", func(t *testing.T) {
		var b strings.Builder
		for i := range maxCells + 10 {
			b.WriteString(jsonl(at(time.Duration(i%600)*time.Second), "v1", 200, fmt.Sprintf("/u/%d", i), "a"))
			b.WriteByte('\n')
		}
		res := runCase(t, checkCase{
			files:   map[string][]string{"app.log": strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")},
			cfg:     Config{Source: jsonSource("app.log"), Match: Match{KeyID: "previous"}, By: []string{"path"}, Max: intp(1)},
			verdict: provider.Fail, reason: "10 matching lines in bin 10:05 UTC (other groups), max 1",
			message: fmt.Sprintf("more than %d groups: 10 matching lines counted as other groups", maxCells),
		})
		if len(res.Bins) != maxBins {
			t.Fatalf("%d bins", len(res.Bins))
		}
		if last := res.Bins[len(res.Bins)-1]; last.Count != 10 || last.Group["path"] != "(other groups)" {
			t.Fatalf("the other groups are not shown last in their bin: %+v", last)
		}
	})
	t.Run("bins are aligned to the epoch", func(t *testing.T) {
		ts := at(17 * time.Minute)
		start := time.Unix(ts.Unix()/420*420, 0).UTC()
		runCase(t, checkCase{
			files:   map[string][]string{"app.log": {jsonl(ts, "v1", 200, "/", "a")}},
			cfg:     Config{Source: jsonSource("app.log"), Match: Match{KeyID: "previous"}, Bin: 7 * time.Minute, Max: intp(0)},
			verdict: provider.Fail, bins: []provider.Bin{bin(start, 1, 1)},
		})
	})
	t.Run("other key ids and query strings stay out of the result", func(t *testing.T) {
		res := runCase(t, checkCase{
			files: map[string][]string{"app.log": {
				jsonl(at(time.Minute), "sk_live_0123456789", 200, "/cb?token=hunter2", "a"),
				jsonl(at(time.Minute), "v1", 200, "/cb#frag-hunter2", "a"),
				`{"ts":"2026-11-30T10:01:00Z","status":200,"path":"/cb","client":"a"}`,
			}},
			cfg:     Config{Source: jsonSource("app.log"), By: []string{"key_id", "path"}, Max: intp(0)},
			verdict: provider.Fail,
			bins: []provider.Bin{
				bin(cutover, 1, 3, "key_id", "-", "path", "/cb"),
				bin(cutover, 1, 3, "key_id", "other", "path", "/cb"),
				bin(cutover, 1, 3, "key_id", "v1", "path", "/cb"),
			},
		})
		raw, _ := json.Marshal(res)
		for _, secret := range []string{"sk_live", "hunter2", "frag"} {
			if strings.Contains(string(raw), secret) {
				t.Fatalf("the result carries %q: %s", secret, raw)
			}
		}
	})
}

func TestFloorDiv(t *testing.T) {
	for _, c := range []struct{ a, b, want int64 }{{7, 5, 1}, {5, 5, 1}, {0, 5, 0}, {-1, 5, -1}, {-5, 5, -1}, {-6, 5, -2}} {
		if got := floorDiv(c.a, c.b); got != c.want {
			t.Errorf("floorDiv(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Source: jsonSource("a.log"), Max: intp(0)}
	if errs := ok.Validate(); len(errs) != 0 {
		t.Fatalf("valid config: %v", errs)
	}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no threshold", func(c *Config) { c.Max = nil }, "max: a log check needs a threshold: max, max_rate or max_increase"},
		{"regexp without pattern", func(c *Config) { c.Source.Format = "regexp"; c.Source.Fields = nil }, "source: format regexp needs a pattern"},
		{"bad key_id", func(c *Config) { c.Match.KeyID = "v1" }, "match: key_id is previous or current"},
		{"pattern that does not compile", func(c *Config) { c.Source = Source{Type: "file", Path: "a", Format: "regexp", Pattern: "(?P<time>"} }, "source.pattern: does not compile"},
		{"pattern without time", func(c *Config) {
			c.Source = Source{Type: "file", Path: "a", Format: "regexp", Pattern: `(?P<host>\S+)`}
		}, "source.pattern: needs a named group time"},
		{"pattern for json", func(c *Config) { c.Source.Pattern = "(?P<time>.*)" }, "source.pattern: is only read with format regexp"},
		{"fields for combined", func(c *Config) { c.Source.Format = "combined" }, "source.fields: is only read with format json"},
		{"unknown field", func(c *Config) { c.Source.Fields = map[string]string{"user": "u"} }, `source.fields: "user" is not a field`},
		{"bad glob", func(c *Config) { c.Source.Path = "logs/[" }, "source.path: is not a valid file name or glob"},
		{"by time", func(c *Config) { c.By = []string{"time"} }, `by: "time" is not a field to group by`},
		{"by twice", func(c *Config) { c.By = []string{"host", "host"} }, `by: lists "host" twice`},
		{"tiny bin", func(c *Config) { c.Bin = time.Millisecond }, "bin: is at least 1s"},
		{"negative window", func(c *Config) { c.Window = -time.Minute }, "window: is a positive duration"},
		{"negative max", func(c *Config) { c.Max = intp(-1) }, "max: is a count, 0 or more"},
		{"rate above 1", func(c *Config) { c.MaxRate = 5 }, "max_rate: is a fraction"},
		{"negative increase", func(c *Config) { c.MaxIncrease = -1; c.Max = nil }, "max_increase: is a ratio"},
		{"NaN rate", func(c *Config) { c.MaxRate = math.NaN() }, "max_rate: is a fraction"},
		{"NaN increase", func(c *Config) { c.MaxIncrease = math.NaN() }, "max_increase: is a ratio"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			cfg.Source.Fields = map[string]string{"time": "ts"}
			c.edit(&cfg)
			errs := cfg.Validate()
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if !strings.Contains(strings.Join(got, "\n"), c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			if _, err := New(&cfg, provider.Env{}); err == nil || provider.KindOf(err) != provider.Terminal {
				t.Fatalf("New accepted it: %v", err)
			}
		})
	}
	if _, err := New(&Config{Source: Source{Type: "loki", Path: "a", Format: "json"}, Max: intp(0)}, provider.Env{}); err == nil {
		t.Fatal("New accepted a source type it cannot read")
	}
}

// BenchmarkScan scans a ~50 MB JSON-lines file for the previous key id.
func BenchmarkScan(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "access.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	t0 := cutover.Add(-30 * time.Minute)
	size := 0
	for i := 0; size < 50<<20; i++ {
		key := "v2"
		if i%1000 == 0 {
			key = "v1"
		}
		n, _ := fmt.Fprintf(w, `{"ts":%q,"level":"info","msg":"request served","key_id":%q,"status":%d,"path":"/api/v1/items/%d","client":"host-%d","duration_ms":%d,"user_agent":"rotor-bench/1.0"}`+"\n",
			t0.Add(time.Duration(i)*time.Millisecond*20).Format(time.RFC3339Nano), key, 200+i%3, i%5000, i%50, i%300)
		size += n
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	chk, err := New(&Config{Source: jsonSource(path), Match: Match{KeyID: "previous"}, By: []string{"host"}, Max: intp(0)}, provider.Env{})
	if err != nil {
		b.Fatal(err)
	}
	req := request()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for b.Loop() {
		res, err := chk.Check(context.Background(), req)
		if err != nil || res.Verdict != provider.Fail {
			b.Fatalf("got %+v, %v", res, err)
		}
	}
}
