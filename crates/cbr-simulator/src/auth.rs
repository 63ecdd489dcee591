//! Authentication as Huawei's API gateway checks it: an `X-Auth-Token` from a
//! known set, or an `SDK-HMAC-SHA256` signature rebuilt from the request and the
//! header's own `SignedHeaders` list (REFERENCE.md §5.2), with `X-Sdk-Date` at most
//! 15 minutes from now. Tokens issued by the simulated IAM ([`super::iam`]) are
//! accepted until they expire. Failures are 401 `APIGW.0301`.

use std::{collections::HashMap, fmt, str::FromStr, sync::Arc};

use chrono::{DateTime, NaiveDateTime, Utc};
use http::request::Parts;

use super::iam::{self, Iam};
use cbr_signer as signing;

/// Largest clock difference the API gateway tolerates.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// An access key and its secret, from `--sim-credentials AK:SK[:SECURITY_TOKEN]`;
/// with a security token the key is temporary and requests must carry (and
/// sign) that `X-Security-Token`. `Debug` hides the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// Access key ID.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Security token of temporary credentials.
    pub security_token: Option<String>,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({}:<redacted>)", self.access_key)
    }
}

impl FromStr for KeyPair {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(ak), Some(sk), token) if !ak.is_empty() && !sk.is_empty() => Ok(KeyPair {
                access_key: ak.to_owned(),
                secret_key: sk.to_owned(),
                security_token: token.filter(|t| !t.is_empty()).map(str::to_owned),
            }),
            _ => Err("expected AK:SK or AK:SK:SECURITY_TOKEN".into()),
        }
    }
}

/// The credentials the simulator accepts. With none configured, every request is
/// accepted.
#[derive(Default)]
pub struct Credentials {
    keys: HashMap<String, KeyPair>,
    tokens: Vec<String>,
    iam: Option<Arc<Iam>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_keys", &self.keys.keys().collect::<Vec<_>>())
            .field("tokens", &self.tokens.len())
            .field("iam", &self.iam)
            .finish()
    }
}

impl Credentials {
    /// Accepts these key pairs and tokens.
    pub fn new(pairs: &[KeyPair], tokens: &[String]) -> Self {
        Self {
            keys: pairs
                .iter()
                .map(|p| (p.access_key.clone(), p.clone()))
                .collect(),
            tokens: tokens.to_vec(),
            iam: None,
        }
    }

    /// Also accepts the tokens `iam` issued; its users, if any, enable the checks.
    pub fn with_iam(mut self, iam: Arc<Iam>) -> Self {
        self.iam = Some(iam);
        self
    }

    /// Whether any check is configured.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
            || !self.tokens.is_empty()
            || self.iam.as_ref().is_some_and(|i| i.enabled())
    }

    /// Checks one request; `Err` carries APIG's wording of the failure.
    pub fn check(&self, parts: &Parts, body: &[u8], now: DateTime<Utc>) -> Result<(), String> {
        // The IAM login is how a client gets a token: it takes none.
        if super::faults::route_of(&parts.method, parts.uri.path()) == Some("iam_tokens") {
            return Ok(());
        }
        if let Some(token) = parts.headers.get("x-auth-token") {
            let Ok(token) = token.to_str() else {
                return Err("decrypt token fail".into());
            };
            let known = self
                .tokens
                .iter()
                .any(|known| signing::constant_time_eq(known.as_bytes(), token.as_bytes()));
            if known {
                return Ok(());
            }
            return match self.iam.as_ref().and_then(|i| i.lookup(token)) {
                Some(issued) if now < issued.expires_at => Ok(()),
                Some(issued) => Err(format!(
                    "token expires, expires_at: {}",
                    iam::format_time(issued.expires_at)
                )),
                None => Err("decrypt token fail".into()),
            };
        }
        let Some(auth) = parts.headers.get("authorization") else {
            return Err("x-auth-token not found".into());
        };
        let auth = auth
            .to_str()
            .ok()
            .and_then(signing::parse_authorization)
            .ok_or("invalid authorization header")?;
        let pair = self
            .keys
            .get(&auth.access_key)
            .ok_or_else(|| format!("ak {} not exist", auth.access_key))?;
        let secret = &pair.secret_key;
        if let Some(expected) = &pair.security_token {
            // Temporary keys are only valid with their (signed) security token.
            let sent = parts
                .headers
                .get("x-security-token")
                .and_then(|v| v.to_str().ok());
            let signed = auth.signed_headers.iter().any(|h| h == "x-security-token");
            if !signed
                || !sent
                    .is_some_and(|t| signing::constant_time_eq(t.as_bytes(), expected.as_bytes()))
            {
                return Err("the security token is missing or invalid".into());
            }
        }
        if !auth
            .signed_headers
            .iter()
            .any(|h| h == signing::SDK_DATE_HEADER)
        {
            return Err("x-sdk-date is not signed".into());
        }
        let date = parts
            .headers
            .get(signing::SDK_DATE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or("x-sdk-date not found")?;
        let signed_at = NaiveDateTime::parse_from_str(date, signing::DATE_FORMAT)
            .map_err(|_| "invalid x-sdk-date")?
            .and_utc();
        if (now - signed_at).num_seconds().abs() > MAX_SKEW_SECONDS {
            return Err("the request time is out of range (X-Sdk-Date)".into());
        }
        let mut headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        if !parts.headers.contains_key(http::header::HOST)
            && let Some(authority) = parts.uri.authority()
        {
            headers.push(("host".into(), authority.to_string()));
        }
        let unsigned = parts
            .headers
            .get(signing::CONTENT_SHA256_HEADER)
            .is_some_and(|v| v == signing::UNSIGNED_PAYLOAD);
        let payload = if unsigned {
            signing::UNSIGNED_PAYLOAD.to_owned()
        } else {
            signing::payload_hash(body)
        };
        let canonical = signing::canonical_request(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query().unwrap_or(""),
            &headers,
            &auth.signed_headers,
            &payload,
        );
        let expected = signing::signature(
            secret.as_bytes(),
            &signing::string_to_sign(date, &canonical),
        );
        if signing::constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
            Ok(())
        } else {
            Err("verify aksk signature fail".into())
        }
    }
}
