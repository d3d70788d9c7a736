//go:build unix

package pemfiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rotorhq/rotor/internal/identity"
	"github.com/rotorhq/rotor/internal/provider"
)

// account is a local user as the kernel sees it.
type account struct {
	name     string
	uid, gid uint32
	groups   []uint32 // supplementary groups, the primary one included
}

func (a account) inGroup(gid uint32) bool { return a.gid == gid || slices.Contains(a.groups, gid) }

// lookupUser finds a user by name or uid, with its groups.
func lookupUser(s string) (account, error) {
	var u *user.User
	var err error
	if _, nerr := strconv.ParseUint(s, 10, 32); nerr == nil {
		u, err = user.LookupId(s)
	} else {
		u, err = user.Lookup(s)
	}
	if err != nil {
		return account{}, fmt.Errorf("no user %q on this host", s)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return account{}, fmt.Errorf("user %q has a uid or gid that is not a number", s)
	}
	a := account{name: u.Username, uid: uint32(uid), gid: uint32(gid)}
	gids, err := u.GroupIds()
	if err != nil {
		return account{}, fmt.Errorf("listing the groups of user %q: %v", s, err)
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			a.groups = append(a.groups, uint32(n))
		}
	}
	if !slices.Contains(a.groups, a.gid) {
		a.groups = append(a.groups, a.gid)
	}
	return a, nil
}

// lookupGroup finds a group by name or gid.
func lookupGroup(s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n), nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return 0, fmt.Errorf("no group %q on this host", s)
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q has a gid that is not a number", s)
	}
	return uint32(n), nil
}

// osUserOf returns the user an identity names, or an Unsupported error.
func osUserOf(op string, as provider.Identity) (string, error) {
	var name string
	switch c := as.Config.(type) {
	case *identity.OSUser:
		if c != nil {
			name = c.User
		}
	case identity.OSUser:
		name = c.User
	}
	if as.Type != "os-user" || name == "" {
		return "", provider.Wrap(provider.Terminal, op, fmt.Errorf("identity %q of type %q: the pem-files store proves read access for os-user identities only: %w", as.ID, as.Type, provider.ErrUnsupported))
	}
	return name, nil
}

// readAs reads the files as the identity (see the package doc). An identity with no type is
// rotor itself.
func (s *Store) readAs(ctx context.Context, op string, as provider.Identity, paths []string) ([]byte, error) {
	if as.Type == "" && as.ID == "" {
		return readFiles(op, paths)
	}
	name, err := osUserOf(op, as)
	if err != nil {
		return nil, err
	}
	a, err := lookupUser(name)
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, op, fmt.Errorf("identity %q: %w", as.ID, err))
	}
	euid := uint32(os.Geteuid())
	switch {
	case euid == 0 && !s.bitsOnly:
		return catAs(ctx, op, as.ID, a, paths)
	case a.uid == euid:
		return readFiles(op, paths) // the identity is rotor itself: a real read
	}
	for _, p := range paths {
		if err := bitsAllow(a, p); err != nil {
			return nil, provider.Wrap(provider.Denied, op, fmt.Errorf("identity %q (user %s, uid %d) cannot read %s (proved by permission bits, rotor is not root): %w", as.ID, a.name, a.uid, p, err))
		}
	}
	if s.env.Log != nil {
		s.env.Log.Info("pem-files: read access proved by permission bits, not by reading as the user (rotor is not root)",
			"identity", as.ID, "user", a.name, "dir", s.dir)
	}
	return readFiles(op, paths)
}

// catAs reads the files with a child process running as the user — the kernel's own answer,
// ACLs and all. cat's messages name files and errors only, never content.
func catAs(ctx context.Context, op, who string, a account, paths []string) ([]byte, error) {
	cat := "/bin/cat"
	if _, err := os.Stat(cat); err != nil {
		cat = "/usr/bin/cat"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cat, append([]string{"--"}, paths...)...)
	cmd.Dir = "/"
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}}
	out := &capped{max: 1 << 20}
	errb := &capped{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = out, errb
	err := cmd.Run()
	if err == nil && out.over {
		err = errors.New("the files are larger than 1 MiB")
	}
	if err != nil {
		clear(out.buf.Bytes())
		msg := strings.TrimSpace(errb.buf.String())
		if msg == "" {
			msg = err.Error()
		}
		if ctx.Err() != nil {
			return nil, provider.Wrap(provider.Retryable, op, fmt.Errorf("reading as identity %q (user %s): %w", who, a.name, ctx.Err()))
		}
		kind := provider.Terminal
		if strings.Contains(msg, "Permission denied") {
			kind = provider.Denied
		}
		return nil, provider.Wrap(kind, op, fmt.Errorf("identity %q (user %s, uid %d) cannot read the files: %s", who, a.name, a.uid, msg))
	}
	return out.buf.Bytes(), nil
}

// capped is a bounded output buffer: a runaway child cannot fill rotor's memory.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		c.over = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

// bitsAllow says whether the owner, group and mode bits let a read the file p: read on the
// file (symlinks followed) and search on every directory above it.
func bitsAllow(a account, p string) error {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return err
	}
	if err := bitAllows(a, real, 4); err != nil {
		return err
	}
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		if err := bitAllows(a, dir, 1); err != nil {
			return err
		}
		if dir == "/" || dir == "." {
			return nil
		}
	}
}

// bitAllows checks one permission bit (4 read, 1 search) of path for a.
func bitAllows(a account, path string, bit uint32) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner information", path)
	}
	perm := uint32(fi.Mode().Perm())
	var allowed bool
	switch {
	case a.uid == 0:
		allowed = true
	case st.Uid == a.uid:
		allowed = perm&(bit<<6) != 0
	case a.inGroup(st.Gid):
		allowed = perm&(bit<<3) != 0
	default:
		allowed = perm&bit != 0
	}
	if !allowed {
		what := "read"
		if bit == 1 {
			what = "search"
		}
		return fmt.Errorf("%s is mode %04o, owner %d, group %d: no %s permission: %w", path, perm, st.Uid, st.Gid, what, fs.ErrPermission)
	}
	return nil
}

// CheckIdentity implements provider.IdentityChecker: the store reads as os-user identities
// (an identity with no type is rotor itself), and the user must exist on this host — what
// readiness proves before anything is minted. Nothing is read or written.
func (s *Store) CheckIdentity(ctx context.Context, req provider.CheckIdentityRequest) error {
	const op = "check identity"
	as := req.Identity
	if as.Type == "" && as.ID == "" {
		return nil
	}
	name, err := osUserOf(op, as)
	if err != nil {
		return err
	}
	if _, err := lookupUser(name); err != nil {
		return provider.Wrap(provider.Terminal, op, fmt.Errorf("identity %q: %w", as.ID, err))
	}
	return ctx.Err()
}
