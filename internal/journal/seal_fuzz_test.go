package journal

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzSeal: whatever an entry holds — any bytes in its strings, any JSON in its data, any
// time RFC 3339 can write — the entry Seal returns is exactly what Decode reads from the body
// it returns. Seal relies on this instead of decoding every body it writes.
func FuzzSeal(f *testing.F) {
	f.Add("run-1", "alice", "prepare", "check", "api", "started \"x\"\n<b>\u2028é\x01", "pass", `{ "z": true, "a": [1, 2.50, {"b": null}] }`, int64(1764000000), int64(500_000_000), true)
	f.Add("r", "\xff\xfe", "", "", "", "s", "", ``, int64(0), int64(0), false)
	f.Add("r", "a", "p", "s", "c", "\x00", "fail", `{"k\u00e9":"\ud800"}`, int64(-62135596800), int64(1), true)
	f.Fuzz(func(t *testing.T, run, actor, phase, step, consumer, summary, verdict, data string, sec, nsec int64, chained bool) {
		e := Entry{RunID: run, Actor: actor, Kind: KindNote, Phase: phase, Step: step, Consumer: consumer, Summary: summary,
			At: time.Unix(sec, nsec%1e9).In(time.FixedZone("X", 5400))}
		if verdict == "pass" || verdict == "fail" || verdict == "unknown" {
			e.Verdict = "pass"
		}
		if json.Valid([]byte(data)) {
			e.Data = json.RawMessage(data)
		}
		head := Head{}
		if chained {
			head = Head{Hash: "2cdcc2c739d039101b9de023aa07e538f73b38baba37c0bbf9653e9659bfbede", Len: 41}
		}
		sealed, body, err := Seal(head, e)
		if err != nil {
			return // refused input: nothing written
		}
		got, err := Decode(body)
		if err != nil {
			t.Fatalf("Seal wrote a body Decode refuses: %v", err)
		}
		if !reflect.DeepEqual(got, sealed) {
			t.Fatalf("Seal returned\n  %+v\nDecode reads\n  %+v", sealed, got)
		}
	})
}
