//! gRPC services: thin adapters from tonic to validation, upstream and conversion.
//!
//! Every unary RPC goes through [`Shared::unary`], which reads the call's credentials
//! (`x-auth-token`), its admission by [`crate::access`] and its deadline (set by
//! [`crate::transport::deadline`]), runs the handler, maps a failure to a status
//! in the one place that does it ([`crate::error`]), attaches upstream's request id
//! as `x-request-id`, and writes one log line per RPC.

pub(crate) mod backup;
pub(crate) mod checkpoint;
pub(crate) mod checkpoint_item;
pub(crate) mod operation_log;
pub(crate) mod operations;
pub(crate) mod policy;
pub(crate) mod vault;

use std::{future::Future, sync::Arc};

use tokio::time::Instant;
use tonic::{Request, Response, Status, metadata::MetadataValue};

use crate::{
    access::{Access, Admitted},
    error::GatewayError,
    metrics::RpcRegion,
    proto::Regional,
    rpcs::Rpc,
    transport::deadline::Deadline,
    upstream::{
        AkSk, Auth, AuthToken, Reply, TokenError, UpstreamClient, UpstreamError,
        iam::IamTokenProvider,
    },
    watch::{
        BoxStream,
        pager::{Listing, Pager, Summary},
    },
};

/// State every service shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The upstream client of every region.
    pub upstreams: Arc<crate::upstream::regional::Upstreams>,
    /// Project used when a request to the default region leaves
    /// `project_id` empty.
    pub default_project: Option<String>,
    /// Who may call what (the policy, `--allowed-projects`).
    pub access: Arc<Access>,
    /// The gateway's own AK/SK, used when a caller sends no token.
    pub aksk: Option<Arc<AkSk>>,
    /// The gateway's IAM user, used when there is neither a token nor AK/SK.
    pub iam: Option<Arc<IamTokenProvider>>,
    /// Shared pollers of WatchCheckpoint.
    pub watch_hub: Arc<crate::watch::hub::WatchHub<crate::watch::checkpoint::WatchKey>>,
    /// Shared pollers of WatchOperation and WaitOperation.
    pub operation_hub: Arc<crate::watch::hub::WatchHub<crate::watch::operation::OperationKey>>,
    /// Heartbeat interval of watch streams.
    pub watch_heartbeat: std::time::Duration,
    /// Deadline of unary calls that set none.
    pub default_deadline: std::time::Duration,
    /// Longest deadline a unary call gets, whatever it asked for.
    pub max_deadline: std::time::Duration,
    /// When the gateway starts draining: WaitOperation answers then with
    /// the latest state rather than holding the shutdown for its timeout.
    pub drain: crate::transport::drain::Drain,
    /// Remembered `request_id`s of CreateCheckpoint, RestoreBackup and
    /// DeleteBackup (in memory or in Redis).
    pub idempotency: crate::idempotency::Idempotency,
}

impl Shared {
    /// Runs one unary RPC: credentials and deadline, handler, error mapping,
    /// metadata, log line.
    pub(crate) async fn unary<Req: Regional, Resp, Fut>(
        &self,
        rpc: &'static Rpc,
        request: Request<Req>,
        handler: impl FnOnce(Call, Req) -> Fut,
    ) -> Result<Response<Resp>, Status>
    where
        Fut: Future<Output = Result<Reply<Resp>, GatewayError>>,
    {
        use tracing::Instrument as _;
        let admitted = self.admitted(rpc, &request);
        let mut trace = crate::trace::TraceContext::from_metadata(request.metadata());
        trace.facts = Some(admitted.facts.clone());
        let span = rpc_span(rpc.method);
        trace.attach(&span);
        let call = self
            .unary_in_scope(rpc.method, admitted, request, handler)
            .instrument(span);
        crate::trace::scope(trace, call).await
    }

    /// What the access layer established about `request`.
    pub(crate) fn admitted<Req>(&self, rpc: &'static Rpc, request: &Request<Req>) -> Admitted {
        request
            .extensions()
            .get::<Admitted>()
            .filter(|a| std::ptr::eq(a.rpc, rpc))
            .cloned()
            .unwrap_or_else(|| self.access.unlayered(rpc))
    }

    async fn unary_in_scope<Req: Regional, Resp, Fut>(
        &self,
        method: &'static str,
        admitted: Admitted,
        request: Request<Req>,
        handler: impl FnOnce(Call, Req) -> Fut,
    ) -> Result<Response<Resp>, Status>
    where
        Fut: Future<Output = Result<Reply<Resp>, GatewayError>>,
    {
        let started = Instant::now();
        // Unary calls always have a deadline: the caller's, cut to the maximum,
        // or the default. Streams keep exactly what the caller asked for.
        let asked = request.extensions().get::<Deadline>().map(|d| d.0);
        let longest = started + self.max_deadline;
        let deadline = Some(
            asked
                .map_or(started + self.default_deadline, |d| d)
                .min(longest),
        );
        let outcome = match self.call_context(&request, deadline, admitted) {
            Ok(mut call) => {
                let req = request.into_inner();
                match self
                    .place(&mut call, req.region(), Req::REGION_IN, req.names_project())
                    .await
                {
                    Ok(()) => handler(call, req).await,
                    Err(err) => Err(err),
                }
            }
            Err(err) => Err(err),
        };
        match outcome {
            Ok(reply) => {
                let mut response = Response::new(reply.value);
                if let Some(id) = reply.request_id.as_deref()
                    && let Ok(value) = MetadataValue::try_from(id)
                {
                    response.metadata_mut().insert("x-request-id", value);
                }
                crate::telemetry::log_rpc(
                    method,
                    &Status::ok(""),
                    started,
                    reply.request_id.as_deref(),
                    None,
                );
                Ok(response)
            }
            Err(err) => {
                let status = err.to_status();
                crate::telemetry::log_rpc(
                    method,
                    &status,
                    started,
                    err.upstream_request_id(),
                    None,
                );
                Err(status)
            }
        }
    }

    /// The context of a streaming call (credentials, deadline, admission),
    /// or the error that refuses it.
    pub(crate) async fn stream_context<Req: Regional>(
        &self,
        rpc: &'static Rpc,
        request: &Request<Req>,
    ) -> Result<Call, GatewayError> {
        let deadline = request.extensions().get::<Deadline>().map(|d| d.0);
        let admitted = self.admitted(rpc, request);
        let mut call = self.call_context(request, deadline, admitted)?;
        let req = request.get_ref();
        self.place(&mut call, req.region(), Req::REGION_IN, req.names_project())
            .await?;
        Ok(call)
    }

    /// Settles the call's region (contract §10): the request's `region`
    /// field, or the `x-cbr-region` metadata the call context read, or the
    /// default region; both set and different, or a region the gateway does
    /// not know, is refused naming `region`.
    async fn place(
        &self,
        call: &mut Call,
        field: &str,
        field_in: &str,
        names_project: bool,
    ) -> Result<(), GatewayError> {
        let refuse = |what: String| {
            GatewayError::InvalidArgument(crate::domain::ValidationError::single("region", what))
        };
        let asked = match (field, call.asked_region.as_deref()) {
            (f, Some(m)) if !f.is_empty() && f != m => {
                return Err(refuse(format!(
                    "is {f} in {field_in} but {m} in x-cbr-region metadata"
                )));
            }
            ("", Some(m)) => m,
            (f, _) => f,
        };
        let (region, upstream) = self
            .upstreams
            .get(asked)
            .map_err(|e| refuse(e.to_string()))?;
        let home = *region == **self.upstreams.default_region();
        // The gateway's IAM user logs in per region: its tokens come from
        // the region's own IAM endpoint, and are kept per region.
        if !home
            && matches!(call.auth, Auth::Iam(_))
            && let Some(provider) = self.upstreams.iam_for(&region, &upstream)
        {
            call.auth = Auth::Iam(provider);
        }
        call.default_project = home.then(|| self.default_project.clone()).flatten();
        // No project given or configured: the region's own, as Huawei's SDKs
        // find it (IAM, with the gateway's AK/SK or its IAM user; a caller's
        // token is bound to its project, so it must name it).
        if !names_project
            && call.default_project.is_none()
            && matches!(call.auth, Auth::AkSk(_) | Auth::Iam(_))
        {
            call.default_project = self
                .upstreams
                .project_of(&region, &upstream, &call.auth, call.deadline)
                .await?;
        }
        if let Some(settled) = &call.metrics_region {
            settled.settle(upstream.region());
        }
        call.region = region;
        call.upstream = upstream;
        call.home = home;
        Ok(())
    }

    /// Who the call acts as (contract §3): the caller's token, else the
    /// gateway's AK/SK, else its IAM user, else nobody — which is refused.
    fn call_context<Req>(
        &self,
        request: &Request<Req>,
        deadline: Option<Instant>,
        admitted: Admitted,
    ) -> Result<Call, GatewayError> {
        let md = request.metadata();
        let auth = match md.get("x-auth-token") {
            Some(v) => {
                let token = v
                    .to_str()
                    .map_err(|_| TokenError::NotVisibleAscii)
                    .and_then(AuthToken::parse)
                    .map_err(GatewayError::BadToken)?;
                Auth::Token(token)
            }
            None => match (&self.aksk, &self.iam) {
                (Some(creds), _) => Auth::AkSk(creds.clone()),
                (None, Some(iam)) => Auth::Iam(iam.clone()),
                (None, None) => return Err(GatewayError::NoCredentials),
            },
        };
        // The metadata's region, checked by `place` once the request's
        // own field is known. Not visible ASCII: refused there as unknown.
        let asked_region = md
            .get("x-cbr-region")
            .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
        Ok(Call {
            auth,
            deadline,
            admitted,
            asked_region,
            region: self.upstreams.default_region().clone(),
            home: true,
            metrics_region: request.extensions().get::<RpcRegion>().cloned(),
            upstream: self.upstreams.default_client().clone(),
            default_project: self.default_project.clone(),
        })
    }
}

impl Shared {
    /// Starts a write (CreateCheckpoint, RestoreBackup, DeleteBackup) at most
    /// once per `request_id` (contract §5): without one, `start` runs within
    /// the call's deadline; with one, the idempotency store runs it detached
    /// and without a deadline (it must reach an outcome to record even if
    /// the caller leaves; the upstream timeout bounds it), answers repeats
    /// from what it recorded, and refuses the id with another fingerprint
    /// (computed only when there is an id: it costs a serialisation).
    pub(crate) async fn once<M, F, Fut>(
        &self,
        call: &Call,
        project_id: &str,
        request_id: Option<(uuid::Uuid, crate::idempotency::Fingerprint)>,
        start: F,
    ) -> Result<Reply<M>, GatewayError>
    where
        M: prost::Name + Default,
        F: FnOnce(Option<Instant>) -> Fut,
        Fut: Future<Output = Result<Reply<M>, UpstreamError>> + Send + 'static,
    {
        let Some((request_id, fingerprint)) = request_id else {
            return Ok(start(call.deadline).await?);
        };
        let key = crate::idempotency::Key::new(&call.owner(), project_id, request_id);
        Ok(self
            .idempotency
            .create(key, fingerprint, call.deadline, start(None))
            .await?)
    }

    /// Runs one paged walk (StreamBackups, StreamVaults, StreamOperationLogs):
    /// credentials, checks and authorization before the stream starts, so bad
    /// input fails the call itself rather than its first message; then the
    /// pager, whose end writes the call's one log line.
    pub(crate) async fn walk<Req: Regional, L: Listing>(
        &self,
        rpc: &'static Rpc,
        request: Request<Req>,
        check: impl FnOnce(&Req, Option<&str>) -> Result<(String, L), crate::domain::ValidationError>,
    ) -> Result<Response<BoxStream<L::Message>>, Status> {
        let started = Instant::now();
        let mut trace = crate::trace::TraceContext::from_metadata(request.metadata());
        let refuse = |error: GatewayError, trace: &crate::trace::TraceContext| {
            let status = error.to_status();
            crate::trace::CURRENT.sync_scope(trace.clone(), || {
                crate::telemetry::log_rpc(
                    rpc.method,
                    &status,
                    started,
                    None,
                    Some(crate::telemetry::StreamCounts::default()),
                );
            });
            status
        };
        let call = match self.stream_context(rpc, &request).await {
            Ok(call) => call,
            Err(e) => return Err(refuse(e, &trace)),
        };
        trace.facts = Some(call.admitted.facts.clone());
        let (project_id, listing) = check(request.get_ref(), call.default_project())
            .map_err(|e| refuse(GatewayError::InvalidArgument(e), &trace))?;
        call.authorize(&project_id).map_err(|e| refuse(e, &trace))?;
        let pager = Pager {
            upstream: call.upstream.clone(),
            auth: call.auth,
            deadline: call.deadline,
            project_id,
            listing,
        };
        // The call's one log line, once the walk is over.
        let ended = move |summary: Summary| {
            let counts = crate::telemetry::StreamCounts {
                sent: summary.sent,
                pages: summary.pages,
            };
            crate::telemetry::log_rpc(
                rpc.method,
                &summary.status,
                started,
                summary.request_id.as_deref(),
                Some(counts),
            );
        };
        let span = rpc_span(rpc.method);
        trace.attach(&span);
        // The pager's tasks carry the trace context and the span to upstream.
        Ok(Response::new(span.in_scope(|| {
            crate::trace::CURRENT.sync_scope(trace, || pager.stream(ended))
        })))
    }
}

/// The server span of one RPC (exported with `--otlp-endpoint`; its gRPC code
/// is recorded by [`crate::telemetry::log_rpc`]).
pub(crate) fn rpc_span(method: &'static str) -> tracing::Span {
    tracing::info_span!(
        "rpc",
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.method = method,
        rpc.grpc.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// What the gateway knows about one call before it runs.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// Credentials for the upstream request.
    pub auth: Auth,
    /// When the caller stops waiting (from `grpc-timeout`, via [`Deadline`]).
    pub deadline: Option<Instant>,
    /// Who calls, and the policy that judges the call's project.
    pub admitted: Admitted,
    /// `x-cbr-region`, as sent.
    asked_region: Option<String>,
    /// The region the call acts in.
    pub region: Arc<str>,
    /// Whether that is the gateway's default region.
    home: bool,
    /// Where the RPC metrics learn the region (absent outside the server's
    /// layers: a handler called directly).
    metrics_region: Option<RpcRegion>,
    /// That region's upstream client.
    pub upstream: UpstreamClient,
    /// The project of calls that name none: the configured one, in the
    /// default region only (projects belong to one region).
    default_project: Option<String>,
}

impl Call {
    /// Judges the call's effective project (the policy and
    /// `--allowed-projects`), before any upstream call.
    pub(crate) fn authorize(&self, project_id: &str) -> Result<(), GatewayError> {
        self.admitted.authorize(project_id)
    }

    /// The region the names of this call's operations carry: none in the
    /// default region (so those names read as before regions existed), the
    /// call's in any other, so a name alone finds its region again.
    pub(crate) fn named_region(&self) -> Option<&str> {
        (!self.home).then_some(&*self.region)
    }

    /// Judges an operation `name` sent in the request: its region must be
    /// the call's (a name without one is taken in the call's region) and its
    /// project one the caller may use.
    pub(crate) fn authorize_operation(
        &self,
        name: &crate::domain::OperationName,
    ) -> Result<(), GatewayError> {
        if let Some(region) = name.region.as_deref()
            && *region != *self.region
        {
            return Err(GatewayError::InvalidArgument(
                crate::domain::ValidationError::single(
                    "name",
                    format!(
                        "belongs to region {region}, but the call is to region {}",
                        self.region
                    ),
                ),
            ));
        }
        self.authorize(&name.project_id)
    }

    /// Whose outcome an idempotent create is: the caller and the credentials
    /// it acts with, so one caller can never read another's outcome by
    /// guessing its `request_id`, even under the gateway's own credentials.
    pub(crate) fn owner(&self) -> String {
        format!(
            "{}\u{0}{}\u{0}{}",
            self.admitted.caller.identity,
            self.auth.identity(),
            self.region
        )
    }

    /// The project of a request that names none (see [`Call::default_project`]).
    pub(crate) fn default_project(&self) -> Option<&str> {
        self.default_project.as_deref()
    }
}
