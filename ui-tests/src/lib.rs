//! Compile-fail tests for beckett's macros live in `tests/`.
