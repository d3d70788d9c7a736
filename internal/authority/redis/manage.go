package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rotorhq/rotor/internal/provider"
)

// CheckManage implements provider.ManageChecker. Without changing anything it proves that the
// admin credentials work, that the user exists and takes passwords (not nopass), and that the
// admin may run what a rotation runs — ACL GETUSER, ACL SETUSER and CLIENT LIST, checked with
// ACL DRYRUN (Redis 7+) — so that a run does not stop half way for want of a permission.
func (a *Authority) CheckManage(ctx context.Context, req provider.CheckManageRequest) error {
	const op = "check manage"
	var errs []error
	if req.Credential == "" {
		errs = append(errs, errors.New("no credential named"))
	}
	errs = append(errs, a.strategyProblems(req.Strategy)...)
	if err := provider.Refuse(op, errs); err != nil {
		return err
	}
	c, err := a.connect(ctx, op)
	if err != nil {
		return err
	}
	defer c.Close()
	who, err := c.Do(ctx, "ACL", "WHOAMI").Text()
	if err != nil {
		return provider.NotStarted(classify(op, "ACL WHOAMI", err, ""))
	}
	var denied []string
	for _, cmd := range [][]any{
		{"ACL", "SETUSER", a.cfg.User},
		{"ACL", "GETUSER", a.cfg.User},
		{"CLIENT", "LIST"},
	} {
		args := append([]any{"ACL", "DRYRUN", who}, cmd...)
		res, err := c.Do(ctx, args...).Text()
		if err != nil {
			return provider.NotStarted(classify(op, "ACL DRYRUN", err, ""))
		}
		if res != "OK" {
			denied = append(denied, fmt.Sprintf("%s %s", cmd[0], cmd[1]))
		}
	}
	if len(denied) > 0 {
		return provider.NotStarted(provider.Errorf(provider.Denied, op, "admin %s may not run %s: grant it +acl|setuser +acl|getuser +client|list (or +@admin)", who, strings.Join(denied, ", ")))
	}
	u, err := a.getUser(ctx, c, op)
	if err != nil {
		return err
	}
	if u.has("nopass") {
		return provider.NotStarted(provider.Errorf(provider.Terminal, op, "user %s is nopass: any password logs it in, so rotating one protects nothing; remove nopass (ACL SETUSER %s resetpass) first", a.cfg.User, a.cfg.User))
	}
	if !u.has("on") {
		return provider.NotStarted(provider.Errorf(provider.Terminal, op, "user %s is off: nobody can log in as it; turn it on, or rotate another user", a.cfg.User))
	}
	return nil
}
