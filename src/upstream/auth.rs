//! Who the gateway calls upstream as (contract §3), in this order: the caller's
//! IAM token from gRPC metadata `x-auth-token`, forwarded as `X-Auth-Token`; else
//! the gateway's own AK/SK, signing every request with SDK-HMAC-SHA256; else
//! tokens the gateway obtains for its IAM user (see [`super::iam`]). Tokens
//! are held as sensitive header values (hyper neither logs nor HPACK-indexes
//! them) and every credential type's `Debug` is redacted, so none can reach a log
//! line by accident.

use std::sync::Arc;

use tokio::time::Instant;

use super::{
    credentials::AkSk,
    error::{Service, UpstreamError},
    iam::IamTokenProvider,
    token::AuthToken,
};

const X_AUTH_TOKEN: &str = "x-auth-token";

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

    /// Authenticates `request` (contract §3): the caller's token, a
    /// signature with the gateway's AK/SK, or a token of its IAM user — a fresh
    /// one when upstream `rejected` the last. Returns the IAM token used, so a
    /// 401 can be told from a revoked token.
    pub(crate) async fn apply(
        &self,
        request: &mut reqwest::Request,
        project_id: &str,
        deadline: Option<Instant>,
        rejected: Option<AuthToken>,
    ) -> Result<Option<AuthToken>, UpstreamError> {
        let service = Service::Cbr;
        match self {
            Auth::Token(token) => {
                request
                    .headers_mut()
                    .insert(X_AUTH_TOKEN, token.header_value().clone());
                Ok(None)
            }
            Auth::AkSk(creds) => {
                sign(request, creds, project_id, chrono::Utc::now()).map_err(|err| {
                    tracing::warn!(error = %err, "cannot read the gateway's credentials");
                    UpstreamError::Credentials { service }
                })?;
                Ok(None)
            }
            Auth::Iam(provider) => {
                let token = match rejected {
                    Some(old) => {
                        provider
                            .refresh_after_rejection(project_id, &old, deadline)
                            .await?
                    }
                    None => provider.token(project_id, deadline).await?,
                };
                request
                    .headers_mut()
                    .insert(X_AUTH_TOKEN, token.header_value().clone());
                Ok(Some(token))
            }
        }
    }
}

/// Signs the final request with SDK-HMAC-SHA256 (see [`cbr_signer::sign`])
/// over its exact URL and body bytes, with `X-Project-Id`.
fn sign(
    request: &mut reqwest::Request,
    creds: &AkSk,
    project_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), super::SecretError> {
    use chrono::{Datelike as _, Timelike as _};
    let secret_key = creds.secret_key.current()?;
    let security_token = creds
        .security_token
        .as_ref()
        .map(super::SecretSource::current)
        .transpose()?;
    let url = request.url().clone();
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => String::new(),
    };
    let body = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let date = cbr_signer::sdk_date(
        now.year(),
        now.month(),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
    );
    let method = request.method().clone();
    let target = cbr_signer::Target {
        method: method.as_str(),
        path: url.path(),
        query: url.query().unwrap_or(""),
        host: &host,
    };
    let credentials = cbr_signer::Credentials {
        access_key: &creds.access_key,
        secret_key: secret_key.expose().as_bytes(),
        security_token: security_token.as_ref().map(|t| t.expose()),
    };
    cbr_signer::sign(
        target,
        request.headers_mut(),
        &body,
        &credentials,
        // IAM's project listing acts in no project: no `X-Project-Id`.
        (!project_id.is_empty()).then_some(project_id),
        &date,
    )
    .map_err(|err| super::SecretError::Unusable(err.0))
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
