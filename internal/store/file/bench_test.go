package file_test

import (
	"fmt"
	"testing"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/secret"
)

// BenchmarkRead reads the current version as the last of four readers (the executor and three
// consumers), the read that P1's postgres-login checks make, through a fresh Store each time as
// the engine does.
func BenchmarkRead(b *testing.B) {
	f := newFixture(b)
	readers := []provider.Identity{f.executor}
	for i := range 3 {
		readers = append(readers, ageIdentity(b, f.base, fmt.Sprintf("consumer-%d", i)))
	}
	resp, err := f.store.Put(ctx, provider.PutRequest{Credential: "cred", Value: secret.FromString("bench-value-0123456789"), Key: "run-1", Readers: readers})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.store.Promote(ctx, provider.PromoteRequest{Credential: "cred", Version: resp.Version.ID}); err != nil {
		b.Fatal(err)
	}
	as := readers[len(readers)-1]
	b.ReportAllocs()
	for b.Loop() {
		rr, err := f.store.Read(ctx, provider.ReadRequest{Credential: "cred", As: as})
		if err != nil {
			b.Fatal(err)
		}
		rr.Value.Wipe()
	}
}
