-- Which point writes the judge has seen (points may live in another store), and what
-- file sources read from each file (unchanged files are not parsed again).
CREATE TABLE source_marks (
    source       TEXT PRIMARY KEY,
    consumed_seq INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE file_marks (
    source     TEXT    NOT NULL,
    path       TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL,
    etag       TEXT,
    read_since INTEGER NOT NULL,
    read_until INTEGER NOT NULL,
    data_end   INTEGER,
    PRIMARY KEY (source, path)
) WITHOUT ROWID;

-- A state written before this version has judged every point write it holds.
INSERT INTO source_marks (source, consumed_seq) SELECT source, max(seq) FROM points GROUP BY source;
