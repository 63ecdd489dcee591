//! The running gateway: builds every part from its settings, stacks the
//! layers in front of the services, serves until shutdown, then drains.

use std::{future::Future, sync::Arc};

use tokio::net::TcpListener;
use tonic::service::Routes;
use tower::ServiceBuilder;

use crate::{
    access, config, error, idempotency, metrics, proto,
    proto::{
        backup_service_server::BackupServiceServer,
        checkpoint_item_service_server::CheckpointItemServiceServer,
        checkpoint_service_server::CheckpointServiceServer,
        google::longrunning::operations_server::OperationsServer,
        operation_log_service_server::OperationLogServiceServer,
        policy_service_server::PolicyServiceServer, vault_service_server::VaultServiceServer,
    },
    rpcs,
    service::{
        Shared, backup::BackupApi, checkpoint::CheckpointApi, checkpoint_item::CheckpointItemApi,
        operation_log::OperationLogApi, operations::OperationsApi, policy::PolicyApi,
        vault::VaultApi,
    },
    settings::Settings,
    transport::{self, deadline, drain, limit, server, tls},
    upstream::{self, UpstreamClient},
    watch,
};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The upstream HTTP client could not be built.
    #[error("cannot build the upstream client: {0}")]
    Upstream(#[from] reqwest::Error),
    /// The settings could not be made (credentials, TLS files).
    #[error(transparent)]
    Settings(#[from] config::SettingsError),
    /// The listener's address could not be read.
    #[error("cannot read the listener's address: {0}")]
    Listener(#[from] std::io::Error),
    /// The reflection service could not load the descriptor sets.
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The metrics endpoint's address could not be bound.
    #[error("cannot listen for metrics on {addr}: {source}")]
    MetricsListen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate, key or client CA could not be loaded.
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] tls::TlsError),
    /// The idempotency store (Redis) could not be reached at start.
    #[error("cannot use the idempotency store: {0}")]
    Idempotency(#[from] idempotency::ConnectError),
    /// The configuration would lend cloud credentials to anyone (contract §8).
    #[error("refusing to start: {0}")]
    Exposed(#[from] access::ExposureError),
    /// The authorization policy or JWKS file is missing or broken.
    #[error("cannot load the access rules: {0}")]
    Access(#[from] access::AccessError),
}

impl ServeError {
    /// The process exit code: 2 for configuration the operator must fix
    /// (credentials, TLS files), 1 for run-time failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::Settings(_)
            | ServeError::Tls(_)
            | ServeError::Exposed(_)
            | ServeError::Access(_) => 2,
            ServeError::Upstream(_)
            | ServeError::Listener(_)
            | ServeError::Reflection(_)
            | ServeError::Idempotency(_)
            | ServeError::MetricsListen { .. } => 1,
        }
    }
}

/// A reflection builder knowing every descriptor the server speaks: the API,
/// health, `google.rpc` (so clients can decode error details) and both
/// reflection versions (so each lists the other).
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .include_reflection_service(false)
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
}

/// Serves the gateway on `listener` until `shutdown` resolves.
///
/// Registers the three API services, `grpc.health.v1.Health` (SERVING for each
/// service and for `""`), and server reflection v1 and v1alpha with the API,
/// health and `google.rpc` descriptor sets, so grpcurl needs no proto files and
/// can decode error details. Refuses to start (exit code 2) a gateway that
/// would lend cloud credentials to anyone who reaches it ([`access::check_exposure`]).
pub async fn serve(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let Settings {
        transport,
        calls,
        access: access_settings,
        upstream: upstream_settings,
        credentials: held,
        watch: watch_settings,
        idempotency: idempotency_settings,
        metrics_listen,
        builtin_simulator,
        regions,
    } = settings;
    let listen = listener.local_addr()?;
    access::check_exposure(access::Exposure {
        listen,
        cloud_credentials: (held.aksk.is_some() || held.iam.is_some()) && !builtin_simulator,
        client_certificates: transport
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca.is_some()),
        access: &access_settings,
        origins: &transport.cors_allowed_origins,
    })?;
    let metrics = Arc::new(metrics::Metrics::new());
    let access = access::Access::load(&access_settings, metrics.clone())?;
    let metrics_listener = match metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::MetricsListen { addr, source })?,
        ),
        None => None,
    };
    let request_timeout = upstream_settings.request_timeout;
    let mut upstream_settings = upstream_settings;
    // The project lookup's IAM: the configured one, else the default region's.
    if upstream_settings.iam_endpoint.is_none() {
        upstream_settings.iam_endpoint = regions
            .table
            .as_ref()
            .and_then(|t| t.get(&regions.default))
            .map(|e| e.iam.url.clone());
    }
    let upstream = UpstreamClient::new(upstream_settings.clone())?.with_metrics(metrics.clone());
    let iam_settings = held.iam.map(|user| upstream::iam::IamSettings {
        endpoint: user.endpoint,
        domain: user.domain,
        user: user.user,
        password: Arc::new(user.password),
        refresh_ahead: user.refresh_ahead,
        request_timeout,
    });
    let iam = iam_settings.clone().map(|settings| {
        Arc::new(upstream::iam::IamTokenProvider::new(
            upstream.http().clone(),
            settings,
        ))
    });
    let upstreams = Arc::new(
        upstream::regional::Upstreams::new(
            &regions.default,
            upstream.clone(),
            regions.table,
            upstream_settings,
            metrics.clone(),
        )
        .with_iam(iam_settings),
    );
    let default_region = upstreams.default_client().region();
    let watch_heartbeat = watch_settings.heartbeat;
    let watch_hub = watch::hub::WatchHub::new(upstreams.clone(), watch_settings);
    let operation_hub = watch::hub::WatchHub::new(upstreams.clone(), watch_settings);
    let idempotency =
        idempotency::Idempotency::connect(&idempotency_settings, error::failed_create)
            .await?
            .with_metrics(metrics.clone());
    let streams = limit::StreamBudgetLayer::new(transport.max_server_streams);
    let drain = drain::Drain::new();
    let shared = Arc::new(Shared {
        drain: drain.clone(),
        idempotency: idempotency.clone(),
        watch_hub,
        operation_hub,
        watch_heartbeat,
        default_deadline: calls.default_deadline,
        max_deadline: calls.max_deadline,
        upstreams,
        default_project: calls.default_project,
        access: access.clone(),
        aksk: held.aksk.map(Arc::new),
        iam,
    });
    metrics.watch_gauges(Arc::new(LiveGauges {
        shared: shared.clone(),
        streams: streams.clone(),
        max_streams: transport.max_server_streams,
    }));

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    for service in rpcs::services() {
        health_reporter
            .set_service_status(service, tonic_health::ServingStatus::Serving)
            .await;
    }

    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    // `limit` enforces the request size with the right status code.
    let unlimited = usize::MAX;
    let max_response = usize::try_from(transport.max_response_bytes).unwrap_or(usize::MAX);
    let routes = Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            CheckpointServiceServer::new(CheckpointApi::new(shared.clone()))
                .max_decoding_message_size(unlimited)
                .max_encoding_message_size(max_response),
        )
        .add_service(
            BackupServiceServer::new(BackupApi::new(shared.clone()))
                .max_decoding_message_size(unlimited)
                .max_encoding_message_size(max_response),
        )
        .add_service(
            CheckpointItemServiceServer::new(CheckpointItemApi::new(shared.clone()))
                .max_decoding_message_size(unlimited)
                .max_encoding_message_size(max_response),
        )
        .add_service(
            VaultServiceServer::new(VaultApi::new(shared.clone()))
                .max_decoding_message_size(unlimited)
                .max_encoding_message_size(max_response),
        )
        .add_service(
            PolicyServiceServer::new(PolicyApi::new(shared.clone()))
                .max_decoding_message_size(unlimited)
                .max_encoding_message_size(max_response),
        )
        .add_service(
            OperationsServer::new(OperationsApi::new(shared.clone()))
                .max_decoding_message_size(unlimited)
                .max_encoding_message_size(max_response),
        )
        .add_service(
            OperationLogServiceServer::new(OperationLogApi::new(shared))
                .max_decoding_message_size(unlimited)
                .max_encoding_message_size(max_response),
        )
        .prepare();
    let grace = transport.shutdown_grace;
    // A StreamBackups walk gets the grace but one second, then ends with a
    // status before its connection is closed.
    let bounded_grace = grace.saturating_sub(std::time::Duration::from_secs(1));
    // Outermost first. CORS answers preflights and decorates every answer;
    // gRPC-Web then turns browser calls (HTTP/1.1 or 2, binary or base64 text)
    // into plain gRPC, so every layer below and every service (API, health,
    // reflection) sees one protocol: metrics read real gRPC codes (refusals
    // included), the origin guard and the access rules refuse with gRPC
    // statuses, deadlines come from `grpc-timeout`, the size limit counts the
    // decoded frames (not base64 text), and the drain's UNAVAILABLE trailers
    // are encoded into the body by gRPC-Web. Native gRPC (HTTP/2) passes
    // through untouched. Refusals by origin, identity, rate or method happen
    // before the stream budget is touched or the message is read.
    let service = ServiceBuilder::new()
        .option_layer(transport::web::cors_layer(&transport.cors_allowed_origins))
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(metrics::RpcMetricsLayer::new(
            metrics.clone(),
            default_region,
        ))
        .layer(access::OriginGate::layer(
            transport.cors_allowed_origins.clone(),
        ))
        .layer(access.layer())
        .layer(streams)
        .layer(drain.layer(bounded_grace))
        .layer(deadline::DeadlineLayer)
        .layer(limit::RequestSizeLayer {
            max_message_bytes: transport.max_request_bytes,
            read_timeout: transport.request_read_timeout,
        })
        .service(routes);
    let delay = transport.shutdown_delay;
    // When the drain starts: detached creates get until the grace ends.
    let drain_started = Arc::new(std::sync::OnceLock::new());
    let drain_mark = drain_started.clone();
    // Phase 1 of the shutdown (see `shutdown`): NOT_SERVING, then the delay,
    // while still serving; the server then drains.
    let shutdown = async move {
        shutdown.await;
        for service in rpcs::services().chain([""]) {
            health_reporter
                .set_service_status(service, tonic_health::ServingStatus::NotServing)
                .await;
        }
        tracing::info!(delay = ?delay, "health is NOT_SERVING; still serving until the delay ends");
        tokio::time::sleep(delay).await;
        let _ = drain_mark.set(tokio::time::Instant::now());
    };
    let (grpc_done, metrics_stop) = tokio::sync::oneshot::channel::<()>();
    let metrics_server = metrics_listener.map(|listener| {
        let addr = listener
            .local_addr()
            .map_or_else(|_| "?".to_owned(), |a| a.to_string());
        tracing::info!(metrics_listen = %addr, "Prometheus metrics at /metrics");
        let endpoint = metrics::router(metrics.clone());
        tokio::spawn(server::run(
            listener,
            endpoint,
            server::ServerSettings {
                drain_timeout: std::time::Duration::from_secs(1),
                // Scrapers keep their connection between scrapes (a minute
                // apart, typically): idle HTTP/1.1 connections are closed
                // after that, not in a race with the next scrape.
                request_read_timeout: std::time::Duration::from_secs(120),
                ..server::ServerSettings::default()
            },
            async {
                let _ = metrics_stop.await;
            },
        ))
    });
    server::run(
        listener,
        service,
        server::ServerSettings {
            tls: tls::load(transport.tls.as_ref())?,
            max_streams_per_connection: transport.max_streams_per_connection,
            max_connections: transport.max_connections,
            request_read_timeout: transport.request_read_timeout,
            idle_timeout: transport.idle_connection_timeout,
            events: Some(Arc::new(ConnectionMetrics(metrics))),
            name_certificate: Some(access::certificate_identity),
            drain_timeout: grace,
            drain,
            ..server::ServerSettings::default()
        },
        shutdown,
    )
    .await;
    let drain_started = drain_started
        .get()
        .copied()
        .unwrap_or_else(tokio::time::Instant::now);
    idempotency.drain(drain_started + grace).await;
    // Scrapes keep working through the drain; the endpoint closes last.
    let _ = grpc_done.send(());
    if let Some(task) = metrics_server {
        let _ = task.await;
    }
    tracing::info!("cbr-gateway stopped");
    Ok(())
}

/// The server's connection events, counted in the metrics.
struct ConnectionMetrics(Arc<metrics::Metrics>);

impl server::ConnectionEvents for ConnectionMetrics {
    fn opened(&self) -> Box<dyn Send + Sync> {
        Box::new(self.0.connection_opened())
    }

    fn closed(&self, why: server::Closed) {
        self.0.connection_closed(why.label());
    }
}

/// The gauges read at scrape time from their owners.
struct LiveGauges {
    shared: Arc<Shared>,
    streams: limit::StreamBudgetLayer,
    max_streams: usize,
}

impl metrics::Gauges for LiveGauges {
    fn server_streams(&self) -> i64 {
        let open = self.max_streams.saturating_sub(self.streams.available());
        i64::try_from(open).unwrap_or(i64::MAX)
    }
    fn watch_pollers(&self) -> i64 {
        let pollers =
            self.shared.watch_hub.poller_count() + self.shared.operation_hub.poller_count();
        i64::try_from(pollers).unwrap_or(i64::MAX)
    }
    fn upstream_inflight(&self) -> i64 {
        i64::try_from(self.shared.upstreams.inflight()).unwrap_or(i64::MAX)
    }
}
