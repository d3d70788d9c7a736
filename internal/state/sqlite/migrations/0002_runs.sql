-- 0002: runs, their hash-chained journal, and per-credential locks.
-- Only new tables: a 0001 file stays readable by a read-only handle
-- (minReadVersion stays 1), which then reports no runs and no locks.
--
-- Same conventions as 0001: STRICT tables, times as fixed-width UTC TEXT
-- (2006-01-02T15:04:05.000000000Z), never a secret value.
--
-- A run is the engine's JSON document (data) with the few fields the store
-- must query or guard pulled out of it. credential is not a foreign key to
-- credential_state: a credential's first run starts before rotor has any
-- state for it.

CREATE TABLE run (
    seq          INTEGER PRIMARY KEY, -- creation order; breaks ties between equal creation times
    id           TEXT    NOT NULL UNIQUE,
    credential   TEXT    NOT NULL,
    phase        TEXT    NOT NULL,
    data         TEXT    NOT NULL,    -- the engine's JSON; TEXT so json_extract works from the sqlite3 shell
    revision     INTEGER NOT NULL CHECK (revision > 0),
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    journal_head TEXT    NOT NULL DEFAULT '', -- hash of the last journal entry
    journal_len  INTEGER NOT NULL DEFAULT 0 CHECK (journal_len >= 0)
) STRICT;

-- `rotor runs`: newest first, with a limit, without a sort.
CREATE INDEX run_by_time ON run (created_at DESC, seq DESC);
-- A credential's runs, and its unfinished run (credential = ? AND phase IN (…)).
CREATE INDEX run_by_credential ON run (credential, phase);
-- Every unfinished run, whatever the credential: what to resume at start-up.
CREATE INDEX run_by_phase ON run (phase);

-- A run's id, credential and birth never change, and its journal only grows.
CREATE TRIGGER run_fixed BEFORE UPDATE ON run
WHEN NEW.id IS NOT OLD.id OR NEW.credential IS NOT OLD.credential
  OR NEW.created_at IS NOT OLD.created_at OR NEW.journal_len < OLD.journal_len
BEGIN
    SELECT RAISE(ABORT, 'rotor: a run''s id, credential and creation time are fixed and its journal only grows');
END;

-- One row per journal entry, clustered by run so a run's journal is one range
-- read. body is a BLOB: the bytes the journal package sealed, kept exactly.
CREATE TABLE journal_entry (
    run_id    TEXT    NOT NULL REFERENCES run (id),
    seq       INTEGER NOT NULL CHECK (seq > 0),
    at        TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    body      BLOB    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL CHECK (hash <> ''),
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

-- The chain, enforced by the file itself (the Go code checks first, for a
-- clear error): entry 1 points at nothing, entry n at entry n-1's hash, so a
-- run's entries are always 1..n without gaps.
CREATE TRIGGER journal_entry_chain BEFORE INSERT ON journal_entry
WHEN NOT (NEW.seq = 1 AND NEW.prev_hash = '')
 AND NEW.prev_hash IS NOT (SELECT hash FROM journal_entry WHERE run_id = NEW.run_id AND seq = NEW.seq - 1)
BEGIN
    SELECT RAISE(ABORT, 'rotor: journal entry does not continue its run''s hash chain');
END;

-- Append-only. Dropping these triggers is possible for whoever can write the
-- file; what they then change no longer matches the chain recomputed from the
-- bodies and run.journal_head, which `rotor journal verify` reports.
CREATE TRIGGER journal_entry_no_update BEFORE UPDATE ON journal_entry
BEGIN
    SELECT RAISE(ABORT, 'rotor: journal entries are append-only');
END;

CREATE TRIGGER journal_entry_no_delete BEFORE DELETE ON journal_entry
BEGIN
    SELECT RAISE(ABORT, 'rotor: journal entries are append-only');
END;

-- At most one holder per credential. A row outlives its process: a crashed
-- run keeps its credential locked until it resumes or someone proves it gone
-- and steals the lock.
CREATE TABLE credential_lock (
    credential TEXT    NOT NULL PRIMARY KEY,
    host       TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    run_id     TEXT    NOT NULL,
    since      TEXT    NOT NULL
) STRICT, WITHOUT ROWID;
