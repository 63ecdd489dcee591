//! An IAM token: the caller's (`x-auth-token`), or one the gateway got for its
//! IAM user. Held as a sensitive header value (hyper neither logs nor
//! HPACK-indexes it), compared in constant time, never shown by `Debug`.

use std::fmt;

use reqwest::header::HeaderValue;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Nothing but whitespace.
    #[error("must not be empty")]
    Empty,
    /// Longer than `MAX_TOKEN_BYTES`.
    #[error("is too long")]
    TooLong,
    /// A byte outside visible ASCII.
    #[error("must be visible ASCII")]
    NotVisibleAscii,
}

/// Largest token accepted. IAM tokens are a few KiB; PKI tokens can be ~10 KiB.
pub(crate) const MAX_TOKEN_BYTES: usize = 32 * 1024;

/// An IAM token. `Debug` never shows it.
#[derive(Clone)]
pub struct AuthToken(HeaderValue);

impl AuthToken {
    /// Checks a token taken from metadata: non-empty, visible ASCII, bounded.
    pub fn parse(raw: &str) -> Result<Self, TokenError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(TokenError::Empty);
        }
        if raw.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong);
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotVisibleAscii);
        }
        let mut value = HeaderValue::from_str(raw).map_err(|_| TokenError::NotVisibleAscii)?;
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

// Agrees with `PartialEq` (the same bytes); keyed by the map's random
// SipHash key, so a hash tells nothing about the token.
impl std::hash::Hash for AuthToken {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_bytes().hash(state);
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted() {
        let t = AuthToken::parse("MIIsecretTOKEN").unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(t.header_value().is_sensitive());
    }

    #[test]
    fn bad_tokens_are_refused() {
        assert_eq!(AuthToken::parse("").unwrap_err(), TokenError::Empty);
        assert_eq!(
            AuthToken::parse("a b").unwrap_err(),
            TokenError::NotVisibleAscii
        );
        assert!(AuthToken::parse("a\r\nX-Evil: 1").is_err());
        assert_eq!(
            AuthToken::parse(&"a".repeat(MAX_TOKEN_BYTES + 1)).unwrap_err(),
            TokenError::TooLong
        );
    }
}
