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
//!   `upstream::client::sign` composes them: Host, X-Sdk-Date and, for
//!   temporary keys, X-Security-Token set and signed, names sorted) verifies in
//!   the simulator's verifier (`simulator::auth::Credentials::check`), while
//!   one changed byte of the body or of a signed header value (as trimmed), or
//!   a wrong secret, does not.
//!
//! Nothing may panic.

#![no_main]

use arbitrary::Arbitrary;
use cbr_signer as signing;
use cbr_simulator::{
    auth::{Credentials, KeyPair},
    faults,
};
use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"];
const HOSTS: &[&str] = &["cbr.example.com", "127.0.0.1:18931", "[::1]:8443"];
/// Headers the verifier treats specially: never generated as extras.
const RESERVED: &[&str] = &[
    "authorization",
    "host",
    "x-sdk-date",
    "x-sdk-content-sha256",
    "x-auth-token",
    "x-security-token",
];

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

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 35, 10)
        .single()
        .expect("a valid date")
}

fn is_strict(s: &str, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| match c {
        b'%' => b.get(i + 1..i + 3).is_some_and(|h| {
            h.iter()
                .all(|x| x.is_ascii_digit() || (b'A'..=b'F').contains(x))
        }),
        b'-' | b'_' | b'.' | b'~' => true,
        _ => c.is_ascii_alphanumeric() || extra.contains(&c),
    })
}

/// An HTTP token usable as a lowercase header name, if `s` can be one.
fn header_name(s: &str) -> Option<String> {
    let name = s.to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !RESERVED.contains(&name.as_str());
    ok.then_some(name)
}

/// A header value `http` accepts and the verifier can read.
fn header_value(s: &str) -> Option<String> {
    let ok = s.len() <= 256 && s.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\t');
    ok.then(|| s.to_owned())
}

struct Case {
    method: String,
    path: String,
    query: String,
    host: String,
    extra: Vec<(String, String, bool)>,
    body: Vec<u8>,
    access_key: String,
    secret_key: String,
    security_token: Option<String>,
    age: i64,
}

impl Case {
    fn headers(&self, sdk_date: &str) -> Vec<(String, String)> {
        let mut h = vec![
            ("host".to_owned(), self.host.clone()),
            (signing::SDK_DATE_HEADER.to_owned(), sdk_date.to_owned()),
        ];
        if let Some(t) = &self.security_token {
            h.push(("x-security-token".to_owned(), t.clone()));
        }
        h.extend(self.extra.iter().map(|(n, v, _)| (n.clone(), v.clone())));
        h
    }

    fn signed(&self) -> Vec<String> {
        let mut s = vec!["host".to_owned(), signing::SDK_DATE_HEADER.to_owned()];
        if self.security_token.is_some() {
            s.push("x-security-token".to_owned());
        }
        s.extend(self.extra.iter().filter(|e| e.2).map(|e| e.0.clone()));
        s.sort();
        s.dedup();
        s
    }

    /// The headers to send, `Authorization` last.
    fn sign(&self, secret_key: &str) -> Vec<(String, String)> {
        let date = (now() - chrono::Duration::seconds(self.age))
            .format(signing::DATE_FORMAT)
            .to_string();
        let mut headers = self.headers(&date);
        let signed = self.signed();
        let cr = signing::canonical_request(
            &self.method,
            &self.path,
            &self.query,
            &headers,
            &signed,
            &signing::payload_hash(&self.body),
        );
        let sig = signing::signature(secret_key.as_bytes(), &signing::string_to_sign(&date, &cr));
        headers.push((
            "authorization".to_owned(),
            signing::authorization(&self.access_key, &signed, &sig),
        ));
        headers
    }

    fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

fn parts(method: &str, target: &str, headers: &[(String, String)]) -> Option<http::request::Parts> {
    let mut b = http::Request::builder().method(method).uri(target);
    for (n, v) in headers {
        b = b.header(n.as_str(), v.as_str());
    }
    Some(b.body(()).ok()?.into_parts().0)
}

fn canonical_properties(input: &Input, case: &Case) {
    // Order independence and idempotence of the query.
    let query = signing::canonical_query(&input.query);
    let mut pieces: Vec<&str> = input.query.split('&').collect();
    pieces.reverse();
    let k = usize::from(input.rotate) % pieces.len().max(1);
    pieces.rotate_left(k);
    let reordered = format!("{}&&", pieces.join("&"));
    assert_eq!(
        signing::canonical_query(&reordered),
        query,
        "order changed the query"
    );
    assert_eq!(signing::canonical_query(&query), query, "not idempotent");
    assert!(is_strict(&query, b"&="), "{query:?}");

    // The URI: idempotent, strict, ending with '/'.
    let uri = signing::canonical_uri(&input.path);
    assert!(uri.ends_with('/'));
    assert_eq!(signing::canonical_uri(&uri), uri, "not idempotent");
    assert!(is_strict(&uri, b"/"), "{uri:?}");

    // Determinism.
    let headers = case.headers("20261123T083510Z");
    let signed = case.signed();
    let hash = signing::payload_hash(&case.body);
    let a = signing::canonical_request(
        &case.method,
        &case.path,
        &case.query,
        &headers,
        &signed,
        &hash,
    );
    let b = signing::canonical_request(
        &case.method,
        &case.path,
        &case.query,
        &headers,
        &signed,
        &hash,
    );
    assert_eq!(a, b);
    let sts = signing::string_to_sign("20261123T083510Z", &a);
    assert_eq!(
        signing::signature(input.secret_key.as_bytes(), &sts),
        signing::signature(input.secret_key.as_bytes(), &sts)
    );
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
    let mut case = Case {
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
    canonical_properties(&input, &case);

    // The verifier reads the path and query from the parsed request target:
    // a target `http` will not carry as given is sent strictly encoded instead.
    let fits = |c: &Case| {
        parts(&c.method, &c.target(), &[])
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
    let target = case.target();
    let headers = case.sign(&case.secret_key);
    let Some(sent) = parts(&case.method, &target, &headers) else {
        return;
    };
    // The simulated IAM login takes no credentials at all.
    if faults::route_of(&sent.method, sent.uri.path()).is_some_and(|r| r == "iam_tokens") {
        return;
    }
    let creds = Credentials::new(
        &[KeyPair {
            access_key: case.access_key.clone(),
            secret_key: case.secret_key.clone(),
            security_token: case.security_token.clone(),
        }],
        &[],
    );
    let now = now();
    assert_eq!(
        creds.check(&sent, &case.body, now),
        Ok(()),
        "a signed request must verify"
    );

    // One changed body byte.
    let mut body = case.body.clone();
    let flip = input.flip.max(1);
    if body.is_empty() {
        body.push(flip);
    } else {
        let i = usize::from(input.at) % body.len();
        body[i] ^= flip;
    }
    assert!(
        creds.check(&sent, &body, now).is_err(),
        "changed body verified"
    );

    // One changed byte of one signed header value.
    let signed = case.signed();
    let candidates: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| signed.contains(n))
        .map(|(i, _)| i)
        .collect();
    let i = candidates[usize::from(input.header) % candidates.len()];
    let old = &headers[i].1;
    let to = 0x20 + input.to % 0x5f;
    if !old.is_empty() {
        let mut bytes = old.clone().into_bytes();
        let j = usize::from(input.at) % bytes.len();
        bytes[j] = to;
        if let Ok(new) = String::from_utf8(bytes)
            && new.trim() != old.trim()
        {
            let mut tampered = headers.clone();
            tampered[i].1 = new;
            if let Some(p) = parts(&case.method, &target, &tampered) {
                assert!(
                    creds.check(&p, &case.body, now).is_err(),
                    "changed {} verified",
                    tampered[i].0
                );
            }
        }
    }

    // A wrong secret.
    let wrong = Credentials::new(
        &[KeyPair {
            access_key: case.access_key.clone(),
            secret_key: format!("{}x", case.secret_key),
            security_token: case.security_token.clone(),
        }],
        &[],
    );
    assert!(
        wrong.check(&sent, &case.body, now).is_err(),
        "wrong secret verified"
    );
});
