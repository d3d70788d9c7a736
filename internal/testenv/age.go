package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
)

// AgeKeys writes a new age X25519 identity for each id to dir/keys/ID.key (0600), the layout
// the tests' inventories name as `identity_file: keys/ID.key`, and returns each id's
// recipient, for the inventory's `recipient:`.
func AgeKeys(t testing.TB, dir string, ids ...string) map[string]string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	rec := make(map[string]string, len(ids))
	for _, id := range ids {
		k, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "keys", id+".key"), []byte(k.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		rec[id] = k.Recipient().String()
	}
	return rec
}
