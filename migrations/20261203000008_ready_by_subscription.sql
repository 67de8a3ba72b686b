-- Reservations read each subscription's ready checkpoints in due order,
-- one index scan per subscription. With the group's checkpoints of every
-- subscription in one index, a young table's stale statistics led the
-- planner to sort every ready checkpoint for each reservation. On a big
-- store, build the new index beforehand, with work going on, by
--   CREATE INDEX CONCURRENTLY checkpoints_ready_by_subscription
--       ON beckett.checkpoints (group_name, subscription, process_at) -- (your schema)
--       WHERE stream_version > stream_position AND status <> 'failed';
-- and this finds it made.
CREATE INDEX IF NOT EXISTS checkpoints_ready_by_subscription
    ON checkpoints (group_name, subscription, process_at)
    WHERE stream_version > stream_position AND status <> 'failed';
DROP INDEX checkpoints_ready;
