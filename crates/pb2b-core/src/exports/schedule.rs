//! When the poller probes: backoff, jitter, `Retry-After`, and how patient polling and
//! downloading are.

use std::time::Duration;

/// When the poller probes: `initial * factor^(n-1)`, capped at `max`, minus up to `jitter` of it
/// (so a delay is never above the cap); a `Retry-After` (up to `max_retry_after`) is a floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollSchedule {
    pub initial: Duration,
    pub factor: f64,
    pub max: Duration,
    /// Fraction in `[0, 1]` of the delay that jitter may take off.
    pub jitter: f64,
    /// The longest `Retry-After` honoured as given; longer ones are cut to it.
    pub max_retry_after: Duration,
}

impl Default for PollSchedule {
    /// 1 s, ×1.5 per probe, capped at 30 s, 20 % jitter, Retry-After up to 10 min.
    fn default() -> Self {
        PollSchedule {
            initial: Duration::from_secs(1),
            factor: 1.5,
            max: Duration::from_secs(30),
            jitter: 0.2,
            max_retry_after: Duration::from_secs(600),
        }
    }
}

impl PollSchedule {
    /// The backoff before probe `probe + 1`, after probe number `probe` (1-based); `unit` in
    /// `[0, 1)` is the jitter draw (injected so the schedule is testable).
    pub fn backoff(&self, probe: u32, unit: f64) -> Duration {
        let exp = probe.saturating_sub(1).min(64) as i32;
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor
        } else {
            1.0
        };
        let nominal_secs =
            (self.initial.as_secs_f64() * factor.powi(exp)).min(self.max.as_secs_f64());
        let nominal = Duration::from_secs_f64(nominal_secs.max(0.0));
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        nominal.mul_f64(1.0 - jitter * unit).min(self.max)
    }

    /// The wait after probe `probe`: the backoff, or the server's `Retry-After` when longer.
    pub fn delay(&self, probe: u32, unit: f64, retry_after: Option<Duration>) -> Duration {
        let backoff = self.backoff(probe, unit);
        match retry_after {
            Some(ra) => backoff.max(ra.min(self.max_retry_after)),
            None => backoff,
        }
    }
}

/// How patient the poller and the downloader are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollOptions {
    pub schedule: PollSchedule,
    /// Transient probe failures in a row (network, 5xx, 429) before polling stops with the error.
    pub max_transient_errors: u32,
    /// Download attempts, each with a fresh probe (an expired link counts as one).
    pub download_attempts: u32,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            schedule: PollSchedule::default(),
            max_transient_errors: 20,
            download_attempts: 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn schedule_grows_is_capped_and_jitter_only_shortens() {
        let s = PollSchedule {
            initial: Duration::from_millis(500),
            factor: 2.0,
            max: Duration::from_secs(5),
            jitter: 0.2,
            max_retry_after: Duration::from_secs(60),
        };
        assert_eq!(s.backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(s.backoff(2, 0.0), Duration::from_secs(1));
        assert_eq!(s.backoff(4, 0.0), Duration::from_secs(4));
        assert_eq!(s.backoff(5, 0.0), Duration::from_secs(5));
        assert_eq!(s.backoff(u32::MAX, 0.0), Duration::from_secs(5));
        assert_eq!(s.backoff(1, 1.0), Duration::from_millis(400));
        // Retry-After is a floor, even above the cap, and itself capped.
        assert_eq!(
            s.delay(1, 0.5, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            s.delay(9, 0.0, Some(Duration::from_secs(1))),
            Duration::from_secs(5)
        );
        assert_eq!(
            s.delay(1, 0.0, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
    }

    proptest! {
        #[test]
        fn schedule_never_exceeds_its_cap(probe in 0u32..10_000, unit in proptest::num::f64::ANY,
                                          factor in proptest::num::f64::ANY, jitter in proptest::num::f64::ANY) {
            let s = PollSchedule { factor, jitter, ..PollSchedule::default() };
            let d = s.backoff(probe, unit);
            prop_assert!(d <= s.max);
            let ra = s.delay(probe, unit, Some(Duration::from_secs(2)));
            prop_assert!(ra >= Duration::from_secs(2) && ra <= s.max.max(Duration::from_secs(2)));
        }
    }
}
