package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// reloadTimeout bounds the wait for the server to show a new config_load_time.
const reloadTimeout = 15 * time.Second

var httpClient = &http.Client{Timeout: 10 * time.Second}

// getJSON reads path of the monitoring endpoint into v.
func (a *Authority) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(a.cfg.MonitorURL, "/")+path, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v)
}

// loadTime is the server's config_load_time from /varz.
func (a *Authority) loadTime(ctx context.Context) (string, error) {
	var varz struct {
		ConfigLoadTime string `json:"config_load_time"`
	}
	if err := a.getJSON(ctx, "/varz", &varz); err != nil {
		return "", err
	}
	if varz.ConfigLoadTime == "" {
		return "", fmt.Errorf("/varz has no config_load_time (nats-server 2.2 or newer is needed)")
	}
	return varz.ConfigLoadTime, nil
}

// serverPID reads the pid file and checks that the process is there.
func (a *Authority) serverPID() (int, error) {
	b, err := os.ReadFile(a.cfg.PIDFile)
	if err != nil {
		return 0, fmt.Errorf("read pid_file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("pid_file %s does not hold a process id", a.cfg.PIDFile)
	}
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Signal(syscall.Signal(0))
	}
	if err != nil {
		return 0, fmt.Errorf("process %d of pid_file %s: %w", pid, a.cfg.PIDFile, err)
	}
	return pid, nil
}

// preflight is what every change needs before the file is touched: the server's pid and its
// current config_load_time. Its errors are NotStarted.
func (a *Authority) preflight(ctx context.Context, op string) (int, string, error) {
	pid, err := a.serverPID()
	if err != nil {
		return 0, "", provider.NotStarted(provider.Wrap(provider.Terminal, op, err))
	}
	before, err := a.loadTime(ctx)
	if err != nil {
		return 0, "", provider.NotStarted(provider.Errorf(provider.Retryable, op, "monitoring endpoint %s: %v", a.cfg.MonitorURL, err))
	}
	return pid, before, nil
}

// reload sends SIGHUP to pid and waits until /varz shows a config_load_time other than
// before. A server that keeps its old time refused the file (its log says why): the file is
// written, so the error may have changed something.
func (a *Authority) reload(ctx context.Context, op string, pid int, before string) error {
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Signal(syscall.SIGHUP)
	}
	if err != nil {
		return provider.Errorf(provider.Retryable, op, "the auth file is written, but signalling nats-server (pid %d) to reload failed: %v", pid, err)
	}
	deadline := time.Now().Add(reloadTimeout)
	for {
		now, err := a.loadTime(ctx)
		if err == nil && now != before {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return provider.Errorf(provider.Retryable, op, "the auth file is written and nats-server (pid %d) signalled, but the reload could not be confirmed: %v", pid, err)
			}
			return provider.Errorf(provider.NeedsHuman, op, "the auth file is written and nats-server (pid %d) signalled, but its config_load_time did not change within %s: "+
				"the server kept its previous configuration (see its log: a configuration error?)", pid, reloadTimeout)
		}
		select {
		case <-ctx.Done():
			return provider.Wrap(provider.Retryable, op, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
