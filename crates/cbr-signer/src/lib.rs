//!  Huawei APIG "SDK-HMAC-SHA256" (AK/SK) request signing, as pure functions.
//!
//! The gateway signs upstream requests with these and the built-in simulator
//! verifies them with the same code, so both sides build byte-identical text.
//! Every step follows `shared/cbr-api/REFERENCE.md` §5.2 and is pinned by its
//! test vectors and by the requests captured from Huawei's official Python SDK
//! (§8.1):
//!
//! ```text
//! CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQuery \n
//!                    (name:trimmed-value \n)*  \n  SignedHeaders \n PayloadHash
//! StringToSign     = SDK-HMAC-SHA256 \n X-Sdk-Date \n hex(SHA-256(CanonicalRequest))
//! Signature        = hex(HMAC-SHA256(key = SK bytes, StringToSign))
//! Authorization    = SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<a;b>, Signature=<hex>
//! ```
//!
//! Unlike AWS SigV4 the key is the raw SK (no date or region derivation), and
//! the canonical URI always ends with `/` although the request is sent without
//! it. Which headers get signed is the signer's choice (the SDKs differ), so a
//! verifier must rebuild the canonical request from the `SignedHeaders` list in
//! the `Authorization` header, never from a list of its own.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use sha2::{Digest, Sha256};

/// The algorithm name: the first line of the string-to-sign and the scheme of
/// the `Authorization` header.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// `chrono` format of the `X-Sdk-Date` header (UTC, e.g. `20191115T033655Z`).
pub const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Name of the date header that must take part in every signature.
pub const SDK_DATE_HEADER: &str = "x-sdk-date";

/// Name of the header announcing that the body is not hashed.
pub const CONTENT_SHA256_HEADER: &str = "x-sdk-content-sha256";

/// Payload hash used in place of the body's SHA-256 when
/// [`CONTENT_SHA256_HEADER`] carries this value (SDKs do so for bodies that are
/// neither JSON nor BSON).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// RFC 3986 unreserved characters stay literal; everything else is encoded.
/// `percent-encoding` emits uppercase hex, as the SDKs do. The same set
/// encodes what the gateway puts into URLs, so what it sends is what it signs.
pub const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

type HmacSha256 = Hmac<Sha256>;

fn encode(bytes: &[u8]) -> String {
    percent_encode(bytes, STRICT).to_string()
}

/// Works on bytes rather than `str` so a segment that decodes to invalid
/// UTF-8 is still re-encoded faithfully instead of being mangled.
fn decode(text: &str) -> Vec<u8> {
    percent_decode_str(text).collect()
}

/// Lowercase hex of `bytes`.
pub fn hex_lower(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The canonical URI of a raw (as sent, percent-encoded) request path.
///
/// Each `/`-separated segment is decoded and re-encoded with the strict
/// unreserved set, so differently-encoded spellings of one path sign alike
/// while an encoded `%2F` stays inside its segment. A trailing `/` is added
/// when missing; an empty path becomes `/`.
pub fn canonical_uri(path: &str) -> String {
    let mut uri = path
        .split('/')
        .map(|segment| encode(&decode(segment)))
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// The canonical query string of a raw query (the part after `?`, without the
/// `?`, still percent-encoded).
///
/// Pairs are split on `&` (empty pieces are skipped) and at the first `=`; a
/// pair without `=` has an empty value. Keys and values are percent-decoded
/// (`+` is a literal plus, not a space: the SDKs encode spaces as `%20`),
/// sorted by key then value on the decoded bytes as the Go and Python SDKs do,
/// re-encoded strictly and emitted as `k=v` joined by `&`, one pair per value.
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical request.
///
/// `method` is used as given (callers pass the uppercase method); `path` and
/// `raw_query` are the raw request target parts (see [`canonical_uri`] and
/// [`canonical_query`]). `headers` may hold any headers in any case; only
/// those named in `signed_headers` are used, in the order of that list, which
/// must be lowercase and is expected sorted (it is not re-sorted, so a
/// verifier reproduces exactly what the signer listed).
///
/// Values are trimmed. A signed header present several times has its trimmed
/// values joined with `,` in order, the HTTP field-combination rule; the SDKs
/// keep headers in single-valued maps, so they never produce this case and the
/// choice only has to agree between our own signer and verifier. A signed
/// header that is absent contributes `name:` with an empty value, which makes
/// the signature fail to match rather than silently skipping it.
pub fn canonical_request<K, V, S>(
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &[(K, V)],
    signed_headers: &[S],
    payload_hash: &str,
) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
    S: AsRef<str>,
{
    let mut out = format!(
        "{method}\n{}\n{}\n",
        canonical_uri(path),
        canonical_query(raw_query)
    );
    for name in signed_headers {
        let name = name.as_ref();
        let values = headers
            .iter()
            .filter(|(header, _)| header.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_ref().trim())
            .collect::<Vec<_>>()
            .join(",");
        out.push_str(name);
        out.push(':');
        out.push_str(&values);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&join_names(signed_headers));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

fn join_names<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(";")
}

/// The string to sign: [`ALGORITHM`], the `X-Sdk-Date` value and the
/// lowercase hex SHA-256 of the canonical request, one per line.
pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        payload_hash(canonical_request.as_bytes())
    )
}

/// The signature: lowercase hex HMAC-SHA256 of the string to sign, keyed
/// directly with the secret key's bytes.
pub fn signature(secret_key: &[u8], string_to_sign: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(secret_key).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    hex_lower(&mac.finalize().into_bytes())
}

/// Lowercase hex SHA-256 of `body`, the last line of the canonical request
/// (unless [`UNSIGNED_PAYLOAD`] is used).
pub fn payload_hash(body: &[u8]) -> String {
    hex_lower(&Sha256::digest(body))
}

/// The `Authorization` header value, with the `", "` separators the SDKs use.
pub fn authorization<S: AsRef<str>>(
    access_key: &str,
    signed_headers: &[S],
    signature: &str,
) -> String {
    format!(
        "{ALGORITHM} Access={access_key}, SignedHeaders={}, Signature={signature}",
        join_names(signed_headers)
    )
}

/// The parts of an `SDK-HMAC-SHA256` `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    /// The access key (AK) that names the secret key to verify with.
    pub access_key: String,
    /// The signed header names, in the order the signer listed them.
    pub signed_headers: Vec<String>,
    /// The hex signature, as sent.
    pub signature: String,
}

/// Parses an `Authorization` header value produced by [`authorization`] or an
/// SDK.
///
/// Requires the [`ALGORITHM`] scheme followed by whitespace, then exactly one
/// each of `Access`, `SignedHeaders` and `Signature` (in any order, separated
/// by commas with optional whitespace), with non-empty values; every signed
/// header name must be a non-empty lowercase HTTP token. Anything else yields
/// `None`. Policy such as "`x-sdk-date` must be signed" is the verifier's.
pub fn parse_authorization(value: &str) -> Option<ParsedAuthorization> {
    let rest = value.trim().strip_prefix(ALGORITHM)?;
    // The scheme must be a whole word, not a prefix of some other scheme.
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let (mut access, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (key, val) = part.trim().split_once('=')?;
        let slot = match key {
            "Access" => &mut access,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut sig,
            _ => return None,
        };
        if slot.replace(val).is_some() {
            return None;
        }
    }
    let access_key = access.filter(|a| !a.is_empty())?.to_owned();
    let signature = sig.filter(|s| !s.is_empty())?.to_owned();
    let signed_headers = signed?
        .split(';')
        .map(|name| is_lowercase_token(name).then(|| name.to_owned()))
        .collect::<Option<Vec<_>>>()?;
    Some(ParsedAuthorization {
        access_key,
        signed_headers,
        signature,
    })
}

/// RFC 9110 `token` without uppercase letters: a name we could look up.
fn is_lowercase_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

/// Compares two byte strings in time independent of where they differ, so a
/// verifier comparing signatures (or a token) leaks nothing about how much of
/// a guess was right. Lengths are not secret (signatures are fixed-size hex).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.ct_eq(b).into()
}

/// What signs a request: an access key, its secret, and for temporary
/// credentials the security token they must carry.
pub struct Credentials<'a> {
    /// The access key ID (AK).
    pub access_key: &'a str,
    /// The secret access key (SK).
    pub secret_key: &'a [u8],
    /// The security token of temporary credentials, sent (and signed) as
    /// `X-Security-Token`.
    pub security_token: Option<&'a str>,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}:<redacted>)", self.access_key)
    }
}

/// The parts of a request that are signed besides its headers.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The method, uppercase.
    pub method: &'a str,
    /// The raw (percent-encoded) path.
    pub path: &'a str,
    /// The raw query, without `?`; empty when there is none.
    pub query: &'a str,
    /// `host[:port]` as the request is sent.
    pub host: &'a str,
}

/// A header value [`sign`] could not build (a credential or project ID that
/// is not a valid header value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidHeader(pub &'static str);

impl std::fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not a valid header value", self.0)
    }
}

impl std::error::Error for InvalidHeader {}

/// `payload_hash(b"")`: every GET signs the empty body.
const EMPTY_PAYLOAD_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Signs a request exactly as Huawei's SDKs do (REFERENCE.md §5.2): sets
/// `Host`, `X-Project-Id` (when given), `X-Sdk-Date` and, for temporary
/// credentials, `X-Security-Token` in `headers`, then `Authorization` over
/// those and `Content-Type` (when `headers` has one), with the SHA-256 of the
/// exact `body` bytes. Credentials and the signature travel as sensitive
/// header values (hyper neither logs nor indexes them). `sdk_date` is the
/// signing time in [`DATE_FORMAT`] (see [`sdk_date`]).
pub fn sign(
    target: Target<'_>,
    headers: &mut http::HeaderMap,
    body: &[u8],
    credentials: &Credentials<'_>,
    project_id: Option<&str>,
    sdk_date: &str,
) -> Result<(), InvalidHeader> {
    use http::{HeaderName, HeaderValue, header};
    let value = |v: &str, what| HeaderValue::from_str(v).map_err(|_| InvalidHeader(what));
    let payload_hash = if body.is_empty() {
        EMPTY_PAYLOAD_HASH.to_owned()
    } else {
        payload_hash(body)
    };
    headers.insert(header::HOST, value(target.host, "the host")?);
    if let Some(project) = project_id {
        headers.insert(
            HeaderName::from_static("x-project-id"),
            value(project, "the project ID")?,
        );
    }
    headers.insert(
        HeaderName::from_static(SDK_DATE_HEADER),
        value(sdk_date, "the date")?,
    );
    if let Some(token) = credentials.security_token {
        let mut token = value(token, "the security token")?;
        token.set_sensitive(true);
        headers.insert(HeaderName::from_static("x-security-token"), token);
    }
    let mut signed: Vec<&str> = vec!["host", SDK_DATE_HEADER];
    if project_id.is_some() {
        signed.push("x-project-id");
    }
    if headers.contains_key(header::CONTENT_TYPE) {
        signed.push("content-type");
    }
    if credentials.security_token.is_some() {
        signed.push("x-security-token");
    }
    signed.sort_unstable();
    let pairs: Vec<(&str, &str)> = signed
        .iter()
        .filter_map(|name| Some((*name, headers.get(*name)?.to_str().ok()?)))
        .collect();
    let canonical = canonical_request(
        target.method,
        target.path,
        target.query,
        &pairs,
        &signed,
        &payload_hash,
    );
    let signature = signature(
        credentials.secret_key,
        &string_to_sign(sdk_date, &canonical),
    );
    let mut authorization = value(
        &authorization(credentials.access_key, &signed, &signature),
        "the access key",
    )?;
    authorization.set_sensitive(true);
    headers.insert(header::AUTHORIZATION, authorization);
    Ok(())
}

/// A time as `X-Sdk-Date` ([`DATE_FORMAT`], `20261123T101500Z`), from its UTC
/// calendar fields. Written field by field: formatting with a pattern
/// re-parses the pattern on every call, which showed in profiles.
pub fn sdk_date(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(16);
    let _ = write!(
        out,
        "{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}Z"
    );
    out
}

#[cfg(test)]
mod tests {
    use percent_encoding::utf8_percent_encode;

    use super::*;

    const EMPTY_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn names(list: &str) -> Vec<String> {
        list.split(';').map(str::to_owned).collect()
    }

    /// One request to sign, as a client would.
    struct Case<'a> {
        method: &'a str,
        path: &'a str,
        query: &'a str,
        headers: &'a [(String, String)],
        signed: &'a [String],
        body: &'a [u8],
        date: &'a str,
    }

    impl Case<'_> {
        /// Returns (canonical request, string to sign, signature).
        fn sign(&self, sk: &str) -> (String, String, String) {
            let cr = canonical_request(
                self.method,
                self.path,
                self.query,
                self.headers,
                self.signed,
                &payload_hash(self.body),
            );
            let sts = string_to_sign(self.date, &cr);
            let sig = signature(sk.as_bytes(), &sts);
            (cr, sts, sig)
        }
    }

    #[test]
    fn sign_reproduces_the_official_doc_example() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let target = Target {
            method: "GET",
            path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
            query: "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
            host: "service.region.example.com",
        };
        let credentials = Credentials {
            access_key: "QTWAOYTTINDUT2QVKYUC",
            secret_key: b"MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
            security_token: None,
        };
        let date = sdk_date(2019, 11, 15, 3, 36, 55);
        assert_eq!(date, "20191115T033655Z");
        sign(target, &mut headers, b"", &credentials, None, &date).unwrap();
        let authorization = &headers[http::header::AUTHORIZATION];
        assert!(authorization.is_sensitive());
        assert_eq!(
            authorization,
            "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, \
             SignedHeaders=content-type;host;x-sdk-date, \
             Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
        );
        assert_eq!(headers[SDK_DATE_HEADER], "20191115T033655Z");
        assert_eq!(headers[http::header::HOST], "service.region.example.com");
        assert!(!format!("{credentials:?}").contains("MFyf"));
    }

    #[test]
    fn sdk_dates_and_the_empty_body_hash() {
        use chrono::{Datelike as _, Timelike as _};
        let now = chrono::Utc::now();
        let date = sdk_date(
            now.year(),
            now.month(),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
        );
        assert_eq!(date, now.format(DATE_FORMAT).to_string());
        assert_eq!(EMPTY_PAYLOAD_HASH, payload_hash(b""));
    }

    #[test]
    fn v1_official_doc_example() {
        let hdrs = headers(&[
            ("Content-Type", "application/json"),
            ("Host", "service.region.example.com"),
            ("X-Sdk-Date", "20191115T033655Z"),
        ]);
        let signed = names("content-type;host;x-sdk-date");
        let (cr, sts, sig) = Case {
            method: "GET",
            path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
            query: "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
            headers: &hdrs,
            signed: &signed,
            body: b"",
            date: "20191115T033655Z",
        }
        .sign("MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc");
        assert_eq!(
            cr,
            "GET\n\
             /v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\n\
             limit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n\
             content-type:application/json\n\
             host:service.region.example.com\n\
             x-sdk-date:20191115T033655Z\n\
             \n\
             content-type;host;x-sdk-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            payload_hash(cr.as_bytes()),
            "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
        );
        assert_eq!(
            sts,
            "SDK-HMAC-SHA256\n20191115T033655Z\n\
             b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
        );
        assert_eq!(
            authorization("QTWAOYTTINDUT2QVKYUC", &signed, &sig),
            "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, \
             SignedHeaders=content-type;host;x-sdk-date, \
             Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
        );
    }

    #[test]
    fn v2_go_sdk_get_with_query() {
        // TEST_UNDERSCORE is present but unsigned, as in the Go test.
        let hdrs = headers(&[
            ("X-Sdk-Date", "20060102T150405Z"),
            ("TEST_UNDERSCORE", "ignored"),
        ]);
        let signed = names("x-sdk-date");
        let (cr, _, sig) = Case {
            method: "GET",
            path: "/path",
            query: "limit=1",
            headers: &hdrs,
            signed: &signed,
            body: b"",
            date: "20060102T150405Z",
        }
        .sign("SecretKey");
        assert_eq!(
            cr,
            format!(
                "GET\n/path/\nlimit=1\nx-sdk-date:20060102T150405Z\n\nx-sdk-date\n{EMPTY_HASH}"
            )
        );
        assert_eq!(
            sig,
            "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
        );
    }

    #[test]
    fn v3_go_sdk_post_with_body() {
        let hdrs = headers(&[
            ("Content-Type", "application/json"),
            ("X-Sdk-Date", "20060102T150405Z"),
            ("TEST_UNDERSCORE", "ignored"),
        ]);
        let (_, _, sig) = Case {
            method: "POST",
            path: "/path",
            query: "key=value",
            headers: &hdrs,
            signed: &names("x-sdk-date"),
            body: b"{\"Name\":\"test\",\"Id\":1}\n",
            date: "20060102T150405Z",
        }
        .sign("SecretKey");
        assert_eq!(
            sig,
            "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
        );
    }

    #[test]
    fn go_sdk_query_canonicalisation_vector() {
        let enc = |s: &str| utf8_percent_encode(s, STRICT).to_string();
        // Deliberately unsorted, with the repeated key scattered.
        let raw = [
            ("test", "一 (&=?!#%.*)"),
            ("multi", "3"),
            ("path", "/tmp/123"),
            ("limit", "1"),
            ("multi", "1"),
            ("enable", "true"),
            ("multi", "2"),
        ]
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
        assert_eq!(
            canonical_query(&raw),
            "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123\
             &test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
        );
    }

    #[test]
    fn query_edge_cases() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("flag"), "flag=");
        assert_eq!(canonical_query("a="), "a=");
        assert_eq!(canonical_query("a=b+c"), "a=b%2Bc");
        assert_eq!(canonical_query("b=2&a=1&a=0&"), "a=0&a=1&b=2");
        // Loosely encoded input canonicalises like strictly encoded input.
        assert_eq!(canonical_query("p=/tmp/1&q=%3a%7e"), "p=%2Ftmp%2F1&q=%3A~");
        assert_eq!(canonical_query("x=a=b"), "x=a%3Db");
    }

    #[test]
    fn uri_edge_cases() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/a/b/"), "/a/b/");
        assert_eq!(
            canonical_uri("/v3/%7bproject_id%7D/backups"),
            "/v3/%7Bproject_id%7D/backups/"
        );
        assert_eq!(canonical_uri("/x/OS::Nova a"), "/x/OS%3A%3ANova%20a/");
        // An encoded slash stays part of its segment.
        assert_eq!(canonical_uri("/a%2Fb/c"), "/a%2Fb/c/");
    }

    const PROJECT: &str = "4229d7a45436489f8c3dc2b1d35d4987";
    const PY_UA: &str = "huaweicloud-usdk-python/3.0; os/Linux##1_SMP_PREEMPT_DYNAMIC_@0#x86_64 \
                         python/3.11.7 impl/CPython; app/a7f3353e-90ef-47ff-92af-9e3f7b620c52";
    const PY_DATE: &str = "20261123T083510Z";

    /// The headers of a §8.1 capture, including unsigned ones, as sent.
    fn python_headers(content_type: &str) -> Vec<(String, String)> {
        headers(&[
            ("User-Agent", PY_UA),
            ("Accept-Encoding", "gzip, deflate"),
            ("Accept", "*/*"),
            ("Connection", "keep-alive"),
            ("Content-Type", content_type),
            ("X-Project-Id", PROJECT),
            ("X-Sdk-Date", PY_DATE),
            ("Host", "127.0.0.1:18931"),
        ])
    }

    /// Verifies like the simulator will: signed headers come from the
    /// captured Authorization header.
    fn verify_capture(
        authz: &str,
        method: &str,
        path: &str,
        query: &str,
        hdrs: &[(String, String)],
        body: &[u8],
    ) -> String {
        let parsed = parse_authorization(authz).expect("captured header parses");
        assert_eq!(parsed.access_key, "TESTAK");
        let (cr, _, sig) = Case {
            method,
            path,
            query,
            headers: hdrs,
            signed: &parsed.signed_headers,
            body,
            date: PY_DATE,
        }
        .sign("TESTSK");
        assert!(constant_time_eq(
            sig.as_bytes(),
            parsed.signature.as_bytes()
        ));
        assert_eq!(authorization("TESTAK", &parsed.signed_headers, &sig), authz);
        cr
    }

    #[test]
    fn python_sdk_capture_post() {
        let body = br#"{"checkpoint": {"parameters": {"auto_trigger": false, "description": "backup_description", "incremental": true, "name": "backup_name", "resources": ["94eba8b2-acc9-4d82-badc-127144cc5526"], "resource_details": [{"id": "94eba8b2-acc9-4d82-badc-127144cc5526", "name": "ecs-1", "type": "OS::Nova::Server"}]}, "vault_id": "3b5816b5-f29c-4172-9d9a-76c719a659ce"}}"#;
        assert_eq!(body.len(), 358, "Content-Length of the capture");
        assert_eq!(
            payload_hash(body),
            "9a7e495d89bf5d0550893f6d0223723894a1b8dda0ccfaf4d72b2af89e5dfb06"
        );
        let hdrs = python_headers("application/json;charset=utf-8");
        let path = format!("/v3/{PROJECT}/checkpoints");
        let authz = "SDK-HMAC-SHA256 Access=TESTAK, \
                     SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, \
                     Signature=50213e41a5e109285ab82cdad22a28e04756ac08504009736687a7b7a8463af6";
        let cr = verify_capture(authz, "POST", &path, "", &hdrs, body);
        assert_eq!(
            cr,
            format!(
                "POST\n\
                 /v3/{PROJECT}/checkpoints/\n\
                 \n\
                 content-type:application/json;charset=utf-8\n\
                 host:127.0.0.1:18931\n\
                 user-agent:{PY_UA}\n\
                 x-project-id:{PROJECT}\n\
                 x-sdk-date:{PY_DATE}\n\
                 \n\
                 content-type;host;user-agent;x-project-id;x-sdk-date\n\
                 9a7e495d89bf5d0550893f6d0223723894a1b8dda0ccfaf4d72b2af89e5dfb06"
            )
        );
        assert_eq!(
            string_to_sign(PY_DATE, &cr),
            "SDK-HMAC-SHA256\n20261123T083510Z\n\
             0650f3869e1cfc2ea11a6e76e3a9c4f93166dbc62d547047e366cec5ba5a8eda"
        );
    }

    #[test]
    fn python_sdk_capture_get_without_query() {
        let authz = "SDK-HMAC-SHA256 Access=TESTAK, \
                     SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, \
                     Signature=937d3e005d5496514fb9fc84703cf1355e6ef503ccc15d10cd032b3b960f9b8d";
        let path = format!("/v3/{PROJECT}/checkpoints/8b0851a8-adf3-4f4c-a914-dead08bf9664");
        verify_capture(
            authz,
            "GET",
            &path,
            "",
            &python_headers("application/json"),
            b"",
        );
    }

    #[test]
    fn python_sdk_capture_get_with_query() {
        let authz = "SDK-HMAC-SHA256 Access=TESTAK, \
                     SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, \
                     Signature=a8a69b27dfaa7e28bab4cdb70be8c49be6d85e8acfe327abad040bab05716353";
        let path = format!("/v3/{PROJECT}/backups");
        let query = "limit=10&offset=0&resource_type=OS%3A%3ANova%3A%3AServer\
                     &show_replication=true&status=available\
                     &vault_id=3b5816b5-f29c-4172-9d9a-76c719a659ce";
        let cr = verify_capture(
            authz,
            "GET",
            &path,
            query,
            &python_headers("application/json"),
            b"",
        );
        assert_eq!(
            cr,
            format!(
                "GET\n\
                 /v3/{PROJECT}/backups/\n\
                 {query}\n\
                 content-type:application/json\n\
                 host:127.0.0.1:18931\n\
                 user-agent:{PY_UA}\n\
                 x-project-id:{PROJECT}\n\
                 x-sdk-date:{PY_DATE}\n\
                 \n\
                 content-type;host;user-agent;x-project-id;x-sdk-date\n\
                 {EMPTY_HASH}"
            )
        );
    }

    #[test]
    fn repeated_signed_header_values_are_joined() {
        let hdrs = headers(&[("X-A", " 1 "), ("x-a", "2"), ("X-Sdk-Date", PY_DATE)]);
        let cr = canonical_request("GET", "/", "", &hdrs, &names("x-a;x-b"), EMPTY_HASH);
        assert_eq!(
            cr,
            format!("GET\n/\n\nx-a:1,2\nx-b:\n\nx-a;x-b\n{EMPTY_HASH}")
        );
    }

    #[test]
    fn authorization_round_trip() {
        let signed = names("content-type;host;x-sdk-date");
        let header = authorization("AK", &signed, "abc123");
        let parsed = parse_authorization(&header).expect("parses");
        assert_eq!(
            parsed,
            ParsedAuthorization {
                access_key: "AK".to_owned(),
                signed_headers: signed.clone(),
                signature: "abc123".to_owned(),
            }
        );
        // Tolerant of spacing and order.
        assert_eq!(
            parse_authorization(
                "SDK-HMAC-SHA256  Signature=abc123,SignedHeaders=content-type;host;x-sdk-date ,Access=AK"
            ),
            Some(parsed)
        );
    }

    #[test]
    fn malformed_authorization_is_rejected() {
        for bad in [
            "",
            "SDK-HMAC-SHA256",
            "SDK-HMAC-SM3 Access=AK, SignedHeaders=host, Signature=ab",
            "SDK-HMAC-SHA256X Access=AK, SignedHeaders=host, Signature=ab",
            "sdk-hmac-sha256 Access=AK, SignedHeaders=host, Signature=ab",
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host",
            "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=ab",
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=, Signature=ab",
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;x-sdk-date, Signature=ab",
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=Host, Signature=ab",
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=",
            "SDK-HMAC-SHA256 Access=AK, Access=AK, SignedHeaders=host, Signature=ab",
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=ab, Extra=1",
            "SDK-HMAC-SHA256 Access=AK SignedHeaders=host Signature=ab",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn wrong_secret_or_tampering_changes_the_signature() {
        let hdrs = headers(&[("X-Sdk-Date", "20060102T150405Z")]);
        let signed = names("x-sdk-date");
        let good = "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624";
        let sig_with = |query: &str, sk: &str| {
            Case {
                method: "GET",
                path: "/path",
                query,
                headers: &hdrs,
                signed: &signed,
                body: b"",
                date: "20060102T150405Z",
            }
            .sign(sk)
            .2
        };
        assert_eq!(sig_with("limit=1", "SecretKey"), good);
        let wrong_sk = sig_with("limit=1", "SecretKeY");
        assert_ne!(wrong_sk, good);
        assert!(!constant_time_eq(wrong_sk.as_bytes(), good.as_bytes()));
        assert_ne!(sig_with("limit=2", "SecretKey"), good);
    }

    #[test]
    fn constant_time_eq_basics() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn date_format_renders_sdk_dates() {
        let date = chrono::NaiveDate::from_ymd_opt(2019, 11, 15)
            .and_then(|d| d.and_hms_opt(3, 36, 55))
            .expect("valid date");
        assert_eq!(date.format(DATE_FORMAT).to_string(), "20191115T033655Z");
    }
}
