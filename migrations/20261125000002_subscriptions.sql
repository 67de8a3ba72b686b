-- Subscriptions: where each one has read to in the global order, and its
-- checkpoints, one per stream it has messages in.

CREATE TABLE subscriptions (
    group_name text NOT NULL,
    name text NOT NULL,
    -- The global cursor: the last message the group's global consumer has
    -- turned into checkpoints for this subscription.
    transaction_id bigint NOT NULL,
    global_position bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_name, name)
);

CREATE TABLE checkpoints (
    group_name text NOT NULL,
    subscription text NOT NULL,
    stream_name text NOT NULL,
    -- The newest position in the stream of a message for the subscription.
    stream_version bigint NOT NULL DEFAULT 0,
    -- The newest position handled.
    stream_position bigint NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retry', 'failed')),
    -- Failed attempts at the message after stream_position.
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    -- Not to be reserved before this (a retry's backoff).
    process_at timestamptz NOT NULL DEFAULT now(),
    -- A reservation: who holds the checkpoint, and until when.
    reserved_by uuid,
    reserved_until timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_name, subscription, stream_name)
);

-- Lagging checkpoints a consumer may reserve, soonest first.
CREATE INDEX checkpoints_ready ON checkpoints (group_name, process_at)
    WHERE stream_version > stream_position AND status <> 'failed';

CREATE INDEX checkpoints_failed ON checkpoints (group_name, subscription)
    WHERE status = 'failed';

-- Messages an operator chose to skip, kept for the record.
CREATE TABLE skipped_messages (
    group_name text NOT NULL,
    subscription text NOT NULL,
    stream_name text NOT NULL,
    stream_position bigint NOT NULL,
    last_error text,
    attempts integer NOT NULL,
    skipped_at timestamptz NOT NULL DEFAULT now()
);
