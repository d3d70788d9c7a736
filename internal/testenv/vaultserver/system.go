package vaultserver

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// system answers the core endpoints a rotation and its test set-up use.
func (s *Server) system(c *call) (int, map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := c.path
	switch {
	case p == "sys/mounts" && c.method == http.MethodGet:
		data := map[string]any{}
		for k, m := range s.mounts {
			if strings.HasPrefix(k, c.ns+"|") {
				data[m.path+"/"] = map[string]any{"type": "kv", "options": map[string]any{"version": "2"}}
			}
		}
		return http.StatusOK, s.reply(c, data, nil, nil)

	case strings.HasPrefix(p, "sys/mounts/") && c.method != http.MethodGet && c.method != http.MethodDelete:
		path := strings.Trim(strings.TrimPrefix(p, "sys/mounts/"), "/")
		typ, _ := c.data["type"].(string)
		opts, _ := c.data["options"].(map[string]any)
		if typ != "kv" && typ != "kv-v2" {
			return http.StatusBadRequest, errBody("this test server mounts only kv")
		}
		if v, _ := opts["version"].(string); typ == "kv" && v != "2" {
			return http.StatusBadRequest, errBody("this test server mounts only kv version 2")
		}
		if _, dup := s.mounts[c.ns+"|"+path]; dup {
			return http.StatusBadRequest, errBody(fmt.Sprintf("path is already in use at %s/", path))
		}
		if err := s.mountKV(c.ns, path); err != nil {
			return http.StatusInternalServerError, errBody(err.Error())
		}
		return http.StatusNoContent, nil

	case strings.HasPrefix(p, "sys/namespaces/") && c.method != http.MethodGet:
		ns := strings.Trim(strings.TrimPrefix(p, "sys/namespaces/"), "/")
		if c.ns != "" {
			ns = c.ns + "/" + ns
		}
		s.namespaces[ns] = true
		return http.StatusOK, s.reply(c, map[string]any{"path": ns + "/"}, nil, nil)

	case strings.HasPrefix(p, "sys/policies/acl/") && c.method != http.MethodGet:
		name := strings.TrimPrefix(p, "sys/policies/acl/")
		text, _ := c.data["policy"].(string)
		rules, err := parsePolicy(text)
		if err != nil {
			return http.StatusBadRequest, errBody("failed to parse policy: " + err.Error())
		}
		s.policies[c.ns+"|"+name] = rules
		return http.StatusNoContent, nil

	case strings.HasPrefix(p, "sys/auth/") && c.method != http.MethodGet:
		path := strings.Trim(strings.TrimPrefix(p, "sys/auth/"), "/")
		if typ, _ := c.data["type"].(string); typ != "approle" {
			return http.StatusBadRequest, errBody("this test server enables only approle")
		}
		s.auths[c.ns+"|"+path] = true
		return http.StatusNoContent, nil

	case p == "auth/token/create" || strings.HasPrefix(p, "auth/token/create/"):
		t := &token{id: "hvs." + hex.EncodeToString(randomBytes(16)), accessor: hex.EncodeToString(randomBytes(12)), ns: c.ns}
		name, _ := c.data["display_name"].(string)
		t.displayName = "token"
		if name != "" {
			t.displayName = "token-" + name
		}
		t.policies = []string{"default"}
		for _, x := range anyStrings(c.data["policies"]) {
			if !slices.Contains(t.policies, x) {
				t.policies = append(t.policies, x)
			}
		}
		s.tokens[t.id] = t
		return http.StatusOK, s.reply(c, nil, map[string]any{"client_token": t.id, "accessor": t.accessor, "policies": t.policies,
			"token_policies": t.policies, "metadata": nil, "entity_id": "", "token_type": "service", "renewable": true, "lease_duration": 3600}, nil)

	case strings.HasPrefix(p, "sys/audit-hash/"):
		dev := strings.Trim(strings.TrimPrefix(p, "sys/audit-hash/"), "/")
		if dev != s.AuditDevice {
			return http.StatusBadRequest, errBody("unknown audit backend " + dev)
		}
		in, _ := c.data["input"].(string)
		if in == "" {
			return http.StatusBadRequest, errBody(`the "input" parameter is empty`)
		}
		return http.StatusOK, s.reply(c, map[string]any{"hash": s.Hash(in)}, nil, nil)
	}
	// auth/MOUNT/role/NAME[/role-id|/secret-id]
	if parts := strings.Split(p, "/"); len(parts) >= 4 && parts[0] == "auth" && parts[2] == "role" {
		mount := parts[1]
		if !s.auths[c.ns+"|"+mount] {
			return http.StatusNotFound, errBody("no handler for route " + p)
		}
		key := c.ns + "|" + mount + "|" + parts[3]
		r := s.roles[key]
		switch {
		case len(parts) == 4 && c.method != http.MethodGet:
			if r == nil {
				r = &role{name: parts[3], roleID: s.newUUID(), entity: s.newUUID(), secretIDs: map[string]bool{}}
				s.roles[key] = r
			}
			r.policies = anyStrings(c.data["token_policies"])
			if r.policies == nil {
				r.policies = anyStrings(c.data["policies"])
			}
			return http.StatusNoContent, nil
		case r == nil:
			return http.StatusNotFound, errBody()
		case len(parts) == 5 && parts[4] == "role-id":
			return http.StatusOK, s.reply(c, map[string]any{"role_id": r.roleID}, nil, nil)
		case len(parts) == 5 && parts[4] == "secret-id" && c.method != http.MethodGet:
			sid := s.newUUID()
			r.secretIDs[sid] = true
			return http.StatusOK, s.reply(c, map[string]any{"secret_id": sid, "secret_id_accessor": s.newUUID()}, nil, nil)
		}
	}
	return http.StatusNotFound, errBody("no handler for route " + p)
}

func anyStrings(v any) []string {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		if x == "" {
			return nil
		}
		return strings.Split(x, ",")
	}
	return nil
}

// login is auth/MOUNT/login of AppRole: role_id and secret_id give a token with the role's
// policies, display_name "approle", metadata role_name and the role's entity.
func (s *Server) login(c *call) (int, map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mount := strings.TrimSuffix(strings.TrimPrefix(c.path, "auth/"), "/login")
	if !s.auths[c.ns+"|"+mount] {
		return http.StatusNotFound, errBody("no handler for route " + c.path)
	}
	roleID, _ := c.data["role_id"].(string)
	secretID, _ := c.data["secret_id"].(string)
	for k, r := range s.roles {
		if !strings.HasPrefix(k, c.ns+"|"+mount+"|") || r.roleID != roleID {
			continue
		}
		if !r.secretIDs[secretID] {
			break
		}
		t := &token{id: "hvs." + hex.EncodeToString(randomBytes(16)), accessor: hex.EncodeToString(randomBytes(12)), ns: c.ns,
			displayName: "approle", entity: r.entity, policies: append([]string{"default"}, r.policies...),
			meta: map[string]string{"role_name": r.name}}
		s.tokens[t.id] = t
		c.tok = t
		return http.StatusOK, s.reply(c, nil, map[string]any{"client_token": t.id, "accessor": t.accessor, "policies": t.policies,
			"token_policies": t.policies, "metadata": t.meta, "entity_id": t.entity, "token_type": "service", "renewable": true, "lease_duration": 3600}, nil)
	}
	return http.StatusBadRequest, errBody("invalid role or secret ID")
}

// capabilitiesSelf answers sys/capabilities-self.
func (s *Server) capabilitiesSelf(c *call) (int, map[string]any) {
	paths := anyStrings(c.data["paths"])
	if paths == nil {
		paths = anyStrings(c.data["path"])
	}
	if len(paths) == 0 {
		return http.StatusBadRequest, errBody("paths must be supplied")
	}
	data := map[string]any{}
	for _, p := range paths {
		data[p] = s.capabilities(c.tok, c.ns, strings.TrimPrefix(p, "/"))
	}
	if len(paths) == 1 {
		data["capabilities"] = data[paths[0]]
	}
	return http.StatusOK, s.reply(c, data, nil, nil)
}

// parsePolicy reads a policy given as JSON: {"path": {PATTERN: {"capabilities": [...]}}}.
func parsePolicy(text string) (map[string][]string, error) {
	var doc struct {
		Path map[string]struct {
			Capabilities []string `json:"capabilities"`
		} `json:"path"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("this test server reads JSON policies: %w", err)
	}
	out := map[string][]string{}
	for p, r := range doc.Path {
		for _, c := range r.Capabilities {
			switch c {
			case "create", "read", "update", "patch", "delete", "list", "sudo", "deny":
			default:
				return nil, fmt.Errorf("invalid capability %q", c)
			}
		}
		out[p] = r.Capabilities
	}
	return out, nil
}
