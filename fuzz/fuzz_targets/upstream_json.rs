//! Upstream JSON parsing.
//!
//! Arbitrary bytes go into every document the upstream client parses (the
//! CheckpointEnvelope, BackupEnvelope, BackupListDto and CheckpointItemEnvelope
//! of 2xx responses, and `ErrorBody::parse` of the others); whatever parses
//! goes through `convert` to proto. Nothing may panic, and any input that is
//! JSON at all must parse as each lenient scalar (`Text`, `Int`, `Flag`):
//! upstream's type quirks never fail a response.
//!
//! Seed the corpus with the test fixtures (see `fuzz/README.md`) and use
//! `fuzz/upstream_json.dict` to reach deep fields quickly.

#![no_main]

use cbr_gateway::{
    convert,
    upstream::{
        dto,
        lenient::{Flag, Int, List, Text},
    },
    validate::BackupQuery,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = serde_json::from_slice::<dto::CheckpointEnvelope>(data) {
        let _ = convert::checkpoint(e.checkpoint);
    }
    if let Ok(e) = serde_json::from_slice::<dto::BackupEnvelope>(data) {
        let _ = convert::backup(e.backup);
    }
    if let Ok(d) = serde_json::from_slice::<dto::BackupListDto>(data) {
        // Both with and without the request's paging to fall back on.
        let _ = convert::list_backups(d.clone(), &BackupQuery::default());
        let query = BackupQuery {
            limit: Some(1000),
            offset: Some(i32::MAX),
            ..BackupQuery::default()
        };
        let _ = convert::list_backups(d, &query);
    }
    if let Ok(e) = serde_json::from_slice::<dto::CheckpointItemEnvelope>(data) {
        let _ = convert::checkpoint_item(e.checkpoint_item);
    }
    let _ = dto::ErrorBody::parse(data);

    // Any JSON value (that serde_json can hold: no lone surrogates) is a valid
    // lenient scalar, and a `List` takes arrays of what its items take.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        assert!(
            serde_json::from_value::<Text>(value.clone()).is_ok(),
            "Text from a Value"
        );
        assert!(serde_json::from_slice::<Text>(data).is_ok(), "Text");
        assert!(serde_json::from_slice::<Int>(data).is_ok(), "Int");
        assert!(serde_json::from_slice::<Flag>(data).is_ok(), "Flag");
        if value.is_array() {
            assert!(
                serde_json::from_slice::<List<Text>>(data).is_ok(),
                "List<Text>"
            );
        }
    }
});
