-- Which point writes the judge has seen, and what file sources read from each file
-- (the SQLite schema's 0004).
CREATE TABLE source_marks (
    source       TEXT   PRIMARY KEY,
    consumed_seq BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE file_marks (
    source     TEXT   NOT NULL,
    path       TEXT   NOT NULL,
    size       BIGINT NOT NULL,
    mtime_ns   BIGINT NOT NULL,
    etag       TEXT,
    read_since BIGINT NOT NULL,
    read_until BIGINT NOT NULL,
    data_end   BIGINT,
    PRIMARY KEY (source, path)
);

-- A state written before this version has judged every point write it holds.
INSERT INTO source_marks (source, consumed_seq) SELECT source, max(seq) FROM points GROUP BY source;
