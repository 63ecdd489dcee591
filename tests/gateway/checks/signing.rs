//! SDK-HMAC-SHA256 canonicalisation and signing: the canonical forms are
//! deterministic, order-independent, idempotent and strictly encoded; a
//! request signed as the gateway signs verifies in the simulator's verifier,
//! and one changed byte of its body or of a signed header, a wrong secret or
//! a stale date does not.
//!
//! Shared by the property tests (`properties::signing`,
//! `properties::signer_over_http`) and the fuzz target
//! `fuzz/fuzz_targets/signing.rs`, which include this file.

use cbr_signer as signing;
use cbr_simulator::{
    auth::{Credentials, KeyPair},
    faults,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// Header names the verifier treats specially; generated headers avoid them.
pub const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "x-sdk-date",
    "x-sdk-content-sha256",
    "x-auth-token",
    "x-security-token",
];

/// The hosts requests are signed for.
pub const HOSTS: &[&str] = &["cbr.example.com", "127.0.0.1:18931", "[::1]:8443"];

/// One request to sign: everything the signer and verifier read.
#[derive(Debug, Clone)]
pub struct SignCase {
    pub method: String,
    pub path: String,
    pub query: String,
    pub host: String,
    /// Extra headers: name, value, and whether they are signed.
    pub extra: Vec<(String, String, bool)>,
    pub body: Vec<u8>,
    pub access_key: String,
    pub secret_key: String,
    pub security_token: Option<String>,
    /// How long before the verifier's clock the request was signed.
    pub age: i64,
}

/// The verifier's clock.
pub fn verifier_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 35, 10)
        .single()
        .expect("a valid date")
}

impl SignCase {
    /// The headers as sent (before `Authorization`), in order.
    pub fn headers(&self, sdk_date: &str) -> Vec<(String, String)> {
        let mut headers = vec![
            ("host".to_owned(), self.host.clone()),
            (signing::SDK_DATE_HEADER.to_owned(), sdk_date.to_owned()),
        ];
        if let Some(token) = &self.security_token {
            headers.push(("x-security-token".to_owned(), token.clone()));
        }
        headers.extend(self.extra.iter().map(|(n, v, _)| (n.clone(), v.clone())));
        headers
    }

    /// The signed header names: host, date, token and the chosen extras, sorted.
    pub fn signed(&self) -> Vec<String> {
        let mut signed = vec!["host".to_owned(), signing::SDK_DATE_HEADER.to_owned()];
        if self.security_token.is_some() {
            signed.push("x-security-token".to_owned());
        }
        signed.extend(
            self.extra
                .iter()
                .filter(|(_, _, s)| *s)
                .map(|(n, _, _)| n.clone()),
        );
        signed.sort();
        signed.dedup();
        signed
    }

    /// Signs as the gateway's signer (`upstream::client::sign`) composes the
    /// signing functions; returns the headers to send, `Authorization` last.
    pub fn sign(&self) -> Vec<(String, String)> {
        let sdk_date = (verifier_now() - Duration::seconds(self.age))
            .format(signing::DATE_FORMAT)
            .to_string();
        let mut headers = self.headers(&sdk_date);
        let signed = self.signed();
        let canonical = signing::canonical_request(
            &self.method,
            &self.path,
            &self.query,
            &headers,
            &signed,
            &signing::payload_hash(&self.body),
        );
        let signature = signing::signature(
            self.secret_key.as_bytes(),
            &signing::string_to_sign(&sdk_date, &canonical),
        );
        headers.push((
            "authorization".to_owned(),
            signing::authorization(&self.access_key, &signed, &signature),
        ));
        headers
    }

    /// The request target: path, then the query if any.
    pub fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// The simulator's verifier knowing exactly this case's key.
    pub fn credentials(&self) -> Credentials {
        Credentials::new(
            &[KeyPair {
                access_key: self.access_key.clone(),
                secret_key: self.secret_key.clone(),
                security_token: self.security_token.clone(),
            }],
            &[],
        )
    }
}

/// The request parts the simulator's verifier sees, or `None` when `http`
/// would not carry the method, target or headers at all.
pub fn parts(
    method: &str,
    target: &str,
    headers: &[(String, String)],
) -> Option<http::request::Parts> {
    let mut builder = http::Request::builder().method(method).uri(target);
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    Some(builder.body(()).ok()?.into_parts().0)
}

/// Whether `s` uses only unreserved characters, uppercase `%XX` escapes and
/// the bytes in `extra`.
pub fn is_strict(s: &str, extra: &[u8]) -> bool {
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

/// The canonical query ignores the order of the pairs (`reordered` holds the
/// same pieces as `query`, in another order, maybe with empty ones), and is
/// idempotent and strictly encoded.
pub fn assert_canonical_query(query: &str, reordered: &str) {
    let canonical = signing::canonical_query(query);
    assert_eq!(
        signing::canonical_query(reordered),
        canonical,
        "order changed the query"
    );
    assert_eq!(
        signing::canonical_query(&canonical),
        canonical,
        "not idempotent"
    );
    assert!(is_strict(&canonical, b"&="), "{canonical:?}");
}

/// The canonical URI of any path ends with `/`, is idempotent and strictly
/// encoded.
pub fn assert_canonical_uri(path: &str) {
    let uri = signing::canonical_uri(path);
    assert!(uri.ends_with('/'), "{uri:?}");
    assert_eq!(signing::canonical_uri(&uri), uri, "not idempotent");
    assert!(is_strict(&uri, b"/"), "{uri:?}");
}

/// Canonicalisation and signing are deterministic, the signature is lowercase
/// hex, and the canonical request has its layout: method, URI, query, one line
/// per signed header, an empty line, the names, the payload hash.
pub fn assert_deterministic(case: &SignCase) {
    let headers = case.headers("20261123T083510Z");
    let signed = case.signed();
    let hash = signing::payload_hash(&case.body);
    let cr = signing::canonical_request(
        &case.method,
        &case.path,
        &case.query,
        &headers,
        &signed,
        &hash,
    );
    assert_eq!(
        signing::canonical_request(
            &case.method,
            &case.path,
            &case.query,
            &headers,
            &signed,
            &hash
        ),
        cr
    );
    let sts = signing::string_to_sign("20261123T083510Z", &cr);
    let sig = signing::signature(case.secret_key.as_bytes(), &sts);
    assert_eq!(signing::signature(case.secret_key.as_bytes(), &sts), sig);
    assert!(
        sig.len() == 64
            && sig
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let lines: Vec<&str> = cr.split('\n').collect();
    assert_eq!(lines.len(), 3 + signed.len() + 3);
    assert_eq!(lines[0], case.method.as_str());
    assert_eq!(lines[1], signing::canonical_uri(&case.path));
    assert_eq!(lines[2], signing::canonical_query(&case.query));
    assert_eq!(lines[3 + signed.len()], "");
    assert_eq!(lines[4 + signed.len()], signed.join(";"));
    assert_eq!(lines[5 + signed.len()], hash.as_str());
}

/// Byte `at` (modulo the length) of `value` set to `to`, if that changes it.
pub fn with_byte(value: &str, at: usize, to: u8) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let mut bytes = value.as_bytes().to_vec();
    let i = at % bytes.len();
    if bytes[i] == to {
        return None;
    }
    bytes[i] = to;
    String::from_utf8(bytes).ok()
}

/// Signs `case` as the gateway signs and checks the verifier: it accepts the
/// request, the `Authorization` header round-trips, and it refuses one changed
/// byte of the body (`at`, xor `flip`, which is not 0) or of one signed header
/// value (`header`, byte `at` set to `to`, as trimmed), a wrong secret and a
/// date outside the 15 minutes; an unsigned header changes nothing.
///
/// Returns `false`, checking nothing, when the request cannot be sent at all
/// (`http` refuses its method or target) or is the simulated IAM login (which
/// takes no credentials).
pub fn check_signed_request(case: &SignCase, at: usize, header: usize, flip: u8, to: u8) -> bool {
    assert_ne!(flip, 0, "a flip changes the byte");
    let headers = case.sign();
    let target = case.target();
    let now = verifier_now();
    let creds = case.credentials();
    let Some(sent) = parts(&case.method, &target, &headers) else {
        return false;
    };
    if faults::route_of(&sent.method, sent.uri.path()).is_some() {
        return false;
    }
    assert_eq!(
        creds.check(&sent, &case.body, now),
        Ok(()),
        "a signed request must verify"
    );
    assert_eq!(sent.uri.path(), case.path.as_str());

    // The Authorization header round-trips.
    let authorization = headers.last().map(|(_, v)| v.as_str()).unwrap_or_default();
    let parsed = signing::parse_authorization(authorization).expect("authorization parses");
    assert_eq!(parsed.access_key, case.access_key);
    assert_eq!(parsed.signed_headers, case.signed());

    // Body: one byte changed, or one added to an empty body.
    let mut body = case.body.clone();
    if body.is_empty() {
        body.push(flip);
    } else {
        let i = at % body.len();
        body[i] ^= flip;
    }
    assert!(
        creds.check(&sent, &body, now).is_err(),
        "changed body verified"
    );

    // One byte of one signed header value.
    let signed = case.signed();
    let candidates: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| signed.contains(n))
        .map(|(i, _)| i)
        .collect();
    let i = candidates[header % candidates.len()];
    if let Some(changed) = with_byte(&headers[i].1, at, to)
        && changed.trim() != headers[i].1.trim()
    {
        let mut tampered = headers.clone();
        tampered[i].1 = changed;
        if let Some(p) = parts(&case.method, &target, &tampered) {
            assert!(
                creds.check(&p, &case.body, now).is_err(),
                "changed {} verified: {:?}",
                tampered[i].0,
                tampered[i].1
            );
        }
    }

    // An unsigned header changes nothing.
    let mut extra = headers.clone();
    extra.insert(0, ("x_unsigned".to_owned(), "anything".to_owned()));
    if let Some(p) = parts(&case.method, &target, &extra) {
        assert_eq!(creds.check(&p, &case.body, now), Ok(()));
    }

    // A wrong secret, or a date outside the 15 minutes.
    let mut wrong = case.clone();
    wrong.secret_key.push('x');
    assert!(
        wrong.credentials().check(&sent, &case.body, now).is_err(),
        "wrong secret verified"
    );
    let mut old = case.clone();
    old.age = if case.age >= 0 { 901 } else { -901 };
    let stale = parts(&case.method, &target, &old.sign()).expect("the stale request builds");
    assert!(
        creds.check(&stale, &case.body, now).is_err(),
        "stale date verified"
    );
    true
}
