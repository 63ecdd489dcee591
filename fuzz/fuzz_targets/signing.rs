//! SDK-HMAC-SHA256 canonicalisation and signing.
//!
//! Arbitrary method, path, query, headers and body go through the
//! canonical-request and signature functions of `cbr_signer`:
//!
//! * deterministic: the same input gives the same canonical request and
//!   signature;
//! * the canonical query does not depend on the order of the `&`-separated
//!   pairs (nor on empty pieces), and both canonical forms are idempotent and
//!   strictly encoded;
//! * a request signed as the gateway signs (the signing functions composed as
//!   the gateway's signing stage (`upstream/auth.rs`) composes them: Host, X-Sdk-Date and, for
//!   temporary keys, X-Security-Token set and signed, names sorted) verifies in
//!   the simulator's verifier (`cbr_simulator::auth::Credentials::check`), while
//!   one changed byte of the body or of a signed header value (as trimmed), a
//!   wrong secret or a date outside the 15 minutes does not; an unsigned
//!   header changes nothing; the `Authorization` header round-trips.
//!
//! Nothing may panic. The checks are `tests/gateway/checks/signing.rs`, which
//! the property tests run on stable too.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

// The checks, shared with the property tests (`tests/gateway/properties/`).
#[allow(dead_code)]
#[path = "../../tests/gateway/checks/signing.rs"]
mod checks;

use checks::{HOSTS, RESERVED_HEADERS, SignCase};

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"];

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    custom_method: Option<String>,
    path: String,
    query: String,
    host: u8,
    /// Extra headers: name, value, signed.
    extra: Vec<(String, String, bool)>,
    body: Vec<u8>,
    access_key: String,
    secret_key: String,
    security_token: Option<String>,
    /// Seconds between signing and verifying, folded into ±900.
    age: i16,
    /// How the query pieces are reordered.
    rotate: u8,
    /// Which byte of the body / of which signed header to change, and how.
    at: u16,
    header: u8,
    flip: u8,
    to: u8,
}

/// An HTTP token usable as a lowercase header name, if `s` can be one.
fn header_name(s: &str) -> Option<String> {
    let name = s.to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !RESERVED_HEADERS.contains(&name.as_str());
    ok.then_some(name)
}

/// A header value `http` accepts and the verifier can read.
fn header_value(s: &str) -> Option<String> {
    let ok = s.len() <= 256 && s.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\t');
    ok.then(|| s.to_owned())
}

fuzz_target!(|input: Input| {
    let method = match &input.custom_method {
        Some(m) if http::Method::from_bytes(m.as_bytes()).is_ok() => m.clone(),
        _ => METHODS[usize::from(input.method) % METHODS.len()].to_owned(),
    };
    let access_key: String = input
        .access_key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    let access_key = if access_key.is_empty() {
        "AK".to_owned()
    } else {
        access_key
    };
    let secret_key = if input.secret_key.is_empty() {
        "SK".to_owned()
    } else {
        input.secret_key.clone()
    };
    let security_token = input
        .security_token
        .as_deref()
        .and_then(header_value)
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let extra = input
        .extra
        .iter()
        .take(6)
        .filter_map(|(n, v, s)| Some((header_name(n)?, header_value(v)?, *s)))
        .collect();
    let mut case = SignCase {
        method,
        path: input.path.clone(),
        query: input.query.clone(),
        host: HOSTS[usize::from(input.host) % HOSTS.len()].to_owned(),
        extra,
        body: input.body.clone(),
        access_key,
        secret_key,
        security_token,
        age: i64::from(input.age) % 901,
    };

    // The canonical forms, of the input as given: the query's pieces
    // reordered (reversed, rotated, with empty pieces added) sign alike.
    let mut pieces: Vec<&str> = input.query.split('&').collect();
    pieces.reverse();
    let k = usize::from(input.rotate) % pieces.len().max(1);
    pieces.rotate_left(k);
    let reordered = format!("{}&&", pieces.join("&"));
    checks::assert_canonical_query(&input.query, &reordered);
    checks::assert_canonical_uri(&input.path);
    checks::assert_deterministic(&case);

    // The verifier reads the path and query from the parsed request target:
    // a target `http` will not carry as given is sent strictly encoded instead.
    let fits = |c: &SignCase| {
        checks::parts(&c.method, &c.target(), &[])
            .is_some_and(|p| p.uri.path() == c.path && p.uri.query().unwrap_or("") == c.query)
    };
    if !fits(&case) {
        fn enc(s: &str, keep: &'static percent_encoding::AsciiSet) -> String {
            percent_encoding::utf8_percent_encode(s, keep).to_string()
        }
        const PATH: &percent_encoding::AsciiSet =
            &cbr_gateway::upstream::paths::STRICT.remove(b'/');
        const QUERY: &percent_encoding::AsciiSet = &cbr_gateway::upstream::paths::STRICT
            .remove(b'&')
            .remove(b'=');
        case.path = format!("/{}", enc(case.path.trim_start_matches('/'), PATH));
        case.query = enc(&case.query, QUERY);
    }
    if !fits(&case) {
        return;
    }
    // Signed, verified; tampered, refused. (Requests `http` cannot send, and
    // the simulated IAM login, are skipped inside.)
    checks::check_signed_request(
        &case,
        usize::from(input.at),
        usize::from(input.header),
        input.flip.max(1),
        0x20 + input.to % 0x5f,
    );
});
