package inventory

import (
	"slices"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/schedule"
)

// Inventory is the validated model of one inventory folder. Collections keep their
// declaration order (files in lexical path order, then document order), which is the order
// consumers are reloaded in.
type Inventory struct {
	Root        string
	Defaults    Defaults
	Teams       []*Team
	Windows     []*Window
	Freezes     []*Freeze
	Identities  []*Identity
	Checks      []*Check
	Credentials []*Credential
	// Notifications are where rotor tells people that a run needs them.
	Notifications []*Notification

	notifications map[string]*Notification
	teams         map[string]*Team
	windows       map[string]*Window
	identities    map[string]*Identity
	checks        map[string]*Check
	credentials   map[string]*Credential
}

// ScheduleFreezes returns the freezes as the schedule package reasons about them.
func (inv *Inventory) ScheduleFreezes() []schedule.Freeze {
	out := make([]schedule.Freeze, len(inv.Freezes))
	for i, f := range inv.Freezes {
		out[i] = schedule.Freeze{From: f.Start, To: f.End, Reason: f.Reason}
	}
	return out
}

// Credential returns the credential with the given id.
func (inv *Inventory) Credential(id string) (*Credential, bool) {
	c, ok := inv.credentials[id]
	return c, ok
}

// CredentialIDs lists every credential id, in declaration order.
func (inv *Inventory) CredentialIDs() []string {
	ids := make([]string, len(inv.Credentials))
	for i, c := range inv.Credentials {
		ids[i] = c.ID
	}
	return ids
}

// Window returns the window with the given id.
func (inv *Inventory) Window(id string) (*Window, bool) { w, ok := inv.windows[id]; return w, ok }

// Team returns the team with the given id.
func (inv *Inventory) Team(id string) (*Team, bool) { t, ok := inv.teams[id]; return t, ok }

// Identity returns the identity with the given id.
func (inv *Inventory) Identity(id string) (*Identity, bool) {
	i, ok := inv.identities[id]
	return i, ok
}

// Notification returns the notification sink with the given id.
func (inv *Inventory) Notification(id string) (*Notification, bool) {
	n, ok := inv.notifications[id]
	return n, ok
}

// Check returns the check with the given id.
func (inv *Inventory) Check(id string) (*Check, bool) { c, ok := inv.checks[id]; return c, ok }

// Defaults hold inventory-wide settings. At most one file may set them.
type Defaults struct {
	Pos      Pos    `yaml:"-"`
	Timezone string `yaml:"timezone" doc:"IANA time zone for windows, freezes and job schedules that do not name one (default UTC)."`
	// ExceptionWarning is how long before an exception expires its owner is warned.
	ExceptionWarning Duration `yaml:"exception_warning" doc:"Notify exception-expiring this long before an open exception expires (default 1h)."`
}

// DefaultExceptionWarning is the lead time of exception-expiring notifications.
const DefaultExceptionWarning = time.Hour

// Notification is a place rotor tells people that a run needs them: a generic JSON webhook
// or a Slack incoming webhook. Its URL may be a secret (a Slack webhook URL is one), so it
// may come from the environment, and it is never printed beyond its scheme and host.
type Notification struct {
	ID          string   `yaml:"-"`
	Pos         Pos      `yaml:"-"`
	Type        string   `yaml:"type" rotor:"required,enum=webhook|slack" doc:"webhook: rotor's JSON event, signed when secret_env is set; slack: a Slack incoming-webhook message (text and blocks)."`
	URL         string   `yaml:"url" doc:"The http(s) URL to POST to. Use url_env instead when the URL is a secret."`
	URLEnv      string   `yaml:"url_env" doc:"Name of the environment variable holding the URL (a Slack webhook URL is a secret)."`
	SecretEnv   string   `yaml:"secret_env" doc:"webhook only: name of the environment variable holding the HMAC-SHA256 key that signs each body (header X-Rotor-Signature: sha256=HEX)."`
	Events      []string `yaml:"events" rotor:"required,enum=all|gate-blocked|approval-needed|rollback|exception-expiring|exception-expired" doc:"Events sent here: gate-blocked, approval-needed, rollback, exception-expiring, exception-expired, or all."`
	Timeout     Duration `yaml:"timeout" doc:"Give up one delivery attempt after this long (default 5s); failures are retried 3 times on 5xx and timeouts, and never stop a rotation."`
	Description string   `yaml:"description"`
}

// Team is an owning group: who is paged, and who may approve revocations.
type Team struct {
	ID        string   `yaml:"-"`
	Pos       Pos      `yaml:"-"`
	Contact   string   `yaml:"contact" doc:"Where to reach the team during a change (channel, pager, mail)."`
	Approvers []string `yaml:"approvers" doc:"People (or identities) allowed to approve revocations of this team's critical credentials."`
}

// Window is a recurring change window: a cron start, a duration and a time zone.
type Window struct {
	ID          string   `yaml:"-"`
	Pos         Pos      `yaml:"-"`
	Cron        string   `yaml:"cron" rotor:"required" doc:"Five-field cron expression (or @daily, @weekly…) of each opening's start, in the window's time zone."`
	Duration    Duration `yaml:"duration" rotor:"required" doc:"How long each opening lasts, as elapsed time: 30m, 4h, 1d."`
	Timezone    string   `yaml:"timezone" doc:"IANA time zone of the cron expression (default: defaults.timezone, then UTC)."`
	Description string   `yaml:"description"`

	// Schedule is the parsed window, set by validation.
	Schedule schedule.Window `yaml:"-"`

	cronPos, durationPos, timezonePos Pos
}

func (w *Window) notePositions(m keyPositions) {
	w.cronPos = m.pos("cron")
	w.durationPos = m.pos("duration")
	w.timezonePos = m.pos("timezone")
}

// Freeze is a dated period during which no phase starts.
type Freeze struct {
	Pos      Pos    `yaml:"-"`
	From     Date   `yaml:"from" rotor:"required" doc:"First frozen day (YYYY-MM-DD, whole day in the freeze's time zone) or an RFC 3339 instant."`
	To       Date   `yaml:"to" rotor:"required" doc:"Last frozen day, inclusive (YYYY-MM-DD), or an RFC 3339 instant (exclusive)."`
	Reason   string `yaml:"reason" rotor:"required" doc:"Why nothing may change; shown by plan and in blocked gates."`
	Timezone string `yaml:"timezone" doc:"IANA time zone of the dates (default: defaults.timezone, then UTC)."`

	// Start and End are the frozen instants, [Start, End), resolved by validation.
	Start time.Time `yaml:"-"`
	End   time.Time `yaml:"-"`

	fromPos, toPos, timezonePos Pos
}

func (f *Freeze) notePositions(m keyPositions) {
	f.fromPos = m.pos("from")
	f.toPos = m.pos("to")
	f.timezonePos = m.pos("timezone")
}

// Identity is who acts: the executor that writes stores and authorities, or the identity a
// consumer reads with. Its keys beyond `type` depend on the type.
type Identity struct {
	ID          string `yaml:"-"`
	Pos         Pos    `yaml:"-"`
	Type        string `yaml:"type" rotor:"required,provider=identity" doc:"Kind of identity."`
	Description string `yaml:"description"`
	Config      any    `yaml:"-" rotor:"config"`
}

// Check is a named source of evidence with a pass condition. Its keys beyond the common ones
// depend on the type, and never repeat a common one (see collision in decode.go).
type Check struct {
	ID          string   `yaml:"-"`
	Pos         Pos      `yaml:"-"`
	Type        string   `yaml:"type" rotor:"required,provider=check" doc:"Kind of check."`
	Description string   `yaml:"description"`
	Timeout     Duration `yaml:"timeout" doc:"Give up after this long and report unknown (default 30s). This is the deadline of everything the check does: its queries (Loki, VictoriaLogs, Prometheus, Log Analytics), requests and commands; no check type has a timeout key of its own."`
	Config      any      `yaml:"-" rotor:"config"`
}

// Credential is one thing that gets rotated.
type Credential struct {
	ID          string            `yaml:"-"`
	Pos         Pos               `yaml:"-"`
	Description string            `yaml:"description"`
	Kind        string            `yaml:"kind" rotor:"enum=password|api-key|client-secret|webhook-secret|token|certificate|ssh-key|encryption-key" doc:"What the value is; informs defaults and reports."`
	Owner       string            `yaml:"owner" rotor:"required,ref=team" doc:"Owning team (a key of teams)."`
	Critical    bool              `yaml:"critical" doc:"Critical credentials need a human approval, not from the run's initiator, before revocation."`
	Approvers   []string          `yaml:"approvers" doc:"Who may approve revocation (people, or team ids whose approvers count). Default: the owning team's approvers."`
	Labels      map[string]string `yaml:"labels" doc:"Free-form labels for selection and reports."`
	Store       Store             `yaml:"store" rotor:"required" doc:"Where the value lives and where consumers read it."`
	Authority   Authority         `yaml:"authority" rotor:"required" doc:"The system that must accept the value: mints and revokes."`
	Rotate      Policy            `yaml:"rotate" doc:"When the credential is due."`
	Windows     PhaseWindows      `yaml:"windows" doc:"The change window each phase must run in."`
	Soak        Duration          `yaml:"soak" doc:"How long verify watches signals after cutover before revoke may start."`
	DeleteAfter Retention         `yaml:"delete_after" doc:"When a version disabled at revoke is deleted from the store: next-revoke (the default: at the next rotation's revoke, so one previous version always stays) or a duration after its revoke (7d). A store that cannot delete versions keeps them, and the run notes it."`
	Checks      []string          `yaml:"checks" rotor:"ref=check" doc:"Credential-wide error signals watched during cutover and verify."`
	Consumers   []*Consumer       `yaml:"consumers" rotor:"keyed" doc:"Every execution path that uses the value."`
	Notify      []string          `yaml:"notify" doc:"Notifications (keys of notifications) told about this credential's runs. Default: all of them."`

	soakPos, notifyPos lineCol // in Pos.File
}

func (c *Credential) notePositions(m keyPositions) {
	c.soakPos = m.lineCol("soak")
	c.notifyPos = m.lineCol("notify")
}

// Store says where a credential's value lives. Keys beyond type and identity depend on the
// type.
type Store struct {
	Pos      Pos    `yaml:"-"`
	Type     string `yaml:"type" rotor:"required,provider=store" doc:"Kind of store."`
	Identity string `yaml:"identity" rotor:"ref=identity" doc:"The executor identity that writes the store."`
	Config   any    `yaml:"-" rotor:"config"`
}

// Authority says which system accepts the value. Keys beyond type and strategy depend on the
// type.
type Authority struct {
	Pos      Pos    `yaml:"-"`
	Type     string `yaml:"type" rotor:"required,provider=authority" doc:"Kind of authority."`
	Strategy string `yaml:"strategy" rotor:"enum=overlap|in-place" doc:"overlap: old and new are both valid during cutover; in-place: only one can be valid. Default: the first the authority supports."`
	Identity string `yaml:"identity" rotor:"ref=identity" doc:"The executor identity that mints and revokes at the authority."`
	Parallel int    `yaml:"parallel" doc:"At most this many runs at once against this authority when many credentials rotate together (default: only the global --parallel bounds them)."`
	Config   any    `yaml:"-" rotor:"config"`
}

// Reload says how a consumer picks up a new value. Its keys beyond type and timeout depend on
// the type, and never repeat those two (see collision in decode.go).
type Reload struct {
	Pos     Pos      `yaml:"-"`
	Type    string   `yaml:"type" rotor:"required,provider=reload" doc:"Kind of reload."`
	Timeout Duration `yaml:"timeout" doc:"Give up after this long (default 2m); the reload may be tried again. This is the deadline of everything the reload does: nginx's configuration test, reload and wait for new workers, a command, a request; no reload type has a timeout key of its own."`
	Config  any      `yaml:"-" rotor:"config"`
}

// Policy says when a credential is due. Every rule gives a date and the earliest wins; the
// jitter then moves that date earlier by a fixed amount per credential, never later, so no
// rule's limit is ever passed.
type Policy struct {
	Pos          Pos      `yaml:"-"`
	Every        Duration `yaml:"every" doc:"Maximum age of a value: rotate at least this often."`
	BeforeExpiry Duration `yaml:"before_expiry" doc:"Rotate at the latest this long before the value expires."`
	RenewAt      Fraction `yaml:"renew_at" doc:"Rotate once this share of the current value's actual lifetime (from its issue to its expiry) has passed: 2/3, 0.66 or 66%. Strictly between 0 and 1. With before_expiry, the earlier date wins."`
	Jitter       Jitter   `yaml:"jitter" doc:"Move the due date earlier by up to this much, by a fixed amount per credential (a hash of its id: the same on every run and machine), so values issued together do not all come due together. A duration (6h), a share of the rule's span (2%), or 0 for none. Default: 2% of the lifetime with renew_at, none otherwise."`

	jitterPos lineCol // in Pos.File
}

// PhaseWindows names the change window of each phase. A phase without a window may run at
// any time outside freezes.
type PhaseWindows struct {
	Pos     Pos    `yaml:"-"`
	Prepare string `yaml:"prepare" rotor:"ref=window" doc:"Window for minting and storing the new value."`
	Cutover string `yaml:"cutover" rotor:"ref=window" doc:"Window for promoting the new value and reloading consumers."`
	Verify  string `yaml:"verify" rotor:"ref=window" doc:"Window for verification steps that need people."`
	Revoke  string `yaml:"revoke" rotor:"ref=window" doc:"Window for disabling the previous value."`
}

// Consumer kinds and read modes, from the contract in DOMAIN.md.
const (
	KindService     = "service"
	KindJob         = "job"
	KindPipeline    = "pipeline"
	KindScript      = "script"
	KindIntegration = "integration"

	ReadsAtStart    = "at-start"
	ReadsOnChange   = "on-change"
	ReadsPerRequest = "per-request"
	ReadsCached     = "cached"
)

// Consumer is one execution path that uses a credential.
type Consumer struct {
	ID               string   `yaml:"-"`
	Pos              Pos      `yaml:"-"`
	Kind             string   `yaml:"kind" rotor:"required,enum=service|job|pipeline|script|integration" doc:"service, job (scheduled), pipeline (CI/CD), script (operations) or integration (external/SaaS)."`
	Description      string   `yaml:"description"`
	Owner            string   `yaml:"owner" rotor:"ref=team" doc:"Team that may sign off this consumer (default: the credential's owner)."`
	Identity         string   `yaml:"identity" rotor:"ref=identity" doc:"The identity the consumer reads the value with; readiness is proven with it."`
	Reads            string   `yaml:"reads" rotor:"required,enum=at-start|on-change|per-request|cached" doc:"When the consumer reads the value."`
	TTL              Duration `yaml:"ttl" doc:"With reads: cached, how long a read value is kept."`
	Reload           *Reload  `yaml:"reload" doc:"How to make the consumer pick up the new value."`
	Checks           []string `yaml:"checks" rotor:"ref=check" doc:"Checks that prove this consumer works with the new value."`
	Schedule         string   `yaml:"schedule" doc:"For jobs: five-field cron of its runs."`
	Timezone         string   `yaml:"timezone" doc:"Time zone of schedule (default: defaults.timezone, then UTC)."`
	OnDemand         bool     `yaml:"on_demand" doc:"Runs only when someone triggers it (an on-demand pipeline or script)."`
	MaxConnectionAge Duration `yaml:"max_connection_age" doc:"For pools of long-lived connections: the longest a connection opened with the old value lives."`
	Accepts          bool     `yaml:"accepts" doc:"Validates incoming values (an API server, a webhook receiver): it reads every enabled version, so it is reloaded again at revoke and at rollback."`
	Proof            string   `yaml:"proof" rotor:"enum=immediate|next-run|ttl-expiry|connection-age|signoff" doc:"When this consumer's proof can come. Default: derived from kind, reads and schedule."`

	// Runs is the parsed Schedule (a zero-length window per run), set by validation when
	// Schedule is given.
	Runs *schedule.Window `yaml:"-"`

	// Where some values are, in Pos.File: there are hundreds of thousands of consumers, so
	// these keep only line and column.
	schedulePos, timezonePos, ttlPos, proofPos lineCol
}

func (c *Consumer) notePositions(m keyPositions) {
	c.schedulePos = m.lineCol("schedule")
	c.timezonePos = m.lineCol("timezone")
	c.ttlPos = m.lineCol("ttl")
	c.proofPos = m.lineCol("proof")
}

// lineCol is a position in a file known from elsewhere; the zero lineCol means absent.
type lineCol struct{ line, col int32 }

// in returns the position in file, or the zero Pos when absent.
func (lc lineCol) in(file string) Pos {
	if lc == (lineCol{}) {
		return Pos{}
	}
	return Pos{File: file, Line: int(lc.line), Col: int(lc.col)}
}

// ProviderUse is one place a credential relies on a provider type: its store, its authority,
// a consumer's reload, or a check it or a consumer watches.
type ProviderUse struct {
	Kind       provider.Kind
	Type       string
	Pos        Pos    // the block that names the type (a check's definition for a check)
	Credential string // the credential that relies on it
	What       string // "" for the store and the authority, "consumer api: reload", "check api-ok"
}

// ProviderUses lists every provider type each credential relies on, in inventory order, so
// that a caller holding the registry can say which of them cannot run in this build.
func (inv *Inventory) ProviderUses() []ProviderUse {
	var out []ProviderUse
	for _, c := range inv.Credentials {
		out = append(out,
			ProviderUse{provider.KindStore, c.Store.Type, c.Store.Pos, c.ID, ""},
			ProviderUse{provider.KindAuthority, c.Authority.Type, c.Authority.Pos, c.ID, ""})
		seen := map[string]bool{}
		check := func(id string) {
			ch, ok := inv.Check(id)
			if !ok || seen[id] {
				return
			}
			seen[id] = true
			out = append(out, ProviderUse{provider.KindCheck, ch.Type, ch.Pos, c.ID, "check " + id})
		}
		for _, id := range c.Checks {
			check(id)
		}
		for _, k := range c.Consumers {
			if k.Reload != nil {
				out = append(out, ProviderUse{provider.KindReload, k.Reload.Type, k.Reload.Pos, c.ID, "consumer " + k.ID + ": reload"})
			}
			for _, id := range k.Checks {
				check(id)
			}
		}
	}
	return out
}

// Approvers resolves who may approve a credential's revocation: its approvers list (team ids
// expand to their approvers), or else the owning team's approvers. Sorted, without repeats.
func (inv *Inventory) Approvers(c *Credential) []string {
	names := c.Approvers
	if len(names) == 0 {
		names = []string{c.Owner}
	}
	var out []string
	for _, n := range names {
		if t, ok := inv.Team(n); ok {
			out = append(out, t.Approvers...)
		} else {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
