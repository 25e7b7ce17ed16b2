-- Actions taken on an incident from Slack buttons, the web UI or the CLI (the SQLite
-- schema's 0010; numbered after 0011, which a database may already hold): its history,
-- the acknowledgement that stops repeats, and baseline restarts accepted as "expected
-- change". One row per (incident, action): a double click, a redelivered envelope, or
-- the same press reaching two replicas does one thing (the second insert waits for the
-- first transaction and then finds the row).
CREATE TABLE incident_actions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id BIGINT NOT NULL,
    action      TEXT   NOT NULL,   -- acknowledge | silence_24h | silence_7d | expected_change
    actor       TEXT   NOT NULL,   -- who, e.g. "slack:U012AB3CD"
    at          BIGINT NOT NULL,
    detail      TEXT   NOT NULL DEFAULT '',
    UNIQUE (incident_id, action)
);

-- A (rule, group) whose baseline starts again at ``since``: earlier windows no longer count.
CREATE TABLE baseline_restarts (
    rule        TEXT   NOT NULL,
    grp         TEXT   NOT NULL,   -- JSON of the sorted group key pairs (as incidents.grp)
    since       BIGINT NOT NULL,
    incident_id BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (rule, grp, since)
);
