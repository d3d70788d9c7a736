-- 0001: what `rotor plan` needs. Per credential its current version and
-- history. Never a secret value: only version ids and keyed fingerprints.
--
-- Times are TEXT in one fixed-width UTC layout, 2006-01-02T15:04:05.000000000Z:
-- nanosecond precision, sorts as text in time order, readable from the sqlite3
-- shell, and covers years 1-9999 (an INTEGER of nanoseconds would stop at 2262,
-- before the X.509 "no expiry" date 9999-12-31). NULL = unknown.
--
-- Runs, durable steps and the journal arrive in 0002+. They will reference
-- credential_state(id) and carry run ids; rotation.run_id is already unique so
-- that a run can record its outcome exactly once.

CREATE TABLE credential_state (
    id                  TEXT    NOT NULL PRIMARY KEY,
    current_version     TEXT    NOT NULL DEFAULT '',
    current_fingerprint TEXT    NOT NULL DEFAULT '',
    last_rotated        TEXT,
    expires             TEXT,
    revision            INTEGER NOT NULL CHECK (revision > 0),
    updated_at          TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE rotation (
    seq            INTEGER PRIMARY KEY, -- append order; breaks ties between equal completion times
    credential_id  TEXT    NOT NULL,
    run_id         TEXT    NOT NULL DEFAULT '',
    from_version   TEXT    NOT NULL DEFAULT '',
    to_version     TEXT    NOT NULL,
    to_fingerprint TEXT    NOT NULL DEFAULT '',
    completed_at   TEXT    NOT NULL
) STRICT;

-- History of one credential, newest first, without a sort.
CREATE INDEX rotation_by_credential ON rotation (credential_id, completed_at DESC, seq DESC);

-- A run records its completed rotation once; a retry finds the row.
CREATE UNIQUE INDEX rotation_by_run ON rotation (run_id) WHERE run_id <> '';
