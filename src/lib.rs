//! cbr-gateway: a typed gRPC API over Huawei Cloud's backup REST APIs
//! (CBR v3 and CSBS v1).
//!
//! # One request, end to end
//!
//! ```text
//! gRPC call ──► server.rs          connection cap, read and idle timeouts, TLS / mTLS (tls.rs)
//!                  ▼
//!               access/            origin guard; who calls (mTLS SAN, trusted sidecar header,
//!                  │               JWT, anonymous), per-caller rate, may-call-this-method
//!                  ▼
//!               limit.rs, codec.rs stream budget, request size and read time; repeated
//!                  │               fields counted on the wire before decoding
//!                  ▼
//!               service/<svc>.rs   thin tonic adapter; Shared::unary picks the credentials
//!                  │               (caller token > AK/SK > IAM), logs one line per RPC
//!                  ▼
//!               validate.rs        proto request → checked input, or INVALID_ARGUMENT
//!                  │               with a BadRequest naming each field (at most 20)
//!                  ▼
//!               Call::authorize    the policy and --allowed-projects judge the project,
//!                  │               before any upstream call
//!                  ▼
//!               convert.rs         checked input → upstream request DTO
//!                  │
//!                  ▼
//!               upstream/          client.rs  one pooled reqwest client, timeouts, body cap,
//!                  │                          in-flight cap (sheds with OVERLOADED)
//!                  │               retry.rs   which failures are retried, backoff, retry budget
//!                  │               paths.rs   URLs from encoded segments, strict queries
//!                  │               auth.rs    who the call acts as, redacted everywhere
//!                  │               credentials.rs, secrets.rs  held AK/SK, IAM user, secret files
//!                  │               iam.rs     project-scoped IAM tokens, cached, single-flight
//!                  │               (signing.rs: SDK-HMAC-SHA256, shared with the simulator)
//!                  │               dto.rs     serde models of upstream JSON
//!                  │               lenient.rs scalars that absorb upstream's type quirks
//!                  ▼
//!               convert.rs         upstream DTO → proto (the only place knowing both)
//!                  │
//!                  ▼
//! gRPC reply ◄── error.rs          every failure → tonic::Status + google.rpc details
//! ```
//!
//! [`rpcs`] is the one table of RPCs: names, read/write groups, stream shapes,
//! read by the policy, the drain, the stream budget and the metrics.
//!
//! In front of every service, [`access`] decides who may call (contract §8),
//! [`deadline`] turns `grpc-timeout` into a deadline the handlers honour
//! (`Shared::unary` adds the default and the clamp), and [`limit`] refuses
//! oversized or trickling request messages and holds the one budget of server
//! streams; [`codec`] caps repeated fields before a request is decoded. Before
//! them, gRPC-Web (`tonic-web`) lets browsers call every service over HTTP/1.1
//! or HTTP/2, with CORS from `--cors-allowed-origins`; [`server`] runs the
//! routes on hyper with keepalive, a per-connection stream cap, a connection
//! cap, read and idle timeouts, optional TLS/mTLS ([`tls`]) and a bounded drain.
//!
//! Streams live in [`watch`]: the hub of shared pollers behind WatchCheckpoint
//! (one per checkpoint and credential identity, watchers as cheap streams) and
//! the pager behind StreamBackups; both end at the caller's deadline.
//!
//! The built-in CBR/CSBS/IAM simulator is its own crate (`cbr-simulator`): a
//! separate REST server the gateway reaches only over HTTP, exactly as it
//! reaches the cloud; SDK-HMAC-SHA256 is the `cbr-signer` crate, which both use.
//!
//! [`idempotency`] makes CreateCheckpoint with a `request_id` happen once: the
//! create runs detached and its outcome is remembered (in memory, or in Redis
//! across replicas).
//!
//! Observability: [`metrics`] (Prometheus, `/metrics` on `--metrics-listen`, an
//! outermost layer timing every RPC), [`trace`] (W3C trace context and the
//! caller's `x-request-id`, carried into upstream requests in a task-local).
//!
//! [`cli`] is the command-line client (`cbr-gateway checkpoint …`): a plain
//! gRPC client of the services above, with live progress bars for watches.
//!
//! Around it: [`config`] (clap flags and env, fail fast), [`telemetry`] (logs,
//! OTLP span export),
//! [`shutdown`] (signals; health NOT_SERVING, delay, then the drain that ends
//! long-lived streams with UNAVAILABLE), [`proto`] (generated code and the reflection descriptor).
//! [`serve`] is the testable entry point: it takes a bound listener and a shutdown
//! future, so tests run the real server on `127.0.0.1:0`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
mod app;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod domain;
pub mod error;
pub mod idempotency;
pub mod metrics;
pub mod proto;
pub mod rpcs;
pub mod service;
pub mod settings;
pub mod telemetry;
pub mod trace;
pub mod transport;
pub mod upstream;
pub mod watch;

pub use app::{ServeError, serve};

/// Installs rustls' `ring` provider as the process default (once; later calls
/// are no-ops). One backend for every TLS user avoids rustls' start-up panic when
/// two providers are compiled in.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
