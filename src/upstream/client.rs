//! One pooled reqwest client for CBR and CSBS.
//!
//! Connections are kept alive and reused; redirects are never followed (a custom
//! auth header must not travel to another host); connect and request timeouts are
//! explicit, and the caller's deadline shortens the request timeout; response
//! bodies are read up to a cap. Dropping a call's future aborts the request, so a
//! cancelled gRPC call cancels its upstream request too.

use std::time::Duration;

use reqwest::{
    Method, StatusCode,
    header::{ACCEPT, CONTENT_TYPE, HeaderValue},
};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::{
    auth::Auth,
    dto,
    error::{Service, UpstreamError},
    paths,
};
use crate::validate::BackupQuery;

/// Settings of the upstream client, taken from the configuration.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// CBR v3 base URL.
    pub cbr_endpoint: Option<Url>,
    /// CSBS v1 base URL.
    pub csbs_endpoint: Option<Url>,
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// Time for one request, including reading the body.
    pub request_timeout: Duration,
    /// Largest response body accepted.
    pub max_body_bytes: u64,
    /// Idle connections kept per host.
    pub pool_max_idle: usize,
}

/// A successful upstream call: the parsed body and upstream's request id.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    /// The parsed response.
    pub value: T,
    /// Upstream's `X-Request-Id`, if it sent one.
    pub request_id: Option<String>,
}

impl<T> Reply<T> {
    /// Transforms the value, keeping the request id.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        Reply {
            value: f(self.value),
            request_id: self.request_id,
        }
    }
}

/// The upstream client. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
    settings: UpstreamSettings,
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json;charset=UTF-8");
const X_AUTH_TOKEN: &str = "x-auth-token";
const X_REQUEST_ID: &str = "x-request-id";

impl UpstreamClient {
    /// Builds the client. Fails only if the TLS stack cannot be set up.
    pub fn new(settings: UpstreamSettings) -> Result<Self, reqwest::Error> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("cbr-gateway/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(settings.pool_max_idle)
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(60))
            .build()?;
        Ok(Self { http, settings })
    }

    /// `POST /v3/{project_id}/checkpoints`.
    pub async fn create_checkpoint(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        body: &dto::CreateCheckpointBody,
    ) -> Result<Reply<dto::CheckpointDto>, UpstreamError> {
        let service = Service::Cbr;
        let url = self.url(service, &["v3", project_id, "checkpoints"])?;
        // Serialising plain structs of strings cannot fail.
        let bytes = serde_json::to_vec(body).map_err(|_| UpstreamError::Decode {
            service,
            request_id: None,
        })?;
        let reply: Reply<dto::CheckpointEnvelope> = self
            .send(service, Method::POST, url, Some(bytes), auth, deadline)
            .await?;
        Ok(reply.map(|e| e.checkpoint))
    }

    /// `GET /v3/{project_id}/checkpoints/{checkpoint_id}`.
    pub async fn get_checkpoint(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        checkpoint_id: &str,
    ) -> Result<Reply<dto::CheckpointDto>, UpstreamError> {
        let service = Service::Cbr;
        let url = self.url(service, &["v3", project_id, "checkpoints", checkpoint_id])?;
        let reply: Reply<dto::CheckpointEnvelope> = self
            .send(service, Method::GET, url, None, auth, deadline)
            .await?;
        Ok(reply.map(|e| e.checkpoint))
    }

    /// `GET /v3/{project_id}/backups?…`, one page.
    pub async fn list_backups(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        query: &BackupQuery,
    ) -> Result<Reply<dto::BackupListDto>, UpstreamError> {
        let service = Service::Cbr;
        let mut url = self.url(service, &["v3", project_id, "backups"])?;
        let pairs = paths::backup_query_pairs(query);
        if !pairs.is_empty() {
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            url.set_query(Some(&paths::encode_query(&refs)));
        }
        self.send(service, Method::GET, url, None, auth, deadline)
            .await
    }

    /// `GET /v3/{project_id}/backups/{backup_id}`.
    pub async fn get_backup(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        backup_id: &str,
    ) -> Result<Reply<dto::BackupDto>, UpstreamError> {
        let service = Service::Cbr;
        let url = self.url(service, &["v3", project_id, "backups", backup_id])?;
        let reply: Reply<dto::BackupEnvelope> = self
            .send(service, Method::GET, url, None, auth, deadline)
            .await?;
        Ok(reply.map(|e| e.backup))
    }

    /// `GET /v1/{project_id}/checkpoint_items/{checkpoint_item_id}` on CSBS.
    pub async fn get_checkpoint_item(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        checkpoint_item_id: &str,
    ) -> Result<Reply<dto::CheckpointItemDto>, UpstreamError> {
        let service = Service::Csbs;
        let url = self.url(
            service,
            &["v1", project_id, "checkpoint_items", checkpoint_item_id],
        )?;
        let reply: Reply<dto::CheckpointItemEnvelope> = self
            .send(service, Method::GET, url, None, auth, deadline)
            .await?;
        Ok(reply.map(|e| e.checkpoint_item))
    }

    fn url(&self, service: Service, segments: &[&str]) -> Result<Url, UpstreamError> {
        let endpoint = match service {
            Service::Cbr => self.settings.cbr_endpoint.as_ref(),
            Service::Csbs => self.settings.csbs_endpoint.as_ref(),
            // IAM is called by the token provider, never through these routes.
            Service::Iam => None,
        }
        .ok_or(UpstreamError::NotConfigured { service })?;
        paths::build(endpoint, segments).map_err(|source| UpstreamError::Url { service, source })
    }

    /// Sends one request and parses a 2xx body as `T`, within the request timeout
    /// and the caller's deadline, whichever comes first.
    async fn send<T: DeserializeOwned>(
        &self,
        service: Service,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        auth: &Auth,
        deadline: Option<Instant>,
    ) -> Result<Reply<T>, UpstreamError> {
        let own = Instant::now() + self.settings.request_timeout;
        let (until, by_caller) = match deadline {
            Some(d) if d <= own => (d, true),
            _ => (own, false),
        };
        if until <= Instant::now() {
            return Err(UpstreamError::DeadlineExceeded { service });
        }
        let started = Instant::now();
        let route = url.path().to_owned();
        let mut req = self.http.request(method.clone(), url).header(ACCEPT, JSON);
        if let Auth::Token(token) = auth {
            req = req.header(X_AUTH_TOKEN, token.header_value().clone());
        }
        if let Some(bytes) = body {
            req = req.header(CONTENT_TYPE, JSON_UTF8).body(bytes);
        }
        let outcome = tokio::time::timeout_at(until, self.exchange(service, req)).await;
        let (status, request_id, bytes) = match outcome {
            Ok(result) => result?,
            Err(_) if by_caller => return Err(UpstreamError::DeadlineExceeded { service }),
            Err(_) => return Err(UpstreamError::Timeout { service }),
        };
        tracing::debug!(
            upstream = service.name(),
            %method,
            path = %route,
            http_status = status.as_u16(),
            upstream_request_id = request_id.as_deref().unwrap_or(""),
            latency_us = started.elapsed().as_micros() as u64,
            "upstream call"
        );
        if !status.is_success() {
            let parsed = dto::ErrorBody::parse(&bytes);
            return Err(UpstreamError::Status {
                service,
                status: status.as_u16(),
                code: parsed.code,
                message: parsed.message,
                request_id,
            });
        }
        match serde_json::from_slice::<T>(&bytes) {
            Ok(value) => Ok(Reply { value, request_id }),
            Err(err) => {
                tracing::warn!(upstream = service.name(), path = %route, error = %err, "unreadable upstream response");
                Err(UpstreamError::Decode {
                    service,
                    request_id,
                })
            }
        }
    }

    /// Sends the request and reads the status, request id and capped body.
    async fn exchange(
        &self,
        service: Service,
        req: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Option<String>, Vec<u8>), UpstreamError> {
        let mut resp = req.send().await.map_err(|e| classify(service, &e))?;
        let status = resp.status();
        let request_id = resp
            .headers()
            .get(X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let limit = self.settings.max_body_bytes;
        if resp.content_length().is_some_and(|len| len > limit) {
            return Err(UpstreamError::BodyTooLarge {
                service,
                limit,
                request_id,
            });
        }
        let hint = resp.content_length().unwrap_or(8 * 1024).min(limit);
        let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify(service, &e))? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(UpstreamError::BodyTooLarge {
                    service,
                    limit,
                    request_id,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, request_id, bytes))
    }
}

/// Sorts a reqwest failure into connect (never reached upstream), timeout, or
/// transport (may have reached upstream). Only the kind is kept: reqwest's text
/// names the URL, and the gateway's messages stay short.
fn classify(service: Service, err: &reqwest::Error) -> UpstreamError {
    tracing::debug!(upstream = service.name(), error = %err.without_url_ref(), "upstream transport error");
    if err.is_connect() {
        UpstreamError::Connect { service }
    } else if err.is_timeout() {
        UpstreamError::Timeout { service }
    } else {
        UpstreamError::Transport { service }
    }
}

/// `reqwest::Error::without_url` takes the error by value; this shows it without the URL.
trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(url.as_str(), "<url>");
        }
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }
}
