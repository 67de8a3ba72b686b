-- beckett's tables on SQLite. Times are microseconds since the Unix epoch,
-- by the clock of the process that writes them; ids and tokens are UUIDs
-- as 16-byte blobs.

CREATE TABLE streams (
    stream_name TEXT PRIMARY KEY,
    version INTEGER NOT NULL CHECK (version > 0)
) WITHOUT ROWID;

CREATE TABLE messages (
    -- The row id. One writer at a time holds the database's write lock from
    -- the insert to the commit, so positions are taken in commit order and
    -- the global order has no gap a reader could pass.
    global_position INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    stream_name TEXT NOT NULL,
    stream_position INTEGER NOT NULL CHECK (stream_position > 0),
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    timestamp INTEGER NOT NULL,
    UNIQUE (stream_name, stream_position)
);

CREATE TABLE subscriptions (
    -- Tells this registration from an earlier one of the same name: never
    -- taken twice.
    registration INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name TEXT NOT NULL,
    name TEXT NOT NULL,
    -- The global cursor: the last message turned into checkpoints.
    global_position INTEGER NOT NULL,
    -- Where a subscription that started at the end started.
    start_position INTEGER,
    -- What it selects: a JSON array of type names (NULL: all), a category,
    -- a stream.
    message_types TEXT,
    category TEXT,
    stream TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (group_name, name)
);

CREATE TABLE checkpoints (
    group_name TEXT NOT NULL,
    subscription TEXT NOT NULL,
    stream_name TEXT NOT NULL,
    stream_version INTEGER NOT NULL DEFAULT 0,
    stream_position INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retry', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    process_at INTEGER NOT NULL,
    reserved_by BLOB,
    reserved_until INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (group_name, subscription, stream_name)
);

CREATE INDEX checkpoints_ready ON checkpoints (group_name, process_at)
    WHERE stream_version > stream_position AND status <> 'failed';

CREATE INDEX checkpoints_reserved ON checkpoints (reserved_by) WHERE reserved_by IS NOT NULL;

CREATE INDEX checkpoints_failed ON checkpoints (group_name, subscription)
    WHERE status = 'failed';

CREATE TABLE skipped_messages (
    group_name TEXT NOT NULL,
    subscription TEXT NOT NULL,
    stream_name TEXT NOT NULL,
    stream_position INTEGER NOT NULL,
    last_error TEXT,
    attempts INTEGER NOT NULL,
    skipped_at INTEGER NOT NULL
);

CREATE TABLE scheduled_messages (
    -- Order among messages due at the same moment.
    sequence INTEGER PRIMARY KEY,
    -- Becomes the appended message's id.
    id BLOB NOT NULL UNIQUE,
    stream_name TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    deliver_at INTEGER NOT NULL,
    scheduled_at INTEGER NOT NULL
);

CREATE INDEX scheduled_messages_due ON scheduled_messages (deliver_at, sequence);

CREATE TABLE recurring_jobs (
    group_name TEXT NOT NULL,
    name TEXT NOT NULL,
    cron TEXT NOT NULL,
    stream_name TEXT NOT NULL,
    declared_at INTEGER NOT NULL,
    removed_at INTEGER,
    PRIMARY KEY (group_name, name)
) WITHOUT ROWID;

-- The lead of each group: who holds it, and until when unless renewed.
CREATE TABLE leaders (
    group_name TEXT PRIMARY KEY,
    holder BLOB NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
