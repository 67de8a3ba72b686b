-- Operators find a conversation by its correlation id: the messages that
-- carry one (those appended while handling another) are indexed by it,
-- newest last. Building it holds appends back while it reads the whole
-- table: on a big store, build it beforehand, with appends going on, by
--   CREATE INDEX CONCURRENTLY messages_correlation ON beckett.messages -- (your schema)
--       ((metadata ->> 'correlation_id'), global_position)
--       WHERE (metadata ->> 'correlation_id') IS NOT NULL;
-- and this finds it made.
CREATE INDEX IF NOT EXISTS messages_correlation
    ON messages ((metadata ->> 'correlation_id'), global_position)
    WHERE (metadata ->> 'correlation_id') IS NOT NULL;

-- A category's streams are a range of names in byte order.
CREATE INDEX streams_in_byte_order ON streams (stream_name COLLATE "C");

-- What each subscription did, a minute at a time: every process adds what
-- it handled to the minute's row, for the dashboard's charts. Rows older
-- than a day are deleted as new ones come.
CREATE TABLE subscription_minutes (
    group_name text NOT NULL,
    subscription text NOT NULL,
    minute timestamptz NOT NULL,
    handled bigint NOT NULL,
    failed bigint NOT NULL,
    -- The longest a message handled in the minute waited from its append.
    max_lag_ms bigint NOT NULL,
    PRIMARY KEY (group_name, subscription, minute)
);
CREATE INDEX subscription_minutes_by_minute ON subscription_minutes (minute);

-- A recurring job's schedule as the `cron` crate reads it (seconds first,
-- days of week from 1 for Sunday), which `#[recurring]` compiled from the
-- expression in schedule_of: what any reader needs to tell its next
-- occurrences. An older version declaring the job anew changes cron and
-- not these, which then no longer agree.
ALTER TABLE recurring_jobs ADD COLUMN schedule text, ADD COLUMN schedule_of text;
