package inventory_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/inventory"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func opts() inventory.Options { return inventory.Options{Catalog: builtin.New(), Now: now} }

func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func errorList(t *testing.T, err error) inventory.ErrorList {
	t.Helper()
	var list inventory.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("want an ErrorList, got %v", err)
	}
	return list
}

func TestExampleLoads(t *testing.T) {
	inv, err := inventory.Load("../../examples/platform", opts())
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, c := range inv.Credentials {
		for _, k := range c.Consumers {
			kinds[k.Kind] = true
		}
	}
	if len(inv.Credentials) < 10 || len(kinds) != 5 {
		t.Fatalf("the example must model >= 10 credentials and all 5 consumer kinds: %d, %v", len(inv.Credentials), kinds)
	}
	// Declaration order is kept (files in lexical order, then document order): it is the
	// order consumers are reloaded in.
	c, _ := inv.Credential("orders-db")
	var ids []string
	for _, k := range c.Consumers {
		ids = append(ids, k.ID)
	}
	if got := strings.Join(ids, ","); got != "orders-api,settlement,orders-migrations" {
		t.Errorf("consumer order = %s", got)
	}
	if c.Authority.Strategy != "overlap" {
		t.Errorf("strategy = %q", c.Authority.Strategy)
	}
	// A default strategy comes from the authority: generated defaults to overlap.
	if k, _ := inv.Credential("search-api-key"); k.Authority.Strategy != "overlap" {
		t.Errorf("search-api-key strategy = %q", k.Authority.Strategy)
	}
}

func TestMultipleDocumentsAndFiles(t *testing.T) {
	dir := write(t, map[string]string{
		"a.yaml":       "teams: {t: {approvers: [x]}}\n---\nwindows: {w: {cron: '@daily', duration: 1h}}\n",
		"sub/b.yml":    "credentials:\n  c: {owner: t, store: {type: file, dir: /d}, authority: {type: none}, windows: {cutover: w}}\n",
		".hidden.yaml": "this: is ignored\n",
		"notes.txt":    "ignored too",
	})
	inv, err := inventory.Load(dir, opts())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Teams) != 1 || len(inv.Windows) != 1 || len(inv.Credentials) != 1 {
		t.Fatalf("got %d teams %d windows %d credentials", len(inv.Teams), len(inv.Windows), len(inv.Credentials))
	}
}

func TestFileTooLarge(t *testing.T) {
	dir := write(t, map[string]string{"big.yaml": "teams: {}\n" + strings.Repeat("# padding\n", 200_000)})
	o := opts()
	o.MaxFileSize = 1 << 20
	_, err := inventory.Load(dir, o)
	list := errorList(t, err)
	if len(list) != 1 || !strings.Contains(list[0].Msg, "larger than 1 MiB") || !strings.HasSuffix(list[0].Pos.File, "big.yaml") {
		t.Fatalf("got %v", list)
	}
}

// A "billion laughs" document: aliases nested in aliases through keyed maps and lists that the
// model does accept (credentials -> consumers -> checks), so every level really expands. The
// loader refuses it quickly instead of decoding ~10^9 nodes.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("teams: {t: {}}\ncredentials:\n  c0: &cred\n    owner: t\n    store: {type: file, dir: /d}\n    authority: {type: none}\n    consumers: &cons\n")
	b.WriteString("      k0: &cons0 {kind: service, reads: per-request, checks: [")
	for j := range 1000 {
		if j > 0 {
			b.WriteString(", ")
		}
		b.WriteString("x")
	}
	b.WriteString("]}\n")
	for i := 1; i < 1000; i++ {
		fmt.Fprintf(&b, "      k%d: *cons0\n", i)
	}
	for i := 1; i < 1000; i++ {
		fmt.Fprintf(&b, "  c%d: *cred\n", i)
	}
	dir := write(t, map[string]string{"bomb.yaml": b.String()})
	done := make(chan error, 1)
	go func() { _, err := inventory.Load(dir, opts()); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "too many alias expansions") {
			t.Fatalf("got %.500v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the loader is expanding the alias bomb")
	}
}

func TestAliasesExpand(t *testing.T) {
	dir := write(t, map[string]string{"a.yaml": "teams:\n  t: {approvers: &people [ann, bob]}\n  u: {approvers: *people}\n"})
	inv, err := inventory.Load(dir, opts())
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := inv.Team("u"); len(u.Approvers) != 2 {
		t.Fatalf("alias not expanded: %v", u.Approvers)
	}
}

// Errors come sorted by file, line and column, each once.
func TestErrorsSortedAndComplete(t *testing.T) {
	dir := write(t, map[string]string{
		"b.yaml": "windows:\n  w: {cron: nope, duration: 1h}\n",
		"a.yaml": "teams:\n  t: {approvers: [x], color: red}\n  T: {}\n",
	})
	_, err := inventory.Load(dir, opts())
	list := errorList(t, err)
	var got []string
	for _, e := range list {
		got = append(got, filepath.Base(e.Pos.File)+":"+e.Msg[:min(len(e.Msg), 30)])
	}
	want := []string{
		`a.yaml:teams.t: unknown key "color" (`,
		`a.yaml:teams: "T" is not a valid name`,
		`b.yaml:windows.w: cron: invalid cron `,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestOptionsRequired(t *testing.T) {
	if _, err := inventory.Load(".", inventory.Options{}); err == nil {
		t.Fatal("Load without a catalog and a clock must fail")
	}
}

// FuzzLoad feeds arbitrary bytes to the loader as one inventory file: it may reject them, but
// never panic, and every error it reports names the file.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../../examples/platform/*.yaml")
	more, _ := filepath.Glob("../../examples/platform/*/*.yaml")
	for _, p := range append(seeds, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("credentials: {a: {consumers: {b: {kind: job, schedule: '0 0 30 2 *'}}}}"))
	f.Add([]byte("a: &x [*x]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "f.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := inventory.Load(dir, opts())
		var list inventory.ErrorList
		if err != nil && !errors.As(err, &list) {
			t.Fatalf("not an ErrorList: %v", err)
		}
		for _, e := range list {
			if e.Pos.File != p {
				t.Fatalf("error does not name the file: %v", e)
			}
		}
	})
}

// An empty item in the list of freezes is an error, not a nil freeze (found by FuzzLoad: it
// used to panic).
func TestEmptyFreeze(t *testing.T) {
	dir := write(t, map[string]string{"a.yaml": "freezes:\n  -\n  - ~\n"})
	_, err := inventory.Load(dir, opts())
	list := errorList(t, err)
	var got []string
	for _, e := range list {
		got = append(got, fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Col, e.Msg))
	}
	want := []string{
		"2:4: freezes.0: expected a mapping with keys from, reason, timezone, to, got nothing (null)",
		"3:5: freezes.1: expected a mapping with keys from, reason, timezone, to, got nothing (null)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// An authority that supports one strategy refuses another when the inventory loads, at the
// authority block, before any run could ask it (the certificate authorities know only
// overlap). A run's requests are refused again by the authority itself
// (provider.StrategyProblems), for a run that began under another inventory.
func TestUnsupportedStrategyRefused(t *testing.T) {
	dir := write(t, map[string]string{"certs.yaml": `teams: {t: {approvers: [x]}}
credentials:
  web:
    owner: t
    store: {type: file, dir: /d}
    authority: {type: acme, strategy: in-place, directory: https://acme.example/dir, domains: [web.example]}
  api:
    owner: t
    store: {type: file, dir: /d}
    authority:
      type: x509-ca
      strategy: in-place
      common_name: api.example
      is_ca: true
`})
	_, err := inventory.Load(dir, opts())
	var got []string
	for _, e := range errorList(t, err) {
		got = append(got, fmt.Sprintf("%s:%d:%d: %s", filepath.Base(e.Pos.File), e.Pos.Line, e.Pos.Col, e.Msg))
	}
	want := []string{
		`certs.yaml:6:16: credentials.web.authority: acme does not support strategy "in-place" (supported: overlap)`,
		`certs.yaml:11:7: credentials.api.authority: x509-ca does not support strategy "in-place" (supported: overlap)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A critical credential must have someone who may approve its revocation (issue 12, harm 3):
// none at all — `approvers: []` on its team, or a team without approvers — is an error at the
// credential; an empty list on the credential falls back to its team's.
func TestCriticalNeedsAnApprover(t *testing.T) {
	dir := write(t, map[string]string{"c.yaml": `teams:
  empty: {approvers: []}
  ops: {approvers: [ann]}
credentials:
  vault-root:
    owner: empty
    critical: true
    store: {type: file, dir: /d}
    authority: {type: generated}
  api-key:
    owner: ops
    critical: true
    approvers: []
    store: {type: file, dir: /d}
    authority: {type: generated}
`})
	_, err := inventory.Load(dir, opts())
	var got []string
	for _, e := range errorList(t, err) {
		got = append(got, fmt.Sprintf("%s:%d:%d: %s", filepath.Base(e.Pos.File), e.Pos.Line, e.Pos.Col, e.Msg))
	}
	want := `c.yaml:5:3: credentials.vault-root: a critical credential needs someone other than the run's initiator to approve its revocation, and nobody may: list approvers on team "empty" or on the credential`
	if strings.Join(got, "\n") != want {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
}
