//! Per-caller fairness (`--max-calls-per-second-per-caller`, `--caller-burst`):
//! a token bucket per caller identity, so one noisy service cannot spend the
//! account's upstream API quota (and the gateway's upstream slots) for all.
//!
//! governor's keyed GCRA limiter keeps one small state per identity it has
//! seen. Identities are bounded by trust (a CA, a mesh, a JWT issuer; every
//! unidentified caller shares `anonymous`), and idle ones are dropped every
//! minute, so the map stays small.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota,
    clock::{Clock as _, DefaultClock},
};

/// The per-caller limiter.
pub(super) struct Fairness {
    limiter: DefaultKeyedRateLimiter<Arc<str>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for Fairness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fairness")
            .field("callers", &self.limiter.len())
            .finish()
    }
}

impl Fairness {
    /// `per_second` calls per second per caller, in bursts of at most `burst`
    /// (default: one second's worth). Forgets idle callers in the background
    /// for as long as the limiter is shared.
    pub(super) fn start(per_second: NonZeroU32, burst: Option<NonZeroU32>) -> Arc<Self> {
        let quota = Quota::per_second(per_second).allow_burst(burst.unwrap_or(per_second));
        let fairness = Arc::new(Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        });
        let weak = Arc::downgrade(&fairness);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            every.tick().await;
            loop {
                every.tick().await;
                let Some(fairness) = weak.upgrade() else {
                    return;
                };
                fairness.limiter.retain_recent();
                fairness.limiter.shrink_to_fit();
            }
        });
        fairness
    }

    /// Takes one call from `caller`'s bucket, or says how long until one is
    /// there.
    pub(super) fn check(&self, caller: &Arc<str>) -> Result<(), Duration> {
        self.limiter
            .check_key(caller)
            .map(|_| ())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_caller_has_its_own_bucket() {
        let n = |v| NonZeroU32::new(v).unwrap();
        let fair = Fairness::start(n(1), Some(n(3)));
        let noisy: Arc<str> = Arc::from("noisy");
        let quiet: Arc<str> = Arc::from("quiet");
        for _ in 0..3 {
            assert!(fair.check(&noisy).is_ok());
        }
        let wait = fair.check(&noisy).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(fair.check(&quiet).is_ok(), "other callers are unaffected");
    }
}
