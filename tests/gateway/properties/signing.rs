//! SDK-HMAC-SHA256: requests spelled every way clients spell them, signed as
//! the gateway signs and checked by the simulator's verifier; judged by the
//! checks the fuzz target `signing` shares (`checks::signing`).

use cbr_gateway::upstream::paths;
use cbr_signer as signing;
use proptest::{collection::vec, option, prelude::*, sample::select, test_runner::TestCaseError};

use super::{chars, config};
use crate::checks::signing::{self as checks, HOSTS, RESERVED_HEADERS, SignCase};

/// A path segment as clients spell it: plain, escaped (any case), with raw
/// sub-delimiters, or with a stray `%`.
fn raw_segment() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[A-Za-z0-9._~-]{0,8}",
        2 => "(%[0-9A-Fa-f]{2}|[A-Za-z0-9!$&'()*+,;=:@._~-]){0,6}",
        1 => "%[0-9A-Za-z]{0,2}",
        1 => chars(6).prop_map(|s| strict(&s)),
    ]
    .boxed()
}

/// A query piece: a key, maybe `=` and a value, each raw or escaped.
fn raw_pair() -> BoxedStrategy<String> {
    let part = || "(%[0-9A-Fa-f]{2}|[A-Za-z0-9!$'()*+,;:@./?_~-]){0,6}";
    prop_oneof![
        4 => (part(), part()).prop_map(|(k, v)| format!("{k}={v}")),
        1 => part().prop_map(|k| k.to_owned()),
        1 => (part(), part(), part()).prop_map(|(k, v, w)| format!("{k}={v}={w}")),
    ]
    .boxed()
}

/// RFC 3986 strict encoding, as the SDKs and `paths` do it.
fn strict(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The loosest spelling: only what would change the structure is escaped
/// (`%`, and `separators`), in lowercase hex.
fn loose(s: &str, separators: &[char]) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c == '%' || separators.contains(&c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn sign_case() -> BoxedStrategy<SignCase> {
    let method = prop_oneof![
        4 => select(&["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"][..]).prop_map(str::to_owned),
        1 => "[A-Z]{1,8}",
    ];
    let path = (vec(raw_segment(), 0..5), any::<bool>()).prop_map(|(segments, slash)| {
        let mut p = format!("/{}", segments.join("/"));
        if slash && !p.ends_with('/') {
            p.push('/');
        }
        p
    });
    let query = vec(prop_oneof![4 => raw_pair(), 1 => Just(String::new())], 0..5)
        .prop_map(|pairs| pairs.join("&"));
    let header = (
        "[a-z][a-z0-9-]{0,10}"
            .prop_filter("not reserved", |n| !RESERVED_HEADERS.contains(&n.as_str())),
        "[ -~\t]{0,24}",
        any::<bool>(),
    );
    (
        (method, path, query),
        select(HOSTS),
        vec(header, 0..4),
        vec(any::<u8>(), 0..64),
        (
            "[A-Z0-9]{1,24}",
            prop_oneof![
                "[!-~]{1,40}",
                chars(10).prop_filter("non-empty", |s| !s.is_empty())
            ],
        ),
        option::of("[A-Za-z0-9+/=_-]{1,48}"),
        -900..=900i64,
    )
        .prop_map(
            |((method, path, query), host, extra, body, (ak, sk), token, age)| SignCase {
                method,
                path,
                query,
                host: host.to_owned(),
                extra,
                body,
                access_key: ak,
                secret_key: sk,
                security_token: token,
                age,
            },
        )
        .boxed()
}

proptest! {
    #![proptest_config(config(256))]

    /// Canonicalisation and signing are deterministic; the canonical query
    /// ignores the order of the pairs (and empty pieces), and both canonical
    /// forms are idempotent, strictly encoded, and the URI ends with `/`.
    #[test]
    fn canonical_forms_are_deterministic_ordered_and_idempotent(
        (pairs, shuffled) in vec(raw_pair(), 0..8).prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
        empties in 0..3usize,
        segments in vec(raw_segment(), 0..5),
        case in sign_case(),
    ) {
        let query = pairs.join("&");
        let mut other = shuffled.join("&");
        other.push_str(&"&".repeat(empties));
        checks::assert_canonical_query(&query, &other);
        checks::assert_canonical_uri(&format!("/{}", segments.join("/")));
        checks::assert_deterministic(&case);
    }

    /// However a path or query is spelled (strict uppercase escapes, or only
    /// the structural characters escaped in lowercase), it signs alike: as the
    /// strict encoding of its decoded segments and of its pairs sorted by key
    /// then value — the same encoding `paths` puts on the wire.
    #[test]
    fn spelling_does_not_change_the_canonical_forms(
        segments in vec(chars(6), 1..5),
        pairs in vec((chars(6), chars(6)), 0..6),
    ) {
        let strict_path = format!("/{}", segments.iter().map(|s| strict(s)).collect::<Vec<_>>().join("/"));
        let loose_path = format!("/{}", segments.iter().map(|s| loose(s, &['/'])).collect::<Vec<_>>().join("/"));
        let mut want = strict_path.clone();
        if !want.ends_with('/') {
            want.push('/');
        }
        prop_assert_eq!(signing::canonical_uri(&strict_path), want.clone());
        prop_assert_eq!(signing::canonical_uri(&loose_path), want);

        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let loose_query = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", loose(k, &['&', '=']), loose(v, &['&', '='])))
            .collect::<Vec<_>>()
            .join("&");
        let mut sorted = refs.clone();
        sorted.sort_by(|a, b| (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes())));
        let want = paths::encode_query(&sorted);
        prop_assert_eq!(signing::canonical_query(&paths::encode_query(&refs)), want.clone());
        prop_assert_eq!(signing::canonical_query(&loose_query), want);
    }

    /// A request signed as the gateway signs verifies in the simulator's
    /// verifier; one changed byte of the body or of a signed header value (as
    /// trimmed), a wrong secret or an old date does not; unsigned headers
    /// do not matter.
    #[test]
    fn signed_requests_verify_and_tampered_ones_do_not(
        case in sign_case(),
        at in any::<usize>(),
        header in any::<usize>(),
        flip in 1..=255u8,
        to in 0x20..=0x7eu8,
    ) {
        if !checks::check_signed_request(&case, at, header, flip, to) {
            // `http` refuses this method or target, or it is the simulated
            // IAM login (which takes no credentials): nothing to verify.
            return Err(TestCaseError::reject("not a signed API request"));
        }
    }
}
