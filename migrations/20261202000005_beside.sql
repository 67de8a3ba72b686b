-- The engine's state beside a message store elsewhere.

-- A subscription that started at the end of a message store elsewhere:
-- its cursor starts at that store's head, and a stream's checkpoint just
-- before the first of the stream's positions read.
ALTER TABLE subscriptions ADD COLUMN from_first_read boolean NOT NULL DEFAULT false;

-- A scheduled message taken for delivery to a message store elsewhere:
-- until then it is neither due nor cancellable.
ALTER TABLE scheduled_messages ADD COLUMN taken_until timestamptz;
