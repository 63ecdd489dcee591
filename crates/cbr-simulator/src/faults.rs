//! Fault injection and request counters, per route.
//!
//! Rules come from `--sim-fault` at start or `PUT /_simulator/faults` at run
//! time. For each request the first rule matching its route (or `*`) decides:
//! added latency, a dropped connection (no response at all), or an error answer
//! with the rule's HTTP status. The counters let tests see exactly how many
//! requests upstream received.

use std::{
    collections::BTreeMap,
    str::FromStr,
    sync::{
        Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};

/// The routes the simulator knows, as used in rules and counters: the
/// operations of the wire the gateway calls ([`cbr_wire`]).
pub const ROUTES: [&str; cbr_wire::ALL.len()] = {
    let all = cbr_wire::ALL;
    let mut names = [""; cbr_wire::ALL.len()];
    let mut i = 0;
    while i < all.len() {
        names[i] = all[i].name;
        i += 1;
    }
    names
};

/// The route name of a request, if it is one of the simulated API's. A HEAD
/// is its GET (axum answers HEAD on every GET route), for counters, faults
/// and the auth check alike.
pub fn route_of(method: &http::Method, path: &str) -> Option<&'static str> {
    cbr_wire::route_of(method.as_str(), path).map(|r| r.name)
}

/// Most fault rules set at run time: each request scans them, and anyone who
/// can reach the admin route could otherwise grow them without bound.
pub const MAX_RULES: usize = 64;

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// A route name of [`ROUTES`], or `*` for all.
    #[serde(default = "all_routes")]
    pub route: String,
    /// Share of requests answered with `status`, 0.0-1.0.
    #[serde(default)]
    pub error_rate: f64,
    /// HTTP status of injected errors.
    #[serde(default = "default_status")]
    pub status: u16,
    /// Latency added before answering, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Share of requests whose connection is dropped without an answer, 0.0-1.0.
    #[serde(default)]
    pub drop_rate: f64,
    /// `Retry-After` sent with injected errors, in whole seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

fn all_routes() -> String {
    "*".into()
}
fn default_status() -> u16 {
    503
}

impl FromStr for FaultRule {
    type Err = String;

    /// `route=get_backup,error_rate=0.2,status=503,latency=50ms,drop_rate=0.1`
    fn from_str(spec: &str) -> Result<Self, String> {
        let mut rule = FaultRule {
            route: all_routes(),
            error_rate: 0.0,
            status: default_status(),
            latency_ms: 0,
            drop_rate: 0.0,
            retry_after_s: None,
        };
        for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {part:?}"))?;
            let (k, v) = (k.trim(), v.trim());
            let rate = |v: &str| {
                v.parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| format!("{k} must be between 0 and 1"))
            };
            match k {
                "route" => rule.route = v.to_owned(),
                "error_rate" => rule.error_rate = rate(v)?,
                "drop_rate" => rule.drop_rate = rate(v)?,
                "status" => {
                    rule.status = v
                        .parse()
                        .ok()
                        .filter(|s| (400..=599).contains(s))
                        .ok_or("status must be 400-599")?;
                }
                "latency" => {
                    rule.latency_ms = u64::try_from(
                        humantime::parse_duration(v)
                            .map_err(|e| e.to_string())?
                            .as_millis(),
                    )
                    .unwrap_or(u64::MAX);
                }
                "retry_after" => {
                    rule.retry_after_s = Some(
                        humantime::parse_duration(v)
                            .map_err(|e| e.to_string())?
                            .as_secs(),
                    );
                }
                _ => return Err(format!("unknown fault key {k:?}")),
            }
        }
        rule.check()?;
        Ok(rule)
    }
}

impl FaultRule {
    /// The checks `--sim-fault` applies while parsing, for rules that come as
    /// JSON (`PUT /_simulator/faults`), which serde alone would take as they are.
    pub fn check(&self) -> Result<(), String> {
        if self.route != "*" && !ROUTES.contains(&self.route.as_str()) {
            return Err(format!(
                "unknown route {:?}; one of * {}",
                self.route,
                ROUTES.join(" ")
            ));
        }
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if !(400..=599).contains(&self.status) {
            return Err("status must be 400-599".into());
        }
        Ok(())
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decision {
    /// Wait this long first.
    pub latency: Duration,
    /// Drop the connection instead of answering.
    pub drop: bool,
    /// Answer with this HTTP status instead of serving.
    pub error: Option<u16>,
    /// `Retry-After` seconds to send with the error.
    pub retry_after_s: Option<u64>,
}

/// The fault rules in force.
#[derive(Debug, Default)]
pub struct Faults {
    rules: RwLock<Vec<FaultRule>>,
    /// Draws the random decisions; seeded, a run's sequence of decisions repeats.
    rng: Mutex<fastrand::Rng>,
}

impl Faults {
    /// Faults with these rules, drawing decisions from `seed` when given.
    pub fn new(rules: Vec<FaultRule>, seed: Option<u64>) -> Self {
        Self {
            rules: RwLock::new(rules),
            rng: Mutex::new(seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed)),
        }
    }

    /// Replaces the rules, unchecked: for callers in this process (tests),
    /// which build their rules with [`FaultRule`]'s parser.
    pub fn replace(&self, rules: Vec<FaultRule>) {
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = rules;
    }

    /// Replaces the rules with rules from outside (`PUT /_simulator/faults`),
    /// if there are at most [`MAX_RULES`] and each passes [`FaultRule::check`];
    /// `Err` says why not, and the rules in force stay.
    pub fn try_replace(&self, rules: Vec<FaultRule>) -> Result<(), String> {
        if rules.len() > MAX_RULES {
            return Err(format!(
                "{} rules; at most {MAX_RULES} are kept",
                rules.len()
            ));
        }
        for (i, rule) in rules.iter().enumerate() {
            rule.check().map_err(|why| format!("rule {i}: {why}"))?;
        }
        self.replace(rules);
        Ok(())
    }

    /// The rules in force.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Decides the fate of one request to `route`.
    pub fn decide(&self, route: &str) -> Decision {
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        let Some(rule) = rules.iter().find(|r| r.route == "*" || r.route == route) else {
            return Decision::default();
        };
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let error = (rule.error_rate > 0.0 && rng.f64() < rule.error_rate).then_some(rule.status);
        Decision {
            latency: Duration::from_millis(rule.latency_ms),
            drop: rule.drop_rate > 0.0 && rng.f64() < rule.drop_rate,
            error,
            retry_after_s: error.and(rule.retry_after_s),
        }
    }
}

/// Requests received, in progress and abandoned, per route.
#[derive(Debug, Default)]
pub struct Stats {
    counts: [AtomicU64; ROUTES.len()],
    in_flight: [AtomicU64; ROUTES.len()],
    abandoned: [AtomicU64; ROUTES.len()],
}

/// One request in progress; see [`Stats::start`].
#[derive(Debug)]
pub struct InFlight<'a> {
    stats: &'a Stats,
    index: usize,
    answered: bool,
}

impl InFlight<'_> {
    /// The request was answered (or dropped on purpose by a fault).
    pub fn finish(mut self) {
        self.answered = true;
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.stats.in_flight[self.index].fetch_sub(1, Ordering::Relaxed);
        if !self.answered {
            // The client went away first: hyper dropped the handler.
            self.stats.abandoned[self.index].fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Stats {
    /// Counts one request to `route`.
    pub fn count(&self, route: &str) {
        if let Some(i) = ROUTES.iter().position(|r| *r == route) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one request to `route` and tracks it until answered: a request
    /// whose guard drops unanswered counts as abandoned (the client cancelled).
    pub fn start(&self, route: &str) -> Option<InFlight<'_>> {
        let index = ROUTES.iter().position(|r| *r == route)?;
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        self.in_flight[index].fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            stats: self,
            index,
            answered: false,
        })
    }

    /// Requests in progress per route.
    pub fn in_flight(&self) -> BTreeMap<&'static str, u64> {
        Self::read(&self.in_flight)
    }

    /// Requests whose client went away before the answer, per route.
    pub fn abandoned(&self) -> BTreeMap<&'static str, u64> {
        Self::read(&self.abandoned)
    }

    fn read(counters: &[AtomicU64; ROUTES.len()]) -> BTreeMap<&'static str, u64> {
        ROUTES
            .iter()
            .zip(counters)
            .map(|(r, c)| (*r, c.load(Ordering::Relaxed)))
            .collect()
    }

    /// Requests per route so far.
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        Self::read(&self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_from_flags() {
        let r: FaultRule = "route=get_backup,error_rate=0.2,status=502,latency=50ms,drop_rate=0.1"
            .parse()
            .unwrap();
        assert_eq!(r.route, "get_backup");
        assert_eq!((r.status, r.latency_ms), (502, 50));
        for bad in [
            "route=nope",
            "error_rate=2",
            "status=200",
            "latency=soon",
            "x=1",
            "oops",
        ] {
            assert!(bad.parse::<FaultRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn routes_are_recognised() {
        use http::Method;
        assert_eq!(
            route_of(&Method::POST, "/v3/p/checkpoints"),
            Some("create_checkpoint")
        );
        assert_eq!(
            route_of(&Method::GET, "/v3/p/backups"),
            Some("list_backups")
        );
        assert_eq!(
            route_of(&Method::GET, "/v1/p/checkpoint_items/x"),
            Some("get_checkpoint_item")
        );
        assert_eq!(
            route_of(&Method::POST, "/v3/auth/tokens"),
            Some("iam_tokens")
        );
        assert_eq!(route_of(&Method::GET, "/_simulator/stats"), None);
        // HEAD reads what GET reads.
        assert_eq!(
            route_of(&Method::HEAD, "/v3/p/backups/b"),
            Some("get_backup")
        );
        assert_eq!(route_of(&Method::HEAD, "/v3/p/checkpoints"), None);
        assert_eq!(
            route_of(&Method::DELETE, "/v3/p/backups/b"),
            Some("delete_backup")
        );
        assert_eq!(
            route_of(&Method::POST, "/v3/p/backups/b/restore"),
            Some("restore_backup")
        );
        for other in [Method::PUT, Method::PATCH, Method::OPTIONS] {
            assert_eq!(route_of(&other, "/v3/p/backups/b"), None, "{other}");
        }
    }

    #[test]
    fn run_time_rules_are_checked_and_capped() {
        let f = Faults::new(vec![], None);
        let rule: FaultRule = "route=get_backup,error_rate=1".parse().unwrap();
        assert!(f.try_replace(vec![rule.clone(); MAX_RULES]).is_ok());
        assert_eq!(f.rules().len(), MAX_RULES);
        let too_many = f
            .try_replace(vec![rule.clone(); MAX_RULES + 1])
            .unwrap_err();
        assert!(too_many.contains("at most 64"), "{too_many}");
        assert_eq!(f.rules().len(), MAX_RULES, "a refused set changes nothing");
        for bad in [
            FaultRule {
                route: "nope".into(),
                ..rule.clone()
            },
            FaultRule {
                error_rate: 1.5,
                ..rule.clone()
            },
            FaultRule {
                drop_rate: -0.1,
                ..rule.clone()
            },
            FaultRule {
                status: 200,
                ..rule.clone()
            },
        ] {
            assert!(
                f.try_replace(vec![rule.clone(), bad.clone()]).is_err(),
                "{bad:?}"
            );
        }
        assert!(f.try_replace(vec![]).is_ok());
        assert!(f.rules().is_empty());
    }

    #[test]
    fn certain_faults_always_apply() {
        let f = Faults::new(
            vec![
                "route=get_backup,error_rate=1,status=503,retry_after=2s"
                    .parse()
                    .unwrap(),
            ],
            None,
        );
        assert_eq!(f.decide("get_backup").retry_after_s, Some(2));
        assert_eq!(f.decide("get_backup").error, Some(503));
        assert_eq!(f.decide("list_backups").error, None);
    }

    #[test]
    fn seeded_decisions_repeat() {
        let rules = || vec!["error_rate=0.5".parse().unwrap()];
        let run = |f: &Faults| {
            (0..64)
                .map(|_| f.decide("get_backup").error)
                .collect::<Vec<_>>()
        };
        let (a, b) = (Faults::new(rules(), Some(7)), Faults::new(rules(), Some(7)));
        assert_eq!(run(&a), run(&b));
    }
}
