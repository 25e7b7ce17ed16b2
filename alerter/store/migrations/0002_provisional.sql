-- Early alerts: an incident opened on a still-open window is provisional until the window
-- settles; then it is confirmed (provisional = 0) or withdrawn (resolved, withdrawn = 1).
ALTER TABLE incidents ADD COLUMN provisional INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN withdrawn INTEGER NOT NULL DEFAULT 0;
