// Package pemfiles is the `pem-files` store: a certificate credential handed to its consumers
// (nginx, HAProxy, a Go service) as PEM files in one directory — the leaf certificate, its
// chain, the leaf followed by the chain, and the PKCS #8 private key — swapped as one unit, so
// that no reader ever opens a certificate with another version's key.
//
// Values are certificate bundles (internal/pki). Put refuses garbage PEM, a key that does not
// match its certificate and a bundle not in pki.Encode's form before anything is written:
// the engine fingerprints the value it stored and compares it with what a consumer reads
// back, and the files hold exactly pki.Encode's bytes (leaf, chain, key).
//
// # Layout
//
// The layout is the one Kubernetes' AtomicWriter uses for secret volumes. For `dir: D`:
//
//	D/
//	  cert.pem      -> ..live/cert.pem        the visible names, symlinks made once
//	  chain.pem     -> ..live/chain.pem
//	  fullchain.pem -> ..live/fullchain.pem
//	  key.pem       -> ..live/key.pem
//	  ..live        -> .versions/v0007-3f2a9c1b   the one pointer to the current version
//	  .lock                                   flock(2) target, held around every change
//	  .versions/
//	    rotor-pins.json                       consumers held on a version (see below)
//	    v0007-3f2a9c1b/                       one version, never changed once written
//	      cert.pem chain.pem fullchain.pem    cert_mode (0644)
//	      key.pem                             key_mode (0600), owner and group as configured
//	      rotor-version.json                  0600: key, fingerprint, authority ref, expiry,
//	                                          created, promoted, enabled, previous — no value
//
// Promote swaps ..live with one rename(2) of a new symlink over it: a reader that resolves
// ..live once (opens ..live/cert.pem and ..live/key.pem through the same resolved directory,
// or reads a version directory) sees one version whole. The visible names each resolve ..live
// when opened, so a reader that opens cert.pem and key.pem at the very instant of a swap can
// straddle it; rotor reloads consumers after the promote has finished, so a reload never
// does, and nginx refuses a mismatched pair at reload instead of serving it.
//
// The stage of a version is not stored: current is what ..live points at, previous is the
// version that was current when the current one was promoted (recorded in its metadata),
// pending a version never promoted, and every other one retired. So the one rename is the
// whole promote, and a crash cannot leave two versions current.
//
// # Holding one consumer back
//
// The precise rollback puts only the failing consumers back on the previous version
// (provider.Pinner). A consumer that reads D itself shares its files with every other one, so
// it cannot be held alone; a consumer listed under `consumers: {vhost-b: b}` reads D/b/
// instead — its own visible names and its own ..live, a relative link into the shared
// versions (D/b/..live -> ../.versions/v0006-…), made at the first Put or Promote:
//
//	D/b/
//	  cert.pem -> ..live/cert.pem   chain.pem, fullchain.pem, key.pem alike
//	  ..live   -> ../.versions/v0006-81d0e4aa
//
// Which version each listed consumer reads is recorded in .versions/rotor-pins.json (consumer
// id -> version; a consumer without an entry follows current). Pin writes the record, synced,
// then swaps that consumer's ..live with one rename; Unpin removes the entry and swaps it back
// to current; Promote swaps D/..live and then the ..live of every listed consumer not pinned,
// one directory after another (each consumer is reloaded on its own, and within a directory
// the swap is whole). The record comes first, so a crash leaves a record that the retried call
// or the next Promote carries out. A pinned version is never pruned and cannot be disabled;
// pinning to a disabled or pruned version is refused.
//
// # Crash safety
//
// Put writes a version into .versions/.tmp-<id>/, syncs its files and the directory, and
// renames it to .versions/<id>: a crash leaves a temp directory that the next Put or Promote
// removes, never a half-written version. Promote records the previous version in the target's
// metadata, then creates ..live.tmp-<random> and renames it over ..live: a crash in between
// leaves ..live as it was (and a stray temp link, removed later). Versions beyond `keep` (the
// previous one always included; the current one and pending versions newer than it never
// counted, nor a pinned one) are removed after a Put or a Promote.
//
// # Listing the certificates
//
// Certificates (provider.CertificateLister) names the leaf of every version from its cert
// file, with the version's stage, and — before the first promote, while the visible cert name
// is still the operator's file — the certificate that file holds: `rotor scan` learns what
// the store holds without knowing this layout. It opens no key file, takes no lock and writes
// nothing.
//
// # Reading as a consumer
//
// Read proves access with the consumer's own identity, an os-user. When rotor runs as root it
// really reads the files as that user: a child process (cat) runs with the user's uid, gid
// and groups and its output is the value returned. Otherwise rotor cannot become another user,
// so it compares the files' owner, group and mode bits (and the search bits of every directory
// above them) with the user's uid and groups — ACLs and security modules are not considered —
// and logs that the proof was by permission bits. Other identity types are refused as
// unsupported.
package pemfiles
