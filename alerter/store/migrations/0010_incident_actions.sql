-- Actions taken on an incident from a chat message (Slack buttons): its history, the
-- acknowledgement that stops repeats, and baseline restarts accepted as "expected change".
-- One row per (incident, action): a double click or a redelivered envelope does one thing.
CREATE TABLE incident_actions (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL,
    action      TEXT    NOT NULL,   -- acknowledge | silence_24h | silence_7d | expected_change
    actor       TEXT    NOT NULL,   -- who, e.g. "slack:U012AB3CD"
    at          INTEGER NOT NULL,
    detail      TEXT    NOT NULL DEFAULT '',
    UNIQUE (incident_id, action)
);

-- A (rule, group) whose baseline starts again at ``since``: earlier windows no longer count.
CREATE TABLE baseline_restarts (
    rule        TEXT    NOT NULL,
    grp         TEXT    NOT NULL,   -- JSON of the sorted group key pairs (as incidents.grp)
    since       INTEGER NOT NULL,
    incident_id INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (rule, grp, since)
);
