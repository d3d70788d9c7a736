package file

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// Store is the file store of one inventory entry. It holds no open files between calls and no
// goroutines; it is safe for concurrent use, by several goroutines and several processes,
// through the lock file.
type Store struct {
	dir  string // absolute
	name string // fixed folder name, or "" for the credential id
	env  provider.Env
}

// The store's optional powers.
var (
	_ provider.Store           = (*Store)(nil)
	_ provider.VersionToggler  = (*Store)(nil)
	_ provider.VersionDeleter  = (*Store)(nil)
	_ provider.Pinner          = (*Store)(nil)
	_ provider.WriteChecker    = (*Store)(nil)
	_ provider.IdentityChecker = (*Store)(nil)
	_ provider.Resealer        = (*Store)(nil)
)

// New returns the store for cfg. A relative cfg.Dir is relative to env.BaseDir. env.Now and
// env.Rand are required (creation times, version ids); env.Fingerprint is used when set.
func New(cfg Config, env provider.Env) (*Store, error) {
	var errs []error
	if cfg.Dir == "" {
		errs = append(errs, errors.New("dir is empty"))
	}
	for _, fe := range cfg.Validate() {
		errs = append(errs, fe)
	}
	if env.Now == nil || env.Rand == nil {
		errs = append(errs, errors.New("the environment has no clock or no randomness"))
	}
	if len(errs) > 0 {
		return nil, provider.Wrap(provider.Terminal, "file store", errors.Join(errs...))
	}
	abs, err := filepath.Abs(env.Path(cfg.Dir))
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, "file store", err)
	}
	return &Store{dir: abs, name: cfg.Name, env: env}, nil
}

// credDir is the folder of a credential's versions.
func (s *Store) credDir(op, credential string) (string, error) {
	name := s.name
	if name == "" {
		name = credential
	}
	if !validName(name) {
		return "", provider.Errorf(provider.Terminal, op, "credential %q cannot name a folder of the file store; set the store's name", credential)
	}
	return filepath.Join(s.dir, name), nil
}

// Dir returns the folder that holds a credential's versions (for messages and for consumers
// that open it with OpenReader).
func (s *Store) Dir(credential string) (string, error) { return s.credDir("file store", credential) }

// update runs fn on the index under the lock, and saves the index if fn says it changed it.
func (s *Store) update(ctx context.Context, op, credential string, fn func(dir string, ix *index) (bool, error)) error {
	dir, err := s.credDir(op, credential)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, versionsDir), dirMode); err != nil {
		return fsError(op, err)
	}
	release, err := provider.LockFile(ctx, op, filepath.Join(dir, lockName), fileMode)
	if err != nil {
		return err
	}
	defer release()
	ix, err := loadIndex(dir)
	if err != nil {
		return err
	}
	changed, err := fn(dir, ix)
	if err != nil || !changed {
		return err
	}
	if err := ix.save(dir); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Put implements provider.Store. The ciphertexts (one per reader) and the index that names
// the version are written and synced together, and the index is renamed last (index.saveWith).
// A crash before the index's rename leaves files the index does not name, which the next Put
// removes, and a retried Put writes the version again. A power loss after the renames, before
// the folders' syncs, may keep the index's rename and lose a file's: a retried Put — the
// engine retries a Put whose outcome it did not record — finds the version by its key and
// writes the files it lacks again.
func (s *Store) Put(ctx context.Context, req provider.PutRequest) (provider.PutResponse, error) {
	const op = "put version"
	if req.Key == "" {
		return provider.PutResponse{}, provider.Errorf(provider.Terminal, op, "no idempotency key: pass the run id")
	}
	if req.Value.IsZero() {
		return provider.PutResponse{}, provider.Errorf(provider.Terminal, op, "the value is empty")
	}
	var resp provider.PutResponse
	err := s.update(ctx, op, req.Credential, func(dir string, ix *index) (bool, error) {
		vdir := filepath.Join(dir, versionsDir)
		if r := ix.byKey(req.Key); r != nil {
			resp = provider.PutResponse{Version: r.version()}
			return false, s.restore(op, vdir, r, req)
		}
		// Readers are judged only for a new version: a retry finds the first one whatever
		// it is given.
		targets, readers, err := recipientsOf(req.Readers)
		if err != nil {
			return false, err
		}
		if err := sweep(dir, ix); err != nil {
			return false, err
		}
		id, err := s.newID(ix.Seq + 1)
		if err != nil {
			return false, err
		}
		files, err := sealFiles(vdir, id, req.Value, targets)
		if err != nil {
			return false, err
		}
		r := record{
			ID:           id,
			Seq:          ix.Seq + 1,
			Created:      s.env.Now().UTC(),
			Stage:        provider.StagePending,
			Enabled:      true,
			Key:          req.Key,
			AuthorityRef: req.AuthorityRef,
			Expires:      req.Expires.UTC(),
			Readers:      readers,
		}
		if req.Expires.IsZero() {
			r.Expires = time.Time{}
		}
		if s.env.Fingerprint != nil {
			r.Fingerprint = s.env.Fingerprint(req.Value)
		}
		ix.Seq++
		ix.Versions = append(ix.Versions, r)
		if err := ix.saveWith(dir, files); err != nil {
			return false, fmt.Errorf("%s: %w", op, err)
		}
		resp = provider.PutResponse{Version: r.version(), Created: true}
		return false, nil // saved with its files
	})
	if err != nil {
		return provider.PutResponse{}, err
	}
	return resp, nil
}

// sealFiles encrypts v once per target, each to that reader alone: a Read then unwraps one
// stanza instead of trying its key against every reader's.
func sealFiles(vdir, id string, v secret.Value, targets []target) ([]namedFile, error) {
	files := make([]namedFile, 0, len(targets))
	for _, t := range targets {
		ct, err := seal(v, t.rec)
		if err != nil {
			return nil, err
		}
		name := readerFile(id, t.key)
		files = append(files, namedFile{dir: vdir, temp: name + tempSuffix, final: name, data: ct})
	}
	return files, nil
}

// restore writes again the files of a version the index names that a power loss took (see
// Put): to the readers the index records, with the value of the retried Put. A deleted
// version, or one in the single-file layout, is left as it is.
func (s *Store) restore(op, vdir string, r *record, req provider.PutRequest) error {
	if r.Deleted {
		return nil
	}
	if _, err := os.Stat(filepath.Join(vdir, legacyFile(r.ID))); err == nil {
		return nil
	}
	targets, err := targetsOf(r.Readers)
	if err != nil {
		return provider.Wrap(provider.Terminal, op, fmt.Errorf("version %s: the index's readers: %w", r.ID, err))
	}
	var lost []target
	for _, t := range targets {
		if _, err := os.Stat(filepath.Join(vdir, readerFile(r.ID, t.key))); errors.Is(err, fs.ErrNotExist) {
			lost = append(lost, t)
		} else if err != nil {
			return fsError(op, err)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	// Only the value the version was written with may go into its files: proven by its keyed
	// fingerprint, or nothing is written.
	if s.env.Fingerprint == nil || r.Fingerprint == "" || s.env.Fingerprint(req.Value) != r.Fingerprint {
		return provider.Errorf(provider.NeedsHuman, op, "version %s lacks %d of its files, and the value given with its key %q cannot be proven to be the one it was written with: restore versions/ from a backup",
			r.ID, len(lost), req.Key)
	}
	files, err := sealFiles(vdir, r.ID, req.Value, lost)
	if err != nil {
		return err
	}
	if err := writeFiles(files); err != nil {
		return fsError(op, err)
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

// sweep removes from versions/ what the index does not name as a live version: temp files and
// ciphertexts of crashed Puts and Deletes. It runs under the lock.
func sweep(dir string, ix *index) error {
	vdir := filepath.Join(dir, versionsDir)
	ents, err := os.ReadDir(vdir)
	if err != nil {
		return fsError("clean up versions", err)
	}
	removed := false
	for _, e := range ents {
		n := e.Name()
		stale := strings.HasSuffix(n, tempSuffix)
		if m := cipherName.FindStringSubmatch(n); m != nil {
			r := ix.find(m[1])
			stale = r == nil || r.Deleted
		}
		if !stale || e.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(vdir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fsError("clean up versions", err)
		}
		removed = true
	}
	if removed {
		if err := syncDir(vdir); err != nil {
			return fsError("clean up versions", err)
		}
	}
	return nil
}

// live returns the record of a version that has not been deleted, or an error wrapping
// provider.ErrNotFound.
func live(op string, ix *index, id string) (*record, error) {
	r := ix.find(id)
	switch {
	case r == nil:
		return nil, provider.Errorf(provider.Terminal, op, "version %q: %w", id, provider.ErrNotFound)
	case r.Deleted:
		return nil, provider.Errorf(provider.Terminal, op, "version %s was deleted: %w", id, provider.ErrNotFound)
	}
	return r, nil
}

// Promote implements provider.Store. A disabled version is refused: enable it first, so a
// revoked value never becomes current by accident.
func (s *Store) Promote(ctx context.Context, req provider.PromoteRequest) (provider.PromoteResponse, error) {
	const op = "promote version"
	var resp provider.PromoteResponse
	err := s.update(ctx, op, req.Credential, func(_ string, ix *index) (bool, error) {
		r, err := live(op, ix, req.Version)
		if err != nil {
			return false, err
		}
		if r.Stage == provider.StageCurrent {
			resp.Current = r.version()
			if p := ix.withStage(provider.StagePrevious); p != nil {
				v := p.version()
				resp.Previous = &v
			}
			return false, nil
		}
		if !r.Enabled {
			return false, provider.Errorf(provider.Terminal, op, "version %s is disabled: enable it before making it current", r.ID)
		}
		if p := ix.withStage(provider.StagePrevious); p != nil {
			p.Stage = provider.StageRetired
		}
		if c := ix.withStage(provider.StageCurrent); c != nil {
			c.Stage = provider.StagePrevious
			v := c.version()
			resp.Previous = &v
		}
		r.Stage = provider.StageCurrent
		resp.Current = r.version()
		return true, nil
	})
	if err != nil {
		return provider.PromoteResponse{}, err
	}
	return resp, nil
}

// Versions implements provider.Store. Deleted versions are not listed: the store no longer
// keeps them (their records stay in the index so a retried Delete or Put recognises them).
func (s *Store) Versions(ctx context.Context, req provider.VersionsRequest) (provider.VersionsResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.VersionsResponse{}, provider.Wrap(provider.Retryable, "list versions", err)
	}
	dir, err := s.credDir("list versions", req.Credential)
	if err != nil {
		return provider.VersionsResponse{}, err
	}
	ix, err := loadIndex(dir)
	if err != nil {
		return provider.VersionsResponse{}, err
	}
	out := []provider.Version{}
	for _, r := range ix.newestFirst() {
		out = append(out, r.version())
	}
	return provider.VersionsResponse{Versions: out}, nil
}

// Read implements provider.Store: it decrypts the version with the private key of req.As (its
// identity_file), so a consumer left out of the readers gets an error of kind Denied. A
// disabled version does not read (wrapping provider.ErrNotFound): consumers must not use it.
func (s *Store) Read(ctx context.Context, req provider.ReadRequest) (provider.ReadResponse, error) {
	const op = "read version"
	if err := ctx.Err(); err != nil {
		return provider.ReadResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	dir, err := s.credDir(op, req.Credential)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	kr, err := identityFor(req.As, s.env)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	ix, err := loadIndex(dir)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	r, err := pick(op, ix, req.Version)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	v, err := openVersion(filepath.Join(dir, versionsDir), r.ID, fmt.Sprintf("identity %q", req.As.ID), kr)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	return provider.ReadResponse{Version: r.version(), Value: v}, nil
}

// pick finds the readable record for a version id ("" = current).
func pick(op string, ix *index, id string) (*record, error) {
	if id == "" {
		r := ix.withStage(provider.StageCurrent)
		if r == nil {
			return nil, provider.Errorf(provider.Terminal, op, "no current version yet: %w", provider.ErrNotFound)
		}
		return r, nil
	}
	r, err := live(op, ix, id)
	if err != nil {
		return nil, err
	}
	if !r.Enabled {
		return nil, provider.Errorf(provider.Terminal, op, "version %s is disabled: %w", id, provider.ErrNotFound)
	}
	return r, nil
}

// Disable implements provider.VersionToggler. The current version, and a version a consumer
// is pinned to, are refused: disabling them would cut a consumer off.
func (s *Store) Disable(ctx context.Context, req provider.ToggleRequest) error {
	const op = "disable version"
	return s.update(ctx, op, req.Credential, func(_ string, ix *index) (bool, error) {
		r, err := live(op, ix, req.Version)
		if err != nil {
			return false, err
		}
		if !r.Enabled {
			return false, nil
		}
		if err := inUse(op, ix, r); err != nil {
			return false, err
		}
		r.Enabled = false
		return true, nil
	})
}

// inUse refuses to take away a version someone reads.
func inUse(op string, ix *index, r *record) error {
	if r.Stage == provider.StageCurrent {
		return provider.Errorf(provider.Terminal, op, "version %s is current: promote another version first", r.ID)
	}
	if cs := ix.pinnedTo(r.ID); len(cs) > 0 {
		return provider.Errorf(provider.Terminal, op, "consumers %s are pinned to version %s: unpin them first", strings.Join(cs, ", "), r.ID)
	}
	return nil
}

// Enable implements provider.VersionToggler.
func (s *Store) Enable(ctx context.Context, req provider.ToggleRequest) error {
	const op = "enable version"
	return s.update(ctx, op, req.Credential, func(_ string, ix *index) (bool, error) {
		r, err := live(op, ix, req.Version)
		if err != nil || r.Enabled {
			return false, err
		}
		r.Enabled = true
		return true, nil
	})
}

// Delete implements provider.VersionDeleter: the record is marked deleted (and saved) before
// the ciphertext is removed, so a crash in between leaves a deleted record whose file the
// next Delete or Put removes, never a live record without its file. Deleting a deleted
// version succeeds; the current version and pinned versions are refused.
func (s *Store) Delete(ctx context.Context, req provider.ToggleRequest) error {
	const op = "delete version"
	dir, err := s.credDir(op, req.Credential)
	if err != nil {
		return err
	}
	err = s.update(ctx, op, req.Credential, func(_ string, ix *index) (bool, error) {
		r := ix.find(req.Version)
		if r == nil {
			return false, provider.Errorf(provider.Terminal, op, "version %q: %w", req.Version, provider.ErrNotFound)
		}
		if r.Deleted {
			return false, nil
		}
		if err := inUse(op, ix, r); err != nil {
			return false, err
		}
		r.Deleted, r.Enabled, r.Stage = true, false, provider.StageRetired
		return true, nil
	})
	if err != nil {
		return err
	}
	// The index no longer names the file: remove it (and anything else stale) under the lock.
	return s.update(ctx, op, req.Credential, func(_ string, ix *index) (bool, error) {
		return false, sweep(dir, ix)
	})
}

// Pin implements provider.Pinner. The version must be enabled: a consumer is pinned to a
// value it can use.
func (s *Store) Pin(ctx context.Context, req provider.PinRequest) error {
	const op = "pin consumer"
	if req.Consumer == "" {
		return provider.Errorf(provider.Terminal, op, "no consumer named")
	}
	return s.update(ctx, op, req.Credential, func(_ string, ix *index) (bool, error) {
		r, err := live(op, ix, req.Version)
		if err != nil {
			return false, err
		}
		if !r.Enabled {
			return false, provider.Errorf(provider.Terminal, op, "version %s is disabled: enable it before pinning %q to it", r.ID, req.Consumer)
		}
		if ix.Pins[req.Consumer] == r.ID {
			return false, nil
		}
		if ix.Pins == nil {
			ix.Pins = map[string]string{}
		}
		ix.Pins[req.Consumer] = r.ID
		return true, nil
	})
}

// Unpin implements provider.Pinner: the consumer follows current again, whatever version it
// was pinned to (req.Version is not needed). Unpinning a consumer that is not pinned succeeds.
func (s *Store) Unpin(ctx context.Context, req provider.PinRequest) error {
	const op = "unpin consumer"
	return s.update(ctx, op, req.Credential, func(_ string, ix *index) (bool, error) {
		if _, ok := ix.Pins[req.Consumer]; !ok {
			return false, nil
		}
		delete(ix.Pins, req.Consumer)
		return true, nil
	})
}

// CheckWrite implements provider.WriteChecker: it creates the credential's folder if needed,
// takes the lock, reads the index (a corrupt one fails here, before anything is minted), and
// writes and removes a probe file. The executor identity is the process itself: age needs no
// key to encrypt, so req.As is not used.
func (s *Store) CheckWrite(ctx context.Context, req provider.CheckWriteRequest) error {
	const op = "check write"
	return s.update(ctx, op, req.Credential, func(dir string, _ *index) (bool, error) {
		probe := filepath.Join(dir, ".write-check"+tempSuffix)
		f, err := os.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
		if err != nil {
			return false, fsError(op, err)
		}
		_, werr := f.Write([]byte("rotor write check\n"))
		cerr := f.Close()
		rerr := os.Remove(probe)
		if err := errors.Join(werr, cerr, rerr); err != nil {
			return false, fsError(op, err)
		}
		return false, nil
	})
}

// CheckIdentity implements provider.IdentityChecker. The file store encrypts to, and reads as,
// age identities only: any other type is refused (wrapping provider.ErrUnsupported). An age
// identity's recipient must be one age public key, and its identity_file — what rotor reads as,
// for a consumer's read access and the executor's read-back — must exist, parse, and hold the
// private key of that recipient: a key file of another recipient reads nothing written for the
// declared one. Nothing is written; the key file is read, never quoted.
func (s *Store) CheckIdentity(ctx context.Context, req provider.CheckIdentityRequest) error {
	const op = "check identity"
	if err := ctx.Err(); err != nil {
		return provider.Wrap(provider.Retryable, op, err)
	}
	id := req.Identity
	c, err := ageConfig(id)
	if err != nil {
		return provider.Wrap(provider.Terminal, op, err)
	}
	rec := strings.TrimSpace(c.Recipient)
	targets, err := targetsOf([]reader{{Identity: id.ID, Recipient: rec}})
	if err != nil {
		return provider.Wrap(provider.Terminal, op, err)
	}
	if c.IdentityFile == "" {
		return provider.Errorf(provider.Terminal, op,
			"identity %q has no identity_file: rotor cannot read as it; set identity_file to its age private key file", id.ID)
	}
	path := s.env.Path(c.IdentityFile)
	kr, err := loadIdentities(path)
	if err != nil {
		return fmt.Errorf("identity %q: %w", id.ID, err)
	}
	if !slices.Contains(kr.keys, targets[0].key) {
		held := "no X25519 or hybrid key"
		if len(kr.recipients) > 0 {
			held = "the key of " + strings.Join(kr.recipients, ", ")
		}
		return provider.Errorf(provider.Terminal, op,
			"identity %q: its identity_file %s holds %s, not the key of its declared recipient %s: what is written for the recipient cannot be read with that file; put the recipient's key in the file, or declare the file's recipient",
			id.ID, path, held, rec)
	}
	return nil
}

// Reseal implements provider.Resealer: a version is written again for req.Readers, with its
// own value — proven by its keyed fingerprint, or nothing is written. The files of readers it
// lacks are written with the index that names the new readers (the index renamed last), then
// the files of readers no longer listed are removed: a crash in between leaves files of former
// readers, which the next Reseal (the engine repeats one cut short) removes. A deleted
// version, or one in the single-file layout of an earlier rotor, is refused.
func (s *Store) Reseal(ctx context.Context, req provider.ResealRequest) (provider.ResealResponse, error) {
	const op = "reseal version"
	if req.Value.IsZero() {
		return provider.ResealResponse{}, provider.Errorf(provider.Terminal, op, "the value is empty")
	}
	var resp provider.ResealResponse
	err := s.update(ctx, op, req.Credential, func(dir string, ix *index) (bool, error) {
		vdir := filepath.Join(dir, versionsDir)
		r, err := live(op, ix, req.Version)
		if err != nil {
			return false, err
		}
		if _, err := os.Stat(filepath.Join(vdir, legacyFile(r.ID))); err == nil {
			return false, provider.Errorf(provider.Terminal, op, "version %s is in the single-file layout of an earlier rotor: write a new version instead", r.ID)
		}
		if s.env.Fingerprint == nil || r.Fingerprint == "" || s.env.Fingerprint(req.Value) != r.Fingerprint {
			return false, provider.Errorf(provider.NeedsHuman, op, "the value given for version %s cannot be proven to be its own (keyed fingerprint): nothing was written", r.ID)
		}
		targets, readers, err := recipientsOf(req.Readers)
		if err != nil {
			return false, err
		}
		want := map[string]bool{}
		var lacking []target
		for _, t := range targets {
			want[t.key] = true
			switch _, err := os.Stat(filepath.Join(vdir, readerFile(r.ID, t.key))); {
			case errors.Is(err, fs.ErrNotExist):
				lacking = append(lacking, t)
			case err != nil:
				return false, fsError(op, err)
			}
		}
		stale, err := readerFiles(vdir, r.ID, want)
		if err != nil {
			return false, err
		}
		was := identities(r.Readers)
		if len(lacking) == 0 && len(stale) == 0 && slices.Equal(was, identities(readers)) {
			resp.Detail = fmt.Sprintf("version %s is written for %s already", r.ID, names(r.Readers))
			return false, nil
		}
		files, err := sealFiles(vdir, r.ID, req.Value, lacking)
		if err != nil {
			return false, err
		}
		before := names(r.Readers)
		r.Readers = readers
		if err := ix.saveWith(dir, files); err != nil {
			return false, fmt.Errorf("%s: %w", op, err)
		}
		for _, n := range stale {
			if err := os.Remove(filepath.Join(vdir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false, fsError(op, err)
			}
		}
		if len(stale) > 0 {
			if err := syncDir(vdir); err != nil {
				return false, fsError(op, err)
			}
		}
		resp = provider.ResealResponse{Changed: true, Detail: fmt.Sprintf("version %s written again for %s (it was for %s): %d file(s) written, %d removed",
			r.ID, names(readers), before, len(files), len(stale))}
		return false, nil // saved with its files
	})
	if err != nil {
		return provider.ResealResponse{}, err
	}
	return resp, nil
}

// readerFiles lists the names of a version's per-reader files whose reader key is not in
// keep.
func readerFiles(vdir, id string, keep map[string]bool) ([]string, error) {
	ents, err := os.ReadDir(vdir)
	if err != nil {
		return nil, fsError("list versions", err)
	}
	var out []string
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), id+".")
		if !ok {
			continue
		}
		if k, ok := strings.CutSuffix(rest, cipherSuffix); ok && len(k) == 16 && !keep[k] {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// identities lists readers as "identity recipient", sorted: what a version is written for.
func identities(rs []reader) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Identity + " " + r.Recipient
	}
	slices.Sort(out)
	return out
}

// names lists the readers' identity ids, for messages.
func names(rs []reader) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Identity
	}
	return strings.Join(out, ", ")
}
