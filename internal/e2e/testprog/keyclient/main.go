// Command keyclient is a test client for rotor's end-to-end tests: it reads its API key from
// rotor's file store once, at start (honouring a rollback pin for its consumer name), and
// calls keysvc with it — once (a job run, or a check: exit 0 on success) or in a loop (a
// long-running client that keeps the key it started with, like the consumer nobody declared,
// or with -reread one that reads the key for every request).
//
// As a check (-expect-current), it also fails unless the version it read is the one rotor
// names in ROTOR_VERSION: the consumer must be on the version the run expects, not merely on
// some version that still works. Without -url it only reads: "can this identity read the
// version it should use?".
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/rotorhq/rotor/internal/store/file"
)

func main() {
	dir := flag.String("dir", "", "file store directory")
	name := flag.String("name", "", "credential name in the store")
	ident := flag.String("identity", "", "age identity file")
	consumer := flag.String("consumer", "", "consumer name (for rollback pins)")
	url := flag.String("url", "", "keysvc /data URL, or @FILE holding host:port; empty: only read the key")
	client := flag.String("client", "keyclient", "X-Client header")
	every := flag.Duration("every", 0, "call repeatedly at this interval until killed")
	wait := flag.Duration("wait", 0, "as a single call: retry until accepted for at most this long (a service reloading asynchronously)")
	expectCurrent := flag.Bool("expect-current", false, "fail unless the key read is the version in $ROTOR_VERSION")
	reread := flag.Bool("reread", false, "with -every: read the key again before every call (a per-request consumer)")
	flag.Parse()

	r, err := file.OpenReader(*dir, *name, *ident)
	if err != nil {
		fail(2, err)
	}
	id, v, err := r.ForConsumer(*consumer)
	if err != nil {
		fail(2, err)
	}
	if want := os.Getenv("ROTOR_VERSION"); *expectCurrent && id != want {
		fail(1, fmt.Errorf("read version %s, rotor expects %s", id, want))
	}
	if *url == "" {
		fmt.Printf("keyclient %s: read key %s\n", *client, id)
		return
	}
	target := *url
	if target[0] == '@' {
		b, err := os.ReadFile(target[1:])
		if err != nil {
			fail(2, err)
		}
		target = "http://" + string(b) + "/data"
	}
	call := func() bool {
		req, err := http.NewRequest("GET", target, nil)
		if err != nil {
			fail(2, err)
		}
		b := v.Reveal()
		req.Header.Set("Authorization", "Bearer "+string(b))
		clear(b)
		req.Header.Set("X-Client", *client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "keyclient:", err)
			return false
		}
		resp.Body.Close()
		fmt.Printf("keyclient %s: key %s -> %d\n", *client, id, resp.StatusCode)
		return resp.StatusCode == 200
	}
	if *every == 0 {
		deadline := time.Now().Add(*wait)
		for !call() {
			if time.Now().After(deadline) {
				os.Exit(1)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return
	}
	for {
		if *reread {
			nid, nv, err := r.ForConsumer(*consumer)
			if err == nil {
				v.Wipe()
				id, v = nid, nv
			}
		}
		call()
		time.Sleep(*every)
	}
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "keyclient:", err)
	os.Exit(code)
}
