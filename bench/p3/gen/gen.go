// Package gen writes the P3 benchmark's access log: nginx "combined" lines with the key id the
// client sent appended as key_id="…", the way
//
//	log_format keyed '$remote_addr - $remote_user [$time_local] "$request" $status '
//	                 '$body_bytes_sent "$http_referer" "$http_user_agent" key_id="$http_x_key_id"';
//
// writes them, over a fixed span of time, from a fixed seed: the same options give the same
// bytes (for one Go release — math/rand/v2's PCG and its helpers).
//
// Most requests use the current key or none ("-"); a few clients — a forgotten batch job, an
// old deployment — still send the previous key. PreviousKey appears in no other place of the
// file, so `rg -c PreviousKey` counts exactly the lines rotor must find, and the generator
// counts them too (Stats.PreviousLines). A few lines are cut short (as a full disk or a crash
// leaves them) and are malformed; they never carry the previous key.
package gen

import (
	"bufio"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// The key ids of the two versions: what the service logs from the X-Key-Id header.
const (
	PreviousKey = "key-3f9a2b81c6d0"
	CurrentKey  = "key-7c1d0e9b52a4"
)

// Options shape the file.
type Options struct {
	Size  int64         // bytes to write, about (the last line ends past it)
	Seed  uint64        // default 1
	Start time.Time     // time of the first line; default 2026-11-30 00:00 +01:00
	Span  time.Duration // from the first line to the last; default 24h
	// PreviousEvery: about one line in this many uses the previous key (default 2000).
	PreviousEvery int
}

// Stats describe what was written.
type Stats struct {
	Bytes         int64
	Lines         int64
	PreviousLines int64 // lines with key_id="PreviousKey"
	CurrentLines  int64
	Malformed     int64 // lines cut short
	First, Last   time.Time
}

// Defaults fills the zero options.
func (o Options) Defaults() Options {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 11, 30, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	}
	if o.Span == 0 {
		o.Span = 24 * time.Hour
	}
	if o.PreviousEvery == 0 {
		o.PreviousEvery = 2000
	}
	return o
}

var (
	agents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"python-requests/2.32.3",
		"Go-http-client/2.0",
		"okhttp/4.12.0",
		"curl/8.11.0",
		"k6/0.55.0 (https://k6.io/)",
		"Apache-HttpClient/5.4 (Java/21.0.5)",
	}
	referers = []string{
		"-", "-", "-",
		"https://shop.example.com/",
		"https://shop.example.com/cart",
		"https://shop.example.com/search?q=garden+chairs",
		"https://www.example.org/blog/2026/11/winter-sale",
	}
	statuses = []struct {
		code   int
		weight int
	}{{200, 820}, {201, 40}, {204, 30}, {301, 10}, {304, 40}, {400, 8}, {401, 15}, {403, 7}, {404, 20}, {429, 4}, {500, 3}, {502, 2}, {503, 1}}
	methods = []string{"GET", "GET", "GET", "GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "HEAD"}
	// The clients that still send the previous key.
	stale = []string{"10.20.0.17", "10.20.3.41", "192.0.2.77"}
)

// Write writes the log to w.
func Write(w io.Writer, o Options) (Stats, error) {
	o = o.Defaults()
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	bw := bufio.NewWriterSize(w, 1<<20)

	statusTotal := 0
	for _, s := range statuses {
		statusTotal += s.weight
	}
	clients := make([]string, 4000)
	for i := range clients {
		clients[i] = strconv.Itoa(1+rng.IntN(223)) + "." + strconv.Itoa(rng.IntN(256)) + "." + strconv.Itoa(rng.IntN(256)) + "." + strconv.Itoa(1+rng.IntN(254))
	}

	var st Stats
	var line []byte
	var lastSec int64 = -1
	var stamp []byte
	for st.Bytes < o.Size {
		// Time advances with the bytes written, so the span is covered whatever the line
		// lengths; a few lines are stamped a little earlier (a slow request logged late).
		frac := float64(st.Bytes) / float64(o.Size)
		t := o.Start.Add(time.Duration(frac * float64(o.Span)))
		if rng.IntN(200) == 0 {
			t = t.Add(-time.Duration(1+rng.IntN(3)) * time.Second)
		}
		if t.Before(o.Start) {
			t = o.Start
		}
		if st.Lines == 0 {
			st.First = t.Truncate(time.Second)
		}
		if t.Truncate(time.Second).After(st.Last) {
			st.Last = t.Truncate(time.Second)
		}
		if sec := t.Unix(); sec != lastSec {
			stamp = t.AppendFormat(stamp[:0], "02/Jan/2006:15:04:05 -0700")
			lastSec = sec
		}

		key := "-"
		client := clients[zipf(rng, len(clients))]
		switch {
		case rng.IntN(o.PreviousEvery) == 0:
			key = PreviousKey
			client = stale[rng.IntN(len(stale))]
		case rng.IntN(10) < 7:
			key = CurrentKey
		}
		status := 200
		for r, i := rng.IntN(statusTotal), 0; i < len(statuses); i++ {
			if r -= statuses[i].weight; r < 0 {
				status = statuses[i].code
				break
			}
		}

		line = append(line[:0], client...)
		line = append(line, " - "...)
		if rng.IntN(20) == 0 {
			line = append(line, "svc-"...)
			line = strconv.AppendInt(line, int64(rng.IntN(40)), 10)
		} else {
			line = append(line, '-')
		}
		line = append(line, " ["...)
		line = append(line, stamp...)
		line = append(line, "] \""...)
		if rng.IntN(5000) == 0 {
			// A TLS handshake sent to the plain-text port: nginx logs the bytes, no path.
			line = append(line, `\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03`...)
			status = 400
		} else {
			line = append(line, methods[rng.IntN(len(methods))]...)
			line = append(line, ' ')
			line = appendPath(line, rng)
			if rng.IntN(3) == 0 {
				line = append(line, " HTTP/2.0"...)
			} else {
				line = append(line, " HTTP/1.1"...)
			}
		}
		line = append(line, "\" "...)
		line = strconv.AppendInt(line, int64(status), 10)
		line = append(line, ' ')
		line = strconv.AppendInt(line, int64(rng.IntN(40000)), 10)
		line = append(line, " \""...)
		line = append(line, referers[rng.IntN(len(referers))]...)
		line = append(line, "\" \""...)
		line = append(line, agents[rng.IntN(len(agents))]...)
		line = append(line, "\" key_id=\""...)
		line = append(line, key...)
		line = append(line, '"')

		switch {
		case key != PreviousKey && rng.IntN(100000) == 0:
			// Cut short: no closing quote, or not even a time.
			line = line[:10+rng.IntN(len(line)-20)]
			st.Malformed++
		case key == PreviousKey:
			st.PreviousLines++
		case key == CurrentKey:
			st.CurrentLines++
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return st, err
		}
		st.Bytes += int64(len(line))
		st.Lines++
	}
	return st, bw.Flush()
}

// zipf picks an index in [0, n), low ones far more often: a few clients make most requests.
func zipf(rng *rand.Rand, n int) int {
	f := rng.Float64()
	return int(float64(n) * f * f * f)
}

func appendPath(b []byte, rng *rand.Rand) []byte {
	switch rng.IntN(10) {
	case 0, 1, 2:
		b = append(b, "/api/v1/orders/"...)
		b = strconv.AppendInt(b, int64(100000+rng.IntN(900000)), 10)
	case 3, 4:
		b = append(b, "/api/v1/items?page="...)
		b = strconv.AppendInt(b, int64(1+rng.IntN(200)), 10)
		b = append(b, "&limit=50"...)
	case 5:
		b = append(b, "/api/v2/search?q=garden+chair&sort=price&offset="...)
		b = strconv.AppendInt(b, int64(rng.IntN(20)*20), 10)
	case 6, 7:
		b = append(b, "/static/js/app."...)
		b = strconv.AppendUint(b, rng.Uint64()&0xffffffff, 16)
		b = append(b, ".js"...)
	case 8:
		b = append(b, "/healthz"...)
	default:
		b = append(b, "/api/v1/customers/"...)
		b = strconv.AppendInt(b, int64(rng.IntN(50000)), 10)
		b = append(b, "/addresses"...)
	}
	return b
}
