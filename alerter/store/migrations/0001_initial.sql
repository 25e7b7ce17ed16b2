-- alerter state schema, version 1. Times are integer Unix seconds (UTC); money is TEXT (exact Decimal).
CREATE TABLE points (
    source     TEXT    NOT NULL,
    series     TEXT    NOT NULL,   -- JSON of the sorted series key pairs
    start      INTEGER NOT NULL,
    end        INTEGER NOT NULL,
    amount     TEXT    NOT NULL,
    quantity   TEXT,
    currency   TEXT    NOT NULL,
    revision   INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (source, series, start)
) WITHOUT ROWID;
CREATE INDEX points_by_time ON points (source, start);

CREATE TABLE point_revisions (
    source      TEXT    NOT NULL,
    series      TEXT    NOT NULL,
    start       INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    amount      TEXT    NOT NULL,
    quantity    TEXT,
    replaced_at INTEGER NOT NULL
);
CREATE INDEX point_revisions_key ON point_revisions (source, series, start);

CREATE TABLE coverage (
    source TEXT    NOT NULL,
    scope  TEXT    NOT NULL,   -- JSON of scope pairs; "[]" covers every series
    start  INTEGER NOT NULL,
    end    INTEGER NOT NULL,
    PRIMARY KEY (source, scope, start)
) WITHOUT ROWID;

CREATE TABLE poll_status (
    source          TEXT PRIMARY KEY,
    last_attempt_at INTEGER,
    last_success_at INTEGER,
    last_error      TEXT,
    backfilled      INTEGER NOT NULL DEFAULT 0,
    points          INTEGER NOT NULL DEFAULT 0,
    errors          INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE rule_state (
    rule           TEXT PRIMARY KEY,
    judged_through INTEGER
);

CREATE TABLE incidents (
    id                    INTEGER PRIMARY KEY,
    rule                  TEXT    NOT NULL,
    grp                   TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    severity              TEXT    NOT NULL,
    opened_at             INTEGER NOT NULL,
    first_window          INTEGER NOT NULL,
    last_window           INTEGER NOT NULL,
    last_anomalous_window INTEGER NOT NULL,
    observed              TEXT    NOT NULL,
    expected              TEXT    NOT NULL,
    peak_score            REAL    NOT NULL,
    normal_streak         INTEGER NOT NULL,
    excess                TEXT    NOT NULL,
    currency              TEXT    NOT NULL,
    resolved_at           INTEGER,
    last_notified_at      INTEGER,
    revision              INTEGER NOT NULL DEFAULT 0,
    notified_delta        TEXT    NOT NULL DEFAULT '0'
);
CREATE UNIQUE INDEX incidents_one_open ON incidents (rule, grp) WHERE status = 'open';

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    incident_id     INTEGER NOT NULL,
    notifier        TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending',  -- pending | sent | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox (status, next_attempt_at);

CREATE TABLE delivery_refs (
    incident_id INTEGER NOT NULL,
    notifier    TEXT    NOT NULL,
    ref         TEXT    NOT NULL,
    PRIMARY KEY (incident_id, notifier)
);

CREATE TABLE silences (
    id         INTEGER PRIMARY KEY,
    rule       TEXT,
    matchers   TEXT    NOT NULL,   -- JSON object of dimension -> glob
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    comment    TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT ''
);
