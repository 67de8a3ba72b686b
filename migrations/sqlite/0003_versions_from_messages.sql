-- A stream's version is the position of its newest message, which the
-- messages' (stream_name, stream_position) index finds: a table of
-- versions cost every commit one more page to write. Programs built before
-- this migration append through that table: stop every process on the
-- file before one of a later version opens it.
DROP TABLE streams;
