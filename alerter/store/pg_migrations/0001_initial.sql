-- alerter state schema for PostgreSQL, version 1 (the SQLite schema 0001-0003, plus
-- leases and outbox claims). Window times are BIGINT Unix seconds (UTC), as in SQLite;
-- lease and claim deadlines are timestamptz on the database's clock, so replicas with
-- skewed clocks still agree on who holds what. Money is TEXT (exact Decimal).
CREATE TABLE points (
    source     TEXT   NOT NULL,
    series     TEXT   NOT NULL,   -- JSON of the sorted series key pairs
    w_start    BIGINT NOT NULL,
    w_end      BIGINT NOT NULL,
    amount     TEXT   NOT NULL,
    quantity   TEXT,
    currency   TEXT   NOT NULL,
    revision   INTEGER NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    seq        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (source, series, w_start)
);
CREATE INDEX points_by_time ON points (source, w_start);
CREATE INDEX points_by_seq ON points (source, seq);
CREATE SEQUENCE point_seq;

CREATE TABLE point_revisions (
    source      TEXT    NOT NULL,
    series      TEXT    NOT NULL,
    w_start     BIGINT  NOT NULL,
    revision    INTEGER NOT NULL,
    amount      TEXT    NOT NULL,
    quantity    TEXT,
    replaced_at BIGINT  NOT NULL
);
CREATE INDEX point_revisions_key ON point_revisions (source, series, w_start);

CREATE TABLE coverage (
    source  TEXT   NOT NULL,
    scope   TEXT   NOT NULL,   -- JSON of scope pairs; "[]" covers every series
    w_start BIGINT NOT NULL,
    w_end   BIGINT NOT NULL,
    PRIMARY KEY (source, scope, w_start)
);

CREATE TABLE poll_status (
    source          TEXT PRIMARY KEY,
    last_attempt_at BIGINT,
    last_success_at BIGINT,
    last_error      TEXT,
    backfilled      BOOLEAN NOT NULL DEFAULT FALSE,
    points          INTEGER NOT NULL DEFAULT 0,
    errors          INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE rule_state (
    rule           TEXT PRIMARY KEY,
    judged_through BIGINT
);

CREATE TABLE incidents (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule                  TEXT    NOT NULL,
    grp                   TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    severity              TEXT    NOT NULL,
    opened_at             BIGINT  NOT NULL,
    first_window          BIGINT  NOT NULL,
    last_window           BIGINT  NOT NULL,
    last_anomalous_window BIGINT  NOT NULL,
    observed              TEXT    NOT NULL,
    expected              TEXT    NOT NULL,
    peak_score            DOUBLE PRECISION NOT NULL,
    normal_streak         INTEGER NOT NULL,
    excess                TEXT    NOT NULL,
    currency              TEXT    NOT NULL,
    resolved_at           BIGINT,
    last_notified_at      BIGINT,
    revision              INTEGER NOT NULL DEFAULT 0,
    notified_delta        TEXT    NOT NULL DEFAULT '0',
    provisional           BOOLEAN NOT NULL DEFAULT FALSE,
    withdrawn             BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX incidents_one_open ON incidents (rule, grp) WHERE status = 'open';

-- claimed_by/claim_token/claim_until: a per-row lease taken with FOR UPDATE SKIP LOCKED;
-- the token grows on every claim, and the acknowledgement only lands with the token
-- that claimed the row.
CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id     BIGINT  NOT NULL,
    source          TEXT    NOT NULL DEFAULT '',
    notifier        TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending',  -- pending | sent | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    sent_at         BIGINT,
    last_error      TEXT,
    claimed_by      TEXT,
    claim_token     BIGINT  NOT NULL DEFAULT 0,
    claim_until     TIMESTAMPTZ
);
CREATE INDEX outbox_pending ON outbox (status, next_attempt_at);
CREATE INDEX outbox_queue ON outbox (incident_id, notifier, id) WHERE status = 'pending';

CREATE TABLE delivery_refs (
    incident_id BIGINT NOT NULL,
    notifier    TEXT   NOT NULL,
    ref         TEXT   NOT NULL,
    PRIMARY KEY (incident_id, notifier)
);

CREATE TABLE silences (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule       TEXT,
    matchers   TEXT   NOT NULL,   -- JSON object of dimension -> glob
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    comment    TEXT   NOT NULL DEFAULT '',
    created_by TEXT   NOT NULL DEFAULT ''
);

-- One lease per source: only ``holder`` polls and judges it until ``expires_at``. The
-- token grows on every takeover; writes made under a lease re-check it in their own
-- transaction (SELECT ... FOR SHARE), so a paused former holder cannot commit.
CREATE TABLE leases (
    source      TEXT        PRIMARY KEY,
    holder      TEXT        NOT NULL,
    token       BIGINT      NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    renewed_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    takeovers   BIGINT      NOT NULL DEFAULT 0
);
