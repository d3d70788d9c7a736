package sops

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// Store is the sops store of one inventory entry: one key of one SOPS file. It holds no open
// files and no goroutines between calls, and is safe for concurrent use by goroutines and by
// processes through the lock of the file's folder.
type Store struct {
	cfg    Config
	path   string // absolute
	format string
	env    provider.Env
	run    runner
	git    *repo // nil without git.commit
}

// The store's optional powers. It has no provider.Pinner: consumers all read the one key, so
// no consumer can be held on another version than the others.
var (
	_ provider.Store          = (*Store)(nil)
	_ provider.VersionToggler = (*Store)(nil)
	_ provider.VersionDeleter = (*Store)(nil)
	_ provider.WriteChecker   = (*Store)(nil)
)

// New returns the store for cfg. A relative cfg.Path is relative to env.BaseDir. env.Now and
// env.Rand are required; env.Fingerprint is used when set. Nothing is read until a call.
func New(cfg Config, env provider.Env) (*Store, error) {
	var errs []error
	if cfg.Path == "" {
		errs = append(errs, errors.New("path is empty"))
	}
	if cfg.Key == "" {
		errs = append(errs, errors.New("key is empty"))
	}
	for _, fe := range cfg.Validate() {
		errs = append(errs, fe)
	}
	if env.Now == nil || env.Rand == nil {
		errs = append(errs, errors.New("the environment has no clock or no randomness"))
	}
	if len(errs) > 0 {
		return nil, provider.Wrap(provider.Terminal, "sops store", errors.Join(errs...))
	}
	abs, err := filepath.Abs(env.Path(cfg.Path))
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, "sops store", err)
	}
	bin := cfg.Binary
	if bin != "" && strings.ContainsRune(bin, filepath.Separator) {
		bin = env.Path(bin)
	}
	s := &Store{cfg: cfg, path: abs, format: cfg.format(), env: env,
		run: runner{bin: bin, dir: filepath.Dir(abs), format: cfg.format(), getenv: env.Getenv}}
	if cfg.Git.Commit {
		s.git = &repo{dir: filepath.Dir(abs), base: filepath.Base(abs), author: cfg.Git.Author}
	}
	return s, nil
}

// Path is the file the store keeps its credential in.
func (s *Store) Path() string { return s.path }

// snapshot reads the file once, for a read-only call: its bytes, the document, the layout
// and the version list. Readers take no lock: they read whichever file the last rename left.
func (s *Store) snapshot(op string) ([]byte, *document, layout, *book, error) {
	raw, err := s.readFile(op)
	if err != nil {
		return nil, nil, layout{}, nil, err
	}
	doc, lay, err := s.parse(op, raw)
	if err != nil {
		return nil, nil, layout{}, nil, err
	}
	b, err := doc.state(lay)
	if err != nil {
		return nil, nil, layout{}, nil, s.damaged(op, err)
	}
	return raw, doc, lay, b, nil
}

// Put implements provider.Store: the value is encrypted into the file, beside the current
// one, under rotor's entry for the key (_rotor.<key>.<version id>), and listed as pending. The
// key itself — what consumers read — is untouched. Every reader must already be a recipient of
// the file (kind Denied, naming each that is not): rotor does not change who can read a file.
// A retried Put (same key) finds the version and writes nothing.
func (s *Store) Put(ctx context.Context, req provider.PutRequest) (provider.PutResponse, error) {
	const op = "put version"
	if req.Key == "" {
		return provider.PutResponse{}, provider.Errorf(provider.Terminal, op, "no idempotency key: pass the run id")
	}
	if req.Value.IsZero() {
		return provider.PutResponse{}, provider.Errorf(provider.Terminal, op, "the value is empty")
	}
	as := req.As
	if as.ID == "" && len(req.Readers) > 0 {
		as = req.Readers[0] // the engine lists the executor first
	}
	var resp provider.PutResponse
	err := s.change(ctx, op, req.Credential, req.Key, as, func(t *tx) (bool, error) {
		if r := t.book.byRun(req.Key); r != nil {
			resp = provider.PutResponse{Version: r.version()}
			return false, nil
		}
		if err := s.readersOf(op, req.Readers, t.doc.meta); err != nil {
			return false, err
		}
		id, err := s.newID(t.book.Seq + 1)
		if err != nil {
			return false, err
		}
		r := record{ID: id, Seq: t.book.Seq + 1, Created: s.env.Now().UTC(), Stage: provider.StagePending, Enabled: true,
			Run: req.Key, AuthorityRef: req.AuthorityRef, Expires: req.Expires.UTC()}
		if req.Expires.IsZero() {
			r.Expires = time.Time{}
		}
		if s.env.Fingerprint != nil {
			r.Fingerprint = s.env.Fingerprint(req.Value)
		}
		if err := t.setValue(t.lay.slot(id), req.Value); err != nil {
			return false, err
		}
		t.book.Seq++
		t.book.Versions = append(t.book.Versions, r)
		t.summary = append(t.summary, "store "+id+" as pending")
		resp = provider.PutResponse{Version: r.version(), Created: true}
		return true, nil
	})
	if err != nil {
		return provider.PutResponse{}, err
	}
	return resp, nil
}

// readersOf refuses, all at once, the readers that are not age identities or not recipients
// of the file.
func (s *Store) readersOf(op string, readers []provider.Identity, meta sopsMetadata) error {
	if len(readers) == 0 {
		return provider.Errorf(provider.Terminal, op, "no readers: pass the executor and every consumer identity")
	}
	var errs []error
	kind := provider.Denied
	for _, id := range readers {
		m, err := ageMember(id, s.env)
		if err != nil {
			errs, kind = append(errs, err), provider.Terminal
			continue
		}
		if err := recipientOf(op, s.path, m, meta); err != nil {
			errs = append(errs, bare(err))
		}
	}
	if len(errs) > 0 {
		return provider.Wrap(kind, op, errors.Join(errs...))
	}
	return nil
}

// newID makes a version id: the sequence number and four random bytes.
func (s *Store) newID(seq int) (string, error) {
	var b [4]byte
	if _, err := io.ReadFull(s.env.Rand, b[:]); err != nil {
		return "", provider.Wrap(provider.Retryable, "put version", fmt.Errorf("reading randomness for a version id: %w", err))
	}
	return fmt.Sprintf("v%04d-%s", seq, hex.EncodeToString(b[:])), nil
}

// live returns the record of a version that has not been deleted, or an error wrapping
// provider.ErrNotFound.
func live(op string, b *book, id string) (*record, error) {
	r := b.find(id)
	switch {
	case r == nil:
		return nil, provider.Errorf(provider.Terminal, op, "version %q: %w", id, provider.ErrNotFound)
	case r.Deleted:
		return nil, provider.Errorf(provider.Terminal, op, "version %s was deleted: %w", id, provider.ErrNotFound)
	}
	return r, nil
}

// Promote implements provider.Store: the version's value is written at the key (what every
// consumer reads), the current version becomes previous and the previous one retired — their
// values stay under rotor's entry until they are deleted. A disabled version is refused:
// enable it first, so a revoked value never becomes current by accident.
func (s *Store) Promote(ctx context.Context, req provider.PromoteRequest) (provider.PromoteResponse, error) {
	const op = "promote version"
	var resp provider.PromoteResponse
	err := s.change(ctx, op, req.Credential, req.RunID, req.As, func(t *tx) (bool, error) {
		r, err := live(op, t.book, req.Version)
		if err != nil {
			return false, err
		}
		if r.Stage == provider.StageCurrent {
			resp.Current = r.version()
			if p := t.book.withStage(provider.StagePrevious); p != nil {
				v := p.version()
				resp.Previous = &v
			}
			return false, nil
		}
		if !r.Enabled {
			return false, provider.Errorf(provider.Terminal, op, "version %s is disabled: enable it before making it current", r.ID)
		}
		v, err := t.read(t.lay.slot(r.ID))
		if err != nil {
			return false, err
		}
		err = t.setValue(t.lay.user, v)
		v.Wipe()
		if err != nil {
			return false, err
		}
		if p := t.book.withStage(provider.StagePrevious); p != nil {
			p.Stage = provider.StageRetired
		}
		summary := "make " + r.ID + " current"
		if c := t.book.withStage(provider.StageCurrent); c != nil {
			c.Stage = provider.StagePrevious
			v := c.version()
			resp.Previous = &v
			summary += " (" + c.ID + " previous)"
		}
		r.Stage = provider.StageCurrent
		resp.Current = r.version()
		t.summary = append(t.summary, summary)
		return true, nil
	})
	if err != nil {
		return provider.PromoteResponse{}, err
	}
	return resp, nil
}

// Versions implements provider.Store from the version list, which the file keeps in clear: no
// key is needed to list. Deleted versions are not listed.
func (s *Store) Versions(ctx context.Context, req provider.VersionsRequest) (provider.VersionsResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.VersionsResponse{}, provider.Wrap(provider.Retryable, "list versions", err)
	}
	_, _, _, b, err := s.snapshot("list versions")
	if err != nil {
		return provider.VersionsResponse{}, err
	}
	out := []provider.Version{}
	for _, r := range b.newestFirst() {
		out = append(out, r.version())
	}
	return provider.VersionsResponse{Versions: out}, nil
}

// Read implements provider.Store: sops decrypts the value as req.As alone (its identity file),
// so an identity that is not a recipient of the file gets an error of kind Denied. The current
// version is read at the key, as consumers read it, and must be the value rotor made current
// (its fingerprint): a value changed there by hand is a NeedsHuman error, not a pass. A
// disabled version does not read (wrapping provider.ErrNotFound).
func (s *Store) Read(ctx context.Context, req provider.ReadRequest) (provider.ReadResponse, error) {
	const op = "read version"
	if err := ctx.Err(); err != nil {
		return provider.ReadResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	raw, doc, lay, b, err := s.snapshot(op)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	var r *record
	if req.Version == "" {
		if r = b.withStage(provider.StageCurrent); r == nil {
			return provider.ReadResponse{}, provider.Errorf(provider.Terminal, op, "no current version yet: %w", provider.ErrNotFound)
		}
	} else {
		if r, err = live(op, b, req.Version); err != nil {
			return provider.ReadResponse{}, err
		}
		if !r.Enabled {
			return provider.ReadResponse{}, provider.Errorf(provider.Terminal, op, "version %s is disabled: %w", r.ID, provider.ErrNotFound)
		}
	}
	m, err := acting(op, req.As, s.env)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	if err := recipientOf(op, s.path, m, doc.meta); err != nil {
		return provider.ReadResponse{}, err
	}
	path := lay.slot(r.ID)
	if r.Stage == provider.StageCurrent {
		path = lay.user
	}
	out, err := s.run.extract(ctx, op, m.keyFile, raw, path)
	if err != nil {
		return provider.ReadResponse{}, fmt.Errorf("as identity %q: %w", m.id, err)
	}
	v := secret.New(out)
	clear(out)
	if r.Stage == provider.StageCurrent && r.Fingerprint != "" && s.env.Fingerprint != nil && s.env.Fingerprint(v) != r.Fingerprint {
		v.Wipe()
		return provider.ReadResponse{}, provider.Errorf(provider.NeedsHuman, op,
			"the value at %s in %s is not version %s, which rotor made current (another fingerprint): it was changed outside rotor; put it back, or make rotor's version current again", lay.key, s.path, r.ID)
	}
	return provider.ReadResponse{Version: r.version(), Value: v}, nil
}

// Disable implements provider.VersionToggler: the version is marked disabled in the list and
// no longer reads through rotor. Its value stays under rotor's entry, encrypted to the file's
// recipients, until Delete — for a rollback; disabling cannot hide a value from an identity
// that can decrypt the file (the authority's revoke is what makes it useless). The current
// version is refused.
func (s *Store) Disable(ctx context.Context, req provider.ToggleRequest) error {
	const op = "disable version"
	return s.change(ctx, op, req.Credential, req.RunID, req.As, func(t *tx) (bool, error) {
		r, err := live(op, t.book, req.Version)
		if err != nil || !r.Enabled {
			return false, err
		}
		if r.Stage == provider.StageCurrent {
			return false, provider.Errorf(provider.Terminal, op, "version %s is current: promote another version first", r.ID)
		}
		r.Enabled = false
		t.summary = append(t.summary, "disable "+r.ID)
		return true, nil
	})
}

// Enable implements provider.VersionToggler.
func (s *Store) Enable(ctx context.Context, req provider.ToggleRequest) error {
	const op = "enable version"
	return s.change(ctx, op, req.Credential, req.RunID, req.As, func(t *tx) (bool, error) {
		r, err := live(op, t.book, req.Version)
		if err != nil || r.Enabled {
			return false, err
		}
		r.Enabled = true
		t.summary = append(t.summary, "enable "+r.ID)
		return true, nil
	})
}

// Delete implements provider.VersionDeleter: the version's value is removed from the file
// (it stays in the file's git history, encrypted as it was) and its record marked deleted.
// Deleting a deleted version succeeds; the current version is refused.
func (s *Store) Delete(ctx context.Context, req provider.ToggleRequest) error {
	const op = "delete version"
	return s.change(ctx, op, req.Credential, req.RunID, req.As, func(t *tx) (bool, error) {
		r := t.book.find(req.Version)
		if r == nil {
			return false, provider.Errorf(provider.Terminal, op, "version %q: %w", req.Version, provider.ErrNotFound)
		}
		if r.Deleted {
			return false, nil
		}
		if r.Stage == provider.StageCurrent {
			return false, provider.Errorf(provider.Terminal, op, "version %s is current: promote another version first", r.ID)
		}
		if err := t.unset(t.lay.slot(r.ID)); err != nil {
			return false, err
		}
		r.Deleted, r.Enabled, r.Stage = true, false, provider.StageRetired
		t.summary = append(t.summary, "delete "+r.ID)
		return true, nil
	})
}

// CheckWrite implements provider.WriteChecker, changing nothing: sops can be run; the file
// exists, is a SOPS file whose rules let rotor place its entries, and its folder takes the
// copy and the lock; the executor and every reader is an age identity that is a recipient of
// the file and that sops decrypts the file with — each that is not is named (kind Denied);
// and, with git.commit, the file is tracked and has no uncommitted change.
func (s *Store) CheckWrite(ctx context.Context, req provider.CheckWriteRequest) error {
	const op = "check write"
	if _, err := s.run.resolve(ctx); err != nil {
		return err
	}
	raw, doc, _, _, err := s.snapshot(op)
	if err != nil {
		return err
	}
	ids := []provider.Identity{req.As}
	for _, id := range req.Readers {
		if id.ID != req.As.ID {
			ids = append(ids, id)
		}
	}
	var problems []error
	kind := provider.Denied
	for _, id := range ids {
		if err := s.proveReader(ctx, op, id, raw, doc.meta); err != nil {
			if k := provider.KindOf(err); k != provider.Denied {
				kind = k
			}
			problems = append(problems, bare(err))
		}
	}
	if len(problems) > 0 {
		return provider.Wrap(kind, op, errors.Join(problems...))
	}
	release, err := provider.LockDir(ctx, op, filepath.Dir(s.path))
	if err != nil {
		return err
	}
	defer release()
	probe, err := os.CreateTemp(filepath.Dir(s.path), "."+filepath.Base(s.path)+".rotor-probe-*.tmp")
	if err != nil {
		return fsError(op, err)
	}
	probe.Close()
	if err := os.Remove(probe.Name()); err != nil {
		return fsError(op, err)
	}
	if s.git != nil {
		return s.git.ready(ctx, op)
	}
	return nil
}

// bare is err without the operation a *provider.Error names, to join several under one.
func bare(err error) error {
	if e, ok := err.(*provider.Error); ok {
		return e.Err
	}
	return err
}

// proveReader proves that sops decrypts the file as the identity: a recipient of the file,
// with its private key.
func (s *Store) proveReader(ctx context.Context, op string, id provider.Identity, raw []byte, meta sopsMetadata) error {
	m, err := acting(op, id, s.env)
	if err != nil {
		return err
	}
	if err := recipientOf(op, s.path, m, meta); err != nil {
		return err
	}
	if err := s.run.proveDecrypt(ctx, op, m.keyFile, raw); err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) {
			return provider.Errorf(pe.Kind, op, "identity %q: %w", m.id, pe.Err)
		}
		return fmt.Errorf("identity %q: %w", m.id, err)
	}
	return nil
}

// CheckIdentity proves, before anything is written, that an identity can act on the file: an
// age identity (anything else is ErrUnsupported) that is one of the file's recipients and
// whose own key decrypts it. The executor must also write, which CheckWrite proves; here both
// only read. A file that does not exist yet is a recipient question nobody can answer: it is
// reported like any missing file, by the first snapshot.
func (s *Store) CheckIdentity(ctx context.Context, req provider.CheckIdentityRequest) error {
	const op = "check identity"
	if _, err := acting(op, req.Identity, s.env); err != nil {
		return err
	}
	if _, err := s.run.resolve(ctx); err != nil {
		return err
	}
	raw, doc, _, _, err := s.snapshot(op)
	if err != nil {
		return err
	}
	return s.proveReader(ctx, op, req.Identity, raw, doc.meta)
}

// CheckRead proves a consumer's read access before a version exists: a recipient of the file
// whose own key decrypts it (CheckIdentity's proof), refused as Denied, naming the identity,
// otherwise.
func (s *Store) CheckRead(ctx context.Context, req provider.CheckReadRequest) error {
	return s.CheckIdentity(ctx, provider.CheckIdentityRequest{Credential: req.Credential, Identity: req.As})
}
