package vaultkv

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/internal/provider"
)

// Residual use of the previous version, from a Vault file audit device's log.
//
// The file audit device writes one JSON object per line, a "request" entry and a "response"
// entry per request (https://developer.hashicorp.com/vault/docs/audit/schema; OpenBao's
// audit/format.go, the same shape). Every string of a request or a response — a secret's
// value included — is logged as the device's HMAC of it ("hmac-sha256:…"), and
// sys/audit-hash/DEVICE computes that HMAC for any input. So rotor reads the previous value
// as the executor, asks the device for its HMAC (in memory; the HMAC is never stored), and
// looks for response entries of reads of the secret, after the cutover, whose
// response.data.data.FIELD is that HMAC: whoever made them still reads the previous value
// (a consumer pinned to ?version=N by hand, a copy of the old config). The reader is named
// by auth.display_name, auth.metadata.role_name, auth.entity_id and request.remote_address.
//
// rotor's own reads are not counted (auth.entity_id of the executor, or its token's HMAC in
// auth.client_token); the read made just before scanning must appear in the log, which
// proves that the log is the device's and is current. A missing or unreadable log, a log
// that does not show that read, or a device that cannot hash is an unknown answer, never a
// pass.

// auditEntry is the part of an audit log line rotor reads.
type auditEntry struct {
	Time string `json:"time"`
	Type string `json:"type"`
	Auth *struct {
		ClientToken string            `json:"client_token"`
		DisplayName string            `json:"display_name"`
		EntityID    string            `json:"entity_id"`
		Metadata    map[string]string `json:"metadata"`
	} `json:"auth"`
	Request *struct {
		Operation  string `json:"operation"`
		Path       string `json:"path"`
		RemoteAddr string `json:"remote_address"`
		Namespace  *struct {
			Path string `json:"path"`
		} `json:"namespace"`
	} `json:"request"`
	Response *struct {
		Data struct {
			Data map[string]any `json:"data"`
		} `json:"data"`
	} `json:"response"`
}

// maxAuditLine bounds one line of the log (a response with large data).
const maxAuditLine = 4 << 20

// Usage implements provider.UsageReporter.
func (s *Store) Usage(ctx context.Context, req provider.UsageRequest) (provider.UsageResponse, error) {
	const op = "residual use"
	unknown := func(format string, args ...any) (provider.UsageResponse, error) {
		return provider.UsageResponse{Verdict: provider.Unknown, Detail: fmt.Sprintf(format, args...)}, nil
	}
	a := s.cfg.AuditLog
	if a.Path == "" {
		return unknown("the store has no audit_log: it cannot see who reads the previous version")
	}
	device := a.Device
	if device == "" {
		device = defaultDevice
	}
	bin := a.Bin
	if bin == 0 {
		bin = defaultBin
	}
	logPath := s.env.Path(a.Path)
	if _, err := os.Stat(logPath); err != nil {
		return unknown("the audit log %s cannot be read: %v", logPath, errors.Unwrap(err))
	}
	c, err := s.executor(ctx, op)
	if err != nil {
		return unknown("%v", err)
	}
	ix, err := s.load(ctx, c)
	if err != nil {
		return unknown("%v", err)
	}
	w, ok := ix.locate(req.Version.ID)
	if !ok || w.n == 0 {
		return unknown("version %s is not a version of %s any more: its reads cannot be recognised", req.Version.ID, s.secretName())
	}
	// The read below is logged like any other: finding it proves the log is live.
	readAt := s.env.Now()
	val, err := s.readPrevious(ctx, c, op, w)
	if err != nil {
		return unknown("read the previous version %s as the executor to recognise it: %v", req.Version.ID, err)
	}
	valueHash, err := s.auditHash(ctx, c, op, device, val)
	wipe(val)
	if err != nil {
		return unknown("sys/audit-hash/%s: %v", device, err)
	}
	self, err := s.selfMarks(ctx, c, op, device)
	if err != nil {
		return unknown("%v", err)
	}
	f, err := os.Open(logPath)
	if err != nil {
		return unknown("the audit log %s cannot be read: %v", logPath, errors.Unwrap(err))
	}
	defer f.Close()
	since := req.Since
	if a.Window > 0 && readAt.Add(-a.Window).After(since) {
		since = readAt.Add(-a.Window)
	}
	res, err := s.scanAudit(f, valueHash, self, since, readAt, bin)
	if err != nil {
		return unknown("the audit log %s: %v", logPath, err)
	}
	if !res.sawSelf {
		return unknown("the audit log %s does not show rotor's own read of %s made at %s: it is not the log of audit device %q, or it is not current",
			logPath, s.secretName(), readAt.UTC().Format(time.RFC3339), device)
	}
	where := fmt.Sprintf("%s?version=%d", s.secretName(), w.n)
	if res.count == 0 {
		return provider.UsageResponse{Verdict: provider.Pass,
			Detail: fmt.Sprintf("no read of the previous version %s (%s) since %s in audit log %s", req.Version.ID, where, since.UTC().Format(time.RFC3339), logPath)}, nil
	}
	return provider.UsageResponse{Verdict: provider.Fail, Count: res.count, Who: res.who,
		Detail: fmt.Sprintf("%d read(s) of the previous version %s (%s) since %s, by bin of %s: %s", res.count, req.Version.ID, where,
			since.UTC().Format(time.RFC3339), bin, strings.Join(res.bins, "; "))}, nil
}

// readPrevious reads the value of a version of the secret as the executor.
func (s *Store) readPrevious(ctx context.Context, c *vault.Client, op string, w where) ([]byte, error) {
	d, err := s.readData(ctx, c, op, s.path, w.n, s.field)
	if err != nil {
		wipe(d.value)
		return nil, err
	}
	if d.value == nil {
		return nil, fmt.Errorf("version %d has no field %q", w.n, s.field)
	}
	return d.value, nil
}

// marks recognise rotor's own entries in the log.
type marks struct {
	entity    string
	tokenHash string
}

// selfMarks are the executor's entity id (auth/token/lookup-self) and its token's HMAC.
func (s *Store) selfMarks(ctx context.Context, c *vault.Client, op, device string) (marks, error) {
	var m marks
	out, err := s.do(ctx, c, op, http.MethodGet, "auth/token/lookup-self", nil, nil, "")
	if err != nil {
		return m, fmt.Errorf("auth/token/lookup-self: %w", err)
	}
	var raw struct {
		Data struct {
			EntityID string `json:"entity_id"`
		} `json:"data"`
	}
	_ = json.Unmarshal(out, &raw)
	m.entity = raw.Data.EntityID
	tok := []byte(c.Token())
	m.tokenHash, err = s.auditHash(ctx, c, op, device, tok)
	clear(tok)
	if err != nil {
		return m, fmt.Errorf("sys/audit-hash/%s: %w", device, err)
	}
	return m, nil
}

type auditResult struct {
	count   int
	who     []string
	bins    []string
	sawSelf bool
}

// scanAudit reads the log and counts the reads of the secret since since whose value is the
// one hashed, by time bin and reader; rotor's own are left out, and sawSelf says whether the
// one made at readAt (or later) was seen.
func (s *Store) scanAudit(r io.Reader, valueHash string, self marks, since, readAt time.Time, bin time.Duration) (auditResult, error) {
	var res auditResult
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxAuditLine)
	target := s.apiPath("data", s.path)
	ns := trimSlash(s.cfg.Namespace)
	type key struct {
		start time.Time
		who   string
	}
	counts := map[key]int{}
	seen := map[string]bool{}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || !strings.Contains(string(line), `"response"`) {
			continue
		}
		var e auditEntry
		if err := json.Unmarshal(line, &e); err != nil {
			continue // not an entry (a partial last line, another format)
		}
		if e.Type != "response" || e.Request == nil || e.Response == nil || e.Request.Operation != "read" {
			continue
		}
		path := strings.TrimPrefix(e.Request.Path, "/")
		if e.Request.Namespace != nil && ns != "" && trimSlash(e.Request.Namespace.Path) != ns {
			continue
		}
		if ns != "" && strings.HasPrefix(path, ns+"/") { // a path given with its namespace
			path = strings.TrimPrefix(path, ns+"/")
		}
		if path != target {
			continue
		}
		got, _ := e.Response.Data.Data[s.field].(string)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(valueHash)) != 1 {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil {
			continue
		}
		if e.Auth != nil && ((self.entity != "" && e.Auth.EntityID == self.entity) || (self.tokenHash != "" && e.Auth.ClientToken == self.tokenHash)) {
			if !at.Before(readAt.Add(-clockSkew)) {
				res.sawSelf = true
			}
			continue
		}
		if at.Before(since) {
			continue
		}
		who := reader(e)
		counts[key{at.UTC().Truncate(bin), who}]++
		res.count++
		if !seen[who] {
			seen[who] = true
			res.who = append(res.who, who)
		}
	}
	if err := sc.Err(); err != nil {
		return res, err
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return strings.Compare(a.who, b.who)
	})
	for _, k := range keys {
		res.bins = append(res.bins, fmt.Sprintf("%s %s ×%d", k.start.Format("2006-01-02 15:04 UTC"), k.who, counts[k]))
	}
	return res, nil
}

// reader names who made a request, from what the log shows in clear.
func reader(e auditEntry) string {
	var parts []string
	if e.Auth != nil {
		name := e.Auth.DisplayName
		if role := e.Auth.Metadata["role_name"]; role != "" {
			name += " role " + role
		}
		if name != "" {
			parts = append(parts, name)
		}
		if e.Auth.EntityID != "" {
			parts = append(parts, "entity "+e.Auth.EntityID)
		}
	}
	if e.Request.RemoteAddr != "" {
		parts = append(parts, "from "+e.Request.RemoteAddr)
	}
	if len(parts) == 0 {
		return "an unnamed reader"
	}
	return strings.Join(parts, ", ")
}

// clockSkew is how much earlier than rotor's clock the server may have logged rotor's own
// read and still prove the log current.
const clockSkew = 5 * time.Minute
