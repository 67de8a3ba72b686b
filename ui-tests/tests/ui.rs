//! Mistakes in beckett's macros are compile errors that point at the
//! offending token; see `tests/ui/*.stderr` for what users read.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/pass/*.rs");
}
