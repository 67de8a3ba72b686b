-- The engine's state beside a message store elsewhere.

-- A subscription's whole global cursor: a message store elsewhere may owe
-- transactions it stepped over, as Postgres does. This store's own cursors
-- are global positions alone.
ALTER TABLE subscriptions ADD COLUMN transaction_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN pending TEXT NOT NULL DEFAULT '[]';

-- A scheduled message taken for delivery to a message store elsewhere:
-- until then it is neither due nor cancellable.
ALTER TABLE scheduled_messages ADD COLUMN taken_until INTEGER;
