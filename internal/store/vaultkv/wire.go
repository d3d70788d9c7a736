package vaultkv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	vault "github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/internal/provider"
)

// The KV version 2 HTTP API, as documented for Vault and OpenBao
// (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2, https://openbao.org/api-docs/secret/kv/kv-v2/):
//
//	GET    /v1/MOUNT/data/PATH?version=N   read a version (404 with its metadata when deleted or destroyed)
//	POST   /v1/MOUNT/data/PATH             write a new version; options.cas = the current version, or 0 for none yet
//	GET    /v1/MOUNT/metadata/PATH         versions, current_version, custom_metadata
//	PATCH  /v1/MOUNT/metadata/PATH         JSON merge patch of custom_metadata (a null removes a key)
//	POST   /v1/MOUNT/delete/PATH           soft-delete versions (undeletable)
//	POST   /v1/MOUNT/undelete/PATH         undelete versions
//	POST   /v1/MOUNT/destroy/PATH          destroy versions' data for good
//
// Values travel in request and response bodies that this file builds and reads as bytes it
// owns, and wipes: a value never becomes a Go string, which could not be wiped.

// stagingKeyField is the key of the idempotency key beside a staged value, so that a Put
// that crashed between writing the value and indexing it is recognised by its retry.
const stagingKeyField = "rotor_key"

// verMeta is one version in a secret's metadata.
type verMeta struct {
	Created   time.Time
	Deleted   bool // soft-deleted: deletion_time set and passed
	Destroyed bool
}

// secretMeta is a secret's metadata; found is false when the secret does not exist.
type secretMeta struct {
	found    bool
	current  int
	versions map[int]verMeta
	custom   map[string]string
}

type rawVerMeta struct {
	CreatedTime  string `json:"created_time"`
	DeletionTime string `json:"deletion_time"`
	Destroyed    bool   `json:"destroyed"`
}

func (r rawVerMeta) meta(now time.Time) verMeta {
	v := verMeta{Destroyed: r.Destroyed}
	v.Created, _ = time.Parse(time.RFC3339Nano, r.CreatedTime)
	if r.DeletionTime != "" {
		if t, err := time.Parse(time.RFC3339Nano, r.DeletionTime); err == nil && !t.After(now) {
			v.Deleted = true
		}
	}
	return v
}

// apiPath is the API path (without /v1) of a KV v2 endpoint.
func (s *Store) apiPath(kind, p string) string {
	return s.mount + "/" + kind + "/" + p
}

// do sends one request and returns the response body (which the caller wipes when it may
// hold a value) or a classified error. A 404 returns the body with errNotFound404.
func (s *Store) do(ctx context.Context, c *vault.Client, op, method, apiPath string, query url.Values, body []byte, contentType string) ([]byte, error) {
	r := c.NewRequest(method, "/v1/"+apiPath)
	if query != nil {
		r.Params = query
	}
	if body != nil {
		r.BodyBytes = body
	}
	if contentType != "" {
		r.Headers.Set("Content-Type", contentType)
	}
	//nolint:staticcheck // RawRequestWithContext is the client's way to send bytes we own.
	resp, err := c.RawRequestWithContext(ctx, r)
	var out []byte
	if resp != nil && resp.Body != nil {
		out, _ = io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
	}
	if err != nil {
		var re *vault.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return out, errNotFound404
		}
		wipe(out)
		return nil, s.classify(op, apiPath, err)
	}
	return out, nil
}

// errNotFound404 marks a 404 from the server; callers say what was not found.
var errNotFound404 = errors.New("404")

// readMeta reads a secret's metadata.
func (s *Store) readMeta(ctx context.Context, c *vault.Client, p string) (secretMeta, error) {
	const op = "read metadata"
	body, err := s.do(ctx, c, op, http.MethodGet, s.apiPath("metadata", p), nil, nil, "")
	if errors.Is(err, errNotFound404) {
		return secretMeta{versions: map[int]verMeta{}, custom: map[string]string{}}, nil
	}
	if err != nil {
		return secretMeta{}, err
	}
	var raw struct {
		Data struct {
			CurrentVersion json.Number           `json:"current_version"`
			CustomMetadata map[string]string     `json:"custom_metadata"`
			Versions       map[string]rawVerMeta `json:"versions"`
		} `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return secretMeta{}, provider.Errorf(provider.Retryable, op, "%s: the answer is not KV version 2 metadata: %v", s.apiPath("metadata", p), err)
	}
	m := secretMeta{found: true, versions: map[int]verMeta{}, custom: raw.Data.CustomMetadata}
	if m.custom == nil {
		m.custom = map[string]string{}
	}
	cur, _ := raw.Data.CurrentVersion.Int64()
	m.current = int(cur)
	now := s.env.Now()
	for k, v := range raw.Data.Versions {
		n, err := strconv.Atoi(k)
		if err != nil || n <= 0 {
			continue
		}
		m.versions[n] = v.meta(now)
	}
	return m, nil
}

// dataRead is one version read from a data endpoint. value and key are bytes the caller
// wipes (value() takes value).
type dataRead struct {
	version int
	meta    verMeta
	custom  map[string]string
	value   []byte // nil when the field is absent
	key     string // the staged idempotency key, if any
}

// readData reads a version (0: the newest) of a secret as the client's identity. A version
// that is deleted, destroyed or absent is an error wrapping provider.ErrNotFound (with the
// version's metadata in the answer when the server gave it).
func (s *Store) readData(ctx context.Context, c *vault.Client, op, p string, version int, field string) (dataRead, error) {
	var q url.Values
	if version > 0 {
		q = url.Values{"version": {strconv.Itoa(version)}}
	}
	where := s.apiPath("data", p)
	if version > 0 {
		where += "?version=" + strconv.Itoa(version)
	}
	body, err := s.do(ctx, c, op, http.MethodGet, s.apiPath("data", p), q, nil, "")
	defer wipe(body)
	notFound := errors.Is(err, errNotFound404)
	if err != nil && !notFound {
		return dataRead{}, err
	}
	var raw struct {
		Data *struct {
			Data     map[string]json.RawMessage `json:"data"`
			Metadata *struct {
				Version        json.Number       `json:"version"`
				CustomMetadata map[string]string `json:"custom_metadata"`
				rawVerMeta
			} `json:"metadata"`
		} `json:"data"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if derr := dec.Decode(&raw); derr != nil && !notFound {
			return dataRead{}, provider.Errorf(provider.Retryable, op, "%s: the answer is not a KV version 2 secret", where)
		}
	}
	var out dataRead
	if raw.Data != nil && raw.Data.Metadata != nil {
		n, _ := raw.Data.Metadata.Version.Int64()
		out.version = int(n)
		out.meta = raw.Data.Metadata.rawVerMeta.meta(s.env.Now())
		out.custom = raw.Data.Metadata.CustomMetadata
	}
	if raw.Data != nil {
		defer func() {
			for _, v := range raw.Data.Data {
				wipe(v)
			}
		}()
	}
	switch {
	case notFound && out.meta.Destroyed:
		return out, provider.Errorf(provider.Terminal, op, "%s: version %d was destroyed: %w", where, out.version, provider.ErrNotFound)
	case notFound && out.meta.Deleted:
		return out, provider.Errorf(provider.Terminal, op, "%s: version %d is deleted (disabled): %w", where, out.version, provider.ErrNotFound)
	case notFound:
		return out, provider.Errorf(provider.Terminal, op, "%s: no such secret or version: %w", where, provider.ErrNotFound)
	case raw.Data == nil || raw.Data.Metadata == nil:
		return out, provider.Errorf(provider.Retryable, op, "%s: the answer is not a KV version 2 secret (no data or metadata)", where)
	}
	if rk, ok := raw.Data.Data[stagingKeyField]; ok {
		k, err := unquoteJSON(rk)
		if err == nil {
			out.key = string(k)
		}
	}
	if rv, ok := raw.Data.Data[field]; ok {
		v, err := unquoteJSON(rv)
		if err != nil {
			return out, provider.Errorf(provider.Terminal, op, "%s: version %d: field %q is not a string", where, out.version, field)
		}
		out.value = v
	}
	return out, nil
}

// writeData writes a new version of a secret with check-and-set: cas is the version the
// caller read as current (0: the secret has none). The body holds the value; it is wiped.
// It returns the new version's number.
func (s *Store) writeData(ctx context.Context, c *vault.Client, op, p string, field string, value []byte, key string, cas int) (int, error) {
	if !utf8.Valid(value) {
		return 0, provider.Errorf(provider.Terminal, op, "%s: the value is not UTF-8 text; a KV secret's data is JSON text", s.apiPath("data", p))
	}
	// Room for the worst escaping (\u00XX: 6 bytes a byte), so the body never moves and leaves
	// a copy of the value behind.
	body := make([]byte, 0, 6*(len(value)+len(field)+len(key))+64)
	body = append(body, `{"data":{`...)
	body = appendJSONString(body, []byte(field))
	body = append(body, ':')
	body = appendJSONString(body, value)
	if key != "" {
		body = append(body, ',')
		body = appendJSONString(body, []byte(stagingKeyField))
		body = append(body, ':')
		body = appendJSONString(body, []byte(key))
	}
	body = append(body, `},"options":{"cas":`...)
	body = strconv.AppendInt(body, int64(cas), 10)
	body = append(body, `}}`...)
	defer wipe(body)
	out, err := s.do(ctx, c, op, http.MethodPost, s.apiPath("data", p), nil, body, "application/json")
	if errors.Is(err, errNotFound404) {
		return 0, provider.Errorf(provider.Terminal, op, "%s: the mount %q does not exist or is not KV version 2: %w", s.apiPath("data", p), s.mount, provider.ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	var raw struct {
		Data struct {
			Version json.Number `json:"version"`
		} `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return 0, provider.Errorf(provider.Retryable, op, "%s: the answer to a write has no version: %v", s.apiPath("data", p), err)
	}
	n, err := raw.Data.Version.Int64()
	if err != nil || n <= 0 {
		return 0, provider.Errorf(provider.Retryable, op, "%s: the answer to a write has no version", s.apiPath("data", p))
	}
	return int(n), nil
}

// patchCustom applies a JSON merge patch to a secret's custom_metadata: a nil value removes
// the key. The secret's metadata must exist.
func (s *Store) patchCustom(ctx context.Context, c *vault.Client, op, p string, set map[string]*string) error {
	if len(set) == 0 {
		return nil
	}
	body, err := json.Marshal(map[string]any{"custom_metadata": set})
	if err != nil {
		return provider.Wrap(provider.Terminal, op, err)
	}
	_, err = s.do(ctx, c, op, http.MethodPatch, s.apiPath("metadata", p), nil, body, "application/merge-patch+json")
	if errors.Is(err, errNotFound404) {
		return provider.Errorf(provider.Terminal, op, "%s: the secret has no metadata: %w", s.apiPath("metadata", p), provider.ErrNotFound)
	}
	return err
}

// versionsOp soft-deletes, undeletes or destroys versions of a secret (kind: delete,
// undelete, destroy). Each is idempotent on the server.
func (s *Store) versionsOp(ctx context.Context, c *vault.Client, op, kind, p string, versions ...int) error {
	body, err := json.Marshal(map[string]any{"versions": versions})
	if err != nil {
		return provider.Wrap(provider.Terminal, op, err)
	}
	_, err = s.do(ctx, c, op, http.MethodPost, s.apiPath(kind, p), nil, body, "application/json")
	if errors.Is(err, errNotFound404) {
		return provider.Errorf(provider.Terminal, op, "%s: %w", s.apiPath(kind, p), provider.ErrNotFound)
	}
	return err
}

// capabilities asks sys/capabilities-self what the client's token may do on each path.
func (s *Store) capabilities(ctx context.Context, c *vault.Client, op string, paths []string) (map[string][]string, error) {
	body, err := json.Marshal(map[string]any{"paths": paths})
	if err != nil {
		return nil, provider.Wrap(provider.Terminal, op, err)
	}
	out, err := s.do(ctx, c, op, http.MethodPost, "sys/capabilities-self", nil, body, "application/json")
	if errors.Is(err, errNotFound404) {
		return nil, provider.Errorf(provider.Terminal, op, "sys/capabilities-self: not found on this server")
	}
	if err != nil {
		return nil, err
	}
	var raw struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, provider.Errorf(provider.Retryable, op, "sys/capabilities-self: unreadable answer: %v", err)
	}
	caps := map[string][]string{}
	for _, p := range paths {
		list, _ := raw.Data[p].([]any)
		if list == nil && len(paths) == 1 {
			list, _ = raw.Data["capabilities"].([]any)
		}
		for _, x := range list {
			if s, ok := x.(string); ok {
				caps[p] = append(caps[p], s)
			}
		}
	}
	return caps, nil
}

// auditHash asks sys/audit-hash/DEVICE for the HMAC the audit device logs for input (a
// value: the body is wiped).
func (s *Store) auditHash(ctx context.Context, c *vault.Client, op, device string, input []byte) (string, error) {
	body := make([]byte, 0, 6*len(input)+16)
	body = append(body, `{"input":`...)
	body = appendJSONString(body, input)
	body = append(body, '}')
	defer wipe(body)
	out, err := s.do(ctx, c, op, http.MethodPost, "sys/audit-hash/"+device, nil, body, "application/json")
	if errors.Is(err, errNotFound404) {
		return "", provider.Errorf(provider.Terminal, op, "sys/audit-hash/%s: no such audit device", device)
	}
	if err != nil {
		return "", err
	}
	var raw struct {
		Data struct {
			Hash string `json:"hash"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &raw); err != nil || raw.Data.Hash == "" {
		return "", provider.Errorf(provider.Retryable, op, "sys/audit-hash/%s: the answer has no hash", device)
	}
	return raw.Data.Hash, nil
}

// appendJSONString appends b as a JSON string (b is valid UTF-8).
func appendJSONString(dst, b []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// unquoteJSON decodes one JSON string token into new bytes.
func unquoteJSON(raw []byte) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, errors.New("not a JSON string")
	}
	in := raw[1 : len(raw)-1]
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(in) {
			wipe(out)
			return nil, errors.New("bad escape")
		}
		switch in[i] {
		case '"', '\\', '/':
			out = append(out, in[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(in[i+1:])
			if !ok {
				wipe(out)
				return nil, errors.New("bad \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) && i+2 < len(in) && in[i+1] == '\\' && in[i+2] == 'u' {
				if r2, ok := hex4(in[i+3:]); ok {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					}
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			wipe(out)
			return nil, fmt.Errorf("bad escape \\%c", in[i])
		}
	}
	return out, nil
}

// hex4 reads 4 hex digits.
func hex4(in []byte) (rune, bool) {
	if len(in) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range in[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// wipe zeroes bytes that held a value.
func wipe(b []byte) { clear(b) }
