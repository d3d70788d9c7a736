package sops_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
	"github.com/rotorhq/rotor/internal/store/sops"
	"github.com/rotorhq/rotor/internal/testenv"
)

// ciphertexts maps every encrypted value of a yaml file (dotted path → ENC[…]) and its
// encrypted comments ("#" → the lines), leaving out the sops block.
func ciphertexts(t *testing.T, file string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	delete(tree, "sops")
	out := map[string]string{}
	var walk func(prefix string, n any)
	walk = func(prefix string, n any) {
		switch v := n.(type) {
		case map[string]any:
			for k, c := range v {
				walk(strings.TrimPrefix(prefix+"."+k, "."), c)
			}
		case string:
			if strings.HasPrefix(v, "ENC[") {
				out[prefix] = v
			}
		}
	}
	walk("", tree)
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "#ENC[") {
			out["#"] += l
		}
	}
	return out
}

// sopsDecrypt is the real `sops decrypt` as one of the fixture's identities.
func sopsDecrypt(t *testing.T, f fixture, as, extract string) (string, error) {
	t.Helper()
	return testenv.SOPSDecrypt(t, f.file, f.keyFile[as], extract)
}

// sopsSet is a person changing the file with the real `sops set`, as the executor's key.
func sopsSet(t *testing.T, f fixture, path, jsonValue string) {
	t.Helper()
	cmd := exec.Command(testenv.SOPS(t), "set", f.file, path, jsonValue)
	cmd.Env = testenv.SOPSEnv(t, f.keyFile["rotor-prod"])
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sops set %s: %v\n%s", path, err, out)
	}
}

// TestSOPSDecryptsWhatRotorWrote: after a Put and a Promote, the real sops decrypts the file
// as the consumer — so the MAC is valid — and finds the new value at the key; every value rotor
// did not change keeps its ciphertext byte for byte (no noisy git diff), the comment included;
// rotor's copies are encrypted and its version list is in clear, without a value.
func TestSOPSDecryptsWhatRotorWrote(t *testing.T) {
	f := newFixture(t, "yaml", "ops.enc.yaml", plainYAML)
	before := ciphertexts(t, f.file)
	v1 := put(t, f, "run-1", secret.FromString("first-bastion-key"))
	promote(t, f, v1.ID)
	mid := ciphertexts(t, f.file)
	v2 := put(t, f, "run-2", secret.FromString("second-bastion-key"))
	promote(t, f, v2.ID)
	after := ciphertexts(t, f.file)

	for k, ct := range before {
		if after[k] != ct {
			t.Errorf("%s: ciphertext changed, though rotor did not change its value", k)
		}
	}
	if mid[v1ID(v1.ID)] != after[v1ID(v1.ID)] {
		t.Errorf("rotor's copy of %s changed when %s was promoted", v1.ID, v2.ID)
	}
	got, err := sopsDecrypt(t, f, "search-api", `["bastion"]["private_key"]`)
	if err != nil || got != "second-bastion-key" {
		t.Fatalf("sops decrypt --extract as the consumer: %q, %v", got, err)
	}
	if _, err := sopsDecrypt(t, f, "search-api", ""); err != nil {
		t.Fatalf("sops decrypt of the whole file (the MAC is checked): %v", err)
	}
	if got, err := sopsDecrypt(t, f, "search-api", `["db"]["password"]`); err != nil || got != "hunter2-db" {
		t.Errorf("sops decrypt of an untouched key: %q, %v", got, err)
	}
	// rotor's entries: copies encrypted, the list in clear (ids, never a value).
	for _, id := range []string{v1.ID, v2.ID} {
		if _, ok := after[v1ID(id)]; !ok {
			t.Errorf("no encrypted copy of %s under _rotor (have %v)", id, keys(after))
		}
	}
	raw, _ := os.ReadFile(f.file)
	for _, plain := range []string{"first-bastion-key", "second-bastion-key", "hunter2-db"} {
		if strings.Contains(string(raw), plain) {
			t.Errorf("the file holds %q in clear", plain)
		}
	}
	if !strings.Contains(string(raw), "_rotor_unencrypted:\n    bastion.private_key:\n") || !strings.Contains(string(raw), "id: "+v2.ID) {
		t.Errorf("the version list is not in clear under _rotor_unencrypted:\n%s", raw)
	}
	if _, err := sopsDecrypt(t, f, "intruder", ""); err == nil {
		t.Error("sops decrypts the file as an identity that is not a recipient")
	}
}

func v1ID(id string) string { return "_rotor.bastion.private_key." + id }

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRotorReadsWhatSOPSWrote: a secret already at the key, written by sops before rotor
// managed it, is listed as the current version (v0000-…), reads as each recipient, and is
// kept — adopted — when rotor stores its first version, so it is the previous version after
// the promote. A person's later `sops set` of another key does not disturb rotor.
func TestRotorReadsWhatSOPSWrote(t *testing.T) {
	f := newFixture(t, "yaml", "ops.enc.yaml", plainYAML+"bastion_extra: 1\n")
	sopsSet(t, f, `["bastion"]["private_key"]`, `"key-from-before-rotor"`)
	vs, err := f.store.Versions(ctx, provider.VersionsRequest{Credential: "cred"})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Versions) != 1 || vs.Versions[0].Stage != provider.StageCurrent || !strings.HasPrefix(vs.Versions[0].ID, "v0000-") {
		t.Fatalf("Versions of a key sops wrote = %+v, want one current v0000-… version", vs.Versions)
	}
	old := vs.Versions[0]
	r, err := f.store.Read(ctx, provider.ReadRequest{Credential: "cred", As: f.reader})
	if err != nil || !r.Value.Equal(secret.FromString("key-from-before-rotor")) || r.Version.ID != old.ID {
		t.Fatalf("Read(current) as the consumer: %v, version %s", err, r.Version.ID)
	}
	v1 := put(t, f, "run-1", secret.FromString("rotor-made-key"))
	if v1.ID == old.ID || !strings.HasPrefix(v1.ID, "v0001-") {
		t.Errorf("first version rotor stores: %s", v1.ID)
	}
	sopsSet(t, f, `["db"]["host"]`, `"db2.internal"`) // someone else's change between two of rotor's
	promote(t, f, v1.ID)
	vs, _ = f.store.Versions(ctx, provider.VersionsRequest{Credential: "cred"})
	if len(vs.Versions) != 2 || vs.Versions[1].ID != old.ID || vs.Versions[1].Stage != provider.StagePrevious {
		t.Fatalf("after the promote: %+v, want %s previous", vs.Versions, old.ID)
	}
	r, err = f.store.Read(ctx, provider.ReadRequest{Credential: "cred", Version: old.ID, As: f.reader})
	if err != nil || !r.Value.Equal(secret.FromString("key-from-before-rotor")) {
		t.Fatalf("Read(%s), the adopted value, after the promote: %v", old.ID, err)
	}
	if got, err := sopsDecrypt(t, f, "search-api", `["db"]["host"]`); err != nil || got != "db2.internal" {
		t.Errorf("the other person's change: %q, %v", got, err)
	}
}

// TestValueChangedByHandIsNotPassedOff: a value a person put at the key after rotor made
// another one current does not read as rotor's current version.
func TestValueChangedByHandIsNotPassedOff(t *testing.T) {
	f := newFixture(t, "yaml", "ops.enc.yaml", plainYAML)
	v1 := put(t, f, "run-1", secret.FromString("rotor-made-key"))
	promote(t, f, v1.ID)
	sopsSet(t, f, `["bastion"]["private_key"]`, `"typed-by-hand"`)
	_, err := f.store.Read(ctx, provider.ReadRequest{Credential: "cred", As: f.reader})
	wantKind(t, err, provider.NeedsHuman, "changed outside rotor", "bastion.private_key", f.file)
}

// wantKind fails unless err is a *provider.Error of kind whose message says each of says.
func wantKind(t *testing.T, err error, kind provider.ErrorKind, says ...string) {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *provider.Error", err)
	}
	if pe.Kind != kind {
		t.Fatalf("error kind %s, want %s: %v", pe.Kind, kind, err)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

// TestFormats: a JSON and a dotenv file end as sops reads them: the value at the key, the
// rest untouched, and rotor's entries where the README says.
func TestFormats(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		f := newFixture(t, "json", "ops.enc.json", `{"db": {"password": "hunter2-db"}}`)
		v1 := put(t, f, "run-1", secret.FromString("json-key\nwith a line break"))
		promote(t, f, v1.ID)
		got, err := sopsDecrypt(t, f, "search-api", `["bastion"]["private_key"]`)
		if err != nil || got != "json-key\nwith a line break" {
			t.Fatalf("sops decrypt: %q, %v", got, err)
		}
		raw, _ := os.ReadFile(f.file)
		if !strings.Contains(string(raw), `"_rotor_unencrypted": {`) {
			t.Errorf("no version list in clear:\n%s", raw)
		}
	})
	t.Run("dotenv", func(t *testing.T) {
		f := newFixture(t, "dotenv", "ops.env", "DB_PASSWORD=hunter2-db\n")
		v1 := put(t, f, "run-1", secret.FromString("dotenv-key"))
		promote(t, f, v1.ID)
		got, err := sopsDecrypt(t, f, "search-api", `["BASTION_KEY"]`)
		if err != nil || got != "dotenv-key" {
			t.Fatalf("sops decrypt: %q, %v", got, err)
		}
		raw, _ := os.ReadFile(f.file)
		for _, want := range []string{"\nBASTION_KEY=ENC[", "\n_rotor__BASTION_KEY__" + strings.ReplaceAll(v1.ID, "-", "_") + "=ENC[",
			"\n_rotor__BASTION_KEY__versions_unencrypted={"} {
			if !strings.Contains("\n"+string(raw), want) {
				t.Errorf("the dotenv file lacks %q:\n%s", want, raw)
			}
		}
		_, err = f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString(`a\nb`), Key: "run-2", Readers: f.readers(), As: f.executor})
		wantKind(t, err, provider.Terminal, "dotenv")
	})
}

// TestRulesThatRotorCannotFollowAreRefused: a file whose rules would put the value in clear,
// or rotor's version list under encryption, is refused before anything is written, naming
// the rule; a rule rotor can follow (Kubernetes-style encrypted_regex with the key below data)
// works.
func TestRulesThatRotorCannotFollowAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		flags     []string
		says      string
	}{
		{"value-in-clear", "bastion.private_key", []string{"--encrypted-regex", "^data$"}, "would be stored in clear text"},
		{"list-encrypted", "data.password", []string{"--unencrypted-regex", "^host$"}, "version list"},
		{"by-comment", "data.password", nil, "comments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "yaml", "ops.enc.yaml", "data:\n    user: u\n", func(c *sops.Config) { c.Key = tc.key })
			if tc.flags == nil { // comment rules are set in .sops.yaml only
				writeFile(t, filepath.Join(f.base, ".sops.yaml"), "creation_rules:\n  - encrypted_comment_regex: sops:enc\n    age: "+
					f.recipient("rotor-prod")+","+f.recipient("search-api")+"\n")
			}
			sopsReencrypt(t, f, tc.flags...)
			before, _ := os.ReadFile(f.file)
			_, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("v"), Key: "run-1", Readers: f.readers(), As: f.executor})
			wantKind(t, err, provider.Terminal, tc.says, f.file)
			after, _ := os.ReadFile(f.file)
			if string(before) != string(after) {
				t.Error("the refused Put changed the file")
			}
		})
	}
	f := newFixture(t, "yaml", "ops.enc.yaml", "data:\n    user: u\n", func(c *sops.Config) { c.Key = "data.password" })
	sopsReencrypt(t, f, "--encrypted-regex", "^data$")
	v1 := put(t, f, "run-1", secret.FromString("k8s-style"))
	promote(t, f, v1.ID)
	if got, err := sopsDecrypt(t, f, "search-api", `["data"]["password"]`); err != nil || got != "k8s-style" {
		t.Fatalf("encrypted_regex ^data$: %q, %v", got, err)
	}
	raw, _ := os.ReadFile(f.file)
	if strings.Contains(string(raw), "k8s-style") || !strings.Contains(string(raw), "id: "+v1.ID) {
		t.Errorf("encrypted_regex ^data$: values must be encrypted and the list in clear:\n%s", raw)
	}
}

// sopsReencrypt encrypts the fixture's file again from its plain text with other flags.
func sopsReencrypt(t *testing.T, f fixture, flags ...string) {
	t.Helper()
	plain, err := sopsDecrypt(t, f, "rotor-prod", "")
	if err != nil {
		t.Fatal(err)
	}
	recipients := []string{f.recipient("rotor-prod"), f.recipient("search-api")}
	if _, err := os.Stat(filepath.Join(f.base, ".sops.yaml")); err == nil {
		recipients = nil
	}
	testenv.SOPSEncrypt(t, f.file, "yaml", plain, recipients, flags...)
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
