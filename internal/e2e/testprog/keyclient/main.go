// Command keyclient is a test client for rotor's end-to-end tests: it reads its API key from
// rotor's file store once, at start (honouring a rollback pin for its consumer name), and
// calls keysvc with it — once (a job run: exit 0 on success) or in a loop (a long-running
// client that keeps the key it started with, like the consumer nobody declared).
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
	url := flag.String("url", "", "keysvc /data URL, or @FILE holding host:port")
	client := flag.String("client", "keyclient", "X-Client header")
	every := flag.Duration("every", 0, "call repeatedly at this interval until killed")
	flag.Parse()

	r, err := file.OpenReader(*dir, *name, *ident)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyclient:", err)
		os.Exit(2)
	}
	id, v, err := r.ForConsumer(*consumer)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyclient:", err)
		os.Exit(2)
	}
	target := *url
	if len(target) > 0 && target[0] == '@' {
		b, err := os.ReadFile(target[1:])
		if err != nil {
			fmt.Fprintln(os.Stderr, "keyclient:", err)
			os.Exit(2)
		}
		target = "http://" + string(b) + "/data"
	}
	call := func() bool {
		req, _ := http.NewRequest("GET", target, nil)
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
		if !call() {
			os.Exit(1)
		}
		return
	}
	for {
		call()
		time.Sleep(*every)
	}
}
