//! Credentials the gateway holds itself, resolved once at start from flags,
//! environment variables (`HUAWEICLOUD_SDK_*`, or `CLOUD_SDK_*` as Huawei's docs
//! name them) and secret files.

use std::{fmt, time::Duration};

use url::Url;

use super::secrets::{Secret, SecretError, SecretFile, SecretSource};

/// An access key with its secret, and the security token of temporary
/// credentials. `Debug` shows only the access key ID.
pub struct AkSk {
    /// Access key ID (not a secret: it names the key).
    pub access_key: String,
    /// Secret access key.
    pub secret_key: SecretSource,
    /// `X-Security-Token` of temporary credentials.
    pub security_token: Option<SecretSource>,
}

impl fmt::Debug for AkSk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AkSk")
            .field("access_key", &self.access_key)
            .field("temporary", &self.security_token.is_some())
            .finish_non_exhaustive()
    }
}

/// An IAM user whose password logins give the gateway tokens.
#[derive(Debug)]
pub struct IamUser {
    /// IAM endpoint.
    pub endpoint: Url,
    /// Account (domain) name.
    pub domain: String,
    /// User name.
    pub user: String,
    /// Password.
    pub password: SecretSource,
    /// Refresh this long before expiry.
    pub refresh_ahead: Duration,
}

/// What the gateway holds: neither, AK/SK, an IAM user, or both (AK/SK wins).
#[derive(Debug, Default)]
pub struct Held {
    /// AK/SK credentials.
    pub aksk: Option<AkSk>,
    /// IAM user credentials.
    pub iam: Option<IamUser>,
}

/// The credential settings are incomplete or unreadable.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Something required is missing.
    #[error("{0}")]
    Incomplete(&'static str),
    /// A secret file could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// The secret given inline or in a file (inline wins), if either.
pub fn source(
    inline: Option<&Secret>,
    file: Option<&std::path::Path>,
) -> Result<Option<SecretSource>, SecretError> {
    Ok(match (inline, file) {
        (Some(s), _) => Some(SecretSource::Inline(s.clone())),
        (None, Some(path)) => Some(SecretSource::File(SecretFile::open(path)?)),
        (None, None) => None,
    })
}
