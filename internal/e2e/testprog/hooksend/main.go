// Command hooksend is a test webhook sender for rotor's end-to-end tests: it reads the current
// signing key from rotor's file store (honouring a rollback pin for its consumer name), and
// POSTs a signed event to hookrecv at an interval until killed, in the Stripe style or plain
// hex. It re-reads the key on SIGHUP only, the way a real sender reloads its secrets: a sender
// nobody reloads keeps signing with the key it started with.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/file"
	"github.com/rotorhq/rotor/internal/webhooksig"
)

func main() {
	dir := flag.String("dir", "", "file store directory")
	name := flag.String("name", "", "credential name in the store")
	ident := flag.String("identity", "", "age identity file")
	consumer := flag.String("consumer", "", "consumer name (for rollback pins)")
	addrFile := flag.String("addr-file", "", "file holding hookrecv's host:port")
	sender := flag.String("sender", "hooksend", "X-Sender header")
	style := flag.String("style", webhooksig.Stripe, "stripe or hex")
	pidFile := flag.String("pid-file", "", "write the pid here")
	every := flag.Duration("every", 100*time.Millisecond, "interval between events")
	flag.Parse()

	var mu sync.Mutex
	var id string
	var key secret.Value
	load := func() {
		r, err := file.OpenReader(*dir, *name, *ident)
		if err != nil {
			log.Printf("hooksend: %v", err)
			return
		}
		nid, nv, err := r.ForConsumer(*consumer)
		if err != nil {
			log.Printf("hooksend: %v", err)
			return
		}
		mu.Lock()
		key.Wipe()
		id, key = nid, nv
		mu.Unlock()
		log.Printf("hooksend %s: signing with %s", *sender, nid)
	}
	load()
	if *pidFile != "" {
		if err := os.WriteFile(*pidFile, []byte(fmt.Sprint(os.Getpid())), 0o600); err != nil {
			log.Fatal(err)
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			load()
		}
	}()
	for n := 0; ; n++ {
		time.Sleep(*every)
		addr, err := os.ReadFile(*addrFile)
		mu.Lock()
		kid, k := id, key.Reveal()
		mu.Unlock()
		if err != nil || kid == "" {
			clear(k)
			continue
		}
		body := []byte(fmt.Sprintf(`{"type":"shipment.updated","n":%d}`, n))
		var sig string
		if *style == webhooksig.Hex {
			sig = webhooksig.SignHex(k, body)
		} else {
			sig = webhooksig.SignStripe(k, body, time.Now())
		}
		clear(k)
		req, _ := http.NewRequest("POST", "http://"+string(addr)+"/hook", bytes.NewReader(body))
		req.Header.Set("Webhook-Signature", sig)
		req.Header.Set("X-Sender", *sender)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Printf("hooksend: %v", err)
			continue
		}
		resp.Body.Close()
		fmt.Printf("hooksend %s: key %s -> %d\n", *sender, kid, resp.StatusCode)
	}
}
