-- Core tables. Portable DDL: the same file runs on SQLite and PostgreSQL.
-- Every derived row carries `height`, the block that produced it, so that a rollback above
-- a fork height is: delete rows with height > H, un-spend outputs with spent_height > H.

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS blocks (
    height    INTEGER PRIMARY KEY,
    hash      TEXT    NOT NULL UNIQUE,
    prev_hash TEXT    NOT NULL,
    time      BIGINT  NOT NULL
);

-- One row per adapter: the last height (and its hash) whose records are committed.
CREATE TABLE IF NOT EXISTS cursors (
    adapter TEXT PRIMARY KEY,
    height  INTEGER NOT NULL,
    hash    TEXT    NOT NULL
);

-- Outputs a protocol controls. `created_height` differs from `height` only for outputs
-- discovered after the block that made them (Babylon phase-2 stakes seen when spent).
CREATE TABLE IF NOT EXISTS positions (
    protocol       TEXT    NOT NULL,
    txid           TEXT    NOT NULL,
    vout           INTEGER NOT NULL,
    value_sat      BIGINT  NOT NULL,
    height         INTEGER NOT NULL,
    created_height INTEGER NOT NULL,
    tx_index       INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    locked         BOOLEAN NOT NULL,
    data           TEXT    NOT NULL,
    spent_height   INTEGER,
    spent_txid     TEXT,
    PRIMARY KEY (protocol, txid, vout)
);
CREATE INDEX IF NOT EXISTS positions_unspent ON positions (protocol, spent_height);
CREATE INDEX IF NOT EXISTS positions_height ON positions (height);
CREATE INDEX IF NOT EXISTS positions_spent_height ON positions (spent_height);

CREATE TABLE IF NOT EXISTS events (
    protocol   TEXT    NOT NULL,
    height     INTEGER NOT NULL,
    tx_index   INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    txid       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    amount_sat BIGINT,
    data       TEXT    NOT NULL,
    PRIMARY KEY (protocol, height, tx_index, seq)
);
CREATE INDEX IF NOT EXISTS events_kind ON events (protocol, kind, height);
CREATE INDEX IF NOT EXISTS events_txid ON events (txid);

-- Candidates that looked like the protocol but failed its rules, with the reason.
CREATE TABLE IF NOT EXISTS rejects (
    protocol TEXT    NOT NULL,
    height   INTEGER NOT NULL,
    tx_index INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    txid     TEXT    NOT NULL,
    reason   TEXT    NOT NULL,
    data     TEXT    NOT NULL,
    PRIMARY KEY (protocol, height, tx_index, seq)
);
CREATE INDEX IF NOT EXISTS rejects_txid ON rejects (txid);

-- Adapter key/value state with history: the value in force is the row with the greatest
-- height; rolling back deletes newer rows and so restores the older value.
CREATE TABLE IF NOT EXISTS adapter_state (
    protocol TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    height   INTEGER NOT NULL,
    value    TEXT    NOT NULL,
    PRIMARY KEY (protocol, key, height)
);
