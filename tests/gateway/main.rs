//! The gateway's integration tests, as one test binary: one module per
//! subject, the shared harness in [`common`].
//!
//! One binary rather than a file per subject because each integration-test
//! file is a crate of its own that links the whole gateway: compiling and
//! linking two dozen of them was most of CI's time. Tests of different
//! subjects now run side by side in one process, so none may rely on
//! process-wide state (environment variables, the current directory, a global
//! log subscriber); anything that needs its own process runs the built binary
//! (`common::Binary`).
//!
//! `cargo test --test gateway <module>::` runs one subject.

mod checks;
mod common;

mod cli;
mod cli_lifecycle;
mod cli_operations;
mod client_cli;
mod credentials;
mod deploy;
mod discovery;
mod e2e;
mod errors;
mod examples;
mod grpc_web;
mod grpcurl;
mod iam;
mod idempotency;
mod lifecycle;
mod metrics;
mod official_sdk;
mod operations;
mod parity;
mod properties;
mod regions;
mod resilience;
mod security;
mod shutdown;
mod simulator;
mod simulator_lifecycle;
mod stream_backups;
mod tls;
mod trace_context;
mod unary;
mod upstream_economy;
mod validation;
mod watch;
