package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rotorhq/rotor/internal/state"
)

func TestExplorePlans(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "r.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, f := range []state.RunFilter{
		{}, {Limit: 20}, {Credential: "c"}, {Credential: "c", Phases: []string{"a", "b", "c"}}, {Phases: []string{"a", "b"}}, {Phases: []string{"a"}, Limit: 5},
	} {
		q, args := runsQuery(f)
		rows, err := db.r.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", f)
		for rows.Next() {
			var id, parent, notused int
			var detail string
			rows.Scan(&id, &parent, &notused, &detail)
			t.Logf("   %s", detail)
		}
		rows.Close()
	}
}
