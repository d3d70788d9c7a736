package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	checktls "github.com/rotorhq/rotor/internal/check/tls"
	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/scan"
	"github.com/rotorhq/rotor/internal/state"
	"github.com/spf13/cobra"
)

func newScan(g *globals) *cobra.Command {
	var o scanOptions
	cmd := &cobra.Command{
		Use:   "scan TARGET…",
		Short: "Read the certificates endpoints serve, and find the ones the inventory does not know",
		Long: `Scan connects to each target, does a TLS handshake (SNI: the target's host, or
--server-name), and shows the certificate served: subject, SANs, issuer, serial, SHA-256
fingerprint, not-after and days left, and whether its chain verifies to the trust bundle
(--ca-file, default the system's) for that name, now — or why not (expired, name mismatch,
self-signed, unknown authority). A target that does not answer is shown with the reason
(refused, no TLS, timeout); no target can make the scan hang.

Targets are host:port ([::1]:443 for IPv6), host:port-port (every port of the range), or
@FILE (one target per line, # comments).

Each certificate is matched with what rotor knows: a version rotor minted (its fingerprint is
the AuthorityRef of a version in a run of the state database, --db), the current or pending
version of a credential as its store keeps it (a store that can list its certificates:
pem-files), or an address declared by a tls check of the inventory. Certificates matching none
are the forgotten certificates: listed at the end, with the ones expired or expiring within
--warn-days flagged. A certificate its store keeps as a replaced version (previous, or older)
is a finding too, whatever else knows it: the endpoint missed a rotation. Nothing is written
anywhere; a missing state database or inventory only means nothing is known.

Closed ports of a port range are counted, not listed: a range is a search.

Exit status: 0 when every target named on its own (host:port, or a line of a file) served a
certificate — whatever the certificate; forgotten, replaced, expired or unverified
certificates are findings of the report, not failures of the scan. 1 when a target named on
its own did not answer (refused, no TLS, timeout), or the state cannot be read. 2 for a bad
target, flag or inventory. Ports of a range never make the scan fail.`,
		Example: `  rotor scan shop.example.com:443 api.example.com:443
  rotor scan 10.0.4.0:8440-8450 --ca-file internal-ca.pem
  rotor scan @endpoints.txt -o json --concurrency 128`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.inventorySet = cmd.Flags().Changed("inventory")
			return g.scan(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.caFile, "ca-file", "", "PEM trust bundle chains must verify to (default: the system's)")
	f.IntVar(&o.concurrency, "concurrency", scan.DefaultConcurrency, "targets scanned at once")
	f.DurationVar(&o.timeout, "timeout", scan.DefaultTimeout, "per target: connect and TLS handshake")
	f.StringVar(&o.serverName, "server-name", "", "SNI to send to every target, and the name chains must be valid for (default: each target's host)")
	f.IntVar(&o.warnDays, "warn-days", 30, "flag certificates expiring within this many days")
	return cmd
}

type scanOptions struct {
	caFile, serverName string
	concurrency        int
	timeout            time.Duration
	warnDays           int
	inventorySet       bool
}

// scanRow is one target's result with what rotor knows of its certificate.
type scanRow struct {
	scan.Result
	// Known: the inventory or the state knows this certificate or this endpoint; KnownAs says
	// how ("credential web-cert: current version v7 (run r-…)", "declared by check shop-tls").
	Known   bool     `json:"known"`
	KnownAs []string `json:"known_as,omitempty"`
	// Replaced: a store of the inventory keeps this certificate as a version its credential has
	// moved past ("serves a replaced version of web-cert (version v6, previous)"). The row is
	// then a finding and not Known, whatever KnownAs says: a run's record or a check's address
	// only tell that rotor once knew the certificate or the endpoint, the store tells that the
	// endpoint did not follow the last rotation.
	Replaced []string `json:"replaced,omitempty"`
	// Expired / Expiring: not-after has passed, or falls within --warn-days.
	Expired  bool `json:"expired,omitempty"`
	Expiring bool `json:"expiring,omitempty"`
	// Named: the target was named on its own (not a port of a range).
	Named bool `json:"named"`
}

type scanReport struct {
	Targets        int       `json:"targets"`
	Answered       int       `json:"answered"`
	NotAnswered    int       `json:"not_answered"`
	ClosedInRanges int       `json:"closed_in_ranges"`
	Forgotten      int       `json:"forgotten"`
	Replaced       int       `json:"replaced,omitempty"`
	Expiring       int       `json:"expiring"`
	Expired        int       `json:"expired"`
	Unverified     int       `json:"unverified"`
	WarnDays       int       `json:"warn_days"`
	Inventory      string    `json:"inventory"`
	State          string    `json:"state"`
	At             time.Time `json:"at"`
	Results        []scanRow `json:"results"`
}

func (g *globals) scan(ctx context.Context, specs []string, o scanOptions) error {
	if o.concurrency < 1 {
		return usageErr("--concurrency %d: at least 1", o.concurrency)
	}
	if o.timeout <= 0 {
		return usageErr("--timeout %s: a positive duration, e.g. 5s", o.timeout)
	}
	targets, err := scan.ParseTargets(specs, nil)
	if err != nil {
		return withHint(ExitUsage, err, "targets are host:port, host:port-port, [::1]:443 or @FILE")
	}
	if o.serverName != "" {
		for i := range targets {
			targets[i].ServerName = o.serverName
		}
	}
	opts := scan.Options{Concurrency: o.concurrency, Timeout: o.timeout, Now: g.env.Now}
	if o.caFile != "" {
		if opts.Roots, err = scan.LoadRoots(o.caFile); err != nil {
			return withHint(ExitUsage, fmt.Errorf("--ca-file: %w", err), "give a PEM file of CA certificates")
		}
	}
	known := knowledge{refs: map[string][]string{}, addrs: map[string][]string{}, replaced: map[string][]string{}}
	rep := scanReport{WarnDays: o.warnDays, At: g.env.Now().UTC()}
	if rep.Inventory, err = g.inventoryKnowledge(ctx, &known, o.inventorySet); err != nil {
		return err
	}
	if rep.State, err = g.stateKnowledge(ctx, &known); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	results := scan.New(opts).Scan(ctx, targets)

	rep.Targets = len(targets)
	failed := 0
	for i, r := range results {
		if !r.Answered() && r.FromRange && r.Failure == scan.FailRefused {
			rep.ClosedInRanges++
			continue
		}
		row := scanRow{Result: r, Named: !targets[i].FromRange}
		if !r.Answered() {
			rep.NotAnswered++
			if row.Named {
				failed++
			}
			row.KnownAs = known.addrs[r.Target]
			row.Known = len(row.KnownAs) > 0
			rep.Results = append(rep.Results, row)
			continue
		}
		rep.Answered++
		row.KnownAs = append(slices.Clone(known.refs[r.Ref]), known.addrs[r.Target]...)
		row.Replaced = known.replaced[r.Ref]
		row.Known = len(row.KnownAs) > 0 && len(row.Replaced) == 0
		row.Expired = r.DaysLeft < 0
		row.Expiring = !row.Expired && r.DaysLeft < o.warnDays
		switch {
		case len(row.Replaced) > 0:
			rep.Replaced++
		case !row.Known:
			rep.Forgotten++
		}
		if row.Expired {
			rep.Expired++
		} else if row.Expiring {
			rep.Expiring++
		}
		if !r.Verified {
			rep.Unverified++
		}
		rep.Results = append(rep.Results, row)
	}
	if g.output == "json" {
		if err := writeJSON(g.env.Stdout, rep); err != nil {
			return err
		}
	} else {
		printScan(g.env.Stdout, &rep)
	}
	if ctx.Err() != nil {
		return errors.New("scan interrupted: the targets not reached are shown as cancelled")
	}
	if failed > 0 {
		return withHint(ExitError, fmt.Errorf("%d of the named targets did not answer with a certificate", failed),
			"the reasons are in the report; ports of a range never fail the scan")
	}
	return nil
}

// knowledge is what rotor knows of certificates (by ref) and endpoints (by address), and
// which certificates are replaced versions (by ref).
type knowledge struct {
	refs     map[string][]string
	addrs    map[string][]string
	replaced map[string][]string
}

func (k *knowledge) addRef(ref, how string) { addOnce(k.refs, ref, how) }

func addOnce(m map[string][]string, key, s string) {
	if !slices.Contains(m[key], s) {
		m[key] = append(m[key], s)
	}
}

// inventoryKnowledge reads the inventory's tls check addresses and the certificates its
// stores keep. The default inventory folder may be absent: nothing is then known from it. A
// named one (-i) must load.
func (g *globals) inventoryKnowledge(ctx context.Context, k *knowledge, named bool) (string, error) {
	if _, err := os.Stat(g.inventory); errors.Is(err, os.ErrNotExist) && !named {
		return "none (" + g.inventory + " does not exist)", nil
	}
	inv, err := g.loadOrPrint()
	if err != nil {
		return "", err
	}
	users := checkUsers(inv)
	for _, c := range inv.Checks {
		cfg, ok := c.Config.(*checktls.Config)
		if !ok {
			continue
		}
		how := "declared by check " + c.ID
		if u := users[c.ID]; len(u) > 0 {
			how += " (" + strings.Join(u, ", ") + ")"
		}
		addrs := cfg.Addresses
		if cfg.Address != "" {
			addrs = []string{cfg.Address}
		}
		for _, a := range addrs {
			ts, err := scan.ParseSpec(a)
			if err != nil || len(ts) != 1 {
				continue
			}
			addOnce(k.addrs, ts[0].Address(), how) // the scanner's spelling: [::1]:443
		}
	}
	g.storeKnowledge(ctx, k, inv)
	return fmt.Sprintf("%s (%s, %s)", g.inventory, count(len(inv.Credentials), "credential", "credentials"), count(len(inv.Checks), "check", "checks")), nil
}

// checkUsers maps a check id to the credentials (and consumers) that use it.
func checkUsers(inv *inventory.Inventory) map[string][]string {
	out := map[string][]string{}
	add := func(check, who string) {
		if !slices.Contains(out[check], who) {
			out[check] = append(out[check], who)
		}
	}
	for _, c := range inv.Credentials {
		for _, id := range c.Checks {
			add(id, "credential "+c.ID)
		}
		for _, cons := range c.Consumers {
			for _, id := range cons.Checks {
				add(id, "credential "+c.ID+" consumer "+cons.ID)
			}
		}
	}
	return out
}

// storeKnowledge asks the store of every credential, built as a run builds it, for the
// certificates it keeps (provider.CertificateLister): the current and pending versions are
// known, an older one served is a finding. A store that cannot list them — it holds no
// certificates, or could but does not implement the capability — teaches scan nothing: its
// certificates show as forgotten, which is the honest answer when rotor cannot tell. A store
// that fails to build or to list is said on stderr and skipped: the scan still reports what
// it can.
func (g *globals) storeKnowledge(ctx context.Context, k *knowledge, inv *inventory.Inventory) {
	// Listing is a read with no reader's identity: the environment needs no fingerprint key,
	// no shared pools and no other credential. Now and Rand are there because builders refuse
	// an environment without them (a store's writes use them; a listing does not).
	env := provider.Env{Now: g.env.Now, Rand: rand.Reader, Getenv: g.env.Getenv, BaseDir: g.baseDir(),
		Log: slog.New(slog.DiscardHandler)}
	for _, c := range inv.Credentials {
		if !g.registry.Capabilities(provider.KindStore, c.Store.Type).Has(provider.CanListCertificates) {
			continue
		}
		st, err := g.registry.Store(c.Store.Type, c.Store.Config, env)
		if err != nil {
			fmt.Fprintf(g.env.Stderr, "warning: credential %s: store %s: %v: its certificates are not counted as known\n", c.ID, c.Store.Type, err)
			continue
		}
		resp, err := st.(provider.CertificateLister).Certificates(ctx, provider.CertificatesRequest{Credential: c.ID})
		if err != nil {
			fmt.Fprintf(g.env.Stderr, "warning: credential %s: listing the certificates of its store: %v: they are not counted as known\n", c.ID, err)
			continue
		}
		for _, cert := range resp.Certificates {
			ref, v := pki.RefDER(cert.Leaf), cert.Version
			switch {
			case v.ID == "":
				k.addRef(ref, fmt.Sprintf("credential %s: served from %s", c.ID, cert.Where))
			case v.Stage == provider.StageCurrent || v.Stage == provider.StagePending:
				k.addRef(ref, fmt.Sprintf("credential %s: %s version %s in %s", c.ID, v.Stage, v.ID, cert.Where))
			default:
				detail := "retired"
				if v.Stage != provider.StageRetired {
					detail = string(v.Stage)
				}
				if !v.Enabled {
					detail += ", disabled"
				}
				addOnce(k.replaced, ref, fmt.Sprintf("serves a replaced version of %s (version %s, %s)", c.ID, v.ID, detail))
			}
		}
	}
}

// stateKnowledge reads the certificate versions rotor recorded in its runs. A database that
// does not exist yet knows nothing.
func (g *globals) stateKnowledge(ctx context.Context, k *knowledge) (string, error) {
	db, loc, err := g.openStateReadOnly(ctx)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if db.Absent() {
		return "none yet (" + loc.Path + " does not exist)", nil
	}
	recs, err := db.Runs(ctx, state.RunFilter{})
	if err != nil {
		return "", err
	}
	versions := 0
	for _, rec := range recs {
		r, err := rotation.DecodeRun(rec.ID, rec.Data)
		if err != nil {
			fmt.Fprintf(g.env.Stderr, "warning: %v: its versions are not counted as known\n", err)
			continue
		}
		if r.New != nil && r.New.AuthorityRef != "" {
			k.addRef(r.New.AuthorityRef, fmt.Sprintf("credential %s: version %s minted by run %s", r.Credential, r.New.ID, r.ID))
			versions++
		}
		if r.Previous != nil && r.Previous.AuthorityRef != "" {
			k.addRef(r.Previous.AuthorityRef, fmt.Sprintf("credential %s: version %s, replaced by run %s", r.Credential, r.Previous.ID, r.ID))
			versions++
		}
	}
	return fmt.Sprintf("%s (%s, %s)", loc.Path, count(len(recs), "run", "runs"), count(versions, "certificate version", "certificate versions")), nil
}

func printScan(w io.Writer, rep *scanReport) {
	var forgotten, replaced, failed []*scanRow
	for i := range rep.Results {
		r := &rep.Results[i]
		if !r.Answered() {
			failed = append(failed, r)
			continue
		}
		fmt.Fprintf(w, "%s\n", endpointName(r))
		fmt.Fprintf(w, "  subject      %s\n", r.Subject)
		if len(r.SANs) > 0 {
			fmt.Fprintf(w, "  SANs         %s\n", strings.Join(r.SANs, ", "))
		}
		fmt.Fprintf(w, "  issuer       %s\n", r.Issuer)
		fmt.Fprintf(w, "  serial       %s\n", r.Serial)
		fmt.Fprintf(w, "  fingerprint  %s\n", r.Ref)
		fmt.Fprintf(w, "  not after    %s (%s)\n", r.NotAfter.Format(time.RFC3339), daysText(r))
		if r.Verified {
			fmt.Fprintf(w, "  chain        verified\n")
		} else {
			fmt.Fprintf(w, "  chain        NOT VERIFIED: %s (%s)\n", r.VerifyReason, r.VerifyError)
		}
		switch {
		case len(r.Replaced) > 0:
			fmt.Fprintf(w, "  inventory    REPLACED: %s\n", strings.Join(r.Replaced, "; "))
			if len(r.KnownAs) > 0 {
				fmt.Fprintf(w, "               known: %s\n", strings.Join(r.KnownAs, "; "))
			}
			replaced = append(replaced, r)
		case r.Known:
			fmt.Fprintf(w, "  inventory    known: %s\n", strings.Join(r.KnownAs, "; "))
		default:
			fmt.Fprintf(w, "  inventory    UNKNOWN\n")
			forgotten = append(forgotten, r)
		}
		fmt.Fprintln(w)
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "Did not answer (%d):\n", len(failed))
		for _, r := range failed {
			extra := ""
			if !r.Named {
				extra = " (port of a range)"
			}
			fmt.Fprintf(w, "  %s%s: %s\n", endpointName(r), extra, r.Error)
		}
		fmt.Fprintln(w)
	}
	if len(forgotten) > 0 {
		fmt.Fprintf(w, "Forgotten certificates — served, but not known to the inventory or the state (%d):\n", len(forgotten))
		for _, r := range forgotten {
			flag := ""
			switch {
			case r.Expired:
				flag = "  EXPIRED"
			case r.Expiring:
				flag = "  EXPIRING"
			}
			fmt.Fprintf(w, "  %s  serial %s  %s  not after %s (%s)%s\n", endpointName(r), r.Serial, r.Subject, r.NotAfter.Format(time.DateOnly), daysText(r), flag)
		}
		fmt.Fprintln(w)
	}
	if len(replaced) > 0 {
		fmt.Fprintf(w, "Replaced versions — served, but their credential has moved on to a newer version (%d):\n", len(replaced))
		for _, r := range replaced {
			fmt.Fprintf(w, "  %s  serial %s  %s  %s\n", endpointName(r), r.Serial, r.Subject, strings.Join(r.Replaced, "; "))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d %s: %d answered, %d did not", rep.Targets, plural(rep.Targets, "target", "targets"), rep.Answered, rep.NotAnswered)
	if rep.ClosedInRanges > 0 {
		fmt.Fprintf(w, ", %d closed %s of ranges not shown", rep.ClosedInRanges, plural(rep.ClosedInRanges, "port", "ports"))
	}
	fmt.Fprintf(w, "; %d forgotten", rep.Forgotten)
	if rep.Replaced > 0 { // only when there is one, as closed ports: other scans read as before
		fmt.Fprintf(w, ", %d replaced", rep.Replaced)
	}
	fmt.Fprintf(w, ", %d expired, %d expiring within %d days, %d not verified\n", rep.Expired, rep.Expiring, rep.WarnDays, rep.Unverified)
	fmt.Fprintf(w, "inventory: %s\nstate: %s\n", rep.Inventory, rep.State)
}

func endpointName(r *scanRow) string {
	if host, _, _ := net.SplitHostPort(r.Target); r.ServerName != "" && r.ServerName != host {
		return r.Target + " (SNI " + r.ServerName + ")"
	}
	return r.Target
}

func daysText(r *scanRow) string {
	switch {
	case r.DaysLeft < 0:
		return "expired"
	case r.DaysLeft == 1:
		return "1 day left"
	}
	return fmt.Sprintf("%d days left", r.DaysLeft)
}
