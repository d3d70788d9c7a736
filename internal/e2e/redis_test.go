package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rotorhq/rotor/internal/testenv"
)

// TestRedisForgottenConnectionBlocksRevoke rotates the password of a Redis ACL user (store
// file, authority redis, overlap) on a real redis-server with password checks on, while a
// connection authenticated with the previous password stays open: residual use blocks revoke
// and names it; once it closes, the run finishes and the server refuses the previous password.
func TestRedisForgottenConnectionBlocksRevoke(t *testing.T) {
	srv := testenv.StartRedis(t)
	srv.CreateUser(t, "billing", rand.Text())
	p := &platform{dir: t.TempDir()}
	env := []string{"ROTOR_TEST_REDIS_ADMIN=" + srv.AdminUser + ":" + srv.AdminPassword}
	inv := filepath.Join(p.dir, "inventory")
	rec := ageKey(t, filepath.Join(inv, "keys", "rotor.key"))
	writeFile(t, filepath.Join(inv, "rotor.yaml"), fmt.Sprintf(`teams:
  team-payments: {contact: payments@example.test, approvers: [bob]}
identities:
  rotor: {type: age, recipient: %s, identity_file: keys/rotor.key}
credentials:
  billing-cache:
    description: Redis ACL user of the billing workers
    kind: password
    owner: team-payments
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: redis, strategy: overlap, address: %s, user: billing, admin_env: ROTOR_TEST_REDIS_ADMIN}
    rotate: {every: 30d}
    consumers:
      billing-worker:
        kind: service
        identity: rotor
        reads: at-start
        reload: {type: exec, command: ["true"]}
`, rec, srv.Addr))

	// The consumer has no check: its owner signs each rotation off.
	signoff := func(r result) result {
		t.Helper()
		wantCode(t, r, 3, "rotate (waits for the consumer's signoff)")
		wantCode(t, p.rotorEnv(t, env, "signoff", runOf(t, r), "billing-worker", "--as", "bob", "--reason", "no check for the worker"), 0, "signoff")
		return p.rotorEnv(t, env, "rotate", "billing-cache", "--as", "alice")
	}
	wantCode(t, signoff(p.rotorEnv(t, env, "rotate", "billing-cache", "--as", "alice")), 0, "first rotation")
	v1 := storeValues(t, p, "billing-cache")
	if len(v1) != 1 {
		t.Fatalf("after the first rotation the store holds %d values, want 1", len(v1))
	}
	var old []byte
	for _, v := range v1 {
		old = v
	}
	ctx := context.Background()
	forgotten := goredis.NewClient(&goredis.Options{Addr: srv.Addr, Username: "billing", Password: string(old),
		ClientName: "forgotten-worker", Protocol: 2, DisableIdentity: true, PoolSize: 1})
	defer forgotten.Close()
	if err := forgotten.Ping(ctx).Err(); err != nil {
		t.Fatalf("the forgotten client logs in with the first value: %v", err)
	}

	r := signoff(p.rotorEnv(t, env, "rotate", "billing-cache", "--now", "--as", "alice"))
	wantCode(t, r, 3, "rotate with a forgotten connection")
	run := runOf(t, r)
	if !contains(r.stdout, "residual-use", "forgotten-worker") {
		t.Fatalf("revoke must be blocked naming the forgotten connection:\n%s", r)
	}
	if err := srv.Auth(ctx, "billing", string(old)); err != nil {
		t.Fatalf("the previous password was refused before revoke: %v", err)
	}
	values := storeValues(t, p, "billing-cache")

	forgotten.Close()
	r = p.rotorEnv(t, env, "rotate", "billing-cache", "--as", "alice")
	wantCode(t, r, 0, "rotate after the forgotten connection closed")
	st := p.status(t, run)
	if st.Run.Phase != "done" {
		t.Fatalf("phase %s", st.Run.Phase)
	}
	if err := srv.Auth(ctx, "billing", string(values[st.Run.Previous.ID])); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Fatalf("the previous password after revoke: %v, want WRONGPASS", err)
	}
	if err := srv.Auth(ctx, "billing", string(values[st.Run.New.ID])); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	logBytes, err := os.ReadFile(srv.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(logBytes)
	for id, v := range values {
		if strings.Contains(log, string(v)) || strings.Contains(r.stdout+r.stderr, string(v)) {
			t.Fatalf("the value of %s appears in the server log or rotor's output", id)
		}
	}
}
