//! Transport: everything between the socket and the gRPC services, in the
//! order a request meets it.
//!
//! ```text
//! socket ─► server.rs    accept, connection cap, TLS (tls.rs), read and idle timeouts,
//!                        ConnInfo (peer, client certificate) on every request
//!        ─► web.rs       CORS (tower-http), then gRPC-Web (tonic-web) turns browser calls
//!                        into plain gRPC for everything below
//!        ─► metrics      every RPC timed and counted (crate::metrics)
//!        ─► gate.rs      the browser-origin and access gates (crate::access)
//!        ─► limit.rs     the one budget of server streams
//!        ─► drain.rs     ends server streams when the gateway drains
//!        ─► deadline.rs  grpc-timeout → a deadline the handlers honour
//!        ─► limit.rs     request size and read time
//!        ─► codec.rs     repeated fields counted before prost decodes a request
//!        ─► crate::service
//! ```
//!
//! Nothing here knows the API's methods but through [`crate::rpcs`], and
//! nothing here imports the services or the upstream client: transport points
//! one way, to the services.

pub(crate) mod codec;
pub(crate) mod deadline;
pub mod drain;
pub(crate) mod gate;
pub(crate) mod limit;
pub mod server;
pub mod tls;
pub(crate) mod web;
