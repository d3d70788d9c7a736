// Package sops is the `sops` store: one key of a YAML, JSON or dotenv file encrypted with
// SOPS (https://getsops.io) to age recipients, usually kept in git.
//
// rotor drives the sops binary (3.9 or newer) rather than linking the SOPS Go library: the
// library brings every cloud KMS SDK with it (it doubled rotor's binary, 42 → 86 MB, and
// nearly tripled a cold build), and does not build against rotor's other dependencies without a
// replace directive. So what rotor writes is what sops writes: sops decrypts with the
// executor's key, keeps the ciphertext of every value it does not change, and computes the
// MAC; a file rotor changed decrypts with `sops decrypt`, and a file sops wrote reads in rotor.
// A missing or older sops is a Terminal error that says how to install one.
//
// # Layout
//
// A SOPS file has one value per key, and consumers read that key; rotor needs pending,
// current and previous versions beside it. For a store `{path: ops.enc.yaml, key:
// bastion.private_key}`:
//
//	bastion:
//	    private_key: ENC[…]           the current value: what every consumer reads
//	_rotor:
//	    bastion:
//	        private_key:
//	            v0002-3f2a9c1b: ENC[…] each version's value (pending, current, previous,
//	            v0001-c2b8f401: ENC[…] disabled), encrypted like every other value
//	_rotor_unencrypted:
//	    bastion.private_key:          the version list, in clear: ids, stages, run ids,
//	        seq: 2                    creation times, keyed fingerprints — never a value
//	        versions: [...]
//
// The version list's name ends in the file's unencrypted_suffix (sops's default,
// _unencrypted), so sops leaves it in clear: Versions needs no key. In a dotenv file the
// entries are flat: _rotor__KEY__v0002_3f2a9c1b and _rotor__KEY__versions_unencrypted (the
// list as a JSON string). Under other rules (encrypted_suffix, encrypted_regex,
// unencrypted_regex) rotor checks before any write, with sops's own rule, that the value and
// its copies will be encrypted and the list will not, and refuses the file, naming the rule,
// otherwise; rules decided by comments are refused. After sops writes, rotor reads its copy
// back and checks the same before it replaces the file.
//
// A value that was at the key before rotor managed it is listed as version v0000-<hash of its
// ciphertext>, current, and adopted — copied under _rotor like the others — by rotor's first
// change, so it becomes the previous version of the first rotation and can be restored.
//
// # What a reader can see
//
// Every value rotor adds is encrypted with the file's data key, to the file's recipients: the
// same identities that could already read the current value, and so every earlier one from
// git history. Nothing becomes readable by anyone who could not read it before. rotor never
// changes a file's recipients: a consumer that is not one is refused (Denied, named) at
// readiness and at every Put; add it with `sops updatekeys`. The version list in clear shows
// what rotor's journal shows — ids, stages, times, run ids — and a keyed fingerprint.
// Disabling a version cannot hide it from a recipient (the authority's revoke is what makes it
// useless); Delete removes its value from the file, while git history keeps it, encrypted as
// it was.
//
// # Identities
//
// The executor and the consumers are age identities (recipient and identity_file). Every sops
// run is made as one identity alone: SOPS_AGE_KEY_FILE set to its key file, in a fresh empty
// HOME, so neither the user's ~/.config/sops/age/keys.txt nor an SSH or GnuPG key of theirs is
// tried. Readiness (CheckWrite) proves, for the executor and each consumer, that it is a
// recipient and that sops decrypts the file with its key. Read decrypts as req.As.
//
// # Changes, concurrency and faults
//
// Every change takes an exclusive flock of the file's folder (no lock file in the
// repository), reads the file, lets sops edit a copy beside it (`sops set`, the value on
// standard input, never on a command line), checks the copy, and renames it over the file only
// if the file is still byte for byte what the change read: an edit made meanwhile by someone
// else (who takes no lock) is kept, and the change fails Retryable, writing nothing. Readers
// take no lock: they read a snapshot of the file once and decrypt from it.
//
// With git: {commit: true}, each change is one commit of the file alone, whose message names
// the credential, the change, the run and the versions by id and stage. A file with changes
// not committed is left to a person (NeedsHuman) rather than swept into rotor's commit.
package sops
