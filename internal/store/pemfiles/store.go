package pemfiles

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/pki"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

const (
	liveName    = "..live"
	versionsDir = ".versions"
	lockName    = ".lock"
	metaName    = "rotor-version.json"
	pinsName    = "rotor-pins.json"
	tempPrefix  = ".tmp-"
	dirMode     = 0o755 // consumers must traverse to their files; the key has its own mode
	metaMode    = 0o600
)

var idPattern = regexp.MustCompile(`^v([0-9]{4,})-[0-9a-f]{8}$`)

// Store is the pem-files store of one inventory entry. It holds no open files and no
// goroutines between calls; changes are serialised by an flock on D/.lock, across processes.
type Store struct {
	dir               string // absolute
	names             names
	owner, group      string
	certMode, keyMode os.FileMode
	keep              int
	consumers         map[string]string // consumer id -> its subdirectory of dir
	env               provider.Env
	// bitsOnly makes Read prove access by permission bits even as root (tests compare both
	// proofs on the same files).
	bitsOnly bool
}

// The store's optional powers.
var (
	_ provider.Store             = (*Store)(nil)
	_ provider.VersionToggler    = (*Store)(nil)
	_ provider.WriteChecker      = (*Store)(nil)
	_ provider.Pinner            = (*Store)(nil)
	_ provider.CertificateLister = (*Store)(nil)
	_ provider.IdentityChecker   = (*Store)(nil)
)

// New returns the store for cfg. A relative cfg.Dir is relative to env.BaseDir. env.Now and
// env.Rand are required; env.Fingerprint and env.Log are used when set.
func New(cfg Config, env provider.Env) (*Store, error) {
	var errs []error
	for _, fe := range cfg.Validate() {
		errs = append(errs, fe)
	}
	if env.Now == nil || env.Rand == nil {
		errs = append(errs, errors.New("the environment has no clock or no randomness"))
	}
	if len(errs) > 0 {
		return nil, provider.Wrap(provider.Terminal, "pem-files store", errors.Join(errs...))
	}
	abs, err := filepath.Abs(env.Path(cfg.Dir))
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, "pem-files store", err)
	}
	cm, _ := parseMode(cfg.CertMode, defaultCertMode)
	km, _ := parseMode(cfg.KeyMode, defaultKeyMode)
	keep := cfg.Keep
	if keep == 0 {
		keep = defaultKeep
	}
	return &Store{dir: abs, names: cfg.names(), owner: cfg.Owner, group: cfg.Group,
		certMode: os.FileMode(cm), keyMode: os.FileMode(km), keep: keep, consumers: maps.Clone(cfg.Consumers), env: env}, nil
}

// Dir is the directory the consumers read.
func (s *Store) Dir() string { return s.dir }

// meta is a version's metadata file. It never holds the value.
type meta struct {
	Credential   string    `json:"credential"`
	ID           string    `json:"id"`
	Seq          int       `json:"seq"`
	Key          string    `json:"key"`
	Fingerprint  string    `json:"fingerprint,omitempty"`
	AuthorityRef string    `json:"authority_ref,omitempty"`
	Serial       string    `json:"serial"`
	Expires      time.Time `json:"expires,omitzero"`
	Created      time.Time `json:"created"`
	Disabled     bool      `json:"disabled,omitempty"`
	// Promoted is when the version was last made current; zero for a pending version.
	Promoted time.Time `json:"promoted,omitzero"`
	// Previous is the version that was current when this one was last promoted.
	Previous string `json:"previous,omitempty"`
}

// state is what a change (or a listing) sees of the directory.
type state struct {
	metas   map[string]*meta
	current string // ..live's target, "" before the first promote
	// pins are the consumers held on a version (consumer id -> version id), as recorded in
	// .versions/rotor-pins.json: the record, not the consumers' links, is the truth.
	pins map[string]string
}

// pinned reports whether a consumer is pinned to id.
func (st *state) pinned(id string) bool {
	for _, v := range st.pins {
		if v == id {
			return true
		}
	}
	return false
}

func (st *state) previous() string {
	if m := st.metas[st.current]; m != nil && m.Previous != st.current && st.metas[m.Previous] != nil {
		return m.Previous
	}
	return ""
}

func (st *state) stage(id string) provider.Stage {
	switch {
	case id == st.current:
		return provider.StageCurrent
	case id == st.previous():
		return provider.StagePrevious
	case st.metas[id].Promoted.IsZero():
		return provider.StagePending
	}
	return provider.StageRetired
}

func (st *state) version(id string) provider.Version {
	m := st.metas[id]
	return provider.Version{ID: m.ID, Fingerprint: m.Fingerprint, Stage: st.stage(id), Enabled: !m.Disabled,
		Created: m.Created, Key: m.Key, AuthorityRef: m.AuthorityRef, Expires: m.Expires}
}

// newestFirst lists the version ids by sequence, newest first.
func (st *state) newestFirst() []string {
	ids := make([]string, 0, len(st.metas))
	for id := range st.metas {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return st.metas[b].Seq - st.metas[a].Seq })
	return ids
}

// load reads the version directories, ..live and the pin record.
func (s *Store) load(op string) (*state, error) {
	st := &state{metas: map[string]*meta{}, pins: map[string]string{}}
	ents, err := os.ReadDir(filepath.Join(s.dir, versionsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fsError(op, err)
	}
	for _, e := range ents {
		if !e.IsDir() || !idPattern.MatchString(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, versionsDir, e.Name(), metaName))
		if err != nil {
			return nil, fsError(op, fmt.Errorf("version %s: %w", e.Name(), err))
		}
		var m meta
		if err := json.Unmarshal(b, &m); err != nil || m.ID != e.Name() {
			return nil, provider.Errorf(provider.NeedsHuman, op, "version %s: metadata %s is damaged; inspect the directory", e.Name(), metaName)
		}
		st.metas[m.ID] = &m
	}
	target, err := os.Readlink(filepath.Join(s.dir, liveName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, provider.Errorf(provider.NeedsHuman, op, "%s is not the store's symlink (%v); inspect %s", liveName, err, s.dir)
	default:
		id, ok := strings.CutPrefix(target, versionsDir+"/")
		if !ok || st.metas[id] == nil {
			return nil, provider.Errorf(provider.NeedsHuman, op, "%s points at %q, which is not a version of this store; inspect %s", liveName, target, s.dir)
		}
		st.current = id
	}
	b, err := os.ReadFile(filepath.Join(s.dir, versionsDir, pinsName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fsError(op, err)
	default:
		if err := json.Unmarshal(b, &st.pins); err != nil || st.pins == nil {
			return nil, provider.Errorf(provider.NeedsHuman, op, "%s is damaged; inspect %s", pinsName, filepath.Join(s.dir, versionsDir))
		}
	}
	return st, nil
}

// update runs fn under the lock, on a fresh view of the directory.
func (s *Store) update(ctx context.Context, op string, fn func(st *state) error) error {
	if err := os.MkdirAll(filepath.Join(s.dir, versionsDir), dirMode); err != nil {
		return fsError(op, err)
	}
	// Whatever rotor's umask: consumers must be able to search .versions (D itself is the
	// operator's, as they made it or as MkdirAll did).
	if err := os.Chmod(filepath.Join(s.dir, versionsDir), dirMode); err != nil {
		return fsError(op, err)
	}
	release, err := provider.LockFile(ctx, op, filepath.Join(s.dir, lockName), 0o600)
	if err != nil {
		return err
	}
	defer release()
	st, err := s.load(op)
	if err != nil {
		return err
	}
	return fn(st)
}

// files are one version's file contents; key is secret and wiped after writing.
type files struct {
	cert, chain, fullchain, key []byte
	leaf                        *x509.Certificate
}

func (f *files) wipe() { clear(f.key) }

// split checks that v is a certificate bundle in pki.Encode's form and splits it into the
// files. Errors never show the bytes.
func split(v secret.Value) (*files, error) {
	b, err := pki.Decode(v)
	if err != nil {
		return nil, err
	}
	canon, err := pki.Encode(*b)
	if err != nil {
		return nil, err
	}
	defer canon.Wipe()
	if !canon.Equal(v) {
		return nil, errors.New("the bundle is not in rotor's form — leaf, then chain, then one PKCS #8 key, nothing else (as pki.Encode writes it): what a consumer reads back must be the very value stored")
	}
	der, err := x509.MarshalPKCS8PrivateKey(b.Key)
	if err != nil {
		return nil, fmt.Errorf("encoding the private key: %w", err)
	}
	f := &files{
		cert:  pki.CertsPEM([]*x509.Certificate{b.Leaf}),
		chain: pki.CertsPEM(b.Chain),
		key:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		leaf:  b.Leaf,
	}
	clear(der)
	f.fullchain = append(append([]byte{}, f.cert...), f.chain...)
	return f, nil
}

// Put implements provider.Store. The bundle is checked whole before anything is written; the
// version appears under its final name only once all its files are synced.
func (s *Store) Put(ctx context.Context, req provider.PutRequest) (provider.PutResponse, error) {
	const op = "put version"
	if req.Key == "" {
		return provider.PutResponse{}, provider.Errorf(provider.Terminal, op, "no idempotency key: pass the run id")
	}
	if req.Value.IsZero() {
		return provider.PutResponse{}, provider.Errorf(provider.Terminal, op, "the value is empty")
	}
	var resp provider.PutResponse
	err := s.update(ctx, op, func(st *state) error {
		for _, id := range st.newestFirst() {
			if st.metas[id].Key == req.Key {
				resp = provider.PutResponse{Version: st.version(id)}
				return nil
			}
		}
		if err := s.sameCredential(op, st, req.Credential); err != nil {
			return err
		}
		f, err := split(req.Value)
		if err != nil {
			return provider.Wrap(provider.Terminal, op, fmt.Errorf("credential %s: %w", req.Credential, err))
		}
		defer f.wipe()
		uid, gid, err := s.ownership(op)
		if err != nil {
			return err
		}
		if err := s.sweep(op); err != nil {
			return err
		}
		seq := 1
		for _, m := range st.metas {
			seq = max(seq, m.Seq+1)
		}
		id, err := s.newID(op, seq)
		if err != nil {
			return err
		}
		m := &meta{Credential: req.Credential, ID: id, Seq: seq, Key: req.Key, AuthorityRef: req.AuthorityRef,
			Serial: pki.Serial(f.leaf), Expires: req.Expires.UTC(), Created: s.env.Now().UTC()}
		if req.Expires.IsZero() {
			m.Expires = f.leaf.NotAfter.UTC()
		}
		if m.AuthorityRef == "" {
			m.AuthorityRef = pki.Ref(f.leaf)
		}
		if s.env.Fingerprint != nil {
			m.Fingerprint = s.env.Fingerprint(req.Value)
		}
		if err := s.writeVersion(op, m, f, uid, gid); err != nil {
			return err
		}
		st.metas[id] = m
		resp = provider.PutResponse{Version: st.version(id), Created: true}
		for _, c := range sortedKeys(s.consumers) {
			if err := s.consumerDir(op, c); err != nil {
				return err
			}
		}
		return s.prune(op, st)
	})
	return resp, err
}

// sameCredential refuses to mix two credentials in one directory: their consumers would read
// each other's certificates.
func (s *Store) sameCredential(op string, st *state, credential string) error {
	for _, m := range st.metas {
		if m.Credential != "" && credential != "" && m.Credential != credential {
			return provider.Errorf(provider.Terminal, op, "%s holds versions of credential %s, not %s: give each credential its own dir", s.dir, m.Credential, credential)
		}
	}
	return nil
}

func (s *Store) newID(op string, seq int) (string, error) {
	var b [4]byte
	if _, err := io.ReadFull(s.env.Rand, b[:]); err != nil {
		return "", provider.Wrap(provider.Retryable, op, fmt.Errorf("reading randomness for a version id: %w", err))
	}
	return fmt.Sprintf("v%04d-%s", seq, hex.EncodeToString(b[:])), nil
}

// writeVersion writes the files and the metadata into a temp directory, syncs them, and
// renames the directory into place.
func (s *Store) writeVersion(op string, m *meta, f *files, uid, gid int) (err error) {
	vdir := filepath.Join(s.dir, versionsDir)
	tmp := filepath.Join(vdir, tempPrefix+m.ID)
	if err := os.Mkdir(tmp, dirMode); err != nil {
		return fsError(op, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, dirMode); err != nil { // whatever the umask
		return fsError(op, err)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return provider.Wrap(provider.Terminal, op, err)
	}
	for _, w := range []struct {
		name     string
		b        []byte
		mode     os.FileMode
		uid, gid int
	}{
		{s.names.cert, f.cert, s.certMode, uid, gid},
		{s.names.chain, f.chain, s.certMode, uid, gid},
		{s.names.fullchain, f.fullchain, s.certMode, uid, gid},
		{s.names.key, f.key, s.keyMode, uid, gid},
		{metaName, append(mb, '\n'), metaMode, -1, -1},
	} {
		if err := writeFile(filepath.Join(tmp, w.name), w.b, w.mode, w.uid, w.gid); err != nil {
			return fsError(op, err)
		}
	}
	if err := syncDir(tmp); err != nil {
		return fsError(op, err)
	}
	if err := os.Rename(tmp, filepath.Join(vdir, m.ID)); err != nil {
		return fsError(op, err)
	}
	if err := syncDir(vdir); err != nil {
		return fsError(op, err)
	}
	return nil
}

// writeFile creates a file with its final mode and owner before a byte of it is written, so
// the key is never readable by anyone else, not even for an instant.
func writeFile(p string, b []byte, mode os.FileMode, uid, gid int) error {
	fd, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			fd.Close()
		}
	}()
	if uid != -1 || gid != -1 {
		if err := fd.Chown(uid, gid); err != nil {
			return fmt.Errorf("giving %s to uid %d gid %d: %w", p, uid, gid, err)
		}
	}
	if err := fd.Chmod(mode); err != nil {
		return err
	}
	if _, err := fd.Write(b); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := fd.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", p, err)
	}
	ok = true
	return fd.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// sweep removes what crashed calls left: temp version directories and temp symlinks.
func (s *Store) sweep(op string) error {
	dirs := []string{s.dir, filepath.Join(s.dir, versionsDir)}
	for _, c := range sortedKeys(s.consumers) {
		dirs = append(dirs, filepath.Join(s.dir, s.consumers[c]))
	}
	for i, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if i >= 2 && errors.Is(err, fs.ErrNotExist) {
			continue // a consumer directory not made yet
		}
		if err != nil {
			return fsError(op, err)
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, tempPrefix) || strings.HasPrefix(n, liveName+tempPrefix) {
				if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
					return fsError(op, err)
				}
			}
		}
	}
	return nil
}

// prune removes the oldest version directories beyond keep. The current version is never
// counted nor removed, nor the previous one, nor a pending version newer than the current
// one (a run's version waiting for its cutover), nor a version a consumer is pinned to (it
// serves it); a pending version older than the current one was abandoned and counts like a
// retired one.
func (s *Store) prune(op string, st *state) error {
	prev := st.previous()
	kept := 0
	if prev != "" {
		kept = 1
	}
	curSeq := 0
	if m := st.metas[st.current]; m != nil {
		curSeq = m.Seq
	}
	removed := false
	for _, id := range st.newestFirst() {
		m := st.metas[id]
		if id == st.current || id == prev || st.pinned(id) || (m.Promoted.IsZero() && m.Seq > curSeq) {
			continue
		}
		if kept < s.keep {
			kept++
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.dir, versionsDir, id)); err != nil {
			return fsError(op, err)
		}
		delete(st.metas, id)
		removed = true
	}
	if removed {
		if err := syncDir(filepath.Join(s.dir, versionsDir)); err != nil {
			return fsError(op, err)
		}
	}
	return nil
}

// ownership resolves the configured owner and group (-1: unchanged). They are applied only
// when rotor runs as root; otherwise the files belong to rotor, and Read as a consumer says
// whether that consumer can read them.
func (s *Store) ownership(op string) (uid, gid int, err error) {
	uid, gid = -1, -1
	if s.owner == "" && s.group == "" {
		return uid, gid, nil
	}
	if os.Geteuid() != 0 {
		if s.env.Log != nil {
			s.env.Log.Warn("pem-files: not running as root: owner and group are not applied", "dir", s.dir, "owner", s.owner, "group", s.group)
		}
		return uid, gid, nil
	}
	if s.owner != "" {
		u, err := lookupUser(s.owner)
		if err != nil {
			return 0, 0, provider.Wrap(provider.Terminal, op, fmt.Errorf("owner: %w", err))
		}
		uid = int(u.uid)
	}
	if s.group != "" {
		g, err := lookupGroup(s.group)
		if err != nil {
			return 0, 0, provider.Wrap(provider.Terminal, op, fmt.Errorf("group: %w", err))
		}
		gid = int(g)
	}
	return uid, gid, nil
}

// find returns a version's id, or an error wrapping provider.ErrNotFound.
func find(op string, st *state, id string) (string, error) {
	if id == "" {
		if st.current == "" {
			return "", provider.Errorf(provider.Terminal, op, "no current version yet: %w", provider.ErrNotFound)
		}
		return st.current, nil
	}
	if st.metas[id] == nil {
		return "", provider.Errorf(provider.Terminal, op, "version %q: %w", id, provider.ErrNotFound)
	}
	return id, nil
}

// Promote implements provider.Store: one rename of ..live, then one rename of the ..live of
// each listed consumer that is not pinned. A disabled version is refused: enable it first, so
// a revoked certificate never becomes current by accident. Promoting the current version
// again switches the consumers a crash left behind.
func (s *Store) Promote(ctx context.Context, req provider.PromoteRequest) (provider.PromoteResponse, error) {
	const op = "promote version"
	var resp provider.PromoteResponse
	err := s.update(ctx, op, func(st *state) error {
		id, err := find(op, st, req.Version)
		if err != nil {
			return err
		}
		if err := s.checkPins(op, st); err != nil {
			return err
		}
		if id != st.current {
			m := *st.metas[id]
			if m.Disabled {
				return provider.Errorf(provider.Terminal, op, "version %s is disabled: enable it before making it current", id)
			}
			if err := s.sweep(op); err != nil {
				return err
			}
			m.Previous, m.Promoted = st.current, s.env.Now().UTC()
			if err := s.writeMeta(op, &m); err != nil {
				return err
			}
			st.metas[id] = &m
			if err := s.swapLink(op, s.dir, versionsDir+"/"+id); err != nil {
				return err
			}
			st.current = id
		}
		if err := s.visible(op, s.dir); err != nil {
			return err
		}
		for _, c := range sortedKeys(s.consumers) {
			if err := s.syncConsumer(op, st, c); err != nil {
				return err
			}
		}
		resp.Current = st.version(id)
		if p := st.previous(); p != "" {
			v := st.version(p)
			resp.Previous = &v
		}
		return s.prune(op, st)
	})
	if err != nil {
		return provider.PromoteResponse{}, err
	}
	return resp, nil
}

// writeMeta replaces a version's metadata file atomically.
func (s *Store) writeMeta(op string, m *meta) error {
	vdir := filepath.Join(s.dir, versionsDir, m.ID)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return provider.Wrap(provider.Terminal, op, err)
	}
	tmp := filepath.Join(vdir, tempPrefix+metaName)
	os.Remove(tmp)
	if err := writeFile(tmp, append(b, '\n'), metaMode, -1, -1); err != nil {
		return fsError(op, err)
	}
	if err := os.Rename(tmp, filepath.Join(vdir, metaName)); err != nil {
		return fsError(op, err)
	}
	return fsError(op, syncDir(vdir))
}

// swapLink points dir/..live at target (a path relative to dir) with one rename(2).
func (s *Store) swapLink(op, dir, target string) error {
	var b [6]byte
	if _, err := io.ReadFull(s.env.Rand, b[:]); err != nil {
		return provider.Wrap(provider.Retryable, op, err)
	}
	tmp := filepath.Join(dir, liveName+tempPrefix+hex.EncodeToString(b[:]))
	if err := os.Symlink(target, tmp); err != nil {
		return fsError(op, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, liveName)); err != nil {
		os.Remove(tmp)
		return fsError(op, err)
	}
	return fsError(op, syncDir(dir))
}

// visible makes each visible name in dir (the store's or a consumer's) a symlink into dir's
// ..live. It is done once; a name that is something else (a file from before rotor managed
// the directory) is replaced atomically.
func (s *Store) visible(op, dir string) error {
	changed := false
	for _, n := range s.names.all() {
		p := filepath.Join(dir, n)
		want := liveName + "/" + n
		if got, err := os.Readlink(p); err == nil && got == want {
			continue
		}
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			return provider.Errorf(provider.Terminal, op, "%s is a directory; the store needs that name for a file", p)
		}
		tmp := filepath.Join(dir, tempPrefix+n)
		os.Remove(tmp)
		if err := os.Symlink(want, tmp); err != nil {
			return fsError(op, err)
		}
		if err := os.Rename(tmp, p); err != nil {
			os.Remove(tmp)
			return fsError(op, err)
		}
		changed = true
	}
	if changed {
		return fsError(op, syncDir(dir))
	}
	return nil
}

// Versions implements provider.Store: the versions still on disk, newest first.
func (s *Store) Versions(ctx context.Context, req provider.VersionsRequest) (provider.VersionsResponse, error) {
	const op = "list versions"
	if err := ctx.Err(); err != nil {
		return provider.VersionsResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	st, err := s.load(op)
	if err != nil {
		return provider.VersionsResponse{}, err
	}
	out := []provider.Version{}
	for _, id := range st.newestFirst() {
		out = append(out, st.version(id))
	}
	return provider.VersionsResponse{Versions: out}, nil
}

// Read implements provider.Store: the version's cert, chain and key files, read as req.As
// (see the package doc), joined back into the bundle. A disabled version does not read.
func (s *Store) Read(ctx context.Context, req provider.ReadRequest) (provider.ReadResponse, error) {
	const op = "read version"
	if err := ctx.Err(); err != nil {
		return provider.ReadResponse{}, provider.Wrap(provider.Retryable, op, err)
	}
	st, err := s.load(op)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	id, err := find(op, st, req.Version)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	if st.metas[id].Disabled {
		return provider.ReadResponse{}, provider.Errorf(provider.Terminal, op, "version %s is disabled: %w", id, provider.ErrNotFound)
	}
	vdir := filepath.Join(s.dir, versionsDir, id)
	paths := []string{filepath.Join(vdir, s.names.cert), filepath.Join(vdir, s.names.chain), filepath.Join(vdir, s.names.key)}
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			return provider.ReadResponse{}, provider.Errorf(provider.NeedsHuman, op, "version %s is incomplete (%v); inspect %s", id, errors.Unwrap(err), vdir)
		}
	}
	raw, err := s.readAs(ctx, op, req.As, paths)
	if err != nil {
		return provider.ReadResponse{}, err
	}
	v := secret.New(raw)
	clear(raw)
	// What was read must still be one matching pair: a damaged file is said, not handed on.
	if _, err := pki.Decode(v); err != nil {
		v.Wipe()
		return provider.ReadResponse{}, provider.Errorf(provider.NeedsHuman, op, "version %s in %s: %v", id, vdir, err)
	}
	return provider.ReadResponse{Version: st.version(id), Value: v}, nil
}

// readFiles reads and joins files as this process.
func readFiles(op string, paths []string) ([]byte, error) {
	var buf bytes.Buffer
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			clear(buf.Bytes())
			return nil, fsError(op, err)
		}
		buf.Write(b)
		clear(b)
	}
	return buf.Bytes(), nil
}

// Disable implements provider.VersionToggler: the version is marked disabled in its metadata
// (it no longer reads and cannot be promoted). The current version and a version a consumer
// is pinned to are refused: their files are what the consumers serve.
func (s *Store) Disable(ctx context.Context, req provider.ToggleRequest) error {
	return s.toggle(ctx, "disable version", req.Version, true)
}

// Enable implements provider.VersionToggler.
func (s *Store) Enable(ctx context.Context, req provider.ToggleRequest) error {
	return s.toggle(ctx, "enable version", req.Version, false)
}

func (s *Store) toggle(ctx context.Context, op, version string, disabled bool) error {
	return s.update(ctx, op, func(st *state) error {
		if version == "" || st.metas[version] == nil {
			return provider.Errorf(provider.Terminal, op, "version %q: %w", version, provider.ErrNotFound)
		}
		m := *st.metas[version]
		if m.Disabled == disabled {
			return nil
		}
		if disabled && version == st.current {
			return provider.Errorf(provider.Terminal, op, "version %s is current: promote another version first", version)
		}
		if cs := st.pinnedTo(version); disabled && len(cs) > 0 {
			return provider.Errorf(provider.Terminal, op, "consumers %s are pinned to version %s: unpin them first", strings.Join(cs, ", "), version)
		}
		m.Disabled = disabled
		return s.writeMeta(op, &m)
	})
}

// CheckWrite implements provider.WriteChecker: it creates the directory if needed, takes
// the lock, reads the versions (damage fails here, before anything is minted), and writes and
// removes a probe file.
func (s *Store) CheckWrite(ctx context.Context, req provider.CheckWriteRequest) error {
	const op = "check write"
	return s.update(ctx, op, func(st *state) error {
		if err := s.sameCredential(op, st, req.Credential); err != nil {
			return err
		}
		probe := filepath.Join(s.dir, versionsDir, tempPrefix+"write-check")
		os.Remove(probe)
		if err := writeFile(probe, []byte("rotor write check\n"), metaMode, -1, -1); err != nil {
			return fsError(op, err)
		}
		return fsError(op, os.Remove(probe))
	})
}

// fsError classifies a file system failure (nil stays nil).
func fsError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrPermission):
		return provider.Wrap(provider.Denied, op, err)
	case errors.Is(err, fs.ErrNotExist):
		return provider.Wrap(provider.Terminal, op, fmt.Errorf("%w: %w", provider.ErrNotFound, err))
	}
	return provider.Wrap(provider.Terminal, op, err)
}
