package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/metrics"
	"github.com/rotorhq/rotor/internal/state"
	"github.com/rotorhq/rotor/internal/state/sqlite"
)

// shutdownGrace is how long a stopping exporter lets scrapes in flight finish.
const shutdownGrace = 5 * time.Second

func newMetrics(g *globals) *cobra.Command {
	var listen string
	var once bool
	cmd := &cobra.Command{
		Use:   "metrics [--listen ADDR | --once]",
		Short: "Prometheus metrics: expiries, due dates, run phases, gates, exceptions, follow-ups, verdicts",
		Long: `Metrics serves /metrics for Prometheus. Every scrape reads the inventory and the state
database (read-only, like plan: it writes nothing) and shows, per credential, its expiry, last
rotation and next due date as timestamps, and its plan status; per run in progress, its phase
and since when, the gate it waits at, its open exceptions with their expiry, its open
follow-ups, and the latest verdict of each evidence gate. Never a value, never a fingerprint.
A scrape that cannot read the state reports rotor_state_up 0 instead of failing.

--once prints one scrape on stdout and exits: for tests, or for cron feeding node_exporter's
textfile collector. Alert rules for these series ship in deploy/prometheus/.`,
		Example: `  rotor metrics --listen 127.0.0.1:9464
  rotor metrics --once > /var/lib/node_exporter/textfile/rotor.prom.tmp && mv /var/lib/node_exporter/textfile/rotor.prom.tmp /var/lib/node_exporter/textfile/rotor.prom`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if once && cmd.Flags().Changed("listen") {
				return usageErr("--once prints one scrape and serves nothing: drop --listen")
			}
			x, err := g.exporter(cmd.Context())
			if err != nil {
				return err
			}
			if once {
				s := x.Read(cmd.Context())
				for _, p := range s.Problems {
					fmt.Fprintf(g.env.Stderr, "warning: %s\n", p)
				}
				return s.WriteText(g.env.Stdout)
			}
			return g.serveMetrics(cmd.Context(), x, listen)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9464", "address to serve /metrics on")
	cmd.Flags().BoolVar(&once, "once", false, "print one scrape in the Prometheus text format and exit")
	return cmd
}

// exporter checks the inventory and the state database once, so that a typo fails now with
// exit 2 (or 1) rather than at every scrape, and returns the exporter that re-reads both at
// every scrape.
func (g *globals) exporter(ctx context.Context) (*metrics.Exporter, error) {
	if _, err := g.loadOrPrint(); err != nil {
		return nil, err
	}
	loc, err := g.stateLocation()
	if err != nil {
		return nil, err
	}
	open := func(ctx context.Context) (state.Store, error) {
		return sqlite.Open(ctx, loc.Path, sqlite.Options{ReadOnly: true})
	}
	db, err := open(ctx)
	var fe *state.FormatError
	if errors.As(err, &fe) {
		return nil, err // not rotor's database, corrupt, or newer: no scrape would read it
	}
	if err == nil {
		db.Close()
	}
	return &metrics.Exporter{
		Inventory: func(now time.Time) (*inventory.Inventory, error) {
			return inventory.Load(g.inventory, inventory.Options{Catalog: g.registry, Now: now})
		},
		OpenState: open,
		Registry:  g.registry,
		Clock:     g.env.Now,
	}, nil
}

// serveMetrics serves /metrics until ctx ends or SIGINT/SIGTERM arrives, then lets scrapes in
// flight finish.
func (g *globals) serveMetrics(ctx context.Context, x *metrics.Exporter, listen string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return withHint(ExitError, fmt.Errorf("--listen %s: %w", listen, err), "choose a free address with --listen HOST:PORT")
	}
	// A problem is said once when it appears and once when it clears, not at every scrape.
	var mu sync.Mutex
	last := ""
	say := func(problems []string) {
		cur := strings.Join(problems, "\n")
		mu.Lock()
		defer mu.Unlock()
		if cur == last {
			return
		}
		last = cur
		if cur == "" {
			fmt.Fprintln(g.env.Stderr, "metrics: inventory and state readable again")
			return
		}
		for _, p := range problems {
			fmt.Fprintf(g.env.Stderr, "warning: scrape: %s\n", p)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", x.Handler(say))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "rotor metrics: see /metrics")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(g.env.Stderr, "serving metrics on http://%s/metrics\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served // http.ErrServerClosed once Shutdown began
	if err != nil {
		return fmt.Errorf("metrics: stopping: %w", err)
	}
	fmt.Fprintln(g.env.Stderr, "metrics: stopped")
	return nil
}
