//! The upstream REST client and everything it needs: DTOs, lenient scalars, URL
//! building, credentials, the errors of talking to CBR and CSBS, and the
//! one gate for text upstream chose (`untrusted`).

pub(crate) mod auth;
pub(crate) mod client;
pub mod credentials;
pub mod dto;
pub(crate) mod error;
pub(crate) mod exchange;
pub(crate) mod flight;
pub(crate) mod iam;
pub mod lenient;
pub mod paths;
pub(crate) mod query;
pub mod regional;
pub mod regions;
pub(crate) mod retry;
pub(crate) mod secrets;
pub(crate) mod token;
pub(crate) mod untrusted;

pub use auth::Auth;
pub use client::{Reply, UpstreamClient, UpstreamSettings};
pub use credentials::{AkSk, Held};
pub use error::{FailureClass, Service, UpstreamError};
pub use iam::{IamSettings, IamTokenProvider, LoginBackoff};
pub use query::{BackupQuery, OperationLogQuery, PolicyQuery, VaultQuery};
pub use secrets::{Secret, SecretError, SecretFile, SecretSource};
pub use token::{AuthToken, TokenError};
