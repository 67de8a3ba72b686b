-- Scheduling: messages to append at a later time, and the recurring jobs the
-- running programs declare.

-- A message waiting for its time. The scheduler deletes the row and appends
-- the message in one statement, so it is appended once or not at all, and a
-- cancellation that finds no row knows the message is gone.
CREATE TABLE scheduled_messages (
    -- Becomes the appended message's id.
    id uuid PRIMARY KEY,
    -- Order among messages due at the same moment in one stream.
    sequence bigint GENERATED ALWAYS AS IDENTITY,
    stream_name text NOT NULL,
    type text NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    deliver_at timestamptz NOT NULL,
    scheduled_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX scheduled_messages_due ON scheduled_messages (deliver_at, sequence);

-- The `#[recurring]` jobs declared by the programs that ran each group. A job
-- no longer declared keeps its row, with removed_at set, and its stream.
CREATE TABLE recurring_jobs (
    group_name text NOT NULL,
    name text NOT NULL,
    cron text NOT NULL,
    -- The stream its occurrences are appended to.
    stream_name text NOT NULL,
    declared_at timestamptz NOT NULL DEFAULT now(),
    removed_at timestamptz,
    PRIMARY KEY (group_name, name)
);
