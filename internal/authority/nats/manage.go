package nats

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rotorhq/rotor/internal/provider"
)

// CheckManage implements provider.ManageChecker. Without changing anything it proves that the
// auth file can be read and replaced (a temporary file in its directory), that both users
// have an entry with a password and the same permissions (every field but user and password,
// compared), that the pid file names a running process rotor may signal, and that the
// monitoring endpoint answers /varz.
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
	var problems []string
	data, err := os.ReadFile(a.cfg.Config)
	if err != nil {
		problems = append(problems, fmt.Sprintf("read the auth file: %v", err))
	} else {
		problems = append(problems, a.compareUsers(data)...)
	}
	if f, err := os.CreateTemp(filepath.Dir(a.cfg.Config), ".rotor-check-*"); err != nil {
		problems = append(problems, fmt.Sprintf("rotor cannot replace the auth file (a temporary file in its directory): %v", err))
	} else {
		f.Close()
		os.Remove(f.Name())
	}
	if _, err := a.serverPID(); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := a.loadTime(ctx); err != nil {
		problems = append(problems, fmt.Sprintf("monitoring endpoint %s: %v", a.cfg.MonitorURL, err))
	}
	if len(problems) > 0 {
		return provider.NotStarted(provider.Errorf(provider.Terminal, op, "%s", strings.Join(problems, "; ")))
	}
	return nil
}

// compareUsers names what is wrong with the two users' entries.
func (a *Authority) compareUsers(data []byte) []string {
	var problems []string
	var r [2][]string
	for i, u := range a.cfg.Users {
		e, err := findUser(data, u)
		if err != nil {
			problems = append(problems, fmt.Sprintf("auth file %s: %v", a.cfg.Config, err))
			continue
		}
		r[i] = rights(data, e)
	}
	if len(problems) > 0 {
		return problems
	}
	for i, u := range a.cfg.Users {
		other := a.cfg.Users[1-i]
		for _, f := range r[1-i] {
			if !slices.Contains(r[i], f) {
				problems = append(problems, fmt.Sprintf("user %s lacks %s that user %s has", u, f, other))
			}
		}
	}
	return problems
}
