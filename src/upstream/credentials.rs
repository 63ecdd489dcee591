//! Credentials the gateway holds itself, resolved once at start from flags,
//! environment variables (`HUAWEICLOUD_SDK_*`, or `CLOUD_SDK_*` as Huawei's docs
//! name them) and secret files.

use std::{fmt, time::Duration};

use url::Url;

use super::secrets::{Secret, SecretError, SecretFile, SecretSource};
use crate::config::CredentialArgs;

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

fn source(
    inline: Option<&Secret>,
    file: Option<&std::path::Path>,
) -> Result<Option<SecretSource>, SecretError> {
    Ok(match (inline, file) {
        (Some(s), _) => Some(SecretSource::Inline(s.clone())),
        (None, Some(path)) => Some(SecretSource::File(SecretFile::open(path)?)),
        (None, None) => None,
    })
}

impl Held {
    /// Resolves the configured credentials; `CLOUD_SDK_AK` / `CLOUD_SDK_SK` fill
    /// in for unset `HUAWEICLOUD_SDK_AK` / `HUAWEICLOUD_SDK_SK`.
    pub fn from_args(args: &CredentialArgs) -> Result<Self, CredentialError> {
        let env_secret = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(Secret::new)
        };
        let ak = args
            .ak
            .clone()
            .or_else(|| std::env::var("CLOUD_SDK_AK").ok())
            .filter(|a| !a.trim().is_empty());
        let sk = match (&args.sk, &args.sk_file) {
            (None, None) => env_secret("CLOUD_SDK_SK").map(SecretSource::Inline),
            (sk, file) => source(sk.as_ref(), file.as_deref())?,
        };
        let security_token = source(
            args.security_token.as_ref(),
            args.security_token_file.as_deref(),
        )?;
        let aksk = match (ak, sk) {
            (Some(access_key), Some(secret_key)) => Some(AkSk {
                access_key: access_key.trim().to_owned(),
                secret_key,
                security_token,
            }),
            (None, None) if security_token.is_none() => None,
            (None, None) => {
                return Err(CredentialError::Incomplete(
                    "a security token needs an AK and an SK",
                ));
            }
            (Some(_), None) => {
                return Err(CredentialError::Incomplete(
                    "an AK needs an SK (HUAWEICLOUD_SDK_SK or --sk-file)",
                ));
            }
            (None, Some(_)) => {
                return Err(CredentialError::Incomplete(
                    "an SK needs an AK (HUAWEICLOUD_SDK_AK)",
                ));
            }
        };
        let password = source(
            args.iam_password.as_ref(),
            args.iam_password_file.as_deref(),
        )?;
        let iam = match (&args.iam_domain, &args.iam_user, password) {
            (None, None, None) => None,
            (Some(domain), Some(user), Some(password)) => Some(IamUser {
                endpoint: args.iam_endpoint.clone().unwrap_or_else(|| {
                    Url::parse("https://iam.myhuaweicloud.com").expect("static URL")
                }),
                domain: domain.clone(),
                user: user.clone(),
                password,
                refresh_ahead: args.iam_refresh_ahead,
            }),
            _ => {
                return Err(CredentialError::Incomplete(
                    "IAM login needs --iam-domain, --iam-user and a password (IAM_PASSWORD or --iam-password-file)",
                ));
            }
        };
        Ok(Held { aksk, iam })
    }
}
