package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// TestSealKnownAnswer pins the canonical body and the hash construction.
// If either changes, every journal already written stops verifying: this
// test must then fail, and the change needs a new format version instead.
func TestSealKnownAnswer(t *testing.T) {
	e := Entry{
		RunID: "run-1", At: time.Date(2026, 11, 24, 22, 0, 0, 500_000_000, time.FixedZone("CET", 3600)),
		Actor: "alice", Kind: KindRunStarted, Phase: "prepare",
		Summary: "started \"x\"\n<b>\u2028é\x01",
		Data:    json.RawMessage(`{ "z": true, "a": [1, 2.50, {"b": null}], "k\u00e9": "v" }`),
		// Ignored by Seal:
		Seq: 99, PrevHash: "nope", Hash: "nope",
	}
	const wantBody = `{"v":1,"seq":1,"run_id":"run-1","at":"2026-11-24T21:00:00.5Z","actor":"alice","kind":"run-started",` +
		`"phase":"prepare","summary":"started \"x\"\n<b>\u2028é\u0001","data":{"a":[1,2.50,{"b":null}],"ké":"v","z":true},"prev_hash":""}`
	sealed, body, err := Seal(Head{}, e)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != wantBody {
		t.Fatalf("body:\n got %s\nwant %s", body, wantBody)
	}

	// The construction, spelled out independently of hashEntry.
	var in []byte
	in = append(in, "rotor/journal/entry/v1"...)
	in = append(in, 0)
	in = binary.BigEndian.AppendUint64(in, 0) // len(prev) for the first entry
	in = binary.BigEndian.AppendUint64(in, uint64(len(body)))
	in = append(in, body...)
	sum := sha256.Sum256(in)
	if want := hex.EncodeToString(sum[:]); sealed.Hash != want {
		t.Fatalf("hash = %s, want %s", sealed.Hash, want)
	}
	const pinned = "2cdcc2c739d039101b9de023aa07e538f73b38baba37c0bbf9653e9659bfbede"
	if sealed.Hash != pinned {
		t.Fatalf("hash = %s, want the pinned %s", sealed.Hash, pinned)
	}
	if sealed.Seq != 1 || sealed.PrevHash != "" || sealed.At.Location() != time.UTC {
		t.Fatalf("sealed entry = %+v", sealed)
	}

	// The second entry chains to the first: prev is in the hash input, with
	// its length.
	e2 := Entry{RunID: "run-1", At: e.At, Actor: Executor, Kind: KindNote, Summary: "n"}
	s2, body2, err := Seal(sealed.Head(), e2)
	if err != nil {
		t.Fatal(err)
	}
	in = append([]byte("rotor/journal/entry/v1\x00"), binary.BigEndian.AppendUint64(nil, 64)...)
	in = append(in, sealed.Hash...)
	in = binary.BigEndian.AppendUint64(in, uint64(len(body2)))
	in = append(in, body2...)
	sum = sha256.Sum256(in)
	if s2.Seq != 2 || s2.PrevHash != sealed.Hash || s2.Hash != hex.EncodeToString(sum[:]) {
		t.Fatalf("second entry = %+v", s2)
	}
}

// TestSealRoundTrip checks, on every entry of both fixtures, that Decode
// gives back exactly the sealed entry, and that sealing it again gives the
// same bytes.
func TestSealRoundTrip(t *testing.T) {
	for _, tk := range []Ticket{apiKeyTicket(t), webhookTicket(t)} {
		if !tk.Verified {
			t.Fatalf("%s: fixture chain does not verify", tk.RunID)
		}
		var head Head
		for _, e := range tk.Entries {
			sealed, body, err := Seal(head, e)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sealed, e) {
				t.Errorf("entry %d resealed differently:\n got %+v\nwant %+v", e.Seq, sealed, e)
			}
			got, err := Decode(body)
			if err != nil {
				t.Fatalf("entry %d: %v", e.Seq, err)
			}
			if !reflect.DeepEqual(got, sealed) {
				t.Errorf("entry %d decodes differently:\n got %+v\nwant %+v", e.Seq, got, sealed)
			}
			head = sealed.Head()
		}
	}
}

func TestSealNormalises(t *testing.T) {
	local := time.Date(2026, 11, 24, 22, 0, 0, 0, time.FixedZone("CET", 3600))
	e := Entry{RunID: "r\xffun", At: local, Actor: "al\xc3ice", Kind: KindNote, Summary: "s",
		Data: json.RawMessage(`{"b":1,"a":"x"}`)}
	s, _, err := Seal(Head{}, e)
	if err != nil {
		t.Fatal(err)
	}
	if !s.At.Equal(local) || s.At.Location() != time.UTC {
		t.Errorf("At = %v, want %v in UTC", s.At, local)
	}
	if s.RunID != "r\uFFFDun" || s.Actor != "al\uFFFDice" {
		t.Errorf("invalid UTF-8 not replaced: %q %q", s.RunID, s.Actor)
	}
	if string(s.Data) != `{"a":"x","b":1}` {
		t.Errorf("Data = %s, want sorted keys", s.Data)
	}
	for _, null := range []string{"", "null", "  null "} {
		e.Data = json.RawMessage(null)
		if s, body, err := Seal(Head{}, e); err != nil || s.Data != nil || bytes.Contains(body, []byte(`"data"`)) {
			t.Errorf("Data %q: got %s, %s, %v; want no data", null, s.Data, body, err)
		}
	}
}

func TestSealRefuses(t *testing.T) {
	good := Entry{RunID: "run-1", At: t0, Actor: "alice", Kind: KindNote, Summary: "s"}
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		head Head
		edit func(*Entry)
		want string
	}{
		{"no run id", Head{}, func(e *Entry) { e.RunID = "" }, "no run id"},
		{"no actor", Head{}, func(e *Entry) { e.Actor = "" }, "no actor"},
		{"unknown kind", Head{}, func(e *Entry) { e.Kind = "aproval" }, "unknown entry kind"},
		{"no kind", Head{}, func(e *Entry) { e.Kind = "" }, "unknown entry kind"},
		{"no time", Head{}, func(e *Entry) { e.At = time.Time{} }, "no time"},
		{"year 10000", Head{}, func(e *Entry) { e.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "outside the years"},
		{"no summary", Head{}, func(e *Entry) { e.Summary = "" }, "no summary"},
		{"bad verdict", Head{}, func(e *Entry) { e.Verdict = "ok" }, "verdict"},
		{"data array", Head{}, func(e *Entry) { e.Data = json.RawMessage(`[1]`) }, "must be a JSON object"},
		{"data string", Head{}, func(e *Entry) { e.Data = json.RawMessage(`"x"`) }, "must be a JSON object"},
		{"data invalid", Head{}, func(e *Entry) { e.Data = json.RawMessage(`{"a":`) }, "not valid JSON"},
		{"data trailing", Head{}, func(e *Entry) { e.Data = json.RawMessage(`{} {}`) }, "not valid JSON"},
		{"negative head", Head{Len: -1}, nil, "negative"},
		{"hash without entries", Head{Hash: hash}, nil, "empty journal"},
		{"entries without hash", Head{Len: 3}, nil, "not 64 lower-case hex"},
		{"upper-case head", Head{Len: 1, Hash: strings.ToUpper(hash)}, nil, "not 64 lower-case hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good
			if tt.edit != nil {
				tt.edit(&e)
			}
			_, body, err := Seal(tt.head, e)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Seal: err = %v, want one containing %q", err, tt.want)
			}
			if body != nil {
				t.Fatalf("Seal returned a body with an error")
			}
		})
	}
	if _, _, err := Seal(Head{}, good); err != nil {
		t.Fatalf("the good entry is refused: %v", err)
	}
}

// TestDecodeRefuses feeds Decode bodies that Seal cannot have written.
func TestDecodeRefuses(t *testing.T) {
	_, body, err := Seal(Head{}, Entry{RunID: "run-1", At: t0, Actor: "alice", Kind: KindNote, Summary: "s",
		Data: json.RawMessage(`{"a":1,"b":"x"}`)})
	if err != nil {
		t.Fatal(err)
	}
	good := string(body)
	if _, err := Decode(body); err != nil {
		t.Fatalf("good body refused: %v", err)
	}
	hash := strings.Repeat("ab", 32)
	tests := map[string]string{
		"empty":              ``,
		"not json":           `hello`,
		"array":              `[1]`,
		"space":              strings.Replace(good, `"seq":1`, `"seq": 1`, 1),
		"newline at end":     good + "\n",
		"trailing value":     good + `{}`,
		"reordered keys":     strings.Replace(good, `{"v":1,"seq":1,`, `{"seq":1,"v":1,`, 1),
		"unknown field":      strings.Replace(good, `"v":1,`, `"v":1,"x":1,`, 1),
		"upper-case key":     strings.Replace(good, `"actor"`, `"ACTOR"`, 1),
		"duplicate key":      strings.Replace(good, `"actor":"alice"`, `"actor":"mallory","actor":"alice"`, 1),
		"version 2":          strings.Replace(good, `"v":1`, `"v":2`, 1),
		"no version":         strings.Replace(good, `"v":1,`, ``, 1),
		"seq 0":              strings.Replace(good, `"seq":1`, `"seq":0`, 1),
		"seq text":           strings.Replace(good, `"seq":1`, `"seq":"1"`, 1),
		"empty phase kept":   strings.Replace(good, `"kind":"note",`, `"kind":"note","phase":"",`, 1),
		"data null":          strings.Replace(good, `"data":{"a":1,"b":"x"}`, `"data":null`, 1),
		"data unsorted":      strings.Replace(good, `{"a":1,"b":"x"}`, `{"b":"x","a":1}`, 1),
		"data array":         strings.Replace(good, `{"a":1,"b":"x"}`, `[1]`, 1),
		"escaped letter":     strings.Replace(good, `"alice"`, `"\u0061lice"`, 1),
		"time with offset":   strings.Replace(good, `2026-11-24T21:00:00Z`, `2026-11-24T22:00:00+01:00`, 1),
		"time not rfc3339":   strings.Replace(good, `2026-11-24T21:00:00Z`, `yesterday`, 1),
		"first with prev":    strings.Replace(good, `"prev_hash":""`, `"prev_hash":"`+hash+`"`, 1),
		"later without prev": strings.Replace(good, `"seq":1`, `"seq":2`, 1),
		"bad verdict":        strings.Replace(good, `"summary":"s",`, `"summary":"s","verdict":"ok",`, 1),
		"no summary":         strings.Replace(good, `"summary":"s"`, `"summary":""`, 1),
		"invalid utf-8":      strings.Replace(good, `alice`, "al\xffice", 1),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if b == good {
				t.Fatal("the edit did not apply")
			}
			if _, err := Decode([]byte(b)); err == nil {
				t.Fatalf("Decode accepted %s", b)
			}
		})
	}
}

// TestVerifyTampering breaks a real journal in every way the brief names,
// and checks that Verify names the first bad entry and the problem.
func TestVerifyTampering(t *testing.T) {
	tk := apiKeyTicket(t)
	run := tk.RunID
	_, stored, head := chain(t, tk.Entries)
	other := webhookTicket(t)
	_, otherStored, otherHead := chain(t, other.Entries)
	n := int64(len(stored))

	clone := func() []Stored {
		out := make([]Stored, len(stored))
		for i, s := range stored {
			s.Body = bytes.Clone(s.Body)
			out[i] = s
		}
		return out
	}
	// resealed is entry i with its summary changed and everything that its
	// own row holds recomputed, as someone covering their tracks would.
	resealed := func(s []Stored, i int) Stored {
		e, err := Decode(s[i].Body)
		if err != nil {
			t.Fatal(err)
		}
		e.Summary = "version 42 is current; nothing else happened"
		x, body, err := Seal(Head{Hash: e.PrevHash, Len: e.Seq - 1}, e)
		if err != nil {
			t.Fatal(err)
		}
		return Stored{Seq: x.Seq, PrevHash: x.PrevHash, Hash: x.Hash, Body: body}
	}
	extra := func() Stored {
		x, body, err := Seal(head, Entry{RunID: run, At: t0.Add(72 * time.Hour), Actor: "mallory", Kind: KindNote, Summary: "added later"})
		if err != nil {
			t.Fatal(err)
		}
		return Stored{Seq: x.Seq, PrevHash: x.PrevHash, Hash: x.Hash, Body: body}
	}

	tests := []struct {
		name    string
		tamper  func() ([]Stored, Head)
		runID   string // default run
		seq     int64
		problem string
	}{
		{"intact", func() ([]Stored, Head) { return clone(), head }, "", 0, ""},
		{"empty journal", func() ([]Stored, Head) { return nil, Head{} }, "", 0, ""},
		{"edited summary", func() ([]Stored, Head) {
			s := clone()
			s[7].Body = bytes.Replace(s[7].Body, []byte("version 41 is previous"), []byte("version 40 is previous"), 1)
			return s, head
		}, "", 8, "hash mismatch"},
		{"edited check number", func() ([]Stored, Head) {
			s := clone()
			s[12].Body = bytes.Replace(s[12].Body, []byte(`"count":1,`), []byte(`"count":0,`), 1)
			return s, head
		}, "", 13, "hash mismatch"},
		{"edited hash column", func() ([]Stored, Head) {
			s := clone()
			s[4].Hash = strings.Repeat("0", 64)
			return s, head
		}, "", 5, "hash mismatch"},
		{"edited and rehashed", func() ([]Stored, Head) {
			s := clone()
			s[7] = resealed(s, 7)
			return s, head
		}, "", 9, "does not follow entry 8"},
		{"edited prev column", func() ([]Stored, Head) {
			s := clone()
			s[3].PrevHash = s[1].Hash
			return s, head
		}, "", 4, "stored previous hash differs"},
		{"body not JSON", func() ([]Stored, Head) {
			s := clone()
			s[2].Body = []byte("\x00\x01garbage")
			return s, head
		}, "", 3, "body does not decode"},
		{"body not canonical", func() ([]Stored, Head) {
			s := clone()
			s[2].Body = append(s[2].Body, ' ')
			return s, head
		}, "", 3, "not in canonical form"},
		{"reordered rows", func() ([]Stored, Head) {
			s := clone()
			s[2], s[3] = s[3], s[2]
			return s, head
		}, "", 3, "out of order"},
		{"swapped bodies", func() ([]Stored, Head) {
			s := clone()
			s[2].Body, s[3].Body = s[3].Body, s[2].Body
			return s, head
		}, "", 3, "body says it is entry 4"},
		{"duplicated row", func() ([]Stored, Head) {
			s := clone()
			return append(s[:4:4], append([]Stored{s[3]}, s[4:]...)...), head
		}, "", 5, "out of order"},
		{"deleted in the middle", func() ([]Stored, Head) {
			s := clone()
			return append(s[:9:9], s[10:]...), head
		}, "", 10, "missing: the next stored entry is 11"},
		{"deleted and renumbered", func() ([]Stored, Head) {
			s := clone()
			s = append(s[:9:9], s[10:]...)
			for i := 9; i < len(s); i++ {
				s[i].Seq--
			}
			return s, head
		}, "", 10, "body says it is entry 11"},
		{"first entry deleted", func() ([]Stored, Head) { return clone()[1:], head }, "", 1, "missing: the next stored entry is 2"},
		{"truncated tail", func() ([]Stored, Head) { return clone()[:n-2], head }, "", n - 1, "truncated"},
		{"everything deleted", func() ([]Stored, Head) { return nil, head }, "", 1, "truncated"},
		{"appended beyond the head", func() ([]Stored, Head) { return append(clone(), extra()), head }, "", n + 1, "beyond the run's head"},
		{"head hash replaced", func() ([]Stored, Head) {
			return clone(), Head{Hash: strings.Repeat("1", 64), Len: head.Len}
		}, "", n, "not the run's head hash"},
		{"entry from another run", func() ([]Stored, Head) {
			s := clone()
			s[2] = otherStored[2]
			return s, head
		}, "", 3, "belongs to run"},
		{"whole journal of another run", func() ([]Stored, Head) { return otherStored, otherHead }, "", 1, "belongs to run"},
		{"verified as another run", func() ([]Stored, Head) { return clone(), head }, other.RunID, 1, "belongs to run"},
		{"malformed head", func() ([]Stored, Head) { return clone(), Head{Hash: "x", Len: n} }, "", 0, "head is malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, h := tt.tamper()
			runID := run
			if tt.runID != "" {
				runID = tt.runID
			}
			err := Verify(runID, s, h)
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify = %v, want a *VerifyError", err)
			}
			if ve.Seq != tt.seq || !strings.Contains(ve.Problem, tt.problem) {
				t.Fatalf("Verify = entry %d %q, want entry %d %q", ve.Seq, ve.Problem, tt.seq, tt.problem)
			}
			if !strings.Contains(err.Error(), ve.Problem) {
				t.Fatalf("Error() = %q does not say the problem", err)
			}
		})
	}
}

// TestVerifyTouchesNoStoredBytes: Verify must not modify what it reads.
func TestVerifyTouchesNoStoredBytes(t *testing.T) {
	tk := apiKeyTicket(t)
	_, stored, head := chain(t, tk.Entries)
	before := make([][]byte, len(stored))
	for i, s := range stored {
		before[i] = bytes.Clone(s.Body)
	}
	if err := Verify(tk.RunID, stored, head); err != nil {
		t.Fatal(err)
	}
	for i, s := range stored {
		if !bytes.Equal(s.Body, before[i]) {
			t.Fatalf("entry %d changed", i+1)
		}
	}
}

func TestEvidence(t *testing.T) {
	tk := apiKeyTicket(t)
	var n int
	for _, e := range tk.Entries {
		ev, ok := e.Evidence()
		if ok != (e.Kind == KindCheck) {
			t.Errorf("entry %d (%s): Evidence ok = %v", e.Seq, e.Kind, ok)
		}
		if !ok {
			continue
		}
		n++
		if ev.Check == "" || ev.Verdict != e.Verdict || ev.At.IsZero() {
			t.Errorf("entry %d: evidence %+v", e.Seq, ev)
		}
		if ev.Check == "acme-auth-errors" && (len(ev.Bins) != 6 || ev.Bins[1].Count != 1 || ev.Bins[1].Group["status"] != "401" || ev.Window == nil) {
			t.Errorf("bins did not survive the journal: %+v", ev.Bins)
		}
	}
	if n != 4 {
		t.Fatalf("%d check entries, want 4", n)
	}
	if _, ok := (Entry{Kind: KindCheck, Data: json.RawMessage(`{"x":1}`)}).Evidence(); ok {
		t.Error("data without a check name taken as evidence")
	}
	if _, ok := (Entry{Kind: KindCheck, Data: json.RawMessage(`{"check":"c","verdict":7}`)}).Evidence(); ok {
		t.Error("malformed evidence accepted")
	}
	var _ provider.CheckResult = Evidence{}.CheckResult
}
