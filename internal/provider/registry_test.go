package provider_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/provider"
)

type plainStore struct{}

func (*plainStore) Put(context.Context, provider.PutRequest) (provider.PutResponse, error) {
	return provider.PutResponse{}, nil
}
func (*plainStore) Promote(context.Context, provider.PromoteRequest) (provider.PromoteResponse, error) {
	return provider.PromoteResponse{}, nil
}
func (*plainStore) Versions(context.Context, provider.VersionsRequest) (provider.VersionsResponse, error) {
	return provider.VersionsResponse{}, nil
}
func (*plainStore) Read(context.Context, provider.ReadRequest) (provider.ReadResponse, error) {
	return provider.ReadResponse{}, nil
}

type togglingStore struct{ plainStore }

func (*togglingStore) Disable(context.Context, provider.ToggleRequest) error { return nil }
func (*togglingStore) Enable(context.Context, provider.ToggleRequest) error  { return nil }
func (*togglingStore) Delete(context.Context, provider.ToggleRequest) error  { return nil }

type usageCheck struct{}

func (usageCheck) Check(context.Context, provider.CheckRequest) (provider.CheckResult, error) {
	return provider.CheckResult{}, nil
}
func (usageCheck) Usage(context.Context, provider.UsageRequest) (provider.UsageResponse, error) {
	return provider.UsageResponse{}, nil
}

type storeConfig struct {
	Dir string `yaml:"dir"`
}

type declaredConfig struct{ Mount string }

func TestRegistry(t *testing.T) {
	r := provider.NewRegistry()
	var built *storeConfig
	provider.RegisterStore(r, "plain", func(cfg *storeConfig, _ provider.Env) (*plainStore, error) {
		built = cfg
		return &plainStore{}, nil
	})
	provider.RegisterStore(r, "toggling", func(*storeConfig, provider.Env) (*togglingStore, error) { return &togglingStore{}, nil })
	provider.RegisterCheck(r, "usage", func(*storeConfig, provider.Env) (usageCheck, error) { return usageCheck{}, nil })
	provider.Declare[declaredConfig](r, provider.KindStore, "vault-kv")

	if got := r.Types(provider.KindStore); strings.Join(got, ",") != "plain,toggling,vault-kv" {
		t.Errorf("Types = %q", got)
	}
	cfg, ok := r.NewConfig(provider.KindStore, "plain")
	if _, isPtr := cfg.(*storeConfig); !ok || !isPtr {
		t.Fatalf("NewConfig = %T, %v", cfg, ok)
	}
	if _, ok := r.NewConfig(provider.KindAuthority, "plain"); ok {
		t.Error("NewConfig found a store type under the authority kind")
	}
	if _, err := r.Store("plain", cfg, provider.Env{}); err != nil || built != cfg {
		t.Errorf("Store: %v; the builder got %p, want the decoded config %p", err, built, cfg)
	}
	if _, err := r.Store("plain", &declaredConfig{}, provider.Env{}); err == nil || !strings.Contains(err.Error(), "want *provider_test.storeConfig") {
		t.Errorf("a config of another type: %v", err)
	}

	// Declared types validate (NewConfig) but do not build, and say so.
	if !r.Implemented(provider.KindStore, "plain") || r.Implemented(provider.KindStore, "vault-kv") || r.Implemented(provider.KindStore, "nope") {
		t.Error("Implemented is wrong")
	}
	_, err := r.Store("vault-kv", &declaredConfig{}, provider.Env{})
	var ni *provider.ErrNotImplemented
	if !errors.As(err, &ni) || ni.Type != "vault-kv" || !strings.Contains(err.Error(), `store type "vault-kv" is declared but not implemented`) {
		t.Errorf("building a declared type: %v", err)
	}

	// Capabilities come from the provider's Go type, without building it.
	for _, tc := range []struct {
		kind provider.Kind
		typ  string
		want provider.Capability
	}{
		{provider.KindStore, "plain", 0},
		{provider.KindStore, "toggling", provider.CanToggle | provider.CanDelete},
		{provider.KindCheck, "usage", provider.CanReportUsage},
		{provider.KindStore, "vault-kv", 0},
	} {
		if got := r.Capabilities(tc.kind, tc.typ); got != tc.want {
			t.Errorf("%s %s: capabilities %q, want %q", tc.kind, tc.typ, got, tc.want)
		}
	}
	if !r.Capabilities(provider.KindStore, "toggling").Has(provider.CanToggle) || r.Capabilities(provider.KindStore, "toggling").Has(provider.CanPin) {
		t.Error("Has is wrong")
	}
}

func TestRegistryRefusesADuplicate(t *testing.T) {
	r := provider.NewRegistry()
	provider.Declare[declaredConfig](r, provider.KindStore, "x")
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), `store type "x" registered twice`) {
			t.Errorf("recover() = %v", p)
		}
	}()
	provider.Declare[declaredConfig](r, provider.KindStore, "x")
}
