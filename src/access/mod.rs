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
//! The policy and JWKS files are re-read when they change ([`reload`]).

mod fairness;
mod identity;
mod jwt;
mod origin;
mod policy;
mod reload;

use std::{net::SocketAddr, num::NonZeroU32, sync::Arc};

use arc_swap::ArcSwap;
use http::Request;
use tokio::time::Instant;

pub use identity::{ANONYMOUS, AuthnError, Caller, Source, certificate_identity};
pub use jwt::{JwtRejection, JwtVerifier};
pub use origin::OriginGate;
pub use policy::Policy;
pub use reload::LoadError;

use crate::{
    config::{Config, CorsOrigins},
    error::GatewayError,
    gate::{Gate, GateLayer},
    metrics::{Decision, Metrics},
    rpcs::{self, Access as Group, Rpc},
    server::ConnInfo,
    trace::CallFacts,
};

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
    /// The access rules of `config`: loads the policy and JWKS files (a broken
    /// one stops the gateway) and starts watching them.
    pub fn from_config(config: &Config, metrics: Arc<Metrics>) -> Result<Arc<Self>, AccessError> {
        let args = &config.access;
        let policy = match &args.authz_policy {
            Some(path) => reload::watch(
                "authorization policy",
                path,
                args.access_reload_interval,
                metrics.clone(),
                Policy::parse,
            )?,
            None => Arc::new(ArcSwap::from_pointee(Policy::open())),
        };
        let jwt = match (&args.jwt_jwks_file, &args.jwt_issuer, &args.jwt_audience) {
            (Some(path), Some(issuer), Some(audience)) => Some(Arc::new(JwtVerifier::load(
                path,
                issuer.clone(),
                audience.clone(),
                args.access_reload_interval,
                metrics.clone(),
            )?)),
            // clap requires all three together.
            _ => None,
        };
        let fairness = args
            .max_calls_per_second_per_caller
            .and_then(NonZeroU32::new)
            .map(|rate| {
                fairness::Fairness::start(rate, args.caller_burst.and_then(NonZeroU32::new))
            });
        Ok(Arc::new(Self {
            identify: identity::Identify {
                trust_forwarded: args.trust_forwarded_identity,
                jwt,
            },
            policy,
            allowed_projects: config.allowed_projects.clone(),
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

/// See [`Access::layer`]: the access rules as a [`Gate`].
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

/// Refuses configurations that would lend cloud credentials to anyone
/// (contract §8, "fail closed"). `holds_cloud_credentials` is false for the
/// built-in simulator's generated key, which opens nothing.
pub fn check_exposure(
    config: &Config,
    listen: SocketAddr,
    holds_cloud_credentials: bool,
) -> Result<(), ExposureError> {
    if !holds_cloud_credentials {
        return Ok(());
    }
    if config.cors_allowed_origins == CorsOrigins::Any {
        return Err(ExposureError::AnyOrigin);
    }
    let guarded = config.tls_client_ca.is_some() || config.access.authz_policy.is_some();
    if listen.ip().to_canonical().is_loopback() || guarded {
        return Ok(());
    }
    if config.access.allow_anonymous_callers {
        tracing::warn!(
            listen = %listen,
            "--allow-anonymous-callers: anyone who reaches this address acts with the gateway's cloud credentials"
        );
        return Ok(());
    }
    Err(ExposureError::Exposed { listen })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn config(args: &[&str]) -> Config {
        let mut argv = vec!["cbr-gateway"];
        argv.extend_from_slice(args);
        Config::try_parse_from(argv).unwrap()
    }

    #[test]
    fn exposure_needs_a_guard_only_with_cloud_credentials_off_loopback() {
        let open: SocketAddr = "0.0.0.0:50051".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:50051".parse().unwrap();
        let plain = config(&[]);
        assert!(
            check_exposure(&plain, open, false).is_ok(),
            "the simulator's key opens nothing"
        );
        assert!(check_exposure(&plain, local, true).is_ok());
        let err = check_exposure(&plain, open, true).unwrap_err();
        for option in [
            "--tls-client-ca",
            "--authz-policy",
            "--allow-anonymous-callers",
        ] {
            assert!(err.to_string().contains(option), "{err}");
        }
        for guard in [
            &["--authz-policy", "/p.yaml"][..],
            &["--allow-anonymous-callers"],
            &["--tls-cert", "c", "--tls-key", "k", "--tls-client-ca", "ca"],
        ] {
            assert!(
                check_exposure(&config(guard), open, true).is_ok(),
                "{guard:?}"
            );
        }
        let any = config(&["--cors-allowed-origins", "*", "--authz-policy", "/p.yaml"]);
        assert_eq!(
            check_exposure(&any, local, true),
            Err(ExposureError::AnyOrigin)
        );
        assert!(check_exposure(&any, local, false).is_ok());
    }
}
