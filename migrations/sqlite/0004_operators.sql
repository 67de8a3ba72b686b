-- A paused subscription: no process reserves its checkpoints, which go on
-- lagging as messages come, until an operator resumes it.
ALTER TABLE subscriptions ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
