//! The upstream REST client and everything it needs: DTOs, lenient scalars, URL
//! building, credentials, the errors of talking to CBR and CSBS, and the
//! one gate for text upstream chose (`untrusted`).

pub mod auth;
pub mod client;
pub mod credentials;
pub mod dto;
pub mod error;
pub(crate) mod exchange;
pub mod iam;
pub mod lenient;
pub mod paths;
pub mod query;
pub mod retry;
pub mod secrets;
pub mod token;
pub(crate) mod untrusted;

pub use auth::Auth;
pub use client::{Reply, UpstreamClient, UpstreamSettings};
pub use credentials::{AkSk, Held};
pub use error::{FailureClass, Service, UpstreamError};
pub use iam::{IamSettings, IamTokenProvider, LoginBackoff};
pub use query::BackupQuery;
pub use secrets::{Secret, SecretError, SecretFile, SecretSource};
pub use token::{AuthToken, TokenError};
