//! Upstream JSON parsing.
//!
//! Arbitrary bytes go into every document the upstream client parses (the
//! CheckpointEnvelope, BackupEnvelope, BackupListDto and CheckpointItemEnvelope
//! of 2xx responses, and `ErrorBody::parse` of the others); whatever parses
//! goes through `convert` to proto. Nothing may panic, and any input that is
//! JSON at all must parse as each lenient scalar (`Text`, `Int`, `Flag`):
//! upstream's type quirks never fail a response.
//!
//! The checks are `tests/gateway/checks/upstream_json.rs`, which the property
//! tests run on stable too.
//!
//! Seed the corpus with the test fixtures (see `fuzz/README.md`) and use
//! `fuzz/upstream_json.dict` to reach deep fields quickly.

#![no_main]

use libfuzzer_sys::fuzz_target;

// The checks, shared with the property tests (`tests/gateway/properties/`).
#[allow(dead_code)]
#[path = "../../tests/gateway/checks/upstream_json.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    checks::parse_every_document(data);
    // Any JSON value (that serde_json can hold: no lone surrogates) is a valid
    // lenient scalar, and a `List` takes arrays of what its items take.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        checks::assert_lenient(data, &value);
    }
});
