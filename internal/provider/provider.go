package provider

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/rotorhq/rotor/internal/secret"
)

// Identity is who acts, as declared in the inventory: the executor that writes a store, or
// the identity a consumer reads with. Config is the identity type's own config (see
// internal/builtin); providers assert the types they support and answer ErrUnsupported
// otherwise.
type Identity struct {
	ID     string
	Type   string
	Config any
}

// Version names one value of a credential without the value: the store's version id, the
// keyed fingerprint, and its stage.
type Version struct {
	ID          string    `json:"id"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Stage       Stage     `json:"stage,omitempty"`
	Enabled     bool      `json:"enabled"`
	Created     time.Time `json:"created,omitzero"`
	// Key is the idempotency key the version was written with (the run id).
	Key string `json:"key,omitempty"`
	// AuthorityRef is what the authority calls this value (an alternate role's name, a
	// client secret's key id); empty when the authority has no name for it.
	AuthorityRef string `json:"authority_ref,omitempty"`
	// Expires is when the value stops being accepted (a certificate's not-after).
	Expires time.Time `json:"expires,omitzero"`
}

// Stage is a version's label.
type Stage string

// The stage labels.
const (
	StagePending  Stage = "pending"
	StageCurrent  Stage = "current"
	StagePrevious Stage = "previous"
	StageRetired  Stage = "" // older than previous
)

// Env is what a provider may use of the outside world. The engine passes its own, so tests
// control time and randomness.
type Env struct {
	Now    func() time.Time
	Rand   io.Reader
	Getenv func(string) string
	Log    *slog.Logger
	// Fingerprint names a value by its keyed fingerprint.
	Fingerprint func(secret.Value) string
	// BaseDir is the inventory's folder: relative paths in provider configs are relative to
	// it, so an inventory means the same wherever rotor runs from.
	BaseDir string
	// Identity resolves an identity of the inventory by id, for a provider whose config
	// names one (the postgres authority's `admin`). Nil, or false, when there is none.
	Identity func(id string) (Identity, bool)
	// Shared keeps what may stay open across calls (an admin connection pool) for as long as
	// the engine's operation lasts; the engine closes it. Nil when the provider is built
	// outside one: the provider then opens what it needs per call.
	Shared *Shared
	// ReadCredential reads the current value of another credential of the inventory from its
	// store, as that credential's executor: an x509-ca authority reads its issuing CA this
	// way. The caller wipes the value. Nil when built outside an engine.
	ReadCredential func(ctx context.Context, id string) (ReadResponse, error)
	// Executor is the identity the provider acts as: the store block's `identity` for a
	// store, the authority block's for an authority. A store that logs in to a server (a
	// vault-kv store) writes, lists and labels versions as it; methods that take an identity
	// (Read, CheckWrite) use theirs. Zero when the inventory names none.
	Executor Identity
}

// Store holds the versions of a credential's value, where its consumers read it.
//
// Every method is idempotent: a retried call after a crash finds the effect of the first.
// Methods return errors classified with the kinds in errors.go.
type Store interface {
	// Put writes a new version as pending; the current version is untouched. It is
	// idempotent on req.Key: when a version with that key exists, Put returns it with
	// Created false and writes nothing.
	Put(ctx context.Context, req PutRequest) (PutResponse, error)
	// Promote makes req.Version current; the current one becomes previous. Promoting the
	// current version again is a no-op.
	Promote(ctx context.Context, req PromoteRequest) (PromoteResponse, error)
	// Versions lists the versions the store keeps, newest first.
	Versions(ctx context.Context, req VersionsRequest) (VersionsResponse, error)
	// Read reads one version as req.As — really with that identity's access, so a missing
	// permission is an error of kind Denied, never a pass.
	Read(ctx context.Context, req ReadRequest) (ReadResponse, error)
}

// PutRequest asks a store to keep a new value.
type PutRequest struct {
	Credential string
	Value      secret.Value
	Key        string // idempotency key: the run id
	// Readers are every identity that must be able to read the version (the executor and
	// each consumer); stores that encrypt per reader use them.
	Readers []Identity
	Expires time.Time
	// AuthorityRef is stored beside the value so a resumed run can tell the authority which
	// of its values this is.
	AuthorityRef string
	// As is the executor writing it (the store's identity). A store that must decrypt to
	// write — the sops store reads the file's data key with it — acts as As; a store that
	// needs no key to write ignores it.
	As Identity
}

// PutResponse is the version written (or found).
type PutResponse struct {
	Version Version
	Created bool
}

// PromoteRequest names the version to make current.
type PromoteRequest struct {
	Credential string
	Version    string
	// As is the executor (see PutRequest.As); RunID the run making the change, for a store
	// that records who changed it (the sops store's git commits). Both may be empty: a store
	// that needs them says so.
	As    Identity
	RunID string
}

// PromoteResponse says what changed.
type PromoteResponse struct {
	Current  Version
	Previous *Version // nil when there was no current version before
}

// VersionsRequest lists a credential's versions.
type VersionsRequest struct{ Credential string }

// VersionsResponse lists versions, newest first.
type VersionsResponse struct{ Versions []Version }

// ReadRequest reads one version as an identity.
type ReadRequest struct {
	Credential string
	Version    string // "" = current
	As         Identity
}

// ReadResponse carries the value, in its type.
type ReadResponse struct {
	Version Version
	Value   secret.Value
}

// VersionToggler is a store that can disable a version without deleting it (revoke) and
// enable it again (rollback).
type VersionToggler interface {
	Disable(ctx context.Context, req ToggleRequest) error
	Enable(ctx context.Context, req ToggleRequest) error
}

// ToggleRequest names a version to disable, enable or delete. As and RunID are the
// executor and the run making the change, as in PromoteRequest.
type ToggleRequest struct {
	Credential string
	Version    string
	As         Identity
	RunID      string
}

// VersionDeleter is a store that can delete a version for good (after revoke, later).
type VersionDeleter interface {
	Delete(ctx context.Context, req ToggleRequest) error
}

// Pinner is a store that can hold one consumer on a given version while the others follow
// current: the precise rollback of the failing consumers only.
type Pinner interface {
	Pin(ctx context.Context, req PinRequest) error
	Unpin(ctx context.Context, req PinRequest) error
}

// PinRequest pins (or unpins) a consumer to a version.
type PinRequest struct {
	Credential, Consumer, Version string
}

// WriteChecker is a store that can prove, without writing a version, that the executor may
// write it (readiness).
type WriteChecker interface {
	CheckWrite(ctx context.Context, req CheckWriteRequest) error
}

// CheckWriteRequest asks whether the executor can write a credential.
type CheckWriteRequest struct {
	Credential string
	As         Identity
	// Readers are every identity that must read what the executor will write (the executor
	// and each consumer, as in PutRequest.Readers). A store whose readers are fixed by the
	// store itself rather than by each write — a SOPS file's recipients — proves here that
	// each can read, and names each that cannot (kind Denied), before anything is minted.
	// A store that encrypts to whatever readers a Put names may ignore them.
	Readers []Identity
}

// IdentityChecker is a store that can say, without writing or reading a version, whether an
// identity can act on it: that it is of a type the store supports and that it resolves (an
// age identity's private key file exists, parses and holds the key of its declared
// recipient; an OS user exists on this host). Readiness asks it for the executor and every
// consumer identity before anything is minted, so that what would fail at mint or at
// read-access stops the run before it changes anything. An identity of a type the store
// does not support is an error wrapping ErrUnsupported; one that does not resolve, an error
// saying what is wrong with it (never quoting a private key). It writes nothing.
type IdentityChecker interface {
	CheckIdentity(ctx context.Context, req CheckIdentityRequest) error
}

// CheckIdentityRequest names an identity that must act on a credential's store: the executor
// (Executor true: it writes, and reads back) or a consumer (it reads).
type CheckIdentityRequest struct {
	Credential string
	Identity   Identity
	Executor   bool
}

// Resealer is a store that writes each version for its readers (per-reader encryption) and
// can write a version again for another set of readers: the same version id and value, so a
// pending version whose readers changed in the inventory (a consumer's key replaced) is made
// readable by them without minting another value. Files or grants of readers no longer listed
// are removed. It is idempotent: resealing for the readers a version already has changes
// nothing (Changed false) beyond removing what a cut-short reseal left. The value must be the
// version's own: a store that keeps its fingerprint refuses any other (NeedsHuman).
type Resealer interface {
	Reseal(ctx context.Context, req ResealRequest) (ResealResponse, error)
}

// ResealRequest writes Version again for Readers, with its value.
type ResealRequest struct {
	Credential string
	Version    string
	Value      secret.Value
	Readers    []Identity
}

// ResealResponse says what changed, for the journal (identity ids only).
type ResealResponse struct {
	Changed bool
	Detail  string
}

// ReadChecker is a store that can prove, before any version is written, that an identity may
// read a credential — by asking the server with that identity's own credentials (a vault-kv
// store asks sys/capabilities-self), never an admin's. Readiness asks it for every consumer,
// so a consumer that could not read the new version stops the run in prepare, named, before
// anything is minted. An identity that may not read is an error of kind Denied; one the
// store cannot act as is Terminal wrapping ErrUnsupported. Nothing is read or written.
type ReadChecker interface {
	CheckRead(ctx context.Context, req CheckReadRequest) error
}

// CheckReadRequest asks whether an identity can read a credential.
type CheckReadRequest struct {
	Credential string
	As         Identity
}

// CertificateLister is a store that holds certificates and can name them without a reader's
// identity: the leaf certificate of each version it keeps. A leaf is public — every TLS
// client is shown it — so listing it is not reading the value; the key, and anything else of
// the value, is never part of the answer. `rotor scan` asks it to tell a served certificate
// the inventory knows from a forgotten one, and a replaced version from the current one,
// without knowing how the store lays its versions out.
//
// Certificates lists one entry per version that Versions lists, with that same Version,
// newest first (a disabled version included: serving it is worth knowing). After them comes at
// most one entry with an empty Version.ID and Stage current: a certificate the store's
// consumers read that is none of its versions (files in place before the store's first
// promote). A store that holds nothing yet — not even created — returns an empty list, not an
// error. Listing writes nothing and takes no lock, so it may run beside a rotation: a version
// removed meanwhile is left out. A version whose certificate cannot be read is an error, of
// kind NeedsHuman when the store is damaged.
type CertificateLister interface {
	Certificates(ctx context.Context, req CertificatesRequest) (CertificatesResponse, error)
}

// CertificatesRequest lists the certificates a store holds for a credential.
type CertificatesRequest struct{ Credential string }

// CertificatesResponse lists them, in the order of CertificateLister's contract.
type CertificatesResponse struct{ Certificates []Certificate }

// Certificate is the leaf certificate of one version a store keeps.
type Certificate struct {
	Version Version
	// Leaf is the leaf certificate alone, DER: fingerprint it (pki.RefDER, what `scan`
	// shows) or parse it. Never the chain, never the key.
	Leaf []byte
	// Where says, for people, where the store keeps it or its consumers read it (a path);
	// not meant to be parsed.
	Where string
}

// Authority is the system that must accept a value. The engine calls Mint, stores the value,
// then Enable: with overlap in prepare (new beside old), with in-place at cutover (new instead
// of old). Revoke makes the previous value invalid once verify has passed.
//
// Every method is idempotent per run (req.RunID): a retried Mint returns the value its run
// already made, or discards the orphan; Enable and Revoke of an already enabled or revoked
// version succeed without another effect.
type Authority interface {
	Mint(ctx context.Context, req MintRequest) (MintResponse, error)
	Enable(ctx context.Context, req EnableRequest) (EnableResponse, error)
	Revoke(ctx context.Context, req RevokeRequest) (RevokeResponse, error)
}

// MintRequest asks for a new value.
type MintRequest struct {
	Credential string
	RunID      string
	Strategy   string
	// Current is the version now in use (nil on a first rotation): an alternating authority
	// mints on the other side.
	Current *Version
}

// MintResponse carries the new value, in its type.
type MintResponse struct {
	Value        secret.Value
	AuthorityRef string
	Expires      time.Time
}

// EnableRequest makes a stored version valid at the authority.
type EnableRequest struct {
	Credential string
	RunID      string
	Strategy   string
	Version    Version
	Value      secret.Value
	Previous   *Version
}

// EnableResponse says what the authority did.
type EnableResponse struct{ Detail string }

// RevokeRequest makes the previous version invalid.
type RevokeRequest struct {
	Credential string
	RunID      string
	Strategy   string
	Previous   Version
	Current    Version
	// EndSessions: residual use found sessions of the previous version still open, and a
	// person approved ending them. An authority whose config allows it (the postgres
	// authority's terminate_sessions) ends them; without both, none is ended.
	EndSessions bool
}

// RevokeResponse says what the authority did.
type RevokeResponse struct{ Detail string }

// Restorer is an authority that can make a previous version valid again (rollback). For an
// in-place strategy the previous value is passed back in.
type Restorer interface {
	Restore(ctx context.Context, req RestoreRequest) error
}

// RestoreRequest makes Version valid again.
type RestoreRequest struct {
	Credential string
	RunID      string
	Strategy   string
	Version    Version
	Value      secret.Value
}

// Discarder is an authority that can make invalid a value it minted for a run that was
// cancelled before cutover: a value that was never current, which no consumer was moved to.
// Enabled says whether the run's enable step began (an overlap authority that was never told
// of the value has nothing to undo). It never touches Current, the version still in use, and
// refuses when Version is Current's value at the authority. Idempotent: discarding a value
// already discarded succeeds without another effect.
type Discarder interface {
	Discard(ctx context.Context, req DiscardRequest) (DiscardResponse, error)
}

// DiscardRequest names the value to make invalid and the one that stays in use.
type DiscardRequest struct {
	Credential string
	RunID      string
	Strategy   string
	Version    Version
	Current    *Version // nil on a first rotation
	Enabled    bool
}

// DiscardResponse says what the authority did.
type DiscardResponse struct{ Detail string }

// UsageReporter is an authority, a check or a store that can say whether a version is still
// used (a vault-kv store reads its audit log). A store is asked only when its config says it
// can answer (UsageSwitch).
type UsageReporter interface {
	Usage(ctx context.Context, req UsageRequest) (UsageResponse, error)
}

// UsageRequest asks about use of a version since an instant.
type UsageRequest struct {
	Credential string
	Version    Version
	Since      time.Time
}

// UsageResponse reports residual use. Verdict is Unknown when there is no data.
type UsageResponse struct {
	Verdict Verdict
	Count   int
	Who     []string // sessions, clients, endpoints still using it
	Detail  string
}

// ManageChecker is an authority that can prove the executor may mint and revoke (readiness)
// without doing it.
type ManageChecker interface {
	CheckManage(ctx context.Context, req CheckManageRequest) error
}

// CheckManageRequest asks whether the executor can manage a credential at the authority.
type CheckManageRequest struct {
	Credential string
	Strategy   string
}

// RenewalAdvisor is an authority that can say when it suggests replacing a value it issued
// (ACME Renewal Information, RFC 9773): the plan schedules the next rotation inside that
// window, never later than the inventory's own rules. Asking is a read, and the plan asks
// with a short deadline; it never fails because of the answer.
//
// "No advice" is not an error: an authority that could ask but was told nothing (an ACME
// server without ARI) returns Advised false and says why in Detail. An error means the
// authority could not be asked or could not answer (unreachable, a certificate it does not
// know); the plan then notes that renewal information is unavailable.
type RenewalAdvisor interface {
	RenewalWindow(ctx context.Context, req RenewalWindowRequest) (RenewalWindowResponse, error)
}

// RenewalWindowRequest asks about the current version of a credential.
type RenewalWindowRequest struct {
	Credential string
	// Version is the version in use; its AuthorityRef names the value at the authority.
	Version Version
}

// RenewalWindowResponse is the authority's advice. Start and End are set only when Advised.
type RenewalWindowResponse struct {
	Advised    bool
	Start, End time.Time
	// Source names where the advice comes from ("ARI").
	Source string
	// Detail says what was asked, or why there is no advice; ExplanationURL is a page of the
	// CA explaining the window (RFC 9773 explanationURL), when it gives one.
	Detail         string
	ExplanationURL string
}

// Reloader makes one consumer pick up the value the store now gives it.
type Reloader interface {
	Reload(ctx context.Context, req ReloadRequest) (ReloadResponse, error)
}

// ReloadRequest reloads a consumer.
type ReloadRequest struct {
	Credential string
	Consumer   string
	Version    Version
}

// ReloadResponse says what was done (a command's exit, an HTTP status).
type ReloadResponse struct{ Detail string }

// Verdict is a check's result. Unknown is never a pass.
type Verdict string

// The verdicts.
const (
	Pass    Verdict = "pass"
	Fail    Verdict = "fail"
	Unknown Verdict = "unknown"
)

// Checker produces evidence.
type Checker interface {
	Check(ctx context.Context, req CheckRequest) (CheckResult, error)
}

// CheckRequest gives a check what it may compare against: the versions by id and fingerprint
// (never values), the consumer it proves, and the time range to look at.
type CheckRequest struct {
	Check      string
	Credential string
	Consumer   string // "" for a credential-wide signal
	Current    Version
	Previous   *Version
	Since      time.Time // usually the cutover
	Now        time.Time
	// Value reads the value of Current as the consumer reads it: from the store, with the
	// consumer's own identity (the executor's for a credential-wide check). Only a check
	// that must use the value — a login as the consumer — calls it, and wipes what it gets.
	// Nil when no store can be read.
	Value func(ctx context.Context) (secret.Value, error) `json:"-"`
}

// CheckResult is one piece of evidence, with its numbers.
type CheckResult struct {
	Verdict   Verdict   `json:"verdict"`
	Reason    string    `json:"reason"`
	Message   string    `json:"message,omitempty"`
	Query     string    `json:"query,omitempty"`
	Window    *Interval `json:"window,omitempty"`
	Threshold string    `json:"threshold,omitempty"`
	Observed  string    `json:"observed,omitempty"`
	Bins      []Bin     `json:"bins,omitempty"`
	At        time.Time `json:"at"`
	// CompleteAt, on an unknown result, is when the evidence will be complete (a window
	// that is not full yet): the engine gathers it again then, instead of waiting for a
	// person to run rotor again.
	CompleteAt time.Time `json:"complete_at,omitzero"`
}

// Interval is a time range.
type Interval struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Bin is one time bin of a log or metric check, with counts grouped by fields.
type Bin struct {
	Start time.Time         `json:"start"`
	Group map[string]string `json:"group,omitempty"`
	Count int               `json:"count"`
	Total int               `json:"total,omitempty"`
}

// Path resolves a path from a provider's config: a relative one is relative to the
// inventory's folder (BaseDir), so an inventory means the same wherever rotor runs from; ""
// stays "".
func (e Env) Path(p string) string {
	if p == "" {
		return ""
	}
	if !filepath.IsAbs(p) && e.BaseDir != "" {
		p = filepath.Join(e.BaseDir, p)
	}
	return filepath.Clean(p)
}
