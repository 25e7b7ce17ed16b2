-- A write sequence on points, so readers can fetch only what changed since their last read.
ALTER TABLE points ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX points_by_seq ON points (source, seq);
