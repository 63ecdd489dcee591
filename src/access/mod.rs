//! Who may call the gateway, and what (contract §8).
//!
//! The gateway lends its cloud credentials to its callers, so every API call
//! has an identity and every identity a policy, the way Envoy's RBAC filter
//! or Linkerd's authorization policies guard a proxy:
//!
//! ```text
//! request ─► origin.rs    a browser Origin not in --cors-allowed-origins: PERMISSION_DENIED
//!        ─► AccessGate    identity.rs  certificate > forwarded (trusted) > JWT (jwt.rs) > anonymous;
//!                                      an invalid credential: UNAUTHENTICATED
//!                         fairness.rs  the caller's token bucket: RESOURCE_EXHAUSTED + RetryInfo
//!                         policy.rs    may this caller call this method at all? PERMISSION_DENIED
//!                         → Admitted in the request's extensions
//! handler ─► validate ─► Admitted::authorize(project): --allowed-projects, then the policy
//!                         for the effective project, before any upstream call
//! ```
//!
//! All of it happens before the request's message is read for calls refused
//! by identity, rate or method, so a caller with no business here costs a few
//! header lookups. Health and reflection are always allowed. Every decision is
//! counted (`cbr_gateway_authz_decisions_total{decision,method}`) and logged
//! in the call's one log line (`caller`, `project`, `authz`).
//! [`check_exposure`] refuses to start a gateway that would lend cloud
//! credentials to anyone who reaches it.
//!
//! The policy and JWKS files are re-read when they change (`reload.rs`).

mod fairness;
mod identity;
mod jwt;
mod origin;
mod policy;
mod reload;

use std::{net::SocketAddr, num::NonZeroU32, path::PathBuf, sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use http::Request;
use tokio::time::Instant;

pub use crate::transport::web::CorsOrigins;
pub use identity::{ANONYMOUS, AuthnError, Caller, Source, certificate_identity};
pub use jwt::{JwtRejection, JwtVerifier};
pub use origin::OriginGate;
pub use policy::Policy;
pub use reload::LoadError;

use crate::{
    error::GatewayError,
    metrics::{Decision, Metrics},
    rpcs::{self, Access as Group, Rpc},
    trace::CallFacts,
    transport::gate::{Gate, GateLayer},
    transport::server::ConnInfo,
};

/// The access rules' settings (contract §8).
#[derive(Debug, Clone, Default)]
pub struct AccessSettings {
    /// The YAML policy file; `None`: every call is allowed.
    pub authz_policy: Option<PathBuf>,
    /// Start exposed with cloud credentials and no guard (see [`check_exposure`]).
    pub allow_anonymous_callers: bool,
    /// Believe a loopback sidecar's forwarded identity.
    pub trust_forwarded_identity: bool,
    /// Verify bearer JWTs.
    pub jwt: Option<JwtSettings>,
    /// Calls per second per caller, and the bucket's size.
    pub fairness: Option<(NonZeroU32, Option<NonZeroU32>)>,
    /// How often the policy and JWKS files are checked for changes.
    pub reload_interval: Duration,
    /// Projects every call is limited to (`--allowed-projects`); empty: any.
    pub allowed_projects: Vec<String>,
}

/// Where callers' JWTs are verified against.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// The JWKS file.
    pub jwks_file: PathBuf,
    /// The `iss` required.
    pub issuer: String,
    /// The `aud` required.
    pub audience: String,
}

/// Who may call, shared by the layer and the handlers.
pub struct Access {
    identify: identity::Identify,
    policy: Arc<ArcSwap<Policy>>,
    allowed_projects: Vec<String>,
    fairness: Option<Arc<fairness::Fairness>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("identify", &self.identify)
            .field("policy_enforced", &self.policy.load().is_enforced())
            .field("allowed_projects", &self.allowed_projects)
            .field("fairness", &self.fairness)
            .finish()
    }
}

/// What the access layer established about a call it let through; in the
/// request's extensions for the handler.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// Who calls.
    pub caller: Caller,
    /// The method called.
    pub rpc: &'static Rpc,
    /// The policy the call is judged by (one version for both checks).
    policy: Arc<Policy>,
    /// What the call's log line says.
    pub facts: Arc<CallFacts>,
    access: Arc<Access>,
}

impl Admitted {
    /// Judges the call's effective project: `--allowed-projects`, then the
    /// policy. Counted and noted for the log line.
    pub fn authorize(&self, project: &str) -> Result<(), GatewayError> {
        let _ = self.facts.project.set(project.into());
        let allowed = &self.access.allowed_projects;
        if !allowed.is_empty() && !allowed.iter().any(|p| p == project) {
            self.decided(Decision::Deny);
            return Err(GatewayError::ProjectNotAllowed(project.to_owned()));
        }
        if !self.policy.allows(&self.caller.identity, self.rpc, project) {
            self.decided(Decision::Deny);
            return Err(GatewayError::CallerNotAllowed {
                caller: self.caller.identity.clone(),
                method: self.rpc.full_name(),
                project: Some(project.to_owned()),
            });
        }
        self.decided(Decision::Allow);
        Ok(())
    }

    fn decided(&self, decision: Decision) {
        let _ = self.facts.decision.set(decision.label());
        self.access.metrics.authz_decision(decision, self.rpc);
        if decision == Decision::Deny {
            tracing::debug!(
                caller = %self.caller.identity,
                method = self.rpc.full_name(),
                project = self.facts.project.get().map_or("", |p| p),
                "call refused by the authorization policy"
            );
        }
    }
}

/// Why the access settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The policy or JWKS file could not be read or parsed.
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl Access {
    /// The access rules `settings` describe: loads the policy and JWKS files
    /// (a broken one stops the gateway) and starts watching them.
    pub fn load(
        settings: &AccessSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, AccessError> {
        let interval = settings.reload_interval;
        let policy = match &settings.authz_policy {
            Some(path) => reload::watch(
                "authorization policy",
                path,
                interval,
                metrics.clone(),
                Policy::parse,
            )?,
            None => Arc::new(ArcSwap::from_pointee(Policy::open())),
        };
        let jwt = match &settings.jwt {
            Some(jwt) => Some(Arc::new(JwtVerifier::load(
                &jwt.jwks_file,
                jwt.issuer.clone(),
                jwt.audience.clone(),
                interval,
                metrics.clone(),
            )?)),
            None => None,
        };
        let fairness = settings
            .fairness
            .map(|(rate, burst)| fairness::Fairness::start(rate, burst));
        Ok(Arc::new(Self {
            identify: identity::Identify {
                trust_forwarded: settings.trust_forwarded_identity,
                jwt,
            },
            policy,
            allowed_projects: settings.allowed_projects.clone(),
            fairness,
            metrics,
        }))
    }

    /// The layer that admits or refuses each API call before it is read.
    pub fn layer(self: &Arc<Self>) -> GateLayer<AccessGate> {
        GateLayer(AccessGate {
            access: self.clone(),
        })
    }

    /// Admission of a call to `rpc`: identity, fairness, then whether the
    /// policy lets this caller call this method on any project.
    fn admit(
        self: &Arc<Self>,
        rpc: &'static Rpc,
        conn: Option<&ConnInfo>,
        headers: &http::HeaderMap,
    ) -> Result<Admitted, (Option<Caller>, GatewayError)> {
        let caller = match self.identify.identify(conn, headers) {
            Ok(caller) => caller,
            Err(why) => {
                self.metrics.authz_decision(Decision::Unauthenticated, rpc);
                return Err((None, GatewayError::CallerUnauthenticated(why.to_string())));
            }
        };
        if let Some(fairness) = &self.fairness
            && let Err(retry_after) = fairness.check(&caller.identity)
        {
            self.metrics.caller_rate_limited(rpc);
            return Err((
                Some(caller),
                GatewayError::CallerRateLimited { retry_after },
            ));
        }
        let policy = self.policy.load_full();
        if !policy.may_call(&caller.identity, rpc) {
            self.metrics.authz_decision(Decision::Deny, rpc);
            let refusal = GatewayError::CallerNotAllowed {
                caller: caller.identity.clone(),
                method: rpc.full_name(),
                project: None,
            };
            return Err((Some(caller), refusal));
        }
        Ok(self.admitted(caller, rpc, policy))
    }

    fn admitted(
        self: &Arc<Self>,
        caller: Caller,
        rpc: &'static Rpc,
        policy: Arc<Policy>,
    ) -> Admitted {
        Admitted {
            facts: CallFacts::new(caller.identity.clone()),
            caller,
            rpc,
            policy,
            access: self.clone(),
        }
    }

    /// The admission of a call that did not pass the layer (a service used
    /// without it): judged as `anonymous` by the current policy, never let
    /// through unjudged.
    pub fn unlayered(self: &Arc<Self>, rpc: &'static Rpc) -> Admitted {
        self.admitted(Caller::anonymous(), rpc, self.policy.load_full())
    }
}

/// See [`Access::layer`]: the access rules as a transport `Gate`.
#[derive(Debug, Clone)]
pub struct AccessGate {
    access: Arc<Access>,
}

impl Gate for AccessGate {
    fn admit<B>(&self, req: &mut Request<B>) -> Result<(), tonic::Status> {
        let Some(rpc) = rpcs::by_path(req.uri().path()).filter(|r| r.access != Group::Open) else {
            // Health, reflection, and paths tonic answers UNIMPLEMENTED.
            return Ok(());
        };
        let started = Instant::now();
        let admitted = self
            .access
            .admit(rpc, req.extensions().get::<ConnInfo>(), req.headers());
        match admitted {
            Ok(admitted) => {
                req.extensions_mut().insert(admitted);
                Ok(())
            }
            Err((caller, refusal)) => {
                let status = refusal.to_status();
                crate::telemetry::log_refused(
                    rpc.method,
                    &status,
                    started,
                    caller.as_ref().map(|c| &*c.identity),
                    refusal_label(&refusal),
                );
                Err(status)
            }
        }
    }
}

/// The log line's `authz` value of a refusal by the layer.
fn refusal_label(refusal: &GatewayError) -> &'static str {
    match refusal {
        GatewayError::CallerUnauthenticated(_) => Decision::Unauthenticated.label(),
        GatewayError::CallerRateLimited { .. } => "rate_limited",
        _ => Decision::Deny.label(),
    }
}

/// Why the gateway must not start as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExposureError {
    /// Cloud credentials, a non-loopback address, and nothing deciding who may
    /// use them.
    #[error(
        "the gateway holds cloud credentials (AK/SK or an IAM user) and listens on {listen}, where anyone who reaches it would act with them: require client certificates (--tls-client-ca), set an authorization policy (--authz-policy), listen on loopback behind a mesh sidecar (--listen 127.0.0.1:PORT), or accept the risk with --allow-anonymous-callers"
    )]
    Exposed {
        /// The listen address.
        listen: SocketAddr,
    },
    /// `--cors-allowed-origins '*'` with cloud credentials.
    #[error(
        "--cors-allowed-origins '*' lets any web page a browser visits call the gateway, which holds cloud credentials: list the origins allowed"
    )]
    AnyOrigin,
}

/// What decides whether a gateway may start where it listens.
#[derive(Debug, Clone, Copy)]
pub struct Exposure<'a> {
    /// Where it listens.
    pub listen: SocketAddr,
    /// It holds cloud credentials (not the built-in simulator's key).
    pub cloud_credentials: bool,
    /// Clients must present a certificate (`--tls-client-ca`).
    pub client_certificates: bool,
    /// The access rules.
    pub access: &'a AccessSettings,
    /// Browser origins allowed.
    pub origins: &'a CorsOrigins,
}

/// Refuses configurations that would lend cloud credentials to anyone
/// (contract §8, "fail closed"). The built-in simulator's generated key
/// opens nothing, so it counts as no credentials.
pub fn check_exposure(e: Exposure<'_>) -> Result<(), ExposureError> {
    if !e.cloud_credentials {
        return Ok(());
    }
    if *e.origins == CorsOrigins::Any {
        return Err(ExposureError::AnyOrigin);
    }
    let guarded = e.client_certificates || e.access.authz_policy.is_some();
    if e.listen.ip().to_canonical().is_loopback() || guarded {
        return Ok(());
    }
    if e.access.allow_anonymous_callers {
        tracing::warn!(
            listen = %e.listen,
            "--allow-anonymous-callers: anyone who reaches this address acts with the gateway's cloud credentials"
        );
        return Ok(());
    }
    Err(ExposureError::Exposed { listen: e.listen })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure<'a>(
        listen: &str,
        cloud: bool,
        certificates: bool,
        access: &'a AccessSettings,
        origins: &'a CorsOrigins,
    ) -> Exposure<'a> {
        Exposure {
            listen: listen.parse().unwrap(),
            cloud_credentials: cloud,
            client_certificates: certificates,
            access,
            origins,
        }
    }

    #[test]
    fn exposure_needs_a_guard_only_with_cloud_credentials_off_loopback() {
        let open = "0.0.0.0:50051";
        let local = "127.0.0.1:50051";
        let none = AccessSettings::default();
        let no_cors = CorsOrigins::None;
        let ok = |e| check_exposure(e).is_ok();
        assert!(
            ok(exposure(open, false, false, &none, &no_cors)),
            "the simulator's key opens nothing"
        );
        assert!(ok(exposure(local, true, false, &none, &no_cors)));
        let err = check_exposure(exposure(open, true, false, &none, &no_cors)).unwrap_err();
        for option in [
            "--tls-client-ca",
            "--authz-policy",
            "--allow-anonymous-callers",
        ] {
            assert!(err.to_string().contains(option), "{err}");
        }
        let policy = AccessSettings {
            authz_policy: Some("/p.yaml".into()),
            ..AccessSettings::default()
        };
        let anonymous = AccessSettings {
            allow_anonymous_callers: true,
            ..AccessSettings::default()
        };
        assert!(ok(exposure(open, true, false, &policy, &no_cors)));
        assert!(ok(exposure(open, true, false, &anonymous, &no_cors)));
        assert!(ok(exposure(open, true, true, &none, &no_cors)));
        let any = CorsOrigins::Any;
        assert_eq!(
            check_exposure(exposure(local, true, false, &policy, &any)),
            Err(ExposureError::AnyOrigin)
        );
        assert!(ok(exposure(local, false, false, &policy, &any)));
    }
}
