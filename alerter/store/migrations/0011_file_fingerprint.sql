-- A file source may read only the new end of a file that grew: the fingerprint of what
-- it read (head and end of the content) tells a grown file from a rewritten one.
ALTER TABLE file_marks ADD COLUMN fingerprint TEXT;
