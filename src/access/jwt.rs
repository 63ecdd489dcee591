//! Bearer JWTs verified against a JWKS file (`--jwt-jwks-file`), with
//! `--jwt-issuer` and `--jwt-audience` required: the caller is the token's
//! `sub`.
//!
//! Checked on every token: the signature, by the key its `kid` names (any key
//! when it names none), with the algorithm that key is for — the algorithm
//! the token's header claims must be one of them, so an RSA key can never be
//! used as an HMAC secret; `exp` (required), `nbf` (when present), `iss`,
//! `aud`, and a usable `sub`. Symmetric (`oct`) keys are not accepted.
//!
//! Verifying an RSA or ECDSA signature costs tens of microseconds, so tokens
//! that passed are remembered by their SHA-256 until they expire (a bounded
//! map, forgotten whole when the key set changes), and a service sending the
//! same token on every call pays once.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use arc_swap::ArcSwap;
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    errors::ErrorKind,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm},
};
use sha2::{Digest, Sha256};

use super::reload::{self, LoadError};
use crate::metrics::Metrics;

/// Longest token looked at; real ones are a few hundred bytes to a few KiB.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Verified tokens remembered at most.
const CACHE_ENTRIES: usize = 10_000;
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

/// Why a JWT was refused. The texts are short and name no key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtRejection {
    /// Not a JWT, or an unreadable one.
    #[error("not a well-formed JWT")]
    Malformed,
    /// No key of the JWKS matches its `kid` and algorithm.
    #[error("signed by no known key (kid/alg)")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` has passed.
    #[error("expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("not valid yet (nbf)")]
    NotYetValid,
    /// `iss` is not `--jwt-issuer`.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not include `--jwt-audience`.
    #[error("wrong audience")]
    WrongAudience,
    /// `exp`, `iss`, `aud` or `sub` is missing, or `sub` cannot name a caller.
    #[error("a required claim (exp, iss, aud, sub) is missing or unusable")]
    MissingClaim,
}

/// One usable key of the JWKS.
struct Key {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// The parsed JWKS.
struct KeySet {
    keys: Vec<Key>,
}

/// The claims read from a verified token. Optional here so that a missing
/// one is reported by the validation (a missing required claim) rather than
/// as an unreadable token.
#[derive(serde::Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<u64>,
}

struct Remembered {
    subject: Arc<str>,
    /// Seconds since the epoch after which the token is no longer accepted.
    until: u64,
    /// The key set it was verified with.
    keys: usize,
}

/// Verifies callers' JWTs. Share it in an `Arc`.
pub struct JwtVerifier {
    keys: Arc<ArcSwap<KeySet>>,
    issuer: String,
    audience: String,
    cache: Mutex<HashMap<[u8; 32], Remembered>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| (&k.kid, &k.algorithms)).collect();
        f.debug_struct("KeySet").field("keys", &kids).finish()
    }
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys.load().keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Loads the JWKS at `path` (re-read every `interval` when it changes).
    pub fn load(
        path: &Path,
        issuer: String,
        audience: String,
        interval: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Self, LoadError> {
        let keys = reload::watch("JWKS", path, interval, metrics, parse_jwks)?;
        Ok(Self {
            keys,
            issuer,
            audience,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The `sub` of `token` if it verifies.
    pub fn verify(&self, token: &str) -> Result<Arc<str>, JwtRejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtRejection::Malformed);
        }
        let keys = self.keys.load_full();
        // The key set's address tells its versions apart while it is alive.
        let version = Arc::as_ptr(&keys) as usize;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = now_seconds();
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = cache.get(&digest)
                && r.keys == version
                && now <= r.until
            {
                return Ok(r.subject.clone());
            }
        }
        let (subject, exp) = self.verify_uncached(&keys, token)?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, r| r.keys == version && now <= r.until);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(
            digest,
            Remembered {
                subject: subject.clone(),
                until: exp.saturating_add(LEEWAY_SECONDS),
                keys: version,
            },
        );
        Ok(subject)
    }

    fn verify_uncached(&self, keys: &KeySet, token: &str) -> Result<(Arc<str>, u64), JwtRejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtRejection::Malformed)?;
        let candidates = keys.keys.iter().filter(|k| match (&header.kid, &k.kid) {
            (Some(wanted), Some(kid)) => wanted == kid,
            (Some(_), None) => false,
            (None, _) => true,
        });
        let mut refused = JwtRejection::UnknownKey;
        for key in candidates.filter(|k| k.algorithms.contains(&header.alg)) {
            let mut validation = Validation::new(header.alg);
            validation.leeway = LEEWAY_SECONDS;
            validation.validate_nbf = true;
            validation.set_issuer(&[&self.issuer]);
            validation.set_audience(&[&self.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => {
                    // Whether the subject can name a caller is the identity
                    // rules' call (access::identity).
                    let sub = data.claims.sub.as_deref().map(str::trim);
                    return match (sub, data.claims.exp) {
                        (Some(sub), Some(exp)) => Ok((Arc::from(sub), exp)),
                        _ => Err(JwtRejection::MissingClaim),
                    };
                }
                Err(err) => {
                    refused = rejection(err.kind());
                    // Another key with the same kid (mid-rotation) may verify
                    // it; any other failure is the token's own.
                    if refused != JwtRejection::BadSignature {
                        return Err(refused);
                    }
                }
            }
        }
        Err(refused)
    }
}

fn rejection(kind: &ErrorKind) -> JwtRejection {
    match kind {
        ErrorKind::InvalidSignature => JwtRejection::BadSignature,
        ErrorKind::ExpiredSignature => JwtRejection::Expired,
        ErrorKind::ImmatureSignature => JwtRejection::NotYetValid,
        ErrorKind::InvalidIssuer => JwtRejection::WrongIssuer,
        ErrorKind::InvalidAudience => JwtRejection::WrongAudience,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => {
            JwtRejection::MissingClaim
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => JwtRejection::UnknownKey,
        _ => JwtRejection::Malformed,
    }
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The algorithms a JWK may verify: the one its `alg` names, else every one
/// its key type and curve support.
fn algorithms(jwk: &Jwk) -> Vec<Algorithm> {
    use Algorithm as A;
    let named = jwk.common.key_algorithm.and_then(|alg| {
        Some(match alg {
            KeyAlgorithm::RS256 => A::RS256,
            KeyAlgorithm::RS384 => A::RS384,
            KeyAlgorithm::RS512 => A::RS512,
            KeyAlgorithm::PS256 => A::PS256,
            KeyAlgorithm::PS384 => A::PS384,
            KeyAlgorithm::PS512 => A::PS512,
            KeyAlgorithm::ES256 => A::ES256,
            KeyAlgorithm::ES384 => A::ES384,
            KeyAlgorithm::EdDSA => A::EdDSA,
            _ => return None,
        })
    });
    let supported: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => {
            vec![A::RS256, A::RS384, A::RS512, A::PS256, A::PS384, A::PS512]
        }
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![A::ES256],
            EllipticCurve::P384 => vec![A::ES384],
            _ => vec![],
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![A::EdDSA]
        }
        _ => vec![],
    };
    match (jwk.common.key_algorithm, named) {
        (None, _) => supported,
        (Some(_), Some(alg)) if supported.contains(&alg) => vec![alg],
        // An `alg` the key type cannot do, or one that is not a signature.
        _ => vec![],
    }
}

/// Parses a JWKS document: every usable signing key; at least one.
fn parse_jwks(bytes: &[u8]) -> Result<KeySet, String> {
    let set: JwkSet = serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = Vec::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        let name = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            return Err(format!(
                "key {name} is symmetric (kty oct): only public keys are accepted"
            ));
        }
        let algorithms = algorithms(jwk);
        if algorithms.is_empty() {
            return Err(format!(
                "key {name} supports no accepted signature algorithm"
            ));
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {name}: {e}"))?;
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            key,
            algorithms,
        });
    }
    if keys.is_empty() {
        return Err("the JWKS holds no keys".into());
    }
    Ok(KeySet { keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sets_must_hold_usable_public_keys() {
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(br#"{"keys":[]}"#).is_err());
        let oct = br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}"#;
        assert!(parse_jwks(oct).unwrap_err().contains("symmetric"));
        let ec = br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"e1","alg":"ES256",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        let set = parse_jwks(ec).unwrap();
        assert_eq!(set.keys[0].algorithms, vec![Algorithm::ES256]);
        let mismatched = br#"{"keys":[{"kty":"EC","crv":"P-256","alg":"RS256",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        assert!(parse_jwks(mismatched).is_err());
    }
}
