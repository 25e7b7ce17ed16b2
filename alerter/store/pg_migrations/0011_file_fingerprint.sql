-- A file source may read only the new end of a file that grew (the SQLite schema's 0011).
ALTER TABLE file_marks ADD COLUMN fingerprint TEXT;
