package vaultserver

import (
	"encoding/json"
	"strings"
	"time"
)

// audit writes the request and response entries of a call to the file audit device, with
// every string of the data HMAC'd except RFC 3339 timestamps (Vault's audit/hashstructure.go:
// map keys are kept, strings that parse as a time are kept, numbers and booleans are kept).
func (s *Server) audit(c *call, status int, resp map[string]any) {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	auth := s.auditAuth(c.tok)
	req := map[string]any{
		"id": c.id, "operation": string(c.op), "mount_point": c.mountPath, "mount_type": c.mountType,
		"namespace": map[string]any{"id": nsID(c.ns), "path": nsPath(c.ns)}, "path": c.path,
		"data": s.hashValue(c.data), "remote_address": hostOf(c.remote), "remote_port": portOf(c.remote),
	}
	if c.tok != nil {
		req["client_token"] = s.Hash(c.tok.id)
		req["client_token_accessor"] = s.Hash(c.tok.accessor)
	}
	entries := []map[string]any{{"time": now, "type": "request", "auth": auth, "request": req}}
	out := map[string]any{"time": now, "type": "response", "auth": auth, "request": req}
	r := map[string]any{"mount_point": c.mountPath, "mount_type": c.mountType}
	if resp != nil {
		if d, ok := resp["data"].(map[string]any); ok {
			r["data"] = s.hashValue(d)
		}
		if errs, ok := resp["errors"].([]string); ok && status >= 400 {
			out["error"] = strings.Join(errs, "; ")
		}
	}
	out["response"] = r
	entries = append(entries, out)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			continue
		}
		_, _ = s.auditFile.Write(append(b, '\n'))
	}
}

func nsID(ns string) string {
	if ns == "" {
		return "root"
	}
	return "ns-" + strings.ReplaceAll(ns, "/", "-")
}

func nsPath(ns string) string {
	if ns == "" {
		return ""
	}
	return ns + "/"
}

func (s *Server) auditAuth(t *token) map[string]any {
	if t == nil {
		return nil
	}
	a := map[string]any{"client_token": s.Hash(t.id), "accessor": s.Hash(t.accessor), "display_name": t.displayName,
		"policies": t.policies, "token_policies": t.policies, "entity_id": t.entity, "token_type": "service"}
	if len(t.meta) > 0 {
		a["metadata"] = t.meta
	}
	return a
}

// hashValue returns a copy of v with its strings HMAC'd.
func (s *Server) hashValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = s.hashValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = s.hashValue(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = s.hashValue(e)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = s.hashValue(e)
		}
		return out
	case string:
		var t time.Time
		if err := t.UnmarshalText([]byte(x)); err == nil {
			return x
		}
		return s.Hash(x)
	}
	return v
}
