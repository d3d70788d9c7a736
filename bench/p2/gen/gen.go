// Package gen writes a large, realistic rotor inventory for the P2 benchmark (validate + plan
// of 100,000 credentials and 500,000 consumers, see ../shared/design/TARGETS.md).
//
// The output is deterministic: the same Options give byte-identical files, so figures from
// two runs (or two machines) measure the same input. It looks like a real repository: one
// shared file holding the windows, freezes, teams, identities and checks, and credentials
// split by team and service into files of about PerFile credentials each, written in the
// block style of examples/platform (flow maps only for the short store/authority/rotate
// lines, as people write them).
//
// Everything generated must pass `rotor validate` with zero errors: a benchmark of an
// inventory that fails early would measure the wrong thing. The package test checks it.
package gen

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Options say what to generate.
type Options struct {
	Credentials int    // number of credentials (the consumers are five times as many)
	PerFile     int    // credentials per file (default 1000)
	Seed        uint64 // the same seed gives the same files (default DefaultSeed)
}

// DefaultSeed is the seed the benchmark uses.
const DefaultSeed = 0x9e3779b97f4a7c15

// Stats describe what was written.
type Stats struct {
	Files       int
	Credentials int
	Consumers   int
	Identities  int
	Checks      int
	Bytes       int64
}

// Generate writes the inventory into dir (created if needed; existing files of the same names
// are overwritten, others are left alone, so pass an empty directory).
func Generate(dir string, opts Options) (Stats, error) {
	if opts.Credentials <= 0 {
		return Stats{}, fmt.Errorf("gen: Credentials must be positive, got %d", opts.Credentials)
	}
	if opts.PerFile <= 0 {
		opts.PerFile = 1000
	}
	if opts.Seed == 0 {
		opts.Seed = DefaultSeed
	}
	u := newUniverse(opts)
	st := Stats{Credentials: opts.Credentials, Identities: len(u.identities), Checks: len(u.checks)}

	n, err := writeFile(filepath.Join(dir, "rotor.yaml"), u.writeShared)
	if err != nil {
		return Stats{}, err
	}
	st.Bytes += n
	st.Files++

	nFiles := (opts.Credentials + opts.PerFile - 1) / opts.PerFile
	type result struct {
		bytes     int64
		consumers int
		err       error
	}
	results := make([]result, nFiles)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Go(func() {
			for f := range work {
				lo := f * opts.PerFile
				hi := min(lo+opts.PerFile, opts.Credentials)
				var consumers int
				n, err := writeFile(filepath.Join(dir, u.fileName(f)), func(w *bufio.Writer) {
					consumers = u.writeCredentials(w, f, lo, hi)
				})
				results[f] = result{n, consumers, err}
			}
		})
	}
	for f := range nFiles {
		work <- f
	}
	close(work)
	wg.Wait()
	for _, r := range results {
		if r.err != nil {
			return Stats{}, r.err
		}
		st.Bytes += r.bytes
		st.Consumers += r.consumers
		st.Files++
	}
	return st, nil
}

func writeFile(name string, fill func(*bufio.Writer)) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return 0, err
	}
	f, err := os.Create(name)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fill(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, fmt.Errorf("writing %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return st.Size(), f.Close()
}

// Words that make ids and descriptions look like a real platform's.
var (
	services = []string{"orders", "billing", "search", "catalog", "checkout", "inventory", "shipping",
		"payments", "reporting", "auth", "notifications", "pricing", "reviews", "recommendations",
		"fraud", "ledger", "accounts", "media", "analytics", "support", "loyalty", "warehouse",
		"returns", "invoicing", "tax", "gateway", "sessions", "profiles", "feeds", "exports"}
	teamNames = []string{"payments", "platform", "data", "security", "storefront", "logistics",
		"finance", "growth", "identity", "search", "mobile", "partners", "sre", "ml", "support",
		"marketing", "risk", "infra", "billing", "catalog", "media", "web", "api", "edge",
		"compliance", "devex", "observability", "integrations", "warehouse", "checkout",
		"accounts", "pricing", "notifications", "reporting", "fraud", "ledger", "tax", "returns",
		"loyalty", "sessions"}
	roles = []string{"api", "worker", "web", "consumer", "scheduler", "gateway", "sync", "importer",
		"exporter", "admin", "proxy", "indexer", "notifier", "cron", "etl", "bridge"}
	people = []string{"alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi", "ivan",
		"judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor",
		"walter", "yolanda"}
	zones = []string{"America/New_York", "Europe/London", "Asia/Singapore", "America/Los_Angeles", "UTC"}
)

// window is a shared change window; maxGap is a safe upper bound (in days) of the longest
// time it stays closed, so a rotate.every is only paired with windows it can meet.
type window struct {
	id, cron, duration, tz, desc string
	maxGapDays                   int
}

var windows = []window{
	{"weeknights", "0 22 * * 1-4", "4h", "", "Mon-Thu 22:00-02:00, low traffic", 4},
	{"office-hours", "0 9 * * 1-5", "8h", "", "people around to approve and watch", 3},
	{"sunday-early", "0 6 * * 0", "3h", "America/New_York", "US edge maintenance", 7},
	{"early-mornings", "30 5 * * *", "2h", "", "every day before the morning peak", 1},
	{"apac-evenings", "0 20 * * 1-5", "3h", "Asia/Singapore", "APAC low traffic", 3},
	{"saturday-maintenance", "0 1 * * 6", "5h", "Europe/London", "weekly maintenance slot", 7},
	{"us-weeknights", "0 23 * * 1-4", "4h", "America/Los_Angeles", "US West low traffic", 4},
	{"month-start", "0 2 1-3 * *", "4h", "", "first days of the month, finance batch done", 31},
}

type universe struct {
	opts       Options
	teams      []string
	identities []string            // every identity id
	byType     map[string][]string // identity ids by type
	checks     []string            // every check id
	checkTypes []string            // type of each check, same index
	idLines    []string            // rendered identity entries
	checkText  []string            // rendered check entries

	// Identity pools consumers pick from, by the kind of consumer that reads with them.
	serviceIDs, pipelineIDs, scriptIDs []string
}

func newUniverse(opts Options) *universe {
	u := &universe{opts: opts, byType: map[string][]string{}}
	for _, t := range teamNames {
		u.teams = append(u.teams, "team-"+t)
	}
	r := rand.New(rand.NewPCG(opts.Seed, 1))

	// Executors first: fixed names the credentials write with.
	addID := func(id, typ, body string) {
		u.identities = append(u.identities, id)
		u.byType[typ] = append(u.byType[typ], id)
		u.idLines = append(u.idLines, fmt.Sprintf("  %s: {type: %s, %s}\n", id, typ, body))
	}
	addID("rotor-prod", "vault-approle", "role: rotor-prod, role_id_file: /etc/rotor/approle/role-id, secret_id_file: /etc/rotor/approle/secret-id, description: executor for Vault-held secrets")
	addID("rotor-azure", "azure-service-principal", "tenant_id: 6f1c1f5e-0000-4000-8000-000000000001, client_id: 0d9e7a1b-0000-4000-8000-000000000002")
	for i := range 10 {
		addID(fmt.Sprintf("pg-admin-%02d", i), "postgres-dsn", fmt.Sprintf("dsn_env: ROTOR_PG_ADMIN_DSN_%02d", i))
	}

	nIdent := max(60, opts.Credentials/20)
	for k := len(u.identities); k < nIdent; k++ {
		svc := services[r.IntN(len(services))]
		role := roles[r.IntN(len(roles))]
		id := fmt.Sprintf("%s-%s-%d", svc, role, k)
		switch k % 10 {
		case 0, 1, 2:
			addID(id, "vault-approle", fmt.Sprintf("role: %s-%s, role_id_env: %s_ROLE_ID", svc, role, envName(id)))
		case 3, 4:
			addID(id, "kubernetes-service-account", fmt.Sprintf("namespace: %s, name: %s-%s", svc, svc, role))
		case 5:
			addID(id, "os-user", "user: "+svc)
		case 6:
			addID(id, "github-actions-oidc", fmt.Sprintf("repository: example/%s, environment: production", svc))
		case 7:
			addID(id, "gitlab-ci-job", fmt.Sprintf("project: platform/%s", svc))
		case 8:
			addID(id, "external", fmt.Sprintf("party: %s partner %d, contact: \"integrations+%d@partner.example\"", svc, k, k))
		case 9:
			addID(id, "aws-role", fmt.Sprintf("arn: \"arn:aws:iam::123456789012:role/%s-%s\"", svc, role))
		}
	}

	cat := func(types ...string) []string {
		var out []string
		for _, t := range types {
			out = append(out, u.byType[t]...)
		}
		return out
	}
	u.serviceIDs = cat("vault-approle", "kubernetes-service-account")
	u.pipelineIDs = cat("github-actions-oidc", "gitlab-ci-job")
	u.scriptIDs = cat("os-user", "aws-role")

	nChecks := max(60, opts.Credentials/10)
	for k := range nChecks {
		svc := services[r.IntN(len(services))]
		var typ, body string
		switch k % 8 {
		case 0, 1:
			typ = "http"
			body = fmt.Sprintf("    url: https://%s.internal.example/healthz/%d\n    expect: {status: 200}\n", svc, k)
		case 2:
			typ = "log"
			body = fmt.Sprintf("    source: {type: file, path: /var/log/nginx/%s-%d.access.log, format: combined}\n"+
				"    match: {status: [401, 403, 500]}\n    bin: 5m\n    by: [host, path, status]\n    max: 0\n", svc, k)
		case 3:
			typ = "promql"
			body = fmt.Sprintf("    url: http://prometheus.internal.example:9090\n"+
				"    query: sum(rate(http_requests_total{job=\"%s-%d\",code=~\"5..\"}[5m]))\n    range: 30m\n    max: 0.1\n", svc, k)
		case 4:
			typ = "tls"
			body = fmt.Sprintf("    address: %s-%d.internal.example:443\n    ca_file: /etc/rotor/internal-ca.pem\n", svc, k)
		case 5:
			typ = "postgres-login"
			body = fmt.Sprintf("    host: db-%s-%d.internal.example\n    database: %s\n", svc, k%50, svc)
		case 6:
			typ = "exec"
			body = fmt.Sprintf("    command: [/usr/local/bin/smoke-test, --service, %s, --env, production]\n", svc)
		case 7:
			typ = "loki"
			body = fmt.Sprintf("    url: http://loki.internal.example:3100\n"+
				"    query: sum(count_over_time({app=\"%s\"} |= \"authentication failed\" [5m]))\n    max: 0\n", svc)
		}
		id := fmt.Sprintf("%s-%s-%d", svc, typ, k)
		u.checks = append(u.checks, id)
		u.checkTypes = append(u.checkTypes, typ)
		u.checkText = append(u.checkText, fmt.Sprintf("  %s:\n    type: %s\n%s", id, typ, body))
	}
	return u
}

func (u *universe) writeShared(w *bufio.Writer) {
	fmt.Fprintf(w, "# Shared settings of a generated platform (bench/p2/gen, seed %#x): windows, freezes,\n"+
		"# teams, identities and checks. Credentials live under credentials/<team>/.\n", u.opts.Seed)
	w.WriteString("defaults:\n  timezone: Europe/Paris\n\nwindows:\n")
	for _, win := range windows {
		fmt.Fprintf(w, "  %s: {cron: %q, duration: %s", win.id, win.cron, win.duration)
		if win.tz != "" {
			fmt.Fprintf(w, ", timezone: %s", win.tz)
		}
		fmt.Fprintf(w, ", description: %q}\n", win.desc)
	}
	w.WriteString("\nfreezes:\n" +
		"  - {from: 2026-12-19, to: 2027-01-04, reason: year-end freeze}\n" +
		"  - {from: 2027-03-29, to: 2027-03-31, reason: quarter close (finance)}\n" +
		"  - {from: \"2027-06-01T18:00:00Z\", to: \"2027-06-02T06:00:00Z\", reason: datacenter migration}\n")
	w.WriteString("\nteams:\n")
	for i, t := range u.teams {
		a, b := people[i%len(people)], people[(i*7+3)%len(people)]
		fmt.Fprintf(w, "  %s: {contact: \"#%s-oncall\", approvers: [%s@example.com, %s@example.com]}\n",
			t, strings.TrimPrefix(t, "team-"), a, b)
	}
	w.WriteString("\nidentities:\n")
	for _, l := range u.idLines {
		w.WriteString(l)
	}
	w.WriteString("\nchecks:\n")
	for _, c := range u.checkText {
		w.WriteString(c)
	}
}

// fileName places file f under its owning team, named after a service, as a repository split
// by team and service would.
func (u *universe) fileName(f int) string {
	return filepath.Join("credentials", u.teams[f%len(u.teams)], fmt.Sprintf("%s-%03d.yaml", services[f%len(services)], f))
}

// pick returns a random element.
func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// writeCredentials writes the credentials [lo, hi) of file f and returns their consumer count.
func (u *universe) writeCredentials(w *bufio.Writer, f, lo, hi int) int {
	r := rand.New(rand.NewPCG(u.opts.Seed, uint64(f)+2))
	team := u.teams[f%len(u.teams)]
	svcOfFile := services[f%len(services)]
	caID := fmt.Sprintf("%s-issuing-ca-%03d", svcOfFile, f)
	consumers := 0
	delta := 0

	fmt.Fprintf(w, "# Credentials of %s, owned by %s (generated: bench/p2/gen).\ncredentials:\n", svcOfFile, team)
	for i := lo; i < hi; i++ {
		// Five consumers on average, exactly: every odd credential mirrors the previous one's
		// deviation from five.
		if (i-lo)%2 == 0 {
			delta = r.IntN(7) - 3
		} else {
			delta = -delta
		}
		if (i-lo)%2 == 0 && i+1 == hi {
			delta = 0 // an odd-sized last file keeps the exact average
		}
		n := 5 + delta

		owner := team
		if r.IntN(10) == 0 {
			owner = pick(r, u.teams)
		}
		svc := svcOfFile
		if r.IntN(4) == 0 {
			svc = pick(r, services)
		}
		critical := r.IntN(5) == 0
		c := credential{owner: owner, svc: svc, critical: critical}
		if i == lo {
			// Every file starts with its issuing CA; the very first one is the root and signs itself.
			c.id, c.svc = caID, svcOfFile
			issuer := fmt.Sprintf("%s-issuing-ca-%03d", services[0], 0)
			c.certificateCA(issuer, caID == issuer)
		} else {
			c.random(r, u, i, caID)
		}
		c.write(w)
		u.writeConsumers(w, r, &c, n)
		consumers += n
		w.WriteByte('\n')
	}
	return consumers
}

type credential struct {
	id, kind, desc, owner, svc string
	critical                   bool
	store, authority           string // flow-map bodies
	every, beforeExpiry, soak  string
	cutover, revoke            string
	checks                     []string
}

func (c *credential) certificateCA(issuer string, root bool) {
	c.kind = "certificate"
	c.critical = true
	c.desc = "Intermediate CA that signs the certificates of " + c.svc
	if root {
		c.desc = "Root of the internal CA hierarchy"
	}
	c.store = fmt.Sprintf("type: vault-kv, mount: pki-keys, path: intermediate/%s, identity: rotor-prod", c.id)
	c.authority = fmt.Sprintf("type: x509-ca, ca: %s, common_name: Example %s Intermediate, is_ca: true, validity: 730d", issuer, c.svc)
	c.every, c.beforeExpiry, c.soak = "365d", "60d", "7d"
	c.cutover, c.revoke = "office-hours", "office-hours"
}

// random fills a credential of a random kind, with the store and authority such a credential
// has in practice.
func (c *credential) random(r *rand.Rand, u *universe, i int, caID string) {
	svc := c.svc
	vault := func(sub string) string {
		return fmt.Sprintf("type: vault-kv, mount: kv, path: prod/%s/%s-%d, identity: rotor-prod", svc, sub, i)
	}
	everys := []string{"30d", "60d", "90d", "180d", "365d"}
	switch x := r.IntN(100); {
	case x < 35: // database and broker logins
		c.kind = "password"
		switch y := r.IntN(10); {
		case y < 6:
			c.id = fmt.Sprintf("%s-db-%06d", svc, i)
			c.desc = fmt.Sprintf("%s database login", svc)
			admin := fmt.Sprintf("pg-admin-%02d", r.IntN(10))
			if r.IntN(2) == 0 {
				c.authority = fmt.Sprintf("type: postgres, strategy: overlap, roles: [%s_%d_a, %s_%d_b], admin: %s", svc, i, svc, i, admin)
			} else {
				c.authority = fmt.Sprintf("type: postgres, strategy: in-place, role: %s_%d_ro, admin: %s", svc, i, admin)
			}
			c.store = vault("db")
		case y < 8:
			c.id = fmt.Sprintf("%s-redis-%06d", svc, i)
			c.desc = fmt.Sprintf("Redis ACL user of the %s workers", svc)
			c.authority = fmt.Sprintf("type: redis, address: \"redis-%s.internal.example:6379\", user: %s%d, admin_env: ROTOR_REDIS_ADMIN", svc, svc, i)
			c.store = vault("redis")
		default:
			c.id = fmt.Sprintf("%s-amqp-%06d", svc, i)
			c.desc = fmt.Sprintf("RabbitMQ user of %s", svc)
			c.authority = fmt.Sprintf("type: rabbitmq, management_url: \"https://rabbitmq.internal.example:15671\", users: [%s%d_a, %s%d_b], admin_env: ROTOR_RABBIT_ADMIN", svc, i, svc, i)
			c.store = fmt.Sprintf("type: kubernetes-secret, namespace: %s, name: %s-amqp, key: password", svc, svc)
		}
		c.every = pick(r, everys[1:])
	case x < 55: // internal API keys
		c.kind = "api-key"
		c.id = fmt.Sprintf("%s-api-key-%06d", svc, i)
		c.desc = fmt.Sprintf("Internal API key that callers of %s present", svc)
		c.authority = fmt.Sprintf("type: generated, strategy: %s, length: 40, alphabet: url-safe, prefix: \"%.4s_\"",
			pick(r, []string{"overlap", "in-place"}), svc)
		if r.IntN(2) == 0 {
			c.store = fmt.Sprintf("type: file, dir: /etc/rotor/store/%s", c.id)
		} else {
			c.store = vault("api-key")
		}
		c.every = pick(r, everys)
	case x < 65: // cloud client secrets
		c.kind = "client-secret"
		if r.IntN(2) == 0 {
			c.id = fmt.Sprintf("%s-entra-%06d", svc, i)
			c.desc = fmt.Sprintf("Entra ID client secret of the %s app", svc)
			c.store = fmt.Sprintf("type: azure-keyvault, vault_url: \"https://kv-%s.vault.azure.net\", name: client-secret-%d, identity: rotor-azure", svc, i)
			c.authority = fmt.Sprintf("type: entra-app, tenant_id: 6f1c1f5e-0000-4000-8000-000000000001, application_id: 9c2d4e6f-0000-4000-8000-%012d, secret_lifetime: 180d", i)
			c.beforeExpiry = "30d"
		} else {
			c.id = fmt.Sprintf("%s-aws-key-%06d", svc, i)
			c.desc = fmt.Sprintf("AWS access key of the %s uploader", svc)
			c.store = fmt.Sprintf("type: aws-secrets-manager, region: eu-west-1, secret_id: prod/%s/aws-%d", svc, i)
			c.authority = fmt.Sprintf("type: aws-iam, user: %s-uploader-%d", svc, i)
		}
		c.every = pick(r, everys[1:4])
	case x < 73: // webhook secrets
		c.kind = "webhook-secret"
		c.id = fmt.Sprintf("%s-webhook-%06d", svc, i)
		if r.IntN(3) == 0 {
			c.desc = fmt.Sprintf("Signing secret of the vendor webhooks %s receives", svc)
			c.authority = "type: manual, overlap: true, url: \"https://dashboard.vendor.example/webhooks\", instructions: \"Roll the signing secret with a 24h expiry for the old one, then paste the new secret into rotor.\""
		} else {
			c.desc = fmt.Sprintf("HMAC key of the webhooks %s sends to partners", svc)
			c.authority = fmt.Sprintf("type: webhook, algorithm: hmac-sha256, sender: %s-notifier, receiver: partner-%d", svc, i%97)
		}
		c.store = vault("webhook")
		c.every = pick(r, everys[2:])
	case x < 80: // CI tokens
		c.kind = "token"
		c.id = fmt.Sprintf("%s-ci-token-%06d", svc, i)
		c.desc = fmt.Sprintf("Token the %s pipelines push with", svc)
		if r.IntN(2) == 0 {
			c.store = fmt.Sprintf("type: github-actions, repository: example/%s, environment: production, name: TOKEN_%d", svc, i)
		} else {
			c.store = fmt.Sprintf("type: gitlab-ci, project: platform/%s, key: TOKEN_%d, masked: true, protected: true", svc, i)
		}
		c.authority = "type: generated, strategy: in-place, length: 48"
		c.every = pick(r, everys[:3])
	case x < 95: // certificates
		c.kind = "certificate"
		c.id = fmt.Sprintf("%s-tls-%06d", svc, i)
		host := fmt.Sprintf("%s-%d.internal.example", svc, i)
		c.desc = "TLS certificate of " + host
		if r.IntN(4) == 0 {
			c.authority = fmt.Sprintf("type: acme, directory: \"https://acme-v02.api.letsencrypt.org/directory\", email: platform@example.com, domains: [%s-%d.example.com]", svc, i)
			c.beforeExpiry = "30d"
		} else {
			c.authority = fmt.Sprintf("type: x509-ca, ca: %s, common_name: %s, sans: [%s], validity: 30d", caID, host, host)
			c.beforeExpiry = "10d"
		}
		if r.IntN(2) == 0 {
			c.store = fmt.Sprintf("type: file, dir: /etc/rotor/store/%s", c.id)
		} else {
			c.store = fmt.Sprintf("type: kubernetes-secret, namespace: %s, name: %s-tls-%d, key: tls.crt", svc, svc, i)
		}
	case x < 98: // SSH keys
		c.kind = "ssh-key"
		c.id = fmt.Sprintf("%s-ssh-%06d", svc, i)
		c.desc = fmt.Sprintf("SSH key the %s operations scripts use", svc)
		c.store = fmt.Sprintf("type: sops, path: secrets/%s.enc.yaml, key: ssh.key_%d", svc, i)
		c.authority = "type: manual, instructions: \"Add the new public key to authorized_keys via the access repo; remove the old one at revoke.\""
		c.every = "180d"
	default: // encryption keys
		c.kind = "encryption-key"
		c.id = fmt.Sprintf("%s-enc-key-%06d", svc, i)
		c.desc = fmt.Sprintf("Field encryption key of %s", svc)
		c.store = fmt.Sprintf("type: gcp-secret-manager, project: example-prod, secret: %s-enc-%d", svc, i)
		c.authority = "type: none, length: 64, alphabet: hex"
		c.every = "365d"
	}

	// A cutover window whose longest gap the policy can meet.
	for {
		w := pick(r, windows)
		if c.every == "" || w.maxGapDays <= daysOf(c.every) {
			c.cutover = w.id
			break
		}
	}
	if c.critical {
		c.revoke = "office-hours"
	}
	if c.every != "" && daysOf(c.every) >= 30 {
		c.soak = pick(r, []string{"", "2h", "6h", "24h", "48h"})
	}
	if r.IntN(3) == 0 {
		c.checks = append(c.checks, pick(r, u.checks))
	}
}

func daysOf(d string) int {
	var n int
	fmt.Sscanf(d, "%dd", &n)
	return n
}

func (c *credential) write(w *bufio.Writer) {
	fmt.Fprintf(w, "  %s:\n    description: %s\n    kind: %s\n    owner: %s\n", c.id, c.desc, c.kind, c.owner)
	if c.critical {
		w.WriteString("    critical: true\n")
	}
	fmt.Fprintf(w, "    store: {%s}\n    authority: {%s}\n", c.store, c.authority)
	switch {
	case c.every != "" && c.beforeExpiry != "":
		fmt.Fprintf(w, "    rotate: {every: %s, before_expiry: %s}\n", c.every, c.beforeExpiry)
	case c.every != "":
		fmt.Fprintf(w, "    rotate: {every: %s}\n", c.every)
	case c.beforeExpiry != "":
		fmt.Fprintf(w, "    rotate: {before_expiry: %s}\n", c.beforeExpiry)
	}
	if c.revoke != "" {
		fmt.Fprintf(w, "    windows: {cutover: %s, revoke: %s}\n", c.cutover, c.revoke)
	} else {
		fmt.Fprintf(w, "    windows: {cutover: %s}\n", c.cutover)
	}
	if c.soak != "" {
		fmt.Fprintf(w, "    soak: %s\n", c.soak)
	}
	if len(c.checks) > 0 {
		fmt.Fprintf(w, "    checks: [%s]\n", strings.Join(c.checks, ", "))
	}
	w.WriteString("    consumers:\n")
}

// writeConsumers writes n consumers of c, with the kinds, read modes, schedules, reloads and
// checks a real platform shows.
func (u *universe) writeConsumers(w *bufio.Writer, r *rand.Rand, c *credential, n int) {
	ids := u.byType
	checkRefs := func(max int) string {
		k := r.IntN(max + 1)
		if k == 0 {
			return ""
		}
		refs := make([]string, k)
		for j := range refs {
			refs[j] = pick(r, u.checks)
		}
		return "[" + strings.Join(refs, ", ") + "]"
	}
	for j := range n {
		role := pick(r, roles)
		id := fmt.Sprintf("%s-%s-%d", c.svc, role, j)
		var b strings.Builder
		line := func(format string, args ...any) {
			b.WriteString("        ")
			fmt.Fprintf(&b, format, args...)
			b.WriteByte('\n')
		}
		switch x := r.IntN(100); {
		case x < 45: // services
			line("kind: service")
			if r.IntN(3) == 0 {
				line("description: %s %s in the %s namespace", c.svc, role, c.svc)
			}
			line("identity: %s", pick(r, u.serviceIDs))
			reads := pick(r, []string{"at-start", "at-start", "on-change", "per-request", "cached"})
			line("reads: %s", reads)
			if reads == "cached" {
				line("ttl: %s", pick(r, []string{"5m", "15m", "1h", "12h"}))
			}
			if reads == "at-start" && r.IntN(4) == 0 {
				line("max_connection_age: %s", pick(r, []string{"30m", "1h", "4h"}))
				line("proof: connection-age")
			}
			switch r.IntN(6) {
			case 0:
				line("reload: {type: kubernetes-rollout, namespace: %s, name: %s-%s}", c.svc, c.svc, role)
			case 1:
				line("reload: {type: systemd, unit: %s-%s.service, action: restart}", c.svc, role)
			case 2:
				line("reload: {type: signal, pid_file: /run/%s/%s.pid, signal: HUP}", c.svc, role)
			case 3:
				line("reload: {type: http, url: \"http://127.0.0.1:%d/admin/reload-secrets\"}", 8000+r.IntN(1000))
			case 4:
				line("reload: {type: nginx, config: /etc/nginx/nginx.conf}")
			case 5:
				line("reload: {type: exec, command: [systemctl, reload, %s-%s]}", c.svc, role)
			}
			if refs := checkRefs(2); refs != "" {
				line("checks: %s", refs)
			}
		case x < 65: // scheduled jobs
			line("kind: job")
			line("description: %s %s batch", pick(r, []string{"nightly", "hourly", "monthly", "weekly"}), c.svc)
			if r.IntN(5) == 0 {
				line("on_demand: true")
			} else {
				line("schedule: \"%s\"", pick(r, []string{
					fmt.Sprintf("%d %d * * *", r.IntN(60), r.IntN(24)),
					fmt.Sprintf("%d %d * * 1-5", r.IntN(60), r.IntN(24)),
					fmt.Sprintf("%d %d 1 * *", r.IntN(60), r.IntN(24)),
					fmt.Sprintf("%d */%d * * *", r.IntN(60), 1+r.IntN(6)),
					fmt.Sprintf("%d %d * * 0", r.IntN(60), r.IntN(24))}))
				if r.IntN(5) == 0 {
					line("timezone: %s", pick(r, zones))
				}
			}
			line("identity: %s", pick(r, ids["kubernetes-service-account"]))
			line("reads: at-start")
			line("proof: next-run")
			if refs := checkRefs(1); refs != "" {
				line("checks: %s", refs)
			}
		case x < 77: // CI/CD pipelines
			line("kind: pipeline")
			line("identity: %s", pick(r, u.pipelineIDs))
			line("reads: per-request")
			line("on_demand: true")
			line("proof: next-run")
			if refs := checkRefs(1); refs != "" {
				line("checks: %s", refs)
			}
		case x < 87: // operations scripts
			line("kind: script")
			line("description: %s runbook of %s", pick(r, []string{"quarterly maintenance", "incident", "backfill", "migration"}), c.svc)
			line("identity: %s", pick(r, u.scriptIDs))
			if r.IntN(3) == 0 {
				line("reads: cached")
				line("ttl: 12h")
			} else {
				line("reads: at-start")
				line("on_demand: true")
			}
			if r.IntN(2) == 0 {
				line("reload: {type: exec, command: [/usr/local/bin/%s-refresh, --all]}", c.svc)
			}
		default: // external integrations
			line("kind: integration")
			line("description: partner %d verifies with this value", r.IntN(500))
			line("identity: %s", pick(r, ids["external"]))
			if r.IntN(2) == 0 {
				line("reads: cached")
				line("ttl: %s", pick(r, []string{"1d", "2d", "6h"}))
				line("proof: ttl-expiry")
				line("reload: {type: manual, instructions: \"Send the new key id to the partner; wait for their confirmation.\"}")
			} else {
				line("reads: per-request")
			}
		}
		if r.IntN(10) == 0 {
			line("owner: %s", pick(r, u.teams))
		}
		fmt.Fprintf(w, "      %s:\n", id)
		w.WriteString(b.String())
	}
}

// envName makes an identity id into an environment variable name.
func envName(id string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(id))
}
