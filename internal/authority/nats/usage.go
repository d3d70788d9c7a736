package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/rotorhq/rotor/internal/provider"
)

// conn is one connection of /connz.
type conn struct {
	CID  uint64 `json:"cid"`
	IP   string `json:"ip"`
	Port int    `json:"port"`
	Name string `json:"name"`
	User string `json:"authorized_user"`
}

func (c conn) label() string {
	name := c.Name
	if name == "" {
		name = "(no client name)"
	}
	return name + "@" + net.JoinHostPort(c.IP, strconv.Itoa(c.Port))
}

// connzPage is how many connections one /connz request asks for.
const connzPage = 1024

// Usage implements provider.UsageReporter from /connz?auth=true: the connections the
// version's user still holds. None is a pass; any is a fail, each named by client name and
// address; a monitoring endpoint that does not answer is unknown.
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
	user, err := a.userOf(op, req.Version)
	if err != nil {
		return provider.UsageResponse{}, err
	}
	var held []conn
	for offset := 0; ; offset += connzPage {
		var page struct {
			Total int    `json:"total"`
			Conns []conn `json:"connections"`
		}
		if err := a.getJSON(ctx, fmt.Sprintf("/connz?auth=true&limit=%d&offset=%d", connzPage, offset), &page); err != nil {
			return provider.UsageResponse{Verdict: provider.Unknown, Detail: fmt.Sprintf("monitoring endpoint %s did not answer: %v", a.cfg.MonitorURL, err)}, nil
		}
		for _, c := range page.Conns {
			if c.User == user {
				held = append(held, c)
			}
		}
		if len(page.Conns) < connzPage || offset+len(page.Conns) >= page.Total {
			break
		}
	}
	if len(held) == 0 {
		return provider.UsageResponse{Verdict: provider.Pass, Detail: "no connection of user " + user + " in /connz"}, nil
	}
	var who, parts []string
	for i, c := range held {
		who = append(who, c.label())
		if i < 10 {
			parts = append(parts, c.label())
		} else if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more", len(held)-i))
		}
	}
	detail := fmt.Sprintf("%d connection(s) of user %s (the previous version's) still open: %s", len(held), user, strings.Join(parts, "; "))
	return provider.UsageResponse{Verdict: provider.Fail, Count: len(held), Who: who, Detail: detail}, nil
}
