// Command vaultclient reads a credential from a Vault/OpenBao KV v2 secret as a consumer
// that honours rotor's pins does (vaultkv.ReadForConsumer), logged in with an AppRole whose
// role_id and secret_id are in files; it prints the version it read, never the value. The e2e tests use it as a consumer's check.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	vault "github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/internal/store/vaultkv"
)

func main() {
	addr := flag.String("addr", "", "server address")
	mount := flag.String("mount", "kv", "KV v2 mount")
	path := flag.String("path", "", "secret path")
	approle := flag.String("approle", "approle", "AppRole auth mount")
	roleFile := flag.String("role-id-file", "", "file holding the role_id")
	secretFile := flag.String("secret-id-file", "", "file holding the secret_id")
	consumer := flag.String("consumer", "", "consumer name (for its pin)")
	flag.Parse()
	if err := run(*addr, *mount, *path, *approle, *roleFile, *secretFile, *consumer); err != nil {
		fmt.Fprintln(os.Stderr, "vaultclient:", err)
		os.Exit(1)
	}
}

func run(addr, mount, path, approle, roleFile, secretFile, consumer string) error {
	roleID, err := os.ReadFile(roleFile)
	if err != nil {
		return err
	}
	secretID, err := os.ReadFile(secretFile)
	if err != nil {
		return err
	}
	conf := vault.DefaultConfig()
	conf.Address = addr
	conf.MaxRetries = 0
	c, err := vault.NewClient(conf)
	if err != nil {
		return err
	}
	c.ClearToken()
	s, err := c.Logical().Write("auth/"+approle+"/login", map[string]any{"role_id": strings.TrimSpace(string(roleID)), "secret_id": strings.TrimSpace(string(secretID))})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	c.SetToken(s.Auth.ClientToken)
	r, err := vaultkv.ReadForConsumer(context.Background(), c, mount, path, "", consumer)
	if err != nil {
		return err
	}
	defer r.Value.Wipe()
	fmt.Printf("consumer %s reads %s (KV version %d, pinned %v, %d bytes)\n", consumer, r.ID, r.Version, r.Pinned, r.Value.Len())
	return nil
}
