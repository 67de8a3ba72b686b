-- The message store: streams and their messages.
--
-- Objects are created unqualified: `beckett::migrate` runs this script with
-- `search_path` set to the configured schema (default `beckett`), and the
-- printed script (`cargo run --example migration_script`) sets it first.

-- One row per stream, holding its version: the position of its newest message.
-- Appends lock this row, which serializes concurrent appenders of one stream
-- so stream positions never gap or repeat.
CREATE TABLE streams (
    stream_name text PRIMARY KEY,
    version bigint NOT NULL CHECK (version > 0)
);

CREATE TABLE messages (
    -- Order of insertion, not of commit: see transaction_id.
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    stream_name text NOT NULL,
    stream_position bigint NOT NULL CHECK (stream_position > 0),
    type text NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    timestamp timestamptz NOT NULL DEFAULT now(),
    -- The id of the writing transaction. Readers of the global order take only
    -- rows whose transaction ended before every transaction still running
    -- began (transaction_id < xmin of their snapshot), in (transaction_id,
    -- global_position) order, so a message that commits late is never skipped.
    transaction_id bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    UNIQUE (stream_name, stream_position)
);

CREATE INDEX messages_global_order ON messages (transaction_id, global_position);
