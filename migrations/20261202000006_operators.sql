-- Operators pause a subscription: no process reserves its checkpoints
-- while it is paused.
ALTER TABLE subscriptions ADD COLUMN paused boolean NOT NULL DEFAULT false;
