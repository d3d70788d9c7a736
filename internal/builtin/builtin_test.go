package builtin_test

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/builtin"
	"github.com/rotorhq/rotor/internal/provider"
)

// TestRegistry: every type's config is a pointer to a struct the decoder can fill, and the
// implemented types and their powers are the ones rotor documents.
func TestRegistry(t *testing.T) {
	r := builtin.New()
	implemented := map[provider.Kind][]string{}
	for _, kind := range []provider.Kind{provider.KindStore, provider.KindAuthority, provider.KindReload, provider.KindCheck, provider.KindIdentity} {
		for _, typ := range r.Types(kind) {
			cfg, ok := r.NewConfig(kind, typ)
			if v := reflect.ValueOf(cfg); !ok || v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
				t.Errorf("%s %s: config %T is not a pointer to a struct", kind, typ, cfg)
			}
			if r.Implemented(kind, typ) {
				implemented[kind] = append(implemented[kind], typ)
			}
		}
	}
	want := map[provider.Kind]string{
		provider.KindStore:     "file,pem-files,sops,vault-kv",
		provider.KindAuthority: "acme,generated,mysql,nats,none,postgres,redis,webhook,x509-ca",
		provider.KindReload:    "exec,http,nginx,signal",
		provider.KindCheck:     "exec,http,kql,log,logsql,loki,postgres-login,promql,tls,webhook-test",
		provider.KindIdentity:  "",
	}
	for kind, w := range want {
		if got := strings.Join(implemented[kind], ","); got != w {
			t.Errorf("implemented %s types: %s, want %s", kind, got, w)
		}
	}
	for _, tc := range []struct {
		kind provider.Kind
		typ  string
		has  provider.Capability
	}{
		{provider.KindStore, "file", provider.CanToggle | provider.CanDelete | provider.CanCheckWrite},
		{provider.KindStore, "pem-files", provider.CanToggle | provider.CanPin | provider.CanCheckWrite | provider.CanListCertificates},
		{provider.KindStore, "sops", provider.CanToggle | provider.CanDelete | provider.CanCheckWrite},
		{provider.KindAuthority, "postgres", provider.CanReportUsage | provider.CanRestore | provider.CanCheckManage},
		{provider.KindAuthority, "redis", provider.CanReportUsage | provider.CanRestore | provider.CanCheckManage},
		{provider.KindAuthority, "mysql", provider.CanReportUsage | provider.CanRestore | provider.CanCheckManage},
		{provider.KindAuthority, "nats", provider.CanReportUsage | provider.CanRestore | provider.CanCheckManage},
		{provider.KindAuthority, "acme", provider.CanAdviseRenewal},
		{provider.KindAuthority, "webhook", provider.CanRestore | provider.CanDiscard | provider.CanCheckManage},
		{provider.KindCheck, "tls", provider.CanReportUsage},
		{provider.KindStore, "vault-kv", provider.CanToggle | provider.CanDelete | provider.CanPin | provider.CanCheckWrite | provider.CanCheckRead | provider.CanReportUsage},
	} {
		if got := r.Capabilities(tc.kind, tc.typ); !got.Has(tc.has) {
			t.Errorf("%s %s: capabilities %q, want at least %q", tc.kind, tc.typ, got, tc.has)
		}
	}
	if got := r.Capabilities(provider.KindStore, "azure-keyvault"); got != 0 {
		t.Errorf("a declared type has capabilities %q", got)
	}
}

// TestImportsFlowOneWay: the engine and the read-only views receive the registry as a value;
// neither they nor the pure packages import the list of implementations or a provider.
func TestImportsFlowOneWay(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	for _, pkg := range []string{"engine", "metrics", "rotation", "plan", "impact", "inventory", "journal", "state"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/rotorhq/rotor/internal/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			bad := strings.HasSuffix(dep, "/internal/builtin") ||
				strings.Contains(dep, "/internal/store/") || strings.Contains(dep, "/internal/authority/") ||
				strings.Contains(dep, "/internal/check/") || strings.Contains(dep, "/internal/reload/") ||
				strings.HasPrefix(dep, "github.com/Azure/") || strings.HasPrefix(dep, "github.com/aws/") ||
				strings.HasPrefix(dep, "github.com/jackc/pgx") || strings.HasPrefix(dep, "github.com/go-acme/") ||
				strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "cloud.google.com/") || strings.HasPrefix(dep, "github.com/hashicorp/")
			if bad {
				t.Errorf("internal/%s depends on %s", pkg, dep)
			}
		}
	}
}
