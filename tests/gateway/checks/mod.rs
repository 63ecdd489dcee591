//! The checks the property tests and the fuzz targets share: each file here
//! is also included by a target in `fuzz/fuzz_targets/` (with
//! `#[path = "../../tests/gateway/checks/<file>.rs"]`), so one statement of a
//! property serves both the deterministic, shrinking runs of `cargo test` and
//! the deep, coverage-guided runs of `cargo fuzz`. Each file names only crates
//! both depend on and fails by panicking.

pub mod requests;
pub mod signing;
pub mod upstream_json;
