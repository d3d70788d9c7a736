package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rotorhq/rotor/internal/provider"
)

// Head is where a run's journal stands, as the run record keeps it: the
// hash of the last entry and the number of entries. The zero Head is an
// empty journal.
type Head struct {
	Hash string `json:"hash"`
	Len  int64  `json:"len"`
}

// Stored is one entry as the state store keeps it: the columns that chain it
// and the canonical body [Seal] returned.
type Stored struct {
	Seq      int64
	PrevHash string
	Hash     string
	Body     []byte
}

// hashDomain separates entry hashes from every other SHA-256 rotor (or
// anyone) computes, so a journal hash can never be passed off as, or
// confused with, a hash of something else.
const hashDomain = "rotor/journal/entry/v1"

// hashEntry is the chain's link:
//
//	hex(SHA-256(domain || 0x00 || u64be(len(prev)) || prev || u64be(len(body)) || body))
//
// prev is the previous entry's hash in hex ("" for the first entry). The
// lengths make the split between prev and body unambiguous whatever they
// hold.
func hashEntry(prev string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(hashDomain))
	h.Write([]byte{0})
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(prev)))
	h.Write(n[:])
	h.Write([]byte(prev))
	binary.BigEndian.PutUint64(n[:], uint64(len(body)))
	h.Write(n[:])
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// isHash reports whether s looks like an entry hash: 64 lower-case hex digits.
func isHash(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Seal chains e after prev: it sets Seq to prev.Len+1 and PrevHash to
// prev.Hash, normalises e (time in UTC; invalid UTF-8 replaced by U+FFFD;
// Data in canonical form), and returns the sealed entry with its Hash and
// the canonical body for the store to keep. The returned entry is exactly
// what [Decode] gives back from body. The new head is sealed.Head().
//
// Seal refuses an entry without RunID, Actor, At, Summary or a known Kind,
// with a Verdict other than pass, fail or unknown, or with Data that is not
// a JSON object; and a prev that is not a head. Nothing is written anywhere:
// the caller stores body, seq and hashes in the same transaction as the run
// update that moves the head.
func Seal(prev Head, e Entry) (sealed Entry, body []byte, err error) {
	switch {
	case prev.Len < 0:
		return Entry{}, nil, fmt.Errorf("journal: seal: head length %d is negative", prev.Len)
	case prev.Len == 0 && prev.Hash != "":
		return Entry{}, nil, errors.New("journal: seal: an empty journal has no head hash")
	case prev.Len > 0 && !isHash(prev.Hash):
		return Entry{}, nil, errors.New("journal: seal: head hash is not 64 lower-case hex digits")
	}
	e.Seq = prev.Len + 1
	e.PrevHash = prev.Hash
	e.Hash = ""
	e.At = e.At.UTC()
	for _, s := range []*string{&e.RunID, &e.Actor, &e.OSUser, &e.Phase, &e.Step, &e.Consumer, &e.Summary} {
		*s = strings.ToValidUTF8(*s, "\uFFFD")
	}
	switch {
	case e.RunID == "":
		return Entry{}, nil, errors.New("journal: seal: entry has no run id")
	case e.Actor == "":
		return Entry{}, nil, fmt.Errorf("journal: seal: %s entry has no actor", e.Kind)
	case !e.Kind.Known():
		return Entry{}, nil, fmt.Errorf("journal: seal: unknown entry kind %q", e.Kind)
	case e.At.IsZero():
		return Entry{}, nil, fmt.Errorf("journal: seal: %s entry has no time", e.Kind)
	case e.Summary == "":
		return Entry{}, nil, fmt.Errorf("journal: seal: %s entry has no summary", e.Kind)
	case !validVerdict(e.Verdict):
		return Entry{}, nil, fmt.Errorf("journal: seal: %s entry has verdict %q (want pass, fail or unknown)", e.Kind, e.Verdict)
	}
	if e.Data, err = canonicalData(e.Data); err != nil {
		return Entry{}, nil, fmt.Errorf("journal: seal: %s entry: %w", e.Kind, err)
	}
	body, err = encodeBody(e)
	if err != nil {
		return Entry{}, nil, fmt.Errorf("journal: seal: %s entry: %w", e.Kind, err)
	}
	// e is now what a reader will see: the fields as encodeBody wrote them (valid UTF-8,
	// UTC time, canonical data), so Decode(body) gives back exactly this entry
	// (TestSealRoundTrip, FuzzSeal); decoding every body again here cost a rotation a
	// tenth of its journal time.
	e.Hash = hashEntry(e.PrevHash, body)
	return e, body, nil
}

func validVerdict(v provider.Verdict) bool {
	switch v {
	case "", provider.Pass, provider.Fail, provider.Unknown:
		return true
	}
	return false
}

// wireEntry is a body as encoding/json reads it; Decode then checks that
// the body is in canonical form, which also rules out duplicate or
// differently-cased keys and trailing data.
type wireEntry struct {
	V        int             `json:"v"`
	Seq      int64           `json:"seq"`
	RunID    string          `json:"run_id"`
	At       string          `json:"at"`
	Actor    string          `json:"actor"`
	OSUser   string          `json:"os_user"`
	Kind     string          `json:"kind"`
	Phase    string          `json:"phase"`
	Step     string          `json:"step"`
	Consumer string          `json:"consumer"`
	Summary  string          `json:"summary"`
	Verdict  string          `json:"verdict"`
	Data     json.RawMessage `json:"data"`
	PrevHash string          `json:"prev_hash"`
}

// Decode reads one stored body back into the entry [Seal] returned, with
// its Hash recomputed from the body (which holds the previous hash). It
// fails on anything Seal cannot have written: bytes that are not JSON, an
// unknown field or format version, a missing field, a body that is not in
// canonical form. Error messages never quote the body.
func Decode(body []byte) (Entry, error) {
	if !utf8.Valid(body) {
		return Entry{}, errors.New("journal: entry body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var w wireEntry
	if err := dec.Decode(&w); err != nil {
		return Entry{}, fmt.Errorf("journal: entry body is not an entry: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Entry{}, errors.New("journal: entry body has data after the entry")
	}
	if w.V != formatVersion {
		return Entry{}, fmt.Errorf("journal: entry body has format version %d; this rotor reads version %d", w.V, formatVersion)
	}
	at, err := time.Parse(time.RFC3339Nano, w.At)
	if err != nil {
		return Entry{}, errors.New("journal: entry time is not RFC 3339")
	}
	e := Entry{
		Seq: w.Seq, RunID: w.RunID, At: at.UTC(), Actor: w.Actor, OSUser: w.OSUser, Kind: Kind(w.Kind),
		Phase: w.Phase, Step: w.Step, Consumer: w.Consumer, Summary: w.Summary,
		Verdict: provider.Verdict(w.Verdict), PrevHash: w.PrevHash,
	}
	if len(w.Data) > 0 {
		e.Data = append(json.RawMessage(nil), w.Data...)
	}
	switch {
	case e.Seq < 1:
		return Entry{}, fmt.Errorf("journal: entry sequence number %d is not positive", e.Seq)
	case e.RunID == "" || e.Actor == "" || e.Kind == "" || e.Summary == "":
		return Entry{}, errors.New("journal: entry lacks a run id, actor, kind or summary")
	case !validVerdict(e.Verdict):
		return Entry{}, errors.New("journal: entry verdict is not pass, fail or unknown")
	case e.Seq == 1 && e.PrevHash != "":
		return Entry{}, errors.New("journal: first entry has a previous hash")
	case e.Seq > 1 && !isHash(e.PrevHash):
		return Entry{}, errors.New("journal: entry's previous hash is not 64 lower-case hex digits")
	}
	if len(e.Data) > 0 {
		// Data must be an object; re-encoding it canonically here makes
		// the comparison of the whole body below cover its form too.
		c, err := canonicalData(e.Data)
		if err != nil || c == nil {
			return Entry{}, errors.New("journal: entry data is not a JSON object")
		}
		e.Data = c
	}
	again, err := encodeBody(e)
	if err != nil || !bytes.Equal(again, body) {
		return Entry{}, errors.New("journal: entry body is not in canonical form (written or edited outside rotor)")
	}
	e.Hash = hashEntry(e.PrevHash, body)
	return e, nil
}

// jsonProblem describes a decoding error without the input's bytes:
// encoding/json's messages can quote a character or a field name from it.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return "unknown field"
	default:
		return "not a JSON object"
	}
}

// VerifyError names the first entry of a journal that does not hold up, and
// what is wrong with it. Seq is the sequence number the entry has (or should
// have) in the chain; 0 when the problem is the run's head itself.
type VerifyError struct {
	Seq     int64
	Problem string
}

func (e *VerifyError) Error() string {
	if e.Seq == 0 {
		return "journal does not verify: " + e.Problem
	}
	return fmt.Sprintf("journal does not verify at entry %d: %s", e.Seq, e.Problem)
}

// Verify checks a run's stored journal against the run's head, in order:
// the entries must be numbered 1, 2, 3… with none missing; each body must
// decode, belong to runID, carry the seq and previous hash it is stored
// with, link to the hash of the entry before, and hash to its stored hash;
// and the last entry must be the head, in hash and in count. It returns nil
// or a *VerifyError for the first entry that fails.
//
// stored must be in the order the store returns by seq; reordering in the
// store shows up as a gap, a seq that disagrees with its body, or a broken
// link.
func Verify(runID string, stored []Stored, head Head) error {
	if head.Len < 0 || head.Len == 0 && head.Hash != "" || head.Len > 0 && !isHash(head.Hash) {
		return &VerifyError{Problem: "the run's head is malformed"}
	}
	prev := ""
	for i, s := range stored {
		want := int64(i) + 1
		bad := func(format string, args ...any) error {
			return &VerifyError{Seq: want, Problem: fmt.Sprintf(format, args...)}
		}
		if s.Seq != want {
			if s.Seq > want && !slices.ContainsFunc(stored[i:], func(s Stored) bool { return s.Seq == want }) {
				return bad("missing: the next stored entry is %d (an entry was deleted)", s.Seq)
			}
			return bad("out of order: found entry %d where %d belongs (entries reordered or duplicated)", s.Seq, want)
		}
		e, err := Decode(s.Body)
		if err != nil {
			return bad("body does not decode: %s", strings.TrimPrefix(err.Error(), "journal: "))
		}
		switch {
		case e.Seq != s.Seq:
			return bad("body says it is entry %d (bodies swapped or renumbered)", e.Seq)
		case e.RunID != runID:
			return bad("belongs to run %q, not %q", e.RunID, runID)
		case e.PrevHash != s.PrevHash:
			return bad("stored previous hash differs from the one in its body")
		case s.PrevHash != prev:
			return bad("does not follow entry %d: previous hash does not match (an entry before it was removed, replaced or reordered)", want-1)
		case e.Hash != s.Hash:
			return bad("hash mismatch: the entry was changed after it was written")
		}
		prev = s.Hash
	}
	n := int64(len(stored))
	switch {
	case n < head.Len:
		return &VerifyError{Seq: n + 1, Problem: fmt.Sprintf("missing: the run's head says %d entries, the journal ends at %d (truncated)", head.Len, n)}
	case n > head.Len:
		return &VerifyError{Seq: head.Len + 1, Problem: fmt.Sprintf("beyond the run's head: the head says %d entries, the journal has %d (appended outside a run update)", head.Len, n)}
	case prev != head.Hash:
		return &VerifyError{Seq: n, Problem: "the last entry's hash is not the run's head hash (the journal was replaced or rewritten)"}
	}
	return nil
}
