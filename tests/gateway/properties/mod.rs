//! Property tests, on stable and in CI, of what the cargo-fuzz targets in
//! `fuzz/` check (see `fuzz/README.md`), through the crate's public API only.
//! The checks themselves live in `tests/gateway/checks/`, which the fuzz
//! targets include too: here proptest generates the inputs (and shrinks a
//! failing one), there libFuzzer does. One module per subject:
//!
//! * **validation and URL building** ([`requests`]): every `domain::check_*` takes any
//!   request; what it accepts obeys the rules, builds an upstream URL under the
//!   endpoint's scheme, host, port and path prefix with every segment
//!   percent-encoded (decoding back to its input), and a strictly encoded query
//!   that is already in canonical (signing) form; what is valid by construction
//!   is accepted; `paths::build` keeps its promises for any segment, not only
//!   for valid IDs.
//! * **upstream JSON** ([`upstream_json`], with the timestamps `convert` emits): every envelope the client parses, the error-body parser
//!   and `convert` take any bytes without panicking; the lenient scalars take
//!   every JSON value; a document of the documented shape parses whatever JSON
//!   sits in its scalar fields, with any field absent or `null`.
//! * **signing** ([`signing`]; the real `UpstreamClient` in [`signer_over_http`]): canonicalisation is deterministic, idempotent, independent of
//!   query order and of how a path or query is spelled (strict or loose
//!   encoding); a request signed by the gateway's signer verifies in the
//!   simulator's verifier while one changed byte of its body or of a signed
//!   header does not, both for the signing functions composed as the gateway
//!   composes them and end to end for the real `UpstreamClient` over HTTP.
//!
//! Deterministic: each block runs a fixed number of cases from a fixed seed
//! (`PROPTEST_CASES` and `PROPTEST_RNG_SEED` override both for a deeper local
//! run). Failures are not persisted, since the seed reproduces them, and print
//! the shrunk, minimal failing input.

mod requests;
mod signer_over_http;
mod signing;
mod upstream_json;

use proptest::{collection::vec, prelude::*, sample::select, test_runner::RngSeed};

// ---------------------------------------------------------------- config

/// The fixed seed of every block (see the module documentation).
const SEED: u64 = 0x00C0_FFEE_CB12_5EED;

fn config(cases: u32) -> ProptestConfig {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    ProptestConfig {
        cases: env("PROPTEST_CASES")
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(cases),
        rng_seed: RngSeed::Fixed(env("PROPTEST_RNG_SEED").unwrap_or(SEED)),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------- inputs

/// Strings that must never reach a URL unencoded: traversal, separators,
/// encodings, whitespace the URL parser strips, odd Unicode.
const HOSTILE: &[&str] = &[
    "",
    ".",
    "..",
    "../x",
    "..%2f..%2fv3",
    "a/b",
    "/etc/passwd",
    "//evil.example/x",
    "a?b=c",
    "a#frag",
    "%2e%2e",
    "%2F",
    "a b",
    "a\tb",
    "\t",
    ".\t.",
    "a\nb",
    "\r\n",
    "a\\b",
    "é",
    "a.b",
    "@evil.example",
    "x:y",
    "\u{0}",
    "\u{202e}abc",
    "ＡＢＣ",
    "OS::Nova::Server",
    "created_at:asc",
    "~",
    "+",
    "&x=1",
];

/// Mostly `valid`, sometimes `wild`: with ~20 fields to a request, a wild
/// draw in each field at most now and then lets both acceptance and each rule's
/// refusal be reached often.
fn mostly<T: std::fmt::Debug + 'static>(
    valid: BoxedStrategy<T>,
    wild: BoxedStrategy<T>,
) -> BoxedStrategy<T> {
    prop_oneof![12 => valid, 1 => wild].boxed()
}

fn chars(max: usize) -> BoxedStrategy<String> {
    vec(any::<char>(), 0..max)
        .prop_map(String::from_iter)
        .boxed()
}

fn hostile() -> BoxedStrategy<String> {
    select(HOSTILE).prop_map(str::to_owned).boxed()
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range of a valid
/// `google.protobuf.Timestamp` and of upstream's time filters.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;
