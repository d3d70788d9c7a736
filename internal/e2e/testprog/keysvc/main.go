// Command keysvc is a test service for rotor's end-to-end tests: an HTTP API that accepts the
// API keys it reads from rotor's file store — every enabled version, so both keys work during
// an overlap cutover — and logs the key id of every request as a JSON line. It re-reads the
// store on SIGHUP, the way a real service reloads its secrets.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/file"
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
	logFile := flag.String("log", "", "request log (JSON lines)")
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
			log.Printf("keysvc: no keys loaded: %v", err)
		}
		mu.Lock()
		keys = ks
		mu.Unlock()
		log.Printf("keysvc: %d keys loaded", len(ks))
	}
	load()

	lf, err := os.OpenFile(*logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	var logMu sync.Mutex
	logLine := func(r *http.Request, keyID string, status int) {
		b, _ := json.Marshal(map[string]any{"ts": time.Now().UTC().Format(time.RFC3339Nano), "key_id": keyID,
			"status": status, "path": r.URL.Path, "client": r.Header.Get("X-Client")})
		logMu.Lock()
		lf.Write(append(b, '\n'))
		logMu.Unlock()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		logLine(r, "", 200)
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/data", func(w http.ResponseWriter, r *http.Request) {
		given := secret.FromString(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		mu.RLock()
		id := ""
		for _, k := range keys {
			if k.v.Equal(given) {
				id = k.id
			}
		}
		mu.RUnlock()
		if id == "" {
			logLine(r, "", 401)
			http.Error(w, "unknown key", 401)
			return
		}
		logLine(r, id, 200)
		fmt.Fprintln(w, "data for", id)
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
