//! Who is calling (contract §8), from what the call carries, in this order:
//!
//! 1. the client certificate of a mutual-TLS connection: its first URI SAN
//!    (`spiffe://…`), else its first DNS SAN, else its subject CN;
//! 2. a mesh sidecar's forwarded identity — Envoy/Istio
//!    `x-forwarded-client-cert` (its `URI=` value) or Linkerd `l5d-client-id` —
//!    only with `--trust-forwarded-identity` and only on a connection from a
//!    loopback peer, where the sidecar is;
//! 3. a bearer JWT in `authorization: Bearer …`, verified by [`super::jwt`]:
//!    its `sub`;
//! 4. otherwise [`ANONYMOUS`].
//!
//! Every credential present is checked, and the first valid one names the
//! caller. One that is present but invalid — a certificate naming no one, a
//! forwarded header from an untrusted peer, a bad JWT — makes the call
//! UNAUTHENTICATED: falling back to `anonymous` would let a forged or expired
//! credential through wherever anonymous callers are allowed anything.

use std::{net::IpAddr, sync::Arc};

use http::{HeaderMap, header::AUTHORIZATION};
use rustls::pki_types::CertificateDer;

use super::jwt::{JwtRejection, JwtVerifier};
use crate::transport::server::{ClientCertificate, ConnInfo};

/// The identity of a caller who presents nothing.
pub const ANONYMOUS: &str = "anonymous";

/// Longest identity accepted, in bytes: identities go into log lines and
/// policy matching, and no real SPIFFE ID or subject comes near it.
const MAX_IDENTITY: usize = 512;

/// Envoy's and Istio's forwarded client certificate.
const XFCC: &str = "x-forwarded-client-cert";
/// Linkerd's forwarded client identity.
const L5D_CLIENT_ID: &str = "l5d-client-id";

/// Where a caller's identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A mutual-TLS client certificate.
    Certificate,
    /// A mesh sidecar's forwarded identity.
    Forwarded,
    /// A verified bearer JWT.
    Jwt,
    /// Nothing: [`ANONYMOUS`].
    Anonymous,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The identity policies name: a SAN, a SPIFFE ID, a JWT `sub`, or
    /// [`ANONYMOUS`].
    pub identity: Arc<str>,
    /// Where it came from.
    pub source: Source,
}

impl Caller {
    /// The caller who presents nothing.
    pub fn anonymous() -> Self {
        Self {
            identity: Arc::from(ANONYMOUS),
            source: Source::Anonymous,
        }
    }
}

/// A credential that is present but not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthnError {
    /// The verified client certificate has no URI or DNS SAN and no CN.
    #[error("the client certificate names no one (no URI or DNS SAN, no subject CN)")]
    UnnamedCertificate,
    /// A forwarded identity header arrived without `--trust-forwarded-identity`
    /// or from a peer that is not on loopback.
    #[error(
        "{0} metadata is trusted only with --trust-forwarded-identity and from a loopback peer (the mesh sidecar)"
    )]
    UntrustedForwarded(&'static str),
    /// A trusted forwarded header carries no usable identity.
    #[error("{0} metadata carries no usable identity")]
    MalformedForwarded(&'static str),
    /// `authorization` is not `Bearer <token>`.
    #[error("authorization metadata must be `Bearer <JWT>`")]
    NotBearer,
    /// A bearer token arrived but the gateway verifies none.
    #[error("bearer tokens are not accepted: the gateway has no --jwt-jwks-file")]
    NoJwks,
    /// The JWT failed verification.
    #[error("the bearer token is invalid: {0}")]
    Jwt(#[from] JwtRejection),
}

/// Resolves each call's [`Caller`].
#[derive(Debug)]
pub(super) struct Identify {
    /// `--trust-forwarded-identity`.
    pub trust_forwarded: bool,
    /// The JWT verifier, with `--jwt-jwks-file`.
    pub jwt: Option<Arc<JwtVerifier>>,
}

impl Identify {
    /// The caller of a request that arrived on `conn` with `headers`.
    pub(super) fn identify(
        &self,
        conn: Option<&ConnInfo>,
        headers: &HeaderMap,
    ) -> Result<Caller, AuthnError> {
        let mut caller = None;
        match conn.and_then(|c| c.client_certificate.as_ref()) {
            Some(ClientCertificate::Named(name)) => {
                caller = Some(Caller {
                    identity: name.clone(),
                    source: Source::Certificate,
                });
            }
            Some(ClientCertificate::Unnamed) => return Err(AuthnError::UnnamedCertificate),
            None => {}
        }
        for header in [XFCC, L5D_CLIENT_ID] {
            let mut values = headers.get_all(header).iter().peekable();
            if values.peek().is_none() {
                continue;
            }
            let trusted = self.trust_forwarded && conn.is_some_and(|c| is_loopback(c.peer.ip()));
            if !trusted {
                return Err(AuthnError::UntrustedForwarded(header));
            }
            // Several values: the last is the one our own sidecar added.
            let last = values.last().and_then(|v| v.to_str().ok());
            let identity = last
                .and_then(|v| {
                    if header == XFCC {
                        xfcc_uri(v)
                    } else {
                        Some(v.trim())
                    }
                })
                .filter(|id| usable(id))
                .ok_or(AuthnError::MalformedForwarded(header))?;
            caller.get_or_insert_with(|| Caller {
                identity: Arc::from(identity),
                source: Source::Forwarded,
            });
        }
        if let Some(value) = headers.get(AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(bearer_token)
                .ok_or(AuthnError::NotBearer)?;
            let jwt = self.jwt.as_ref().ok_or(AuthnError::NoJwks)?;
            let subject = jwt.verify(token)?;
            if !usable(&subject) {
                return Err(JwtRejection::MissingClaim.into());
            }
            caller.get_or_insert(Caller {
                identity: subject,
                source: Source::Jwt,
            });
        }
        Ok(caller.unwrap_or_else(Caller::anonymous))
    }
}

/// Whether `ip` is loopback, IPv4-mapped IPv6 included (`::ffff:127.0.0.1`).
fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Whether `id` can name a caller: non-empty, bounded, visible ASCII or
/// non-control Unicode, no spaces (they would make log lines ambiguous).
pub(crate) fn usable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_IDENTITY
        && id != ANONYMOUS
        && !id.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// The token of `Bearer <token>` (the scheme is case-insensitive, RFC 9110).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The first `URI=` value of the last element of an `x-forwarded-client-cert`
/// header: each proxy appends an element, so the last is the one the sidecar
/// in front of the gateway added for its own client.
///
/// Elements are separated by `,`, pairs by `;`, and values may be quoted
/// (`Subject="CN=a,O=b"`, with `\"` escapes), so separators inside quotes do
/// not count.
fn xfcc_uri(header: &str) -> Option<&str> {
    let element = split_unquoted(header, b',').into_iter().last()?;
    split_unquoted(element, b';').into_iter().find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("uri") {
            return None;
        }
        let value = value.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        // A URI has no quotes or backslashes left to unescape.
        (!unquoted.contains(['"', '\\'])).then_some(unquoted)
    })
}

/// `s` split at every `sep` outside double quotes.
fn split_unquoted(s: &str, sep: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ if b == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The identity a verified client certificate names: its first URI SAN, else
/// its first DNS SAN, else its subject CN; `None` when it has none (or cannot
/// be parsed, which rustls' verification makes unlikely).
pub fn certificate_identity(der: &CertificateDer<'_>) -> Option<String> {
    use x509_parser::{certificate::X509Certificate, extensions::GeneralName, prelude::FromDer};
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    let sans: Vec<GeneralName<'_>> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| ext.value.general_names.clone())
        .unwrap_or_default();
    let uri = sans.iter().find_map(|n| match n {
        GeneralName::URI(uri) => Some(*uri),
        _ => None,
    });
    let dns = || {
        sans.iter().find_map(|n| match n {
            GeneralName::DNSName(dns) => Some(*dns),
            _ => None,
        })
    };
    let cn = || {
        cert.subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
    };
    uri.or_else(dns)
        .or_else(cn)
        .map(str::trim)
        .filter(|id| usable(id))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_xfcc_element_names_the_caller() {
        let one = "By=spiffe://cluster.local/ns/backup/sa/cbr-gateway;Hash=abc;Subject=\"\";URI=spiffe://cluster.local/ns/jobs/sa/reporter";
        assert_eq!(
            xfcc_uri(one),
            Some("spiffe://cluster.local/ns/jobs/sa/reporter")
        );
        let two = "By=spiffe://a;URI=spiffe://first,By=spiffe://b;Subject=\"CN=x,O=y;z\";URI=\"spiffe://second\"";
        assert_eq!(xfcc_uri(two), Some("spiffe://second"));
        let escaped = r#"Subject="CN=\"a,b\"";uri=spiffe://escaped"#;
        assert_eq!(xfcc_uri(escaped), Some("spiffe://escaped"));
        for none in [
            "",
            "Hash=abc",
            "By=spiffe://a;DNS=x.example",
            "URI=\"a\\\"b\"",
        ] {
            assert_eq!(xfcc_uri(none), None, "{none}");
        }
    }

    #[test]
    fn bearer_tokens_are_found_case_insensitively() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("bearer  x "), Some("x"));
        for bad in ["Basic dXNlcjpwdw==", "Bearer", "Bearer ", "abc"] {
            assert_eq!(bearer_token(bad), None, "{bad}");
        }
    }

    fn conn(ip: &str, cert: Option<ClientCertificate>) -> ConnInfo {
        ConnInfo {
            peer: std::net::SocketAddr::new(ip.parse().unwrap(), 4000),
            client_certificate: cert,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_identities_need_trust_and_a_loopback_peer() {
        let trusting = Identify {
            trust_forwarded: true,
            jwt: None,
        };
        let l5d = headers(&[(
            "l5d-client-id",
            "web.default.serviceaccount.identity.linkerd.cluster.local",
        )]);
        let caller = trusting
            .identify(Some(&conn("127.0.0.1", None)), &l5d)
            .unwrap();
        assert_eq!(
            &*caller.identity,
            "web.default.serviceaccount.identity.linkerd.cluster.local"
        );
        assert_eq!(caller.source, Source::Forwarded);
        // Istio's inbound passthrough comes from 127.0.0.6; mapped IPv6 too.
        for ip in ["127.0.0.6", "::1", "::ffff:127.0.0.1"] {
            assert!(
                trusting.identify(Some(&conn(ip, None)), &l5d).is_ok(),
                "{ip}"
            );
        }
        assert_eq!(
            trusting.identify(Some(&conn("10.0.0.7", None)), &l5d),
            Err(AuthnError::UntrustedForwarded("l5d-client-id"))
        );
        let distrusting = Identify {
            trust_forwarded: false,
            jwt: None,
        };
        assert_eq!(
            distrusting.identify(Some(&conn("127.0.0.1", None)), &l5d),
            Err(AuthnError::UntrustedForwarded("l5d-client-id"))
        );
        let junk = headers(&[("x-forwarded-client-cert", "Hash=abc")]);
        assert_eq!(
            trusting.identify(Some(&conn("127.0.0.1", None)), &junk),
            Err(AuthnError::MalformedForwarded("x-forwarded-client-cert"))
        );
    }

    #[test]
    fn the_first_valid_credential_wins_and_any_invalid_one_refuses() {
        let id = Identify {
            trust_forwarded: true,
            jwt: None,
        };
        let cert = Some(ClientCertificate::Named("spiffe://cert".into()));
        let fwd = headers(&[("x-forwarded-client-cert", "URI=spiffe://forwarded")]);
        let caller = id
            .identify(Some(&conn("127.0.0.1", cert.clone())), &fwd)
            .unwrap();
        assert_eq!(&*caller.identity, "spiffe://cert");
        assert_eq!(caller.source, Source::Certificate);
        // A bearer token without a JWKS is invalid even behind a valid certificate.
        let both = headers(&[("authorization", "Bearer a.b.c")]);
        assert_eq!(
            id.identify(Some(&conn("127.0.0.1", cert)), &both),
            Err(AuthnError::NoJwks)
        );
        assert_eq!(
            id.identify(None, &headers(&[("authorization", "Basic x")])),
            Err(AuthnError::NotBearer)
        );
        assert_eq!(
            id.identify(
                Some(&conn("10.1.1.1", Some(ClientCertificate::Unnamed))),
                &HeaderMap::new()
            ),
            Err(AuthnError::UnnamedCertificate)
        );
        assert_eq!(
            id.identify(None, &HeaderMap::new()),
            Ok(Caller::anonymous())
        );
    }

    #[test]
    fn identities_are_bounded_visible_and_not_anonymous() {
        assert!(usable("spiffe://cluster.local/ns/a/sa/b"));
        for bad in [
            "",
            "anonymous",
            "a b",
            "a\nb",
            &"x".repeat(MAX_IDENTITY + 1),
        ] {
            assert!(!usable(bad), "{bad:?}");
        }
    }

    #[test]
    fn certificates_name_their_uri_then_dns_then_cn() {
        let make = |sans: Vec<rcgen::SanType>, cn: Option<&str>| {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::default();
            params.subject_alt_names = sans;
            params.distinguished_name = rcgen::DistinguishedName::new();
            if let Some(cn) = cn {
                params
                    .distinguished_name
                    .push(rcgen::DnType::CommonName, cn);
            }
            params.self_signed(&key).unwrap().der().clone()
        };
        let uri = rcgen::SanType::URI("spiffe://cluster.local/ns/a/sa/b".try_into().unwrap());
        let dns = rcgen::SanType::DnsName("job.example.com".try_into().unwrap());
        assert_eq!(
            certificate_identity(&make(vec![dns.clone(), uri], Some("cn"))).as_deref(),
            Some("spiffe://cluster.local/ns/a/sa/b")
        );
        assert_eq!(
            certificate_identity(&make(vec![dns], Some("cn"))).as_deref(),
            Some("job.example.com")
        );
        assert_eq!(
            certificate_identity(&make(vec![], Some("reporting-job"))).as_deref(),
            Some("reporting-job")
        );
        assert_eq!(certificate_identity(&make(vec![], None)), None);
    }
}
