package vaultkv

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// Store is the vault-kv store of one inventory entry. It is safe for concurrent use; it keeps
// the tokens of the identities it logged in as, in memory, for its own life.
type Store struct {
	cfg                  Config
	env                  provider.Env
	mount, path, staging string
	field                string
	cl                   clients
}

// The store's powers.
var (
	_ provider.Store          = (*Store)(nil)
	_ provider.VersionToggler = (*Store)(nil)
	_ provider.VersionDeleter = (*Store)(nil)
	_ provider.Pinner         = (*Store)(nil)
	_ provider.WriteChecker   = (*Store)(nil)
	_ provider.ReadChecker    = (*Store)(nil)
	_ provider.UsageReporter  = (*Store)(nil)
)

// New returns the store for cfg. It connects to nothing until it is used. env.Executor is the
// identity it writes as; env.Now is required.
func New(cfg Config, env provider.Env) (*Store, error) {
	var errs []error
	for _, fe := range cfg.Validate() {
		errs = append(errs, fe)
	}
	if cfg.Mount == "" {
		errs = append(errs, errors.New("mount is empty"))
	}
	if cfg.Path == "" {
		errs = append(errs, errors.New("path is empty"))
	}
	if env.Now == nil {
		errs = append(errs, errors.New("the environment has no clock"))
	}
	if len(errs) > 0 {
		return nil, provider.Wrap(provider.Terminal, "vault-kv store", errors.Join(errs...))
	}
	return &Store{cfg: cfg, env: env, mount: trimSlash(cfg.Mount), path: trimSlash(cfg.Path),
		staging: trimSlash(cfg.staging()), field: cfg.field()}, nil
}

// indexed logs in as the executor and reads rotor's index.
func (s *Store) indexed(ctx context.Context, op string) (*vault.Client, *index, error) {
	c, err := s.executor(ctx, op)
	if err != nil {
		return nil, nil, err
	}
	ix, err := s.load(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	return c, ix, nil
}

// secretName is the secret consumers read, as messages name it.
func (s *Store) secretName() string { return s.apiPath("data", s.path) }

// scrubbed keeps a value out of an error: Vault's messages should not echo request data,
// but a message is checked anyway before it leaves the store.
func scrubbed(err error, v []byte) error {
	if err == nil || len(v) < 4 || !strings.Contains(err.Error(), string(v)) {
		return err
	}
	return provider.Errorf(provider.KindOf(err), "vault-kv store", "a request failed and its message showed the value; the message was withheld")
}

// Put implements provider.Store. The value is written as a new version of the staging
// secret with check-and-set (so concurrent Puts each get their own version), beside its
// idempotency key; then indexed in the staging secret's custom_metadata. Consumers, who read
// the other secret, never see it before Promote. A Put that crashed after the write and
// before the index is recognised by its retry (the key is in the staged data) and indexed.
func (s *Store) Put(ctx context.Context, req provider.PutRequest) (provider.PutResponse, error) {
	const op = "put version"
	if req.Key == "" {
		return provider.PutResponse{}, provider.Errorf(provider.Terminal, op, "no idempotency key: pass the run id")
	}
	if req.Value.IsZero() {
		return provider.PutResponse{}, provider.Errorf(provider.Terminal, op, "the value is empty")
	}
	c, err := s.executor(ctx, op)
	if err != nil {
		return provider.PutResponse{}, err
	}
	var problems []error
	for _, r := range req.Readers {
		if !canLogIn(r) {
			problems = append(problems, fmt.Errorf("reader %q is of type %q, which cannot log in to Vault: %w", r.ID, r.Type, provider.ErrUnsupported))
		}
	}
	if err := provider.Refuse(op, problems); err != nil {
		return provider.PutResponse{}, err
	}
	for attempt := 0; ; attempt++ {
		ix, err := s.load(ctx, c)
		if err != nil {
			return provider.PutResponse{}, err
		}
		if e, ok := ix.byKey(req.Key); ok {
			if w, ok := ix.locate(stagedID(e.m)); ok {
				return provider.PutResponse{Version: ix.version(w)}, nil
			}
			return provider.PutResponse{}, provider.Errorf(provider.NeedsHuman, op, "the value staged with key %q (%s) is no longer in %s: it was destroyed", req.Key, stagedID(e.m), s.apiPath("data", s.staging))
		}
		if e, ok, err := s.adoptOrphan(ctx, c, ix, req); err != nil || ok {
			if err != nil {
				return provider.PutResponse{}, err
			}
			ix.entries[e.m] = e
			w, _ := ix.locate(stagedID(e.m))
			return provider.PutResponse{Version: ix.version(w)}, nil
		}
		val := req.Value.Reveal()
		m, err := s.writeData(ctx, c, op, s.staging, s.field, val, req.Key, ix.stage.current)
		err = scrubbed(err, val)
		if errors.Is(err, ErrConflict) && attempt < 20 {
			continue // another Put got that version: read again and retry
		}
		if err != nil {
			return provider.PutResponse{}, err
		}
		e := staged{m: m, key: req.Key, ref: req.AuthorityRef, exp: req.Expires}
		if s.env.Fingerprint != nil {
			e.fp = s.env.Fingerprint(req.Value)
		}
		if len(e.encode()) > 512 {
			return provider.PutResponse{}, provider.Errorf(provider.Terminal, op, "the labels of version %s are longer than KV's 512 bytes (key %q)", stagedID(m), req.Key)
		}
		if err := s.patchCustom(ctx, c, op, s.staging, map[string]*string{labelPrefix + stagedID(m): strp(e.encode())}); err != nil {
			return provider.PutResponse{}, err
		}
		v := provider.Version{ID: stagedID(m), Stage: provider.StagePending, Enabled: true, Key: e.key, Fingerprint: e.fp,
			AuthorityRef: e.ref, Expires: e.exp, Created: s.env.Now().UTC()}
		if meta, err := s.readMeta(ctx, c, s.staging); err == nil {
			if vm, ok := meta.versions[m]; ok {
				v.Created = vm.Created
			}
		}
		return provider.PutResponse{Version: v, Created: true}, nil
	}
}

// adoptOrphan finds a staged value written with req.Key whose index write was lost (a crash
// between the two writes) and indexes it. Only staged versions newer than every indexed one
// are looked at.
func (s *Store) adoptOrphan(ctx context.Context, c *vault.Client, ix *index, req provider.PutRequest) (staged, bool, error) {
	const op = "put version"
	newest := 0
	for m := range ix.entries {
		newest = max(newest, m)
	}
	for m := ix.stage.current; m > newest; m-- {
		vm, ok := ix.stage.versions[m]
		if !ok || vm.Destroyed || vm.Deleted {
			continue
		}
		d, err := s.readData(ctx, c, op, s.staging, m, s.field)
		wipe(d.value)
		if err != nil {
			continue
		}
		if d.key != req.Key {
			continue
		}
		e := staged{m: m, key: req.Key, ref: req.AuthorityRef, exp: req.Expires}
		if err := s.patchCustom(ctx, c, op, s.staging, map[string]*string{labelPrefix + stagedID(m): strp(e.encode())}); err != nil {
			return staged{}, false, err
		}
		return e, true, nil
	}
	return staged{}, false, nil
}

// canLogIn reports whether the store can act as an identity.
func canLogIn(id provider.Identity) bool {
	return id.Type == "vault-token" || id.Type == "vault-approle"
}

// place is the secret and the KV version that hold a located version: the secret's version
// once promoted, the staging secret's before.
func (s *Store) place(w where) (string, int) {
	if w.n == 0 {
		return s.staging, w.m
	}
	return s.path, w.n
}

// valueOf reads a located version's value as the executor.
func (s *Store) valueOf(ctx context.Context, c *vault.Client, op string, w where) ([]byte, error) {
	p, n := s.place(w)
	d, err := s.readData(ctx, c, op, p, n, s.field)
	if err != nil {
		wipe(d.value)
		return nil, err
	}
	if d.value == nil {
		return nil, provider.Errorf(provider.Terminal, op, "%s?version=%d has no field %q", s.apiPath("data", p), n, s.field)
	}
	return d.value, nil
}

// Promote implements provider.Store: the value is written as a new version of the secret
// consumers read, with check-and-set on the version rotor knows as current, so a value
// someone else wrote meanwhile is detected and never buried under rotor's; then the labels
// move (current, previous) and the staged copy is destroyed. A disabled version is refused.
func (s *Store) Promote(ctx context.Context, req provider.PromoteRequest) (provider.PromoteResponse, error) {
	const op = "promote version"
	c, ix, err := s.indexed(ctx, op)
	if err != nil {
		return provider.PromoteResponse{}, err
	}
	w, ok := ix.locate(req.Version)
	if !ok {
		return provider.PromoteResponse{}, provider.Errorf(provider.Terminal, op, "version %q of %s: %w", req.Version, s.secretName(), provider.ErrNotFound)
	}
	if ix.currentID() == req.Version {
		if err := s.dropStaged(ctx, c, op, w); err != nil {
			return provider.PromoteResponse{}, err
		}
		return s.promoted(ix, w), nil
	}
	if w.meta.Deleted {
		return provider.PromoteResponse{}, provider.Errorf(provider.Terminal, op, "version %s is disabled: enable it before making it current", req.Version)
	}
	oldCurrent := ix.currentID()
	expected := ix.main.current
	val, err := s.valueOf(ctx, c, op, w)
	if err != nil {
		return provider.PromoteResponse{}, err
	}
	defer wipe(val)
	var n int
	if msg := ix.drift(s.secretName()); msg != "" {
		// A promote that crashed after its write and before its labels left the value as the
		// newest version, unlabelled: recognised by its bytes (compared in memory), adopted.
		// Anything else is someone else's value: refused, never overwritten.
		if !s.sameAsNewest(ctx, c, op, ix, val) {
			return provider.PromoteResponse{}, provider.Errorf(provider.Terminal, op, "%s; rotor does not overwrite it: find who wrote it (the audit log), then restore rotor's current or promote by hand: %w", msg, ErrConflict)
		}
		n = ix.main.current
		oldCurrent = ix.currentID()
	}
	if n == 0 {
		n, err = s.writeData(ctx, c, op, s.path, s.field, val, "", expected)
		err = scrubbed(err, val)
	}
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return provider.PromoteResponse{}, provider.Wrap(provider.Terminal, op,
				fmt.Errorf("%s changed between rotor's read (version %d) and its write of %s: %w; promote again once the secret is as rotor left it", s.secretName(), expected, req.Version, err))
		}
		return provider.PromoteResponse{}, err
	}
	set := map[string]*string{labelCurrent: strp(req.Version)}
	if w.m > 0 {
		set[labelPrefix+stagedID(w.m)] = strp(strconv.Itoa(n))
		ix.promoted[w.m], ix.byN[n] = n, w.m
	}
	if oldCurrent != "" && oldCurrent != req.Version {
		set[labelPrevious] = strp(oldCurrent)
	}
	ix.prune(set, n)
	if err := s.patchCustom(ctx, c, op, s.path, set); err != nil {
		return provider.PromoteResponse{}, err
	}
	ix, err = s.load(ctx, c)
	if err != nil {
		return provider.PromoteResponse{}, err
	}
	w, ok = ix.locate(req.Version)
	if !ok {
		return provider.PromoteResponse{}, provider.Errorf(provider.Retryable, op, "version %s vanished right after its promote", req.Version)
	}
	if err := s.dropStaged(ctx, c, op, w); err != nil {
		return provider.PromoteResponse{}, err
	}
	return s.promoted(ix, w), nil
}

// sameAsNewest reports whether the secret's newest version, which rotor did not label, holds
// exactly val.
func (s *Store) sameAsNewest(ctx context.Context, c *vault.Client, op string, ix *index, val []byte) bool {
	n := ix.main.current
	if _, mapped := ix.byN[n]; mapped || n == 0 {
		return false
	}
	d, err := s.readData(ctx, c, op, s.path, n, s.field)
	defer wipe(d.value)
	return err == nil && d.value != nil && subtle.ConstantTimeCompare(d.value, val) == 1
}

// prune removes labels of versions the secret no longer keeps, and keeps rotor's labels under
// maxLabels (dropping the oldest mappings of retired versions first).
func (ix *index) prune(set map[string]*string, newN int) {
	live := func(n int) bool { v, ok := ix.main.versions[n]; return (ok && !v.Destroyed) || n == newN }
	keep := map[string]bool{}
	for _, id := range []string{ix.currentID(), ix.previous} {
		keep[id] = true
	}
	count := 0
	var retired []int
	for m, n := range ix.promoted {
		if !live(n) {
			set[labelPrefix+stagedID(m)] = nil
			continue
		}
		count++
		if !keep[stagedID(m)] && n != newN {
			retired = append(retired, m)
		}
	}
	for c, n := range ix.pins {
		if !live(n) {
			set[pinPrefix+c] = nil
		} else {
			count++
		}
	}
	slices.Sort(retired)
	for i := 0; count+3 > maxLabels && i < len(retired); i++ {
		set[labelPrefix+stagedID(retired[i])] = nil
		count--
	}
}

// dropStaged destroys the staged copy of a promoted value: it now lives in the secret.
func (s *Store) dropStaged(ctx context.Context, c *vault.Client, op string, w where) error {
	if w.m == 0 || w.n == 0 {
		return nil
	}
	if vm, ok := s.stagedMeta(ctx, c, w.m); ok && !vm.Destroyed {
		return s.versionsOp(ctx, c, op, "destroy", s.staging, w.m)
	}
	return nil
}

func (s *Store) stagedMeta(ctx context.Context, c *vault.Client, m int) (verMeta, bool) {
	meta, err := s.readMeta(ctx, c, s.staging)
	if err != nil {
		return verMeta{}, true // unknown: destroy anyway (idempotent)
	}
	vm, ok := meta.versions[m]
	return vm, ok
}

func (s *Store) promoted(ix *index, w where) provider.PromoteResponse {
	resp := provider.PromoteResponse{Current: ix.version(w)}
	if ix.previous != "" && ix.previous != w.id {
		if pw, ok := ix.locate(ix.previous); ok {
			v := ix.version(pw)
			resp.Previous = &v
		}
	}
	return resp
}

// Versions implements provider.Store.
func (s *Store) Versions(ctx context.Context, req provider.VersionsRequest) (provider.VersionsResponse, error) {
	const op = "list versions"
	_, ix, err := s.indexed(ctx, op)
	if err != nil {
		return provider.VersionsResponse{}, err
	}
	vs := ix.versions()
	if vs == nil {
		vs = []provider.Version{}
	}
	return provider.VersionsResponse{Versions: vs}, nil
}

// Read implements provider.Store: the value is read with req.As's own token, so a policy
// that denies it is an error of kind Denied. Which KV version an id is comes from the
// labels, read as the executor. "" reads what an unpinned consumer reads: the secret's
// newest version.
func (s *Store) Read(ctx context.Context, req provider.ReadRequest) (provider.ReadResponse, error) {
	const op = "read version"
	as, err := s.as(ctx, op, req.As)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	_, ix, err := s.indexed(ctx, op)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	var w where
	p, n := s.path, 0
	if req.Version != "" {
		var ok bool
		if w, ok = ix.locate(req.Version); !ok {
			return provider.ReadResponse{}, provider.Errorf(provider.Terminal, op, "version %q of %s: %w", req.Version, s.secretName(), provider.ErrNotFound)
		}
		if w.meta.Deleted {
			return provider.ReadResponse{}, provider.Errorf(provider.Terminal, op, "version %s is disabled: %w", req.Version, provider.ErrNotFound)
		}
		n = w.n
		if n == 0 {
			p, n = s.staging, w.m
		}
	} else if !ix.main.found || ix.main.current == 0 {
		return provider.ReadResponse{}, provider.Errorf(provider.Terminal, op, "%s has no current version yet: %w", s.secretName(), provider.ErrNotFound)
	}
	d, err := s.readData(ctx, as, op, p, n, s.field)
	if err != nil {
		wipe(d.value)
		return provider.ReadResponse{}, fmt.Errorf("as %s: %w", req.As.ID, err)
	}
	if d.value == nil {
		return provider.ReadResponse{}, provider.Errorf(provider.Terminal, op, "%s version %d has no field %q", s.apiPath("data", p), d.version, s.field)
	}
	val := secret.New(d.value)
	wipe(d.value)
	if req.Version == "" {
		var ok bool
		if w, ok = ix.locate(ix.idOfN(d.version)); !ok {
			w = where{id: ix.idOfN(d.version), n: d.version, meta: d.meta}
		}
	}
	return provider.ReadResponse{Version: ix.version(w), Value: val}, nil
}

// Disable implements provider.VersionToggler: a soft delete of the version (undeletable: a
// rollback enables it again). The current version, and a version a consumer is pinned to,
// are refused.
func (s *Store) Disable(ctx context.Context, req provider.ToggleRequest) error {
	return s.toggle(ctx, "disable version", "delete", req)
}

// Enable implements provider.VersionToggler: undelete.
func (s *Store) Enable(ctx context.Context, req provider.ToggleRequest) error {
	return s.toggle(ctx, "enable version", "undelete", req)
}

func (s *Store) toggle(ctx context.Context, op, kind string, req provider.ToggleRequest) error {
	c, ix, err := s.indexed(ctx, op)
	if err != nil {
		return err
	}
	w, ok := ix.locate(req.Version)
	if !ok {
		return provider.Errorf(provider.Terminal, op, "version %q of %s: %w", req.Version, s.secretName(), provider.ErrNotFound)
	}
	if kind == "delete" {
		if w.meta.Deleted {
			return nil
		}
		if err := s.inUse(op, ix, w); err != nil {
			return err
		}
	} else if !w.meta.Deleted {
		return nil
	}
	p, n := s.place(w)
	return s.versionsOp(ctx, c, op, kind, p, n)
}

// inUse refuses to take away a version someone reads.
func (s *Store) inUse(op string, ix *index, w where) error {
	if w.id == ix.currentID() {
		return provider.Errorf(provider.Terminal, op, "version %s is current: promote another version first", w.id)
	}
	if w.n > 0 && w.n == ix.main.current {
		return provider.Errorf(provider.Terminal, op, "version %s is the newest version of %s, which unpinned consumers read", w.id, s.secretName())
	}
	if w.n > 0 {
		if cs := ix.pinnedTo(w.n); len(cs) > 0 {
			return provider.Errorf(provider.Terminal, op, "consumers %s are pinned to version %s: unpin them first", strings.Join(cs, ", "), w.id)
		}
	}
	return nil
}

// Delete implements provider.VersionDeleter: the version's data is destroyed (KV destroy);
// its labels stay until the secret no longer lists the version. Deleting a destroyed version
// succeeds; the current version and pinned versions are refused.
func (s *Store) Delete(ctx context.Context, req provider.ToggleRequest) error {
	const op = "delete version"
	c, ix, err := s.indexed(ctx, op)
	if err != nil {
		return err
	}
	w, ok := ix.locate(req.Version)
	if !ok {
		if w.hasMeta && w.meta.Destroyed {
			return nil // destroyed already
		}
		return provider.Errorf(provider.Terminal, op, "version %q of %s: %w", req.Version, s.secretName(), provider.ErrNotFound)
	}
	if err := s.inUse(op, ix, w); err != nil {
		return err
	}
	p, n := s.place(w)
	return s.versionsOp(ctx, c, op, "destroy", p, n)
}

// Pin implements provider.Pinner: custom_metadata rotor.pin.CONSUMER names the KV version
// the consumer reads (?version=N). Every data read returns custom_metadata, so a consumer
// finds its pin with the read it already makes (see ReadForConsumer). The version must be
// enabled and promoted at least once (a pending value has no version in the secret).
func (s *Store) Pin(ctx context.Context, req provider.PinRequest) error {
	const op = "pin consumer"
	if req.Consumer == "" {
		return provider.Errorf(provider.Terminal, op, "no consumer named")
	}
	if len(pinPrefix+req.Consumer) > 128 {
		return provider.Errorf(provider.Terminal, op, "consumer name %q is too long for a custom_metadata key", req.Consumer)
	}
	c, ix, err := s.indexed(ctx, op)
	if err != nil {
		return err
	}
	w, ok := ix.locate(req.Version)
	switch {
	case !ok:
		return provider.Errorf(provider.Terminal, op, "version %q of %s: %w", req.Version, s.secretName(), provider.ErrNotFound)
	case w.meta.Deleted:
		return provider.Errorf(provider.Terminal, op, "version %s is disabled: enable it before pinning %q to it", req.Version, req.Consumer)
	case w.n == 0:
		return provider.Errorf(provider.Terminal, op, "version %s is pending: only a version that was current can be pinned", req.Version)
	}
	if ix.pins[req.Consumer] == w.n {
		return nil
	}
	return s.patchCustom(ctx, c, op, s.path, map[string]*string{pinPrefix + req.Consumer: strp(strconv.Itoa(w.n))})
}

// Unpin implements provider.Pinner.
func (s *Store) Unpin(ctx context.Context, req provider.PinRequest) error {
	const op = "unpin consumer"
	c, ix, err := s.indexed(ctx, op)
	if err != nil {
		return err
	}
	if _, ok := ix.pins[req.Consumer]; !ok {
		return nil
	}
	return s.patchCustom(ctx, c, op, s.path, map[string]*string{pinPrefix + req.Consumer: nil})
}

// need is what an identity must be able to do on a path.
type need struct {
	path string
	caps []string
	why  string
}

// executorNeeds are the capabilities every step of a rotation uses.
func (s *Store) executorNeeds() []need {
	var audit []need
	if s.cfg.AuditLog.Path != "" {
		d := s.cfg.AuditLog.Device
		if d == "" {
			d = defaultDevice
		}
		audit = append(audit, need{"sys/audit-hash/" + trimSlash(d), []string{"update"}, "recognise reads of the previous version in the audit log"})
	}
	return append(audit, []need{
		{s.apiPath("data", s.staging), []string{"create", "update", "read"}, "stage the pending value"},
		{s.apiPath("metadata", s.staging), []string{"read", "patch"}, "index pending values"},
		{s.apiPath("data", s.path), []string{"create", "update", "read"}, "promote with check-and-set"},
		{s.apiPath("metadata", s.path), []string{"read", "patch"}, "move the labels and pins"},
		{s.apiPath("delete", s.path), []string{"update"}, "disable the previous version at revoke"},
		{s.apiPath("undelete", s.path), []string{"update"}, "enable it again at rollback"},
		{s.apiPath("destroy", s.path), []string{"update"}, "delete it later"},
		{s.apiPath("destroy", s.staging), []string{"update"}, "drop the staged copy once promoted"},
	}...)
}

// readerNeeds are what a consumer identity must be able to read: the secret, and the
// staging secret, where readiness reads the pending value as the consumer.
func (s *Store) readerNeeds() []need {
	return []need{
		{s.apiPath("data", s.path), []string{"read"}, "read the value (also ?version=N when pinned)"},
		{s.apiPath("data", s.staging), []string{"read"}, "read the pending value before cutover"},
	}
}

// lacking asks sys/capabilities-self as c and says what is missing, per path.
func (s *Store) lacking(ctx context.Context, c *vault.Client, op string, needs []need) ([]string, error) {
	paths := make([]string, len(needs))
	for i, n := range needs {
		paths[i] = n.path
	}
	caps, err := s.capabilities(ctx, c, op, paths)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, n := range needs {
		have := caps[n.path]
		if slices.Contains(have, "root") {
			continue
		}
		var lack []string
		for _, want := range n.caps {
			if !slices.Contains(have, want) || slices.Contains(have, "deny") {
				lack = append(lack, want)
			}
		}
		if len(lack) > 0 {
			missing = append(missing, fmt.Sprintf("%s on %s (to %s)", strings.Join(lack, ", "), n.path, n.why))
		}
	}
	return missing, nil
}

// CheckWrite implements provider.WriteChecker: it logs in as the executor and asks
// sys/capabilities-self for every path a rotation writes, and refuses a secret whose newest
// version someone wrote outside rotor. Nothing is written.
func (s *Store) CheckWrite(ctx context.Context, req provider.CheckWriteRequest) error {
	const op = "check write"
	as := req.As
	if as.ID == "" {
		as = s.env.Executor
	}
	c, err := s.as(ctx, op, as)
	if err != nil {
		return err
	}
	missing, err := s.lacking(ctx, c, op, s.executorNeeds())
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return provider.Errorf(provider.Denied, op, "identity %s lacks %s", as.ID, strings.Join(missing, "; "))
	}
	ix, err := s.load(ctx, c)
	if err != nil {
		return err
	}
	if msg := ix.drift(s.secretName()); msg != "" {
		return provider.Errorf(provider.Terminal, op, "%s: rotor would not overwrite it; find who wrote it (the audit log), then either restore rotor's current version or, to keep the new value, remove rotor.current from the secret's custom_metadata so that rotor adopts the newest version as current", msg)
	}
	return nil
}

// CheckRead implements provider.ReadChecker: it logs in as the identity — with its own
// credentials, never an admin's — and asks sys/capabilities-self whether it may read the
// secret and the staging secret. Nothing is read or written.
func (s *Store) CheckRead(ctx context.Context, req provider.CheckReadRequest) error {
	const op = "check read"
	c, err := s.as(ctx, op, req.As)
	if err != nil {
		return err
	}
	missing, err := s.lacking(ctx, c, op, s.readerNeeds())
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return provider.Errorf(provider.Denied, op, "identity %s lacks %s", req.As.ID, strings.Join(missing, "; "))
	}
	return nil
}

// ConsumerRead is the value a consumer that honours rotor's pins reads.
type ConsumerRead struct {
	Version int    // the KV version read
	ID      string // rotor's id of it
	Pinned  bool
	Value   secret.Value
}

// ReadForConsumer reads a secret as a consumer that honours rotor's pins does, with the
// consumer's own client: the newest version, unless the custom_metadata that comes with it
// names a pin for the consumer (rotor.pin.CONSUMER = N), in which case version N is read
// (?version=N). field "" is "value".
func ReadForConsumer(ctx context.Context, c *vault.Client, mount, path, field, consumer string) (ConsumerRead, error) {
	if field == "" {
		field = defaultField
	}
	s := &Store{cfg: Config{Mount: mount, Path: path}, env: provider.Env{Now: time.Now}, mount: trimSlash(mount), path: trimSlash(path), field: field}
	const op = "read as consumer"
	d, err := s.readData(ctx, c, op, s.path, 0, field)
	if err != nil {
		wipe(d.value)
		return ConsumerRead{}, err
	}
	out := ConsumerRead{Version: d.version}
	if pin, ok := d.custom[pinPrefix+consumer]; ok {
		if n, err := strconv.Atoi(pin); err == nil && n > 0 && n != d.version {
			wipe(d.value)
			if d, err = s.readData(ctx, c, op, s.path, n, field); err != nil {
				wipe(d.value)
				return ConsumerRead{}, err
			}
			out.Version, out.Pinned = n, true
		}
	}
	out.ID = plainID(out.Version)
	for k, v := range d.custom {
		if strings.HasPrefix(k, labelPrefix+"s") && v == strconv.Itoa(out.Version) {
			out.ID = strings.TrimPrefix(k, labelPrefix)
		}
	}
	if d.value == nil {
		return ConsumerRead{}, provider.Errorf(provider.Terminal, op, "%s version %d has no field %q", s.secretName(), out.Version, field)
	}
	out.Value = secret.New(d.value)
	wipe(d.value)
	return out, nil
}

// CheckIdentity proves, before anything is written, that an identity can act on the store at
// all: it is a vault-token or vault-approle identity (anything else is ErrUnsupported, named)
// and it logs in. What it may do once logged in is CheckWrite's (the executor) and
// CheckRead's (a consumer) question: Vault's policies answer it through
// sys/capabilities-self.
func (s *Store) CheckIdentity(ctx context.Context, req provider.CheckIdentityRequest) error {
	_, err := s.as(ctx, "check identity", req.Identity)
	return err
}
