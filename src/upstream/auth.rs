//! Who the gateway calls upstream as (contract §3), in this order: the caller's
//! IAM token from gRPC metadata `x-auth-token`, forwarded as `X-Auth-Token`; else
//! the gateway's own AK/SK, signing every request with SDK-HMAC-SHA256; else
//! tokens the gateway obtains for its IAM user (see [`super::iam`]). Tokens
//! are held as sensitive header values (hyper neither logs nor HPACK-indexes
//! them) and every credential type's `Debug` is redacted, so none can reach a log
//! line by accident.

use std::{fmt, sync::Arc};

use super::{credentials::AkSk, iam::IamTokenProvider};

use reqwest::header::HeaderValue;

/// Largest token accepted. IAM tokens are a few KiB; PKI tokens can be ~10 KiB.
pub const MAX_TOKEN_BYTES: usize = 32 * 1024;

/// An IAM token. `Debug` never shows it.
#[derive(Clone)]
pub struct AuthToken(HeaderValue);

impl AuthToken {
    /// Checks a token taken from metadata: non-empty, visible ASCII, bounded.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("must not be empty");
        }
        if raw.len() > MAX_TOKEN_BYTES {
            return Err("is too long");
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be visible ASCII");
        }
        let mut value = HeaderValue::from_str(raw).map_err(|_| "must be visible ASCII")?;
        value.set_sensitive(true);
        Ok(Self(value))
    }

    /// The header value to send, marked sensitive.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl PartialEq for AuthToken {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for AuthToken {}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

/// How one upstream call authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    /// The caller's IAM token, forwarded as `X-Auth-Token`.
    Token(AuthToken),
    /// The gateway's AK/SK: every request is signed.
    AkSk(Arc<AkSk>),
    /// The gateway's IAM user: project-scoped tokens, cached and refreshed.
    Iam(Arc<IamTokenProvider>),
}

impl Auth {
    /// The credential identity behind this auth, for keys of shared state (watch
    /// pollers, remembered creates): a SHA-256 of a caller's token (never the
    /// token), the gateway's access key, or its IAM user.
    pub fn identity(&self) -> String {
        match self {
            Auth::Token(t) => format!(
                "token:{}",
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                    t.header_value().as_bytes()
                ))
            ),
            Auth::AkSk(k) => format!("aksk:{}", k.access_key),
            Auth::Iam(_) => "iam".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted() {
        let t = AuthToken::parse("MIIsecretTOKEN").unwrap();
        let shown = format!("{t:?} {:?}", Auth::Token(t.clone()));
        assert!(!shown.contains("secret"), "{shown}");
        assert!(t.header_value().is_sensitive());
    }

    #[test]
    fn bad_tokens_are_refused() {
        assert!(AuthToken::parse("").is_err());
        assert!(AuthToken::parse("a b").is_err());
        assert!(AuthToken::parse("a\r\nX-Evil: 1").is_err());
        assert!(AuthToken::parse(&"a".repeat(MAX_TOKEN_BYTES + 1)).is_err());
    }
}
