package secret

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

func seqKey() []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func mustFingerprinter(t *testing.T, key []byte) *Fingerprinter {
	t.Helper()
	f, err := NewFingerprinter(key)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFingerprintVector pins the scheme. The expected strings were computed
// independently (Python's hmac and hashlib); a change here changes every
// fingerprint already recorded in journals.
func TestFingerprintVector(t *testing.T) {
	f := mustFingerprinter(t, seqKey())
	if got, want := f.Fingerprint(FromString("correct horse battery staple")), "hmac-sha256:1b9e0095db3ea90c20aab4c84f6abe9c"; got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
	if got, want := f.Fingerprint(Value{}), "hmac-sha256:d38b42096d80f45f826b44a9d5607de7"; got != want {
		t.Errorf("Fingerprint(empty) = %s, want %s", got, want)
	}
	if got, want := f.KeyID(), "4a9398bb"; got != want {
		t.Errorf("KeyID = %s, want %s", got, want)
	}
}

func TestFingerprintProperties(t *testing.T) {
	key := seqKey()
	f := mustFingerprinter(t, key)
	key[0] ^= 0xff // NewFingerprinter must have copied it
	g := mustFingerprinter(t, key)
	a, a2, b := FromString("value-a"), New([]byte("value-a")), FromString("value-b")
	shape := regexp.MustCompile(`^hmac-sha256:[0-9a-f]{32}$`)
	for _, fp := range []string{f.Fingerprint(a), f.Fingerprint(b), g.Fingerprint(a)} {
		if !shape.MatchString(fp) {
			t.Errorf("fingerprint %q does not match %s", fp, shape)
		}
	}
	if f.Fingerprint(a) != f.Fingerprint(a2) || f.Fingerprint(a) != f.Fingerprint(a) {
		t.Error("equal values have different fingerprints")
	}
	if f.Fingerprint(a) == f.Fingerprint(b) {
		t.Error("different values have the same fingerprint")
	}
	if f.Fingerprint(a) == g.Fingerprint(a) {
		t.Error("different keys give the same fingerprint")
	}
	if f.KeyID() == g.KeyID() || len(f.KeyID()) != 8 {
		t.Errorf("KeyIDs %q and %q: want distinct 8-hex ids", f.KeyID(), g.KeyID())
	}
	if f.Fingerprint(FromString(canary)) == "hmac-sha256:"+fmt.Sprintf("%x", sha256.Sum256([]byte(canary)))[:32] {
		t.Error("fingerprint is an unkeyed hash")
	}
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewFingerprinter(make([]byte, n)); err == nil {
			t.Errorf("NewFingerprinter accepted a %d-byte key", n)
		}
	}
}

func TestFingerprinterDoesNotPrintKey(t *testing.T) {
	sum := sha256.Sum256([]byte(canary))
	key := sum[:]
	f := mustFingerprinter(t, key)
	for _, verb := range verbs {
		for _, x := range []any{f, *f, struct{ f *Fingerprinter }{f}, []*Fingerprinter{f}} {
			out := fmt.Sprintf(verb, x)
			if found := leaks(string(key), out); len(found) > 0 {
				t.Errorf("Sprintf(%q, %T) shows the key as %v: %s", verb, x, found, out)
			}
		}
	}
	if got := fmt.Sprint(f); got != "fingerprinter(key id "+f.KeyID()+")" {
		t.Errorf("Sprint(f) = %q", got)
	}
}

func keyPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "state", "keys", "fingerprint.key")
}

func TestLoadOrCreateKeyCreatesThenLoads(t *testing.T) {
	path := keyPath(t)
	src := bytes.Repeat([]byte{0x5a}, 64)
	f, created, err := LoadOrCreateKey(path, bytes.NewReader(src))
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v, want created", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %04o, want 0600", perm)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("key directory mode %04o, want 0700", perm)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "rotor-fingerprint-key-v1:" + base64.StdEncoding.EncodeToString(src[:KeySize]) + "\n"; string(content) != want {
		t.Errorf("key file = %q, want %q", content, want)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file (no temporary left)", len(entries))
	}

	v := FromString("orders-db v7")
	// The reload must not touch the random source.
	g, created, err := LoadOrCreateKey(path, iotest.ErrReader(errors.New("must not be read")))
	if err != nil || created {
		t.Fatalf("reload: created=%v err=%v", created, err)
	}
	if g.KeyID() != f.KeyID() || g.Fingerprint(v) != f.Fingerprint(v) {
		t.Errorf("reloaded key differs: %s/%s vs %s/%s", g.KeyID(), g.Fingerprint(v), f.KeyID(), f.Fingerprint(v))
	}
	if want := mustFingerprinter(t, src[:KeySize]); g.Fingerprint(v) != want.Fingerprint(v) {
		t.Errorf("the file does not hold the key that was read from the source")
	}
}

func TestLoadOrCreateKeyAcceptsReadOnlyOwner(t *testing.T) {
	path := keyPath(t)
	if _, _, err := LoadOrCreateKey(path, stream(7)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, created, err := LoadOrCreateKey(path, stream(8)); err != nil || created {
		t.Errorf("0400 key file: created=%v err=%v, want loaded", created, err)
	}
}

func TestLoadOrCreateKeyRefusesOpenModes(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			path := keyPath(t)
			if _, _, err := LoadOrCreateKey(path, stream(7)); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadOrCreateKey(path, stream(8))
			if err == nil {
				t.Fatalf("mode %04o accepted", mode)
			}
			for _, want := range []string{path, fmt.Sprintf("%04o", mode), "chmod 600"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Errorf("a refused key file was rewritten")
			}
		})
	}
}

func TestLoadOrCreateKeyRefusesCorruptFiles(t *testing.T) {
	good := "rotor-fingerprint-key-v1:" + base64.StdEncoding.EncodeToString(seqKey())
	for name, content := range map[string]string{
		"empty":           "",
		"newline only":    "\n",
		"garbage":         "hello world\n",
		"wrong header":    "rotor-fingerprint-key-v2:" + base64.StdEncoding.EncodeToString(seqKey()) + "\n",
		"short key":       "rotor-fingerprint-key-v1:" + base64.StdEncoding.EncodeToString(seqKey()[:16]) + "\n",
		"long key":        "rotor-fingerprint-key-v1:" + base64.StdEncoding.EncodeToString(append(seqKey(), 1)) + "\n",
		"bad base64":      strings.Replace(good, "A", "*", 1) + "\n",
		"url base64":      "rotor-fingerprint-key-v1:" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, KeySize)) + "\n",
		"non-canonical":   good[:len(good)-2] + "f=\n", // last char carries bits past the key
		"two lines":       good + "\n" + good + "\n",
		"CRLF":            good + "\r\n",
		"leading space":   " " + good + "\n",
		"trailing space":  good + " \n",
		"huge":            good + "\n" + strings.Repeat("x", 10000),
		"missing newline": good[:len(good)-1],
	} {
		t.Run(name, func(t *testing.T) {
			path := keyPath(t)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadOrCreateKey(path, stream(1))
			if err == nil {
				t.Fatalf("corrupt key file accepted")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), "backup") {
				t.Errorf("error %q should name the path, say it is corrupt and what to do", err)
			}
			if len(content) > 30 && strings.Contains(err.Error(), content[25:35]) {
				t.Errorf("error quotes the file content: %q", err)
			}
			if after, _ := os.ReadFile(path); string(after) != content {
				t.Errorf("a corrupt key file was rewritten")
			}
		})
	}
}

func TestLoadOrCreateKeyRefusesNonFiles(t *testing.T) {
	path := keyPath(t)
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadOrCreateKey(path, stream(1))
	if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), path) {
		t.Errorf("directory at the key path: err = %v", err)
	}
}

func TestLoadOrCreateKeyRandomFailureLeavesNothing(t *testing.T) {
	path := keyPath(t)
	boom := errors.New("no entropy")
	for name, r := range map[string]io.Reader{
		"error": iotest.ErrReader(boom),
		"short": bytes.NewReader(make([]byte, 10)),
	} {
		_, created, err := LoadOrCreateKey(path, r)
		if err == nil || created {
			t.Fatalf("%s: created=%v err=%v, want an error", name, created, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a key file exists after a failed creation: %v", name, err)
		}
		if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
			t.Errorf("%s: %d entries left in the key directory", name, len(entries))
		}
	}
}

// TestLoadOrCreateKeyIgnoresCrashLeftovers: a crash between writing the
// temporary file and linking it leaves a temporary but no key; the next run
// creates the key normally.
func TestLoadOrCreateKeyIgnoresCrashLeftovers(t *testing.T) {
	path := keyPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(filepath.Dir(path), ".rotor-fingerprint-key-123.tmp")
	if err := os.WriteFile(stale, []byte("rotor-fingerprint-key-v1:AAAA"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, created, err := LoadOrCreateKey(path, stream(3)); err != nil || !created {
		t.Fatalf("created=%v err=%v", created, err)
	}
}

func TestLoadOrCreateKeyRace(t *testing.T) {
	for round := range 30 {
		path := keyPath(t)
		const n = 4
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			ids     [n]string
			created [n]bool
			errs    [n]error
		)
		for i := range n {
			r := stream(byte(round*n + i)) // each racer would make a different key
			wg.Go(func() {
				<-start
				var f *Fingerprinter
				f, created[i], errs[i] = LoadOrCreateKey(path, r)
				if f != nil {
					ids[i] = f.KeyID()
				}
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d racer %d: %v", round, i, errs[i])
			}
			if created[i] {
				winners++
			}
			if ids[i] != ids[0] {
				t.Fatalf("round %d: racers ended with different keys %v", round, ids)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d racers report creating the key, want 1", round, winners)
		}
		onDisk, _, err := LoadOrCreateKey(path, iotest.ErrReader(errors.New("must not be read")))
		if err != nil || onDisk.KeyID() != ids[0] {
			t.Fatalf("round %d: key on disk %v (%v), racers have %s", round, onDisk, err, ids[0])
		}
		if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
			t.Fatalf("round %d: %d entries in the key directory, want 1", round, len(entries))
		}
	}
}

// FuzzParseKeyFile: the parser never panics, and accepts only the canonical
// form, which it reproduces exactly.
func FuzzParseKeyFile(f *testing.F) {
	f.Add(formatKeyFile(seqKey()))
	f.Add([]byte("rotor-fingerprint-key-v1:"))
	f.Add([]byte("rotor-fingerprint-key-v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := parseKeyFile(data)
		if err != nil {
			if key != nil {
				t.Fatalf("error with a key")
			}
			if len(data) > 8 && bytes.Contains([]byte(err.Error()), data) && !strings.Contains(keyFileHeader, string(data)) {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		if len(key) != KeySize {
			t.Fatalf("accepted a %d-byte key", len(key))
		}
		canonical := formatKeyFile(key)
		if !bytes.Equal(data, canonical) && !bytes.Equal(append(bytes.Clone(data), '\n'), canonical) {
			t.Fatalf("accepted non-canonical %q (canonical %q)", data, canonical)
		}
	})
}
