//! Who the gateway calls upstream as (contract §3), in this order: the caller's
//! IAM token from gRPC metadata `x-auth-token`, forwarded as `X-Auth-Token`; else
//! the gateway's own AK/SK, signing every request with SDK-HMAC-SHA256; else
//! tokens the gateway obtains for its IAM user (see [`super::iam`]). Tokens
//! are held as sensitive header values (hyper neither logs nor HPACK-indexes
//! them) and every credential type's `Debug` is redacted, so none can reach a log
//! line by accident.

use std::sync::Arc;

use super::{credentials::AkSk, iam::IamTokenProvider, token::AuthToken};

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
    fn debug_is_redacted() {
        let t = AuthToken::parse("MIIsecretTOKEN").unwrap();
        let shown = format!("{:?}", Auth::Token(t));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
