-- A global order that steps over running transactions instead of waiting
-- for them, subscriptions that start at the end, and reservations found
-- by their holder.

-- Readers of the global order no longer wait until every transaction
-- older than a message has ended: they read what their snapshot shows
-- committed, step over the transactions it shows running, and read what
-- those wrote (by messages.transaction_id) once they end. A cursor is the
-- place read to, (transaction_id, global_position), and these owed
-- transactions: [{"transaction_id": ..., "after": global position}, ...].
ALTER TABLE subscriptions ADD COLUMN pending jsonb NOT NULL DEFAULT '[]';

-- For a subscription that starts at the end, the snapshot it started
-- with: a stream's messages it showed committed are history, and the
-- stream's checkpoint starts after them.
ALTER TABLE subscriptions ADD COLUMN start_snapshot pg_snapshot;

-- Releasing a process's reservations finds them by holder.
CREATE INDEX checkpoints_reserved ON checkpoints (reserved_by) WHERE reserved_by IS NOT NULL;

-- What each subscription selects, so that a leader running another
-- version of the program routes for it too: message types (NULL: every
-- type), category and stream, as every version that registered it
-- declared them together (the union of their selections). Unknown for a
-- subscription registered before this migration until a program that
-- declares it registers it again.
ALTER TABLE subscriptions ADD COLUMN message_types text[];
ALTER TABLE subscriptions ADD COLUMN category text;
ALTER TABLE subscriptions ADD COLUMN stream text;
ALTER TABLE subscriptions ADD COLUMN selection_known boolean NOT NULL DEFAULT false;

-- Tells a subscription removed and registered again from the one before,
-- so the cursor of the one before is never written over the new one's.
ALTER TABLE subscriptions ADD COLUMN registration bigint GENERATED ALWAYS AS IDENTITY;
