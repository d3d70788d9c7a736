package vaultkv

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/internal/provider"
)

// rotor's labels in custom_metadata: ids and version numbers, never a value.
//
// On the staging secret, one key per staged value:
//
//	rotor.s7 = key=RUN&fp=hmac-sha256:…&ref=AUTHORITY-REF&exp=RFC3339
//
// On the secret consumers read:
//
//	rotor.current = s7        rotor's current version
//	rotor.previous = s6       the one before (kv12 when it was not written by rotor)
//	rotor.s7 = 12             staged value 7 is KV version 12 of the secret
//	rotor.pin.billing = 11    consumer billing reads KV version 11 (?version=11)
const (
	labelPrefix   = "rotor."
	labelCurrent  = labelPrefix + "current"
	labelPrevious = labelPrefix + "previous"
	pinPrefix     = labelPrefix + "pin."
	// maxLabels keeps rotor well under KV's 64 custom_metadata keys per secret, leaving
	// room for the operators' own.
	maxLabels = 48
)

// A version id is s<M> for the M-th value rotor staged (it keeps its id once promoted to a
// KV version of the secret) or kv<N> for KV version N of the secret that rotor did not write
// (written by hand, or before rotor).
func stagedID(m int) string { return "s" + strconv.Itoa(m) }
func plainID(n int) string  { return "kv" + strconv.Itoa(n) }

// parseID returns (m, 0) for s<M>, (0, n) for kv<N>, and ok false for anything else.
func parseID(id string) (m, n int, ok bool) {
	num := func(s string) int {
		if s == "" || s[0] == '0' || len(s) > 9 {
			return 0
		}
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			return 0
		}
		return v
	}
	switch {
	case strings.HasPrefix(id, "s"):
		m = num(id[1:])
		return m, 0, m > 0
	case strings.HasPrefix(id, "kv"):
		n = num(id[2:])
		return 0, n, n > 0
	}
	return 0, 0, false
}

// staged is what the staging secret's custom_metadata records of one staged value.
type staged struct {
	m       int
	key     string
	fp, ref string
	exp     time.Time
}

func (e staged) encode() string {
	q := url.Values{}
	q.Set("key", e.key)
	if e.fp != "" {
		q.Set("fp", e.fp)
	}
	if e.ref != "" {
		q.Set("ref", e.ref)
	}
	if !e.exp.IsZero() {
		q.Set("exp", e.exp.UTC().Format(time.RFC3339))
	}
	return q.Encode()
}

func decodeStaged(m int, s string) (staged, bool) {
	q, err := url.ParseQuery(s)
	if err != nil || q.Get("key") == "" {
		return staged{}, false
	}
	e := staged{m: m, key: q.Get("key"), fp: q.Get("fp"), ref: q.Get("ref")}
	if t := q.Get("exp"); t != "" {
		e.exp, _ = time.Parse(time.RFC3339, t)
	}
	return e, true
}

// index is rotor's view of a credential: both secrets' metadata and the labels.
type index struct {
	stage, main secretMeta
	entries     map[int]staged // by M
	promoted    map[int]int    // M -> N
	byN         map[int]int    // N -> M
	current     string         // label (may be "")
	previous    string
	pins        map[string]int // consumer -> N
}

// load reads both secrets' metadata as the executor.
func (s *Store) load(ctx context.Context, c *vault.Client) (*index, error) {
	st, err := s.readMeta(ctx, c, s.staging)
	if err != nil {
		return nil, err
	}
	mn, err := s.readMeta(ctx, c, s.path)
	if err != nil {
		return nil, err
	}
	ix := &index{stage: st, main: mn, entries: map[int]staged{}, promoted: map[int]int{}, byN: map[int]int{}, pins: map[string]int{}}
	for k, v := range st.custom {
		if m, _, ok := parseID(strings.TrimPrefix(k, labelPrefix)); ok && strings.HasPrefix(k, labelPrefix+"s") {
			if e, ok := decodeStaged(m, v); ok {
				ix.entries[m] = e
			}
		}
	}
	for k, v := range mn.custom {
		switch {
		case k == labelCurrent:
			ix.current = v
		case k == labelPrevious:
			ix.previous = v
		case strings.HasPrefix(k, pinPrefix):
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				ix.pins[strings.TrimPrefix(k, pinPrefix)] = n
			}
		case strings.HasPrefix(k, labelPrefix+"s"):
			if m, _, ok := parseID(strings.TrimPrefix(k, labelPrefix)); ok {
				if n, err := strconv.Atoi(v); err == nil && n > 0 {
					ix.promoted[m] = n
					ix.byN[n] = m
				}
			}
		}
	}
	return ix, nil
}

// byKey finds the staged value written with an idempotency key.
func (ix *index) byKey(key string) (staged, bool) {
	for _, e := range ix.entries {
		if e.key == key {
			return e, true
		}
	}
	return staged{}, false
}

// idOfN names KV version N of the secret.
func (ix *index) idOfN(n int) string {
	if m, ok := ix.byN[n]; ok {
		return stagedID(m)
	}
	return plainID(n)
}

// currentID is rotor's current version: its label, or — before rotor promoted anything —
// the newest live version of the secret, adopted as it is.
func (ix *index) currentID() string {
	if ix.current != "" {
		return ix.current
	}
	if n := ix.newestLive(); n > 0 {
		return ix.idOfN(n)
	}
	return ""
}

// newestLive is the secret's newest version that is neither deleted nor destroyed (0: none).
func (ix *index) newestLive() int {
	v, ok := ix.main.versions[ix.main.current]
	if ix.main.current > 0 && ok && !v.Deleted && !v.Destroyed {
		return ix.main.current
	}
	return 0
}

// where says where a version's value is: KV version n of the secret (n > 0), or staging
// version m (a pending value). found is false for an id the store does not know.
type where struct {
	id      string
	m, n    int // n > 0: in the secret; else m: in the staging secret
	entry   staged
	hasMeta bool
	meta    verMeta
}

func (ix *index) locate(id string) (where, bool) {
	m, n, ok := parseID(id)
	if !ok {
		return where{}, false
	}
	w := where{id: id, m: m, n: n}
	if m > 0 {
		e, ok := ix.entries[m]
		if !ok {
			return where{}, false
		}
		w.entry = e
		if pn, ok := ix.promoted[m]; ok {
			w.n = pn
		}
	} else if _, mapped := ix.byN[n]; mapped {
		return where{}, false // it has an s-id
	}
	if w.n > 0 {
		w.meta, w.hasMeta = ix.main.versions[w.n]
	} else {
		w.meta, w.hasMeta = ix.stage.versions[w.m]
	}
	if !w.hasMeta || w.meta.Destroyed {
		return w, false
	}
	return w, true
}

// version describes a located version.
func (ix *index) version(w where) provider.Version {
	v := provider.Version{ID: w.id, Enabled: !w.meta.Deleted && !w.meta.Destroyed, Created: w.meta.Created,
		Key: w.entry.key, Fingerprint: w.entry.fp, AuthorityRef: w.entry.ref, Expires: w.entry.exp}
	if w.m > 0 && w.n == 0 {
		v.Created = ix.stage.versions[w.m].Created
	} else if w.m > 0 {
		if sv, ok := ix.stage.versions[w.m]; ok {
			v.Created = sv.Created // when it was minted and staged
		}
	}
	switch {
	case w.n == 0:
		v.Stage = provider.StagePending
	case w.id == ix.currentID():
		v.Stage = provider.StageCurrent
	case w.id == ix.previous:
		v.Stage = provider.StagePrevious
	}
	return v
}

// versions lists every version the store keeps, newest first: the staged values (pending,
// or promoted and still a live or soft-deleted version of the secret) and the secret's
// versions rotor did not write.
func (ix *index) versions() []provider.Version {
	type item struct {
		v   provider.Version
		key [2]int64 // created, then a tiebreak
	}
	var out []item
	for m := range ix.entries {
		if w, ok := ix.locate(stagedID(m)); ok {
			v := ix.version(w)
			out = append(out, item{v, [2]int64{v.Created.UnixNano(), int64(m)}})
		}
	}
	for n := range ix.main.versions {
		if _, mapped := ix.byN[n]; mapped {
			continue
		}
		if w, ok := ix.locate(plainID(n)); ok {
			v := ix.version(w)
			out = append(out, item{v, [2]int64{v.Created.UnixNano(), int64(n)}})
		}
	}
	slices.SortFunc(out, func(a, b item) int {
		if c := cmp.Compare(b.key[0], a.key[0]); c != 0 {
			return c
		}
		return cmp.Compare(b.key[1], a.key[1])
	})
	vs := make([]provider.Version, len(out))
	for i, it := range out {
		vs[i] = it.v
	}
	return vs
}

// pinnedTo lists the consumers pinned to KV version n.
func (ix *index) pinnedTo(n int) []string {
	var out []string
	for c, pn := range ix.pins {
		if pn == n {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// drift says why the secret's newest version is not rotor's current (someone wrote it
// outside rotor), or "" when it is.
func (ix *index) drift(secret string) string {
	if ix.current == "" {
		return ""
	}
	w, ok := ix.locate(ix.current)
	if !ok || w.n == 0 {
		return fmt.Sprintf("rotor's current version %s is no longer a version of %s", ix.current, secret)
	}
	if ix.main.current != w.n {
		return fmt.Sprintf("%s has version %d, newer than rotor's current %s (version %d): it was written outside rotor", secret, ix.main.current, ix.current, w.n)
	}
	return ""
}

func strp(s string) *string { return &s }
