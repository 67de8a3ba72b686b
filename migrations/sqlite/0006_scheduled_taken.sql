-- The scheduler steps over a stream one of whose messages is taken for a
-- message store elsewhere: found by this index rather than by reading
-- every scheduled message for each one due.
CREATE INDEX scheduled_messages_taken ON scheduled_messages (stream_name)
    WHERE taken_until IS NOT NULL;
