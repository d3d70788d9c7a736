// Package vaultserver runs, for tests, Vault's real KV version 2 secrets engine
// (github.com/hashicorp/vault-plugin-secrets-kv, the very plugin Vault mounts as `kv`,
// version 2) in-process behind a small /v1 HTTP layer on 127.0.0.1, driven by the official
// client (github.com/hashicorp/vault/api) as rotor drives a real server. Rung R of
// TEST-COMPONENTS.md: versions, check-and-set, soft delete, undelete, destroy, metadata,
// custom_metadata, JSON merge patch, max_versions — every rule of the secrets engine — are
// the engine's own code, not a model of it.
//
// Vault's core does not compile as a library here, so the layer answers, itself, the few
// endpoints of the core a rotation uses, from their documented shapes:
//
//   - routing: GET (ReadOperation, query parameters as data; ?list=true and LIST list),
//     POST/PUT (UpdateOperation, or CreateOperation when the engine's existence check says
//     the entry does not exist, as core does), PATCH (PatchOperation), DELETE; a nil read is
//     404 {"errors":[]}, an error response 400, logical.ErrPermissionDenied 403, and a raw
//     response (RespondWithStatusCode: a deleted version's 404 with its metadata) is written
//     as the engine built it (https://developer.hashicorp.com/vault/api-docs#http-status-codes);
//   - ACL policies, given as JSON documents (`{"path": {"kv/data/x": {"capabilities":
//     ["read"]}}}`, which Vault and OpenBao accept as well as HCL), with the documented
//     matching rules: an exact path first, then the most specific of the `*` and `+` patterns,
//     capabilities of one pattern merged across the token's policies, `deny` winning
//     (https://developer.hashicorp.com/vault/docs/concepts/policies#priority-matching);
//     lookup-self and capabilities-self are always allowed, as the default policy allows them;
//   - sys/mounts/PATH (kv, options.version 2), sys/policies/acl/NAME, sys/namespaces/PATH,
//     sys/auth/PATH (approle), auth/token/create, auth/token/lookup-self,
//     sys/capabilities-self (`paths`, an answer per path and `capabilities` for one),
//     auth/approle/role/NAME (+ role-id, secret-id) and auth/approle/login (metadata
//     role_name, display_name "approle", one entity per role), sys/audit-hash/DEVICE
//     ({"hash": "hmac-sha256:HEX"} of `input` with the device's salt);
//   - namespaces (X-Vault-Namespace), each with its own mounts, policies and roles; a token is
//     valid in its namespace and below;
//   - a file audit device: one JSON line per request and per response, with the schema of
//     https://developer.hashicorp.com/vault/docs/audit/schema (time, type, auth{client_token,
//     accessor, display_name, policies, token_policies, metadata, entity_id, token_type},
//     request{id, operation, mount_point, mount_type, client_token, client_token_accessor,
//     namespace{id, path}, path, data, remote_address, remote_port}, response{mount_point,
//     mount_type, data}), every string of request and response data HMAC'd with the device's
//     salt except RFC 3339 timestamps, as Vault's audit/hashstructure.go does.
//
// Faults for tests: Seal (503 "Vault is sealed"), FailNext (a status for the next requests
// to a path prefix), and Deny (a 403 on a path prefix whatever the policy says).
//
// Tests that use [Connect] run against a real Vault or OpenBao instead when
// ROTOR_TEST_VAULT_ADDR and ROTOR_TEST_VAULT_TOKEN (a root token) are set; then
// ROTOR_TEST_VAULT_AUDIT_LOG and ROTOR_TEST_VAULT_AUDIT_DEVICE name its file audit device's
// log, as the test process can read it, and the device's path.
package vaultserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	"github.com/hashicorp/vault/sdk/logical"
)

// Server is the in-process KV version 2 server.
type Server struct {
	URL       string
	RootToken string
	// AuditLog is the file audit device's log; AuditDevice its path ("file").
	AuditLog, AuditDevice string

	srv  *httptest.Server
	salt []byte

	mu         sync.Mutex
	namespaces map[string]bool                // "" is the root
	mounts     map[string]*mount              // ns|path
	policies   map[string]map[string][]string // ns|name -> pattern -> caps
	tokens     map[string]*token
	auths      map[string]bool  // ns|mount of approle auth methods
	roles      map[string]*role // ns|mount|name
	auditFile  *os.File
	sealed     bool
	fails      []fault
	denies     []string
	hooks      []hook
	seq        int
}

type mount struct {
	path    string // "kv"
	ns      string
	backend logical.Backend
	storage logical.Storage
}

type token struct {
	id, accessor, ns    string
	displayName, entity string
	policies            []string
	meta                map[string]string
	root                bool
}

type role struct {
	name, roleID, entity string
	secretIDs            map[string]bool
	policies             []string
}

type hook struct {
	method, path string
	fn           func()
}

type fault struct {
	prefix string
	status int
	left   int
}

// Start runs a server until the test ends: a root token, the KV version 2 engine mounted at
// "kv" in the root namespace, and a file audit device "file" writing to a temporary file.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		namespaces: map[string]bool{"": true}, mounts: map[string]*mount{}, policies: map[string]map[string][]string{},
		tokens: map[string]*token{}, auths: map[string]bool{}, roles: map[string]*role{},
		AuditDevice: "file", salt: randomBytes(32),
	}
	s.AuditLog = filepath.Join(t.TempDir(), "audit.log")
	f, err := os.OpenFile(s.AuditLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s.auditFile = f
	s.RootToken = "root-" + hex.EncodeToString(randomBytes(12))
	s.tokens[s.RootToken] = &token{id: s.RootToken, accessor: hex.EncodeToString(randomBytes(12)), displayName: "root", policies: []string{"root"}, root: true}
	if err := s.mountKV("", "kv"); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	s.URL = s.srv.URL
	t.Cleanup(func() {
		s.srv.Close()
		s.mu.Lock()
		s.auditFile.Close()
		s.mu.Unlock()
	})
	return s
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func (s *Server) newUUID() string {
	b := randomBytes(16)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Server) mountKV(ns, path string) error {
	st := &logical.InmemStorage{}
	conf := &logical.BackendConfig{
		StorageView: st, System: logical.TestSystemView(), BackendUUID: s.newUUID(),
		Config: map[string]string{"version": "2"},
	}
	b, err := kv.Factory(context.Background(), conf)
	if err != nil {
		return err
	}
	s.mounts[ns+"|"+path] = &mount{path: path, ns: ns, backend: b, storage: st}
	return nil
}

// Seal makes every request answer 503 "Vault is sealed" until Unseal.
func (s *Server) Seal()   { s.mu.Lock(); s.sealed = true; s.mu.Unlock() }
func (s *Server) Unseal() { s.mu.Lock(); s.sealed = false; s.mu.Unlock() }

// FailNext makes the next n requests whose path (after /v1/, namespace excluded) starts
// with prefix answer status, with an error body; nothing reaches the engine.
func (s *Server) FailNext(prefix string, status, n int) {
	s.mu.Lock()
	s.fails = append(s.fails, fault{prefix, status, n})
	s.mu.Unlock()
}

// Before runs fn once, before the next request with this method and path (after /v1/) is
// handled: a concurrent writer slipped in between a client's read and its write.
func (s *Server) Before(method, path string, fn func()) {
	s.mu.Lock()
	s.hooks = append(s.hooks, hook{method, path, fn})
	s.mu.Unlock()
}

// Deny makes every request to a path starting with prefix answer 403 until the test ends.
func (s *Server) Deny(prefix string) { s.mu.Lock(); s.denies = append(s.denies, prefix); s.mu.Unlock() }

// apiError writes Vault's error body.
func apiError(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": msgs})
}

// call is one request as the layer sees it.
type call struct {
	id        string
	method    string
	ns        string
	path      string // relative to the namespace
	op        logical.Operation
	data      map[string]any
	tok       *token
	remote    string
	mountPath string
	mountType string
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		apiError(w, http.StatusNotFound)
		return
	}
	c := &call{id: s.newUUID(), method: r.Method, remote: r.RemoteAddr}
	c.ns = strings.Trim(r.Header.Get("X-Vault-Namespace"), "/")
	c.path = strings.TrimPrefix(r.URL.Path, "/v1/")
	body, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	c.data = map[string]any{}
	switch r.Method {
	case http.MethodGet:
		for k, v := range r.URL.Query() {
			if k == "list" {
				continue
			}
			c.data[k] = v[0]
		}
		c.op = logical.ReadOperation
		if r.URL.Query().Get("list") == "true" {
			c.op = logical.ListOperation
		}
	case "LIST":
		c.op = logical.ListOperation
	case http.MethodPost, http.MethodPut:
		c.op = logical.UpdateOperation
	case http.MethodPatch:
		c.op = logical.PatchOperation
	case http.MethodDelete:
		c.op = logical.DeleteOperation
	default:
		apiError(w, http.StatusMethodNotAllowed)
		return
	}
	if len(bytes.TrimSpace(body)) > 0 && r.Method != http.MethodGet {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&c.data); err != nil {
			apiError(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
			return
		}
	}
	clear(body)
	if c.op == logical.ListOperation && !strings.HasSuffix(c.path, "/") {
		c.path += "/"
	}

	s.mu.Lock()
	if s.sealed {
		s.mu.Unlock()
		apiError(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	}
	for i := range s.fails {
		if f := &s.fails[i]; f.left > 0 && strings.HasPrefix(c.path, f.prefix) {
			f.left--
			s.mu.Unlock()
			apiError(w, f.status, fmt.Sprintf("injected fault: %d", f.status))
			return
		}
	}
	if tok := requestToken(r); tok != "" {
		c.tok = s.tokens[tok]
	}
	var run func()
	for i, h := range s.hooks {
		if h.method == r.Method && h.path == c.path {
			run = h.fn
			s.hooks = slices.Delete(s.hooks, i, i+1)
			break
		}
	}
	s.mu.Unlock()
	if run != nil {
		run()
	}

	status, resp := s.route(r.Context(), c)
	s.audit(c, status, resp)
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}

func requestToken(r *http.Request) string {
	if t := r.Header.Get("X-Vault-Token"); t != "" {
		return t
	}
	if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
		return strings.TrimPrefix(a, "Bearer ")
	}
	return ""
}

// reply is a successful answer's body.
func (s *Server) reply(c *call, data map[string]any, auth map[string]any, warnings []string) map[string]any {
	return map[string]any{"request_id": c.id, "lease_id": "", "renewable": false, "lease_duration": 0,
		"data": data, "wrap_info": nil, "warnings": warnings, "auth": auth, "mount_type": c.mountType}
}

func errBody(msgs ...string) map[string]any {
	if msgs == nil {
		msgs = []string{}
	}
	return map[string]any{"errors": msgs}
}

// route answers a call: status and body (nil body for 204).
func (s *Server) route(ctx context.Context, c *call) (int, map[string]any) {
	// Unauthenticated: logins.
	if strings.HasPrefix(c.path, "auth/") && strings.HasSuffix(c.path, "/login") {
		return s.login(c)
	}
	if c.tok == nil {
		return http.StatusForbidden, errBody("permission denied")
	}
	if !c.tok.root && c.ns != c.tok.ns && !strings.HasPrefix(c.ns, c.tok.ns+"/") && c.tok.ns != "" {
		return http.StatusForbidden, errBody("permission denied")
	}
	s.mu.Lock()
	for _, p := range s.denies {
		if strings.HasPrefix(c.path, p) {
			s.mu.Unlock()
			return http.StatusForbidden, errBody("permission denied")
		}
	}
	s.mu.Unlock()
	switch {
	case c.path == "sys/capabilities-self":
		return s.capabilitiesSelf(c)
	case c.path == "auth/token/lookup-self":
		return http.StatusOK, s.reply(c, map[string]any{"id": c.tok.id, "accessor": c.tok.accessor, "display_name": c.tok.displayName,
			"entity_id": c.tok.entity, "policies": c.tok.policies, "meta": c.tok.meta, "type": "service"}, nil, nil)
	case strings.HasPrefix(c.path, "sys/") || strings.HasPrefix(c.path, "auth/"):
		if !s.allowed(c.tok, c.ns, c.path, capOf(c.op)) {
			return http.StatusForbidden, errBody("1 error occurred:\n\t* permission denied\n\n")
		}
		return s.system(c)
	}
	return s.logical(ctx, c)
}

func capOf(op logical.Operation) string {
	switch op {
	case logical.ReadOperation:
		return "read"
	case logical.ListOperation:
		return "list"
	case logical.CreateOperation:
		return "create"
	case logical.PatchOperation:
		return "patch"
	case logical.DeleteOperation:
		return "delete"
	}
	return "update"
}

// logical routes a call to the KV engine mounted at the path's first segments.
func (s *Server) logical(ctx context.Context, c *call) (int, map[string]any) {
	s.mu.Lock()
	var m *mount
	for k, mt := range s.mounts {
		if strings.HasPrefix(k, c.ns+"|") && (c.path == mt.path || strings.HasPrefix(c.path, mt.path+"/")) {
			if m == nil || len(mt.path) > len(m.path) {
				m = mt
			}
		}
	}
	s.mu.Unlock()
	if m == nil {
		return http.StatusNotFound, errBody(fmt.Sprintf("no handler for route %q. route entry not found.", c.path))
	}
	c.mountPath, c.mountType = m.path+"/", "kv"
	req := &logical.Request{
		ID: c.id, Operation: c.op, Path: strings.TrimPrefix(strings.TrimPrefix(c.path, m.path), "/"), Data: c.data,
		Storage: m.storage, ClientToken: c.tok.id, ClientTokenAccessor: c.tok.accessor, EntityID: c.tok.entity,
		DisplayName: c.tok.displayName, MountPoint: c.mountPath, MountType: "kv",
		Connection: &logical.Connection{RemoteAddr: hostOf(c.remote)},
	}
	if c.op == logical.UpdateOperation {
		checkFound, exists, err := m.backend.HandleExistenceCheck(ctx, req)
		if err == nil && checkFound && !exists {
			req.Operation = logical.CreateOperation
			c.op = logical.CreateOperation
		}
	}
	if !s.allowed(c.tok, c.ns, c.path, capOf(req.Operation)) {
		return http.StatusForbidden, errBody("1 error occurred:\n\t* permission denied\n\n")
	}
	resp, err := m.backend.HandleRequest(ctx, req)
	if resp != nil && resp.Data != nil {
		if code, ok := resp.Data[logical.HTTPStatusCode].(int); ok {
			raw, _ := resp.Data[logical.HTTPRawBody].([]byte)
			var body map[string]any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			_ = dec.Decode(&body)
			return code, body
		}
	}
	status, rerr := logical.RespondErrorCommon(req, resp, err)
	switch {
	case rerr != nil:
		if status == 0 {
			status = http.StatusInternalServerError
		}
		return status, errBody(rerr.Error())
	case status != 0:
		return status, errBody()
	case resp == nil:
		return http.StatusNoContent, nil
	}
	return http.StatusOK, s.reply(c, toJSONMap(resp.Data), nil, resp.Warnings)
}

// toJSONMap makes the engine's answer into what a JSON client decodes (numbers stay
// numbers, times become strings).
func toJSONMap(d map[string]any) map[string]any {
	if d == nil {
		return nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return map[string]any{}
	}
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	_ = dec.Decode(&out)
	return out
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func portOf(addr string) int {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		n, _ := strconv.Atoi(p)
		return n
	}
	return 0
}

// ReadAuditLog returns the audit log's lines (for tests that look at it).
func (s *Server) ReadAuditLog() ([]map[string]any, error) {
	f, err := os.Open(s.AuditLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// Hash is what the audit device logs for s (sys/audit-hash).
func (s *Server) Hash(in string) string {
	h := hmac.New(sha256.New, s.salt)
	h.Write([]byte(in))
	return "hmac-sha256:" + hex.EncodeToString(h.Sum(nil))
}

var errNoMount = errors.New("no such mount")

// sorted returns a sorted copy.
func sorted(in []string) []string { out := slices.Clone(in); slices.Sort(out); return out }

var _ = time.Now
