-- Operators find a conversation by its correlation id: the messages that
-- carry one (those appended while handling another) are indexed by it.
CREATE INDEX messages_correlation ON messages (metadata ->> '$.correlation_id')
    WHERE (metadata ->> '$.correlation_id') IS NOT NULL;

-- What each subscription did, a minute at a time: every process adds what
-- it handled to the minute's row, for the dashboard's charts. Rows older
-- than a day are deleted as new ones come. Minutes are microseconds since
-- the Unix epoch.
CREATE TABLE subscription_minutes (
    group_name TEXT NOT NULL,
    subscription TEXT NOT NULL,
    minute INTEGER NOT NULL,
    handled INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    -- The longest a message handled in the minute waited from its append.
    max_lag_ms INTEGER NOT NULL,
    PRIMARY KEY (group_name, subscription, minute)
);
CREATE INDEX subscription_minutes_by_minute ON subscription_minutes (minute);

-- A recurring job's schedule as the `cron` crate reads it (seconds first,
-- days of week from 1 for Sunday), which `#[recurring]` compiled from the
-- expression in schedule_of: what any reader needs to tell its next
-- occurrences. An older version declaring the job anew changes cron and
-- not these, which then no longer agree.
ALTER TABLE recurring_jobs ADD COLUMN schedule TEXT;
ALTER TABLE recurring_jobs ADD COLUMN schedule_of TEXT;
