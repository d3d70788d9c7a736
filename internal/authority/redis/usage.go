package redis

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rotorhq/rotor/internal/provider"
)

// client is one connection of CLIENT LIST.
type client struct {
	id    int64
	addr  string
	name  string
	user  string
	age   time.Duration
	since time.Time
}

func (c client) label() string {
	name := c.name
	if name == "" {
		name = "(no client name)"
	}
	return name + "@" + c.addr
}

// clientList parses CLIENT LIST: one line per connection of space-separated key=value fields.
func clientList(s string) []client {
	var out []client
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var c client
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "id":
				c.id, _ = strconv.ParseInt(v, 10, 64)
			case "addr":
				c.addr = v
			case "name":
				c.name = v
			case "user":
				c.user = v
			case "age":
				n, _ := strconv.ParseInt(v, 10, 64)
				c.age = time.Duration(n) * time.Second
			}
		}
		out = append(out, c)
	}
	return out
}

// Usage implements provider.UsageReporter from CLIENT LIST: the connections of the user that
// are older than req.Since (the cutover) authenticated before it — with the previous password
// (in-place), or possibly with it (overlap: Redis does not say which of the user's passwords a
// connection used, and does not authenticate it again). None is a pass; any is a fail, each
// named by client name and address. CLIENT LIST gives ages in whole seconds, so a connection
// opened within a second after the cutover counts as old too. A connection that authenticated as another user and later
// switched with AUTH is dated by its connect time, not its AUTH; connections that came and
// went are not seen.
func (a *Authority) Usage(ctx context.Context, req provider.UsageRequest) (provider.UsageResponse, error) {
	const op = "residual use"
	var errs []error
	if req.Credential == "" {
		errs = append(errs, errors.New("no credential named"))
	}
	if req.Version.ID == "" {
		errs = append(errs, errors.New("no version id"))
	}
	if err := provider.Refuse(op, errs); err != nil {
		return provider.UsageResponse{}, err
	}
	if _, err := a.prefixOf(op, req.Version); err != nil {
		return provider.UsageResponse{}, err
	}
	c, err := a.connect(ctx, op)
	if err != nil {
		return provider.UsageResponse{}, err
	}
	defer c.Close()
	return a.usage(ctx, c, op, req.Since)
}

func (a *Authority) usage(ctx context.Context, c *goredis.Client, op string, since time.Time) (provider.UsageResponse, error) {
	own, err := c.ClientID(ctx).Result()
	if err != nil {
		return provider.UsageResponse{}, classify(op, "CLIENT ID", err, "")
	}
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		return provider.UsageResponse{}, classify(op, "CLIENT LIST", err, "")
	}
	now := a.env.Now()
	var old []client
	for _, cl := range clientList(list) {
		if cl.id == own || cl.user != a.cfg.User {
			continue
		}
		// age is in whole seconds: the connection opened up to a second before now-age.
		// Count it as old unless it surely opened after the cutover (a fail is safe; a
		// retry a second later settles it).
		cl.since = now.Add(-cl.age - time.Second)
		if since.IsZero() || cl.since.Before(since) {
			old = append(old, cl)
		}
	}
	when := "before " + since.UTC().Format(time.RFC3339)
	if len(old) == 0 {
		return provider.UsageResponse{Verdict: provider.Pass, Detail: "no connection of user " + a.cfg.User + " opened " + when + " in CLIENT LIST"}, nil
	}
	sort.SliceStable(old, func(i, j int) bool { return old[i].since.Before(old[j].since) })
	var who, parts []string
	for i, cl := range old {
		who = append(who, cl.label())
		if i < 10 {
			parts = append(parts, fmt.Sprintf("%s since about %s", cl.label(), cl.since.UTC().Format(time.RFC3339)))
		} else if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more", len(old)-i))
		}
	}
	detail := fmt.Sprintf("%d connection(s) of user %s opened %s (authenticated with the previous password, which Redis does not check again) still open: %s",
		len(old), a.cfg.User, when, strings.Join(parts, "; "))
	return provider.UsageResponse{Verdict: provider.Fail, Count: len(old), Who: who, Detail: detail}, nil
}
