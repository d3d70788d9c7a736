package sops_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/sops"
	"github.com/rotorhq/rotor/internal/testenv"
)

// unchanged fails unless the file is byte for byte what it was, and no copy of rotor's is
// left beside it.
func unchanged(t *testing.T, f fixture, before []byte) {
	t.Helper()
	after, err := os.ReadFile(f.file)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Error("the file changed")
	}
	noCopies(t, f)
}

func noCopies(t *testing.T, f fixture) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(f.file), ".*.tmp"))
	if len(left) > 0 {
		t.Errorf("copies left beside the file: %v", left)
	}
}

// wrapper writes an executable script that stands in for sops: body runs first (with $REAL
// the real sops and $FILE the store's file), then the real sops with the same arguments.
func wrapper(t *testing.T, f fixture, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sops")
	script := "#!/bin/sh\nREAL=" + testenv.SOPS(t) + "\nFILE=" + f.file + "\nMARK=" + p + ".done\n" + body + "\nexec \"$REAL\" \"$@\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// with returns the fixture's store with another config (the same file and identities).
func (f fixture) with(t *testing.T, mutate func(*sops.Config)) *sops.Store {
	t.Helper()
	cfg := f.cfg
	mutate(&cfg)
	s, err := sops.New(cfg, testEnv(t, f.base))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEditedBetweenReadAndWrite: someone changes the file with sops while rotor's Put or
// Promote is under way — after rotor read it, before its copy replaces it. rotor detects it
// (the file's digest is not the one it read), writes nothing, and says so, retryable; their
// change is kept, and the retry, from their version, succeeds and keeps it.
func TestEditedBetweenReadAndWrite(t *testing.T) {
	for _, op := range []string{"put", "promote"} {
		t.Run(op, func(t *testing.T) {
			f := newFixture(t, "yaml", "ops.enc.yaml", plainYAML)
			var pending provider.Version
			if op == "promote" {
				pending = put(t, f, "run-1", secret.FromString("pending-value"))
			}
			// On rotor's first `sops set` (of its copy), a person sets db.host in the file.
			racer := f.with(t, func(c *sops.Config) {
				c.Binary = wrapper(t, f, `if [ "$1" = set ] && [ ! -e "$MARK" ]; then
	touch "$MARK"
	echo '"edited-meanwhile"' | "$REAL" set --value-stdin "$FILE" '["db"]["host"]' || exit 99
fi`)
			})
			var err error
			if op == "put" {
				_, err = racer.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("new-value"), Key: "run-1", Readers: f.readers(), As: f.executor})
			} else {
				_, err = racer.Promote(ctx, provider.PromoteRequest{Credential: "cred", Version: pending.ID, As: f.executor, RunID: "run-1"})
			}
			wantKind(t, err, provider.Retryable, f.file, "changed by someone else", "wrote nothing")
			noCopies(t, f)
			if got, err := sopsDecrypt(t, f, "search-api", `["db"]["host"]`); err != nil || got != "edited-meanwhile" {
				t.Fatalf("their change: %q, %v", got, err)
			}
			vs, _ := f.store.Versions(ctx, provider.VersionsRequest{Credential: "cred"})
			if op == "put" && len(vs.Versions) != 0 || op == "promote" && (len(vs.Versions) != 1 || vs.Versions[0].Stage != provider.StagePending) {
				t.Fatalf("the dropped change shows: %+v", vs.Versions)
			}
			// The retry (the engine's, with the same key) starts from their version.
			if op == "put" {
				put(t, f, "run-1", secret.FromString("new-value"))
			} else {
				promote(t, f, pending.ID)
			}
			if got, err := sopsDecrypt(t, f, "search-api", `["db"]["host"]`); err != nil || got != "edited-meanwhile" {
				t.Fatalf("their change after the retry: %q, %v", got, err)
			}
		})
	}
}

// TestMissingRecipientKey: a reader that is not a recipient of the file, an executor that is
// not one, an executor whose key file is missing, and one whose key does not decrypt the data
// key: each is a clear error naming the file and the identity, of the right kind, before
// anything is written.
func TestMissingRecipientKey(t *testing.T) {
	f := newFixture(t, "yaml", "ops.enc.yaml", plainYAML)
	before, _ := os.ReadFile(f.file)
	putAs := func(as provider.Identity, readers ...provider.Identity) error {
		_, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("v"), Key: "run-1", Readers: readers, As: as})
		return err
	}
	rec := f.executor.Config.(*identity.Age).Recipient
	wrongKey := provider.Identity{ID: "rotor-prod", Type: "age", Config: &identity.Age{Recipient: rec, IdentityFile: "keys/intruder.key"}}
	noKey := provider.Identity{ID: "rotor-prod", Type: "age", Config: &identity.Age{Recipient: rec, IdentityFile: "keys/missing.key"}}

	wantKind(t, putAs(f.executor, f.executor, f.reader, f.intrud), provider.Denied, `identity "intruder"`, "is not a recipient of "+f.file, "sops updatekeys")
	wantKind(t, putAs(f.intrud, f.intrud), provider.Denied, `identity "intruder"`, f.file)
	wantKind(t, putAs(noKey, f.executor), provider.Terminal, `identity "rotor-prod"`, filepath.Join(f.base, "keys", "missing.key"))
	wantKind(t, putAs(wrongKey, f.executor), provider.Denied, "could not decrypt the file's data key")
	unchanged(t, f, before)

	err := f.store.CheckWrite(ctx, provider.CheckWriteRequest{Credential: "cred", As: f.executor, Readers: []provider.Identity{f.executor, f.reader, f.intrud}})
	wantKind(t, err, provider.Denied, `identity "intruder"`, f.file)
	if strings.Contains(err.Error(), `"search-api"`) {
		t.Errorf("CheckWrite names a reader that can read: %v", err)
	}
	err = f.store.CheckWrite(ctx, provider.CheckWriteRequest{Credential: "cred", As: wrongKey, Readers: []provider.Identity{wrongKey, f.reader}})
	wantKind(t, err, provider.Denied, `identity "rotor-prod"`, "could not decrypt")
	if err := f.store.CheckWrite(ctx, provider.CheckWriteRequest{Credential: "cred", As: f.executor, Readers: f.readers()}); err != nil {
		t.Fatalf("CheckWrite of the executor and a recipient: %v", err)
	}
	unchanged(t, f, before)
}

// TestMissingBinary: without sops, or with one too old, readiness and every change say so
// with how to install it, and nothing is written.
func TestMissingBinary(t *testing.T) {
	f := newFixture(t, "yaml", "ops.enc.yaml", plainYAML)
	before, _ := os.ReadFile(f.file)
	old := filepath.Join(t.TempDir(), "sops")
	if err := os.WriteFile(old, []byte("#!/bin/sh\necho 'sops 3.8.1 (latest)'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for bin, says := range map[string]string{filepath.Join(t.TempDir(), "sops"): "no sops executable", old: "is sops 3.8.1; rotor needs 3.9"} {
		s := f.with(t, func(c *sops.Config) { c.Binary = bin })
		err := s.CheckWrite(ctx, provider.CheckWriteRequest{Credential: "cred", As: f.executor, Readers: f.readers()})
		wantKind(t, err, provider.Terminal, says, "install sops", "go install github.com/getsops/sops/v3/cmd/sops@")
		_, err = s.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("v"), Key: "run-1", Readers: f.readers(), As: f.executor})
		wantKind(t, err, provider.Terminal, says)
	}
	unchanged(t, f, before)
}

// TestFileEditedWithoutSOPS: a file whose MAC no longer matches (a value in clear changed by
// hand) is refused, for a person to look at, and left as it is.
func TestFileEditedWithoutSOPS(t *testing.T) {
	f := newFixture(t, "yaml", "ops.enc.yaml", plainYAML)
	raw, _ := os.ReadFile(f.file)
	edited := strings.Replace(string(raw), "port_unencrypted: 2222", "port_unencrypted: 2223", 1)
	if edited == string(raw) {
		t.Fatal("the fixture has no port_unencrypted to edit")
	}
	writeFile(t, f.file, edited)
	_, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("v"), Key: "run-1", Readers: f.readers(), As: f.executor})
	wantKind(t, err, provider.NeedsHuman, "MAC does not match")
	unchanged(t, f, []byte(edited))
	err = f.store.CheckWrite(ctx, provider.CheckWriteRequest{Credential: "cred", As: f.executor, Readers: f.readers()})
	wantKind(t, err, provider.NeedsHuman, "MAC")
}

// TestErrorsCarryNoValue: whatever sops prints when it fails, an error never carries the
// value rotor gave it — here a stand-in that echoes its input on standard error.
func TestErrorsCarryNoValue(t *testing.T) {
	f := newFixture(t, "yaml", "ops.enc.yaml", plainYAML)
	const value = "CANARY-3b7f0e-sops-value"
	leaky := f.with(t, func(c *sops.Config) {
		c.Binary = wrapper(t, f, `if [ "$1" = set ]; then echo "Error: cannot set $(cat)" >&2; exit 7; fi`)
	})
	_, err := leaky.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString(value), Key: "run-1", Readers: f.readers(), As: f.executor})
	wantKind(t, err, provider.Terminal, "exited 7", "[redacted]")
	if strings.Contains(err.Error(), "CANARY") {
		t.Fatalf("the error carries the value: %v", err)
	}
	noCopies(t, f)
}

// TestValuesThatAreNotText: a SOPS document holds text; bytes that are not UTF-8 are refused,
// not mangled.
func TestValuesThatAreNotText(t *testing.T) {
	f := newFixture(t, "yaml", "ops.enc.yaml", plainYAML)
	before, _ := os.ReadFile(f.file)
	_, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.New([]byte{0xff, 0xfe, 0x00}), Key: "run-1", Readers: f.readers(), As: f.executor})
	wantKind(t, err, provider.Terminal, "not UTF-8")
	unchanged(t, f, before)
}
