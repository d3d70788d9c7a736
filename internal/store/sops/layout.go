package sops

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// rotorRoot begins the name of every entry rotor adds to a file.
const rotorRoot = "_rotor"

// layout is where a credential's entries are in its file:
//
//	yaml, json                                dotenv
//	<key path>        the current value       KEY
//	_rotor.<key path>.<version id>            _rotor__KEY__<version id, '-' as '_'>
//	                  each version's value, encrypted like the current one
//	_rotor_unencrypted.<dotted key>           _rotor__KEY__versions_unencrypted
//	                  the version list, in clear (a JSON string in a dotenv file)
//
// The version list's name ends with the file's unencrypted_suffix (sops's default is
// _unencrypted), so sops leaves it in clear; under other rules rotor checks that it stays in
// clear and that every value is encrypted, and refuses the file otherwise (plan).
type layout struct {
	format string
	key    string   // the dotted key (dotenv: the variable)
	user   []string // the current value's path
	suffix string   // ends the version list's name
}

func (l layout) slot(id string) []string {
	if l.format == formatDotenv {
		return []string{rotorRoot + "__" + l.key + "__" + strings.ReplaceAll(id, "-", "_")}
	}
	return append(append([]string{rotorRoot}, l.user...), id)
}

// slotParent is the path of the map holding the version values (yaml and json).
func (l layout) slotParent() []string { return append([]string{rotorRoot}, l.user...) }

func (l layout) meta() []string {
	if l.format == formatDotenv {
		return []string{rotorRoot + "__" + l.key + "__versions" + l.suffix}
	}
	return []string{rotorRoot + l.suffix, l.key}
}

// treePath is a path as sops's set, unset and --extract take it: ["a"]["b"].
func treePath(path []string) string {
	var b strings.Builder
	for _, p := range path {
		b.WriteString(`["` + p + `"]`)
	}
	return b.String()
}

// The field names of the version list, each an element of a path sops's rules look at.
var (
	bookFields   = []string{"format", "seq", "versions"}
	recordFields = []string{"id", "seq", "created", "stage", "enabled", "deleted", "run", "fingerprint", "authority_ref", "expires"}
)

// plan places a credential's entries under the file's rules: the current value and every
// version's value encrypted, the version list in clear. It refuses, naming the rule, a file
// where that cannot be: the value would go into clear text, or rotor's version list would be
// encrypted (no version could be listed without a key) — nothing is written then.
func plan(cfg *Config, m sopsMetadata, path string) (layout, error) {
	r := m.rules
	l := layout{format: cfg.format(), key: cfg.Key, user: cfg.path(), suffix: "_unencrypted"}
	if r.unencSuffix != "" {
		l.suffix = r.unencSuffix
	}
	refuse := func(format string, args ...any) error {
		return provider.Errorf(provider.Terminal, "sops file", "%s: "+format+" (its rule: %s); nothing was written", append(append([]any{path}, args...), r)...)
	}
	if r.byComment != "" {
		return l, refuse("sops decides what it encrypts in this file by comments, and rotor writes none: use a file whose rule is a key suffix or a key regex")
	}
	if !r.encrypted(l.user) {
		return l, refuse("the value at %s would be stored in clear text", cfg.Key)
	}
	if s := l.slot("v0001-00000000"); !r.encrypted(s) {
		return l, refuse("rotor's copies of the versions (%s…) would be stored in clear text", strings.Join(s[:len(s)-1], "."))
	}
	var leaves [][]string
	if l.format == formatDotenv {
		leaves = [][]string{l.meta()}
	} else {
		for _, f := range bookFields {
			leaves = append(leaves, append(l.meta(), f))
		}
		for _, f := range recordFields {
			leaves = append(leaves, append(l.meta(), "versions", f))
		}
	}
	for _, p := range leaves {
		if r.encrypted(p) {
			return l, refuse("rotor's version list (%s) would be encrypted, so no version could be listed without a key; rotor keeps it in clear under a name ending in the file's unencrypted suffix, and this file's rule does not allow that", strings.Join(l.meta(), "."))
		}
	}
	return l, nil
}

// book is a credential's version list, kept in clear in the file: ids, stages and metadata,
// never a value.
type book struct {
	Format int `json:"format"`
	// Seq is the last sequence number handed out; it never goes down, so an id is never
	// reused.
	Seq      int      `json:"seq"`
	Versions []record `json:"versions"` // oldest first
}

const bookFormat = 1

// record is one version. A deleted version keeps its record, so a retried Put or Delete
// recognises it.
type record struct {
	ID           string         `json:"id"`
	Seq          int            `json:"seq"`
	Created      time.Time      `json:"created,omitzero"`
	Stage        provider.Stage `json:"stage,omitempty"`
	Enabled      bool           `json:"enabled"`
	Deleted      bool           `json:"deleted,omitempty"`
	Run          string         `json:"run,omitempty"` // the idempotency key: the run that wrote it
	Fingerprint  string         `json:"fingerprint,omitempty"`
	AuthorityRef string         `json:"authority_ref,omitempty"`
	Expires      time.Time      `json:"expires,omitzero"`
	// adopted: the value found at the key before rotor kept any version of it, not yet
	// written into the version list (see document.state).
	adopted bool
}

func (r *record) version() provider.Version {
	return provider.Version{ID: r.ID, Fingerprint: r.Fingerprint, Stage: r.Stage, Enabled: r.Enabled, Created: r.Created,
		Key: r.Run, AuthorityRef: r.AuthorityRef, Expires: r.Expires}
}

// idPattern is the shape of a version id: a sequence number and four random bytes (v0000 is
// the value rotor found in place and adopted).
var idPattern = regexp.MustCompile(`^v[0-9]{4,9}-[0-9a-f]{8}$`)

func (b *book) find(id string) *record {
	for i := range b.Versions {
		if b.Versions[i].ID == id {
			return &b.Versions[i]
		}
	}
	return nil
}

func (b *book) byRun(run string) *record {
	for i := range b.Versions {
		if b.Versions[i].Run == run {
			return &b.Versions[i]
		}
	}
	return nil
}

func (b *book) withStage(s provider.Stage) *record {
	for i := range b.Versions {
		if r := &b.Versions[i]; r.Stage == s && !r.Deleted {
			return r
		}
	}
	return nil
}

func (b *book) newestFirst() []*record {
	var out []*record
	for i := range b.Versions {
		if !b.Versions[i].Deleted {
			out = append(out, &b.Versions[i])
		}
	}
	slices.SortFunc(out, func(x, y *record) int { return y.Seq - x.Seq })
	return out
}

// check reports the first inconsistency of a version list read from a file: one edited by
// hand, or by something else.
func (b *book) check() error {
	if b.Format != bookFormat {
		return fmt.Errorf("format is %d, this rotor reads format %d", b.Format, bookFormat)
	}
	ids, runs, seqs := map[string]bool{}, map[string]bool{}, map[int]bool{}
	stages := map[provider.Stage]int{}
	for i, r := range b.Versions {
		switch {
		case !idPattern.MatchString(r.ID):
			return fmt.Errorf("versions[%d]: id %q is not a version id", i, r.ID)
		case ids[r.ID]:
			return fmt.Errorf("versions[%d]: id %s appears twice", i, r.ID)
		case r.Run != "" && runs[r.Run]:
			return fmt.Errorf("versions[%d] (%s): run %q appears twice", i, r.ID, r.Run)
		case r.Seq < 0 || r.Seq > b.Seq || (r.Seq > 0 && seqs[r.Seq]):
			return fmt.Errorf("versions[%d] (%s): sequence %d is out of order (last is %d)", i, r.ID, r.Seq, b.Seq)
		case r.Deleted && r.Enabled:
			return fmt.Errorf("versions[%d] (%s): deleted but enabled", i, r.ID)
		}
		switch r.Stage {
		case provider.StagePending, provider.StageCurrent, provider.StagePrevious, provider.StageRetired:
		default:
			return fmt.Errorf("versions[%d] (%s): unknown stage %q", i, r.ID, r.Stage)
		}
		if r.Stage == provider.StageCurrent && (!r.Enabled || r.Deleted) {
			return fmt.Errorf("versions[%d] (%s): the current version is disabled or deleted", i, r.ID)
		}
		if !r.Deleted {
			stages[r.Stage]++
		}
		ids[r.ID], runs[r.Run], seqs[r.Seq] = true, r.Run != "", true
	}
	if stages[provider.StageCurrent] > 1 || stages[provider.StagePrevious] > 1 {
		return fmt.Errorf("%d current and %d previous versions: at most one of each", stages[provider.StageCurrent], stages[provider.StagePrevious])
	}
	return nil
}

// book reads the credential's version list from the document: empty when rotor has written
// none yet.
func (d *document) book(l layout) (*book, error) {
	n, ok := d.lookup(l.meta())
	if !ok {
		return &book{Format: bookFormat}, nil
	}
	var raw []byte
	switch v := n.(type) {
	case string:
		if isCiphertext(v) {
			return nil, errors.New("its version list is encrypted: it was written under other rules, or edited by hand")
		}
		raw = []byte(v)
	case map[string]any:
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("its version list (%s) is neither a mapping nor a JSON string", strings.Join(l.meta(), "."))
	}
	var b book
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("its version list does not read: %v", err)
	}
	if err := b.check(); err != nil {
		return nil, fmt.Errorf("its version list is inconsistent: %v", err)
	}
	return &b, nil
}

// encode is the version list as sops set takes it: a JSON object (a subtree of a yaml or
// json file), or a JSON string holding the object (a dotenv value).
func (b *book) encode(format string) ([]byte, error) {
	obj, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	if format != formatDotenv {
		return obj, nil
	}
	return json.Marshal(string(obj))
}

// adoptedID names the value found at the key before rotor kept any version: v0000 and the
// first bytes of a hash of its ciphertext, stable while nobody changes the value (sops keeps
// the ciphertext of a value it did not change).
func adoptedID(ciphertext string) string { return "v0000-" + digest([]byte(ciphertext))[:8] }

// state is the credential's version list with, when it has no current version but the file
// has a value at the key (a secret kept in the file before rotor managed it, or put back by
// hand), that value as an adopted current version, named by adoptedID. The first change rotor
// makes writes the adopted version into the list, its value copied beside the others.
func (d *document) state(l layout) (*book, error) {
	b, err := d.book(l)
	if err != nil {
		return nil, err
	}
	if b.withStage(provider.StageCurrent) != nil {
		return b, nil
	}
	n, ok := d.lookup(l.user)
	if !ok {
		return b, nil
	}
	ct, isString := n.(string)
	if !isString || !isCiphertext(ct) {
		return nil, fmt.Errorf("the node at %s is not an encrypted value", l.key)
	}
	id := adoptedID(ct)
	if r := b.find(id); r != nil {
		return nil, fmt.Errorf("the value at %s is version %s, which the version list keeps as %q", l.key, id, r.Stage)
	}
	b.Versions = append(b.Versions, record{ID: id, Seq: 0, Stage: provider.StageCurrent, Enabled: true, adopted: true})
	return b, nil
}
