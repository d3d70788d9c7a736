// Command hookrecv is a test webhook receiver for rotor's end-to-end tests: it verifies the
// HMAC-SHA256 signature of every event POSTed to /hook — Stripe-style (t=…,v1=…) or plain hex,
// in the Webhook-Signature header — with every key it reads from rotor's file store (every
// enabled version, so old and new are accepted during an overlap), and logs each event as a
// JSON line with the id of the version whose key verified it (never the key). It re-reads the
// store on SIGHUP, the way a real receiver reloads its secrets.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
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

type key struct {
	id string
	v  secret.Value
}

func main() {
	dir := flag.String("dir", "", "file store directory")
	name := flag.String("name", "", "credential name in the store")
	ident := flag.String("identity", "", "age identity file")
	addrFile := flag.String("addr-file", "", "write the listening address here")
	pidFile := flag.String("pid-file", "", "write the pid here")
	logFile := flag.String("log", "", "event log (JSON lines)")
	flag.Parse()

	var mu sync.RWMutex
	var keys []key
	load := func() {
		r, err := file.OpenReader(*dir, *name, *ident)
		var ks []key
		if err == nil {
			var vs []file.VersionValue
			if vs, err = r.Enabled(); err == nil {
				for _, v := range vs {
					ks = append(ks, key{v.ID, v.Value})
				}
			}
		}
		if err != nil {
			log.Printf("hookrecv: no keys loaded: %v", err)
		}
		mu.Lock()
		for _, k := range keys {
			k.v.Wipe()
		}
		keys = ks
		mu.Unlock()
		log.Printf("hookrecv: %d keys loaded", len(ks))
	}
	load()

	lf, err := os.OpenFile(*logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	var logMu sync.Mutex
	logLine := func(r *http.Request, keyID string, status int, why string) {
		b, _ := json.Marshal(map[string]any{"ts": time.Now().UTC().Format(time.RFC3339Nano), "key_id": keyID,
			"status": status, "path": r.URL.Path, "sender": r.Header.Get("X-Sender"), "error": why})
		logMu.Lock()
		lf.Write(append(b, '\n'))
		logMu.Unlock()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		logLine(r, "", 200, "")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body unreadable", 400)
			return
		}
		header := r.Header.Get("Webhook-Signature")
		id, why := "", "no key loaded"
		mu.RLock()
		for _, k := range keys {
			b := k.v.Reveal()
			err := webhooksig.Verify(b, body, header, time.Now(), 0)
			clear(b)
			if err == nil {
				id = k.id
				break
			}
			why = err.Error()
		}
		mu.RUnlock()
		if id == "" {
			logLine(r, "", 401, why)
			http.Error(w, why, 401)
			return
		}
		logLine(r, id, 200, "")
		w.WriteHeader(http.StatusNoContent)
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*pidFile, []byte(fmt.Sprint(os.Getpid())), 0o600); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()), 0o600); err != nil {
		log.Fatal(err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			load()
		}
	}()
	log.Fatal(http.Serve(ln, mux))
}
