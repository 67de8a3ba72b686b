//! [`Backoff`]: how long to wait before trying again what keeps failing.

use rand::Rng;
use std::time::Duration;

/// Delays that double from a first one up to a longest one: between
/// attempts at something that keeps failing (a lost connection, a failing
/// handler), so a failure that lasts costs few attempts and one that
/// passes costs little waiting.
///
/// ```
/// use beckett_core::Backoff;
/// use std::time::Duration;
///
/// let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(300));
/// assert_eq!(backoff.next(), Duration::from_millis(100));
/// assert_eq!(backoff.next(), Duration::from_millis(200));
/// assert_eq!(backoff.next(), Duration::from_millis(300));
/// backoff.reset();
/// assert_eq!(backoff.next(), Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    longest: Duration,
    /// Attempts that failed since the last reset.
    failed: u32,
}

impl Backoff {
    /// Delays from `first`, doubling, up to `longest`.
    pub const fn new(first: Duration, longest: Duration) -> Self {
        Self {
            first,
            longest,
            failed: 0,
        }
    }

    /// The delays between attempts at reaching a store that failed: from
    /// 100 ms to 5 s.
    ///
    /// ```
    /// let mut backoff = beckett_core::Backoff::reconnecting();
    /// assert_eq!(backoff.next(), std::time::Duration::from_millis(100));
    /// ```
    pub const fn reconnecting() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(5))
    }

    /// The delay before the next attempt; each call doubles the one after.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Duration {
        self.failed = self.failed.saturating_add(1);
        self.delay(self.failed)
    }

    /// Back to the first delay, after an attempt that worked.
    pub fn reset(&mut self) {
        self.failed = 0;
    }

    /// The delay before attempt `failed + 1`, after `failed` failures (at
    /// least one), with no state.
    ///
    /// ```
    /// use beckett_core::Backoff;
    /// use std::time::Duration;
    ///
    /// let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    /// assert_eq!(backoff.delay(3), Duration::from_secs(4));
    /// assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(60));
    /// ```
    pub fn delay(&self, failed: u32) -> Duration {
        let doublings = 2u32.saturating_pow(failed.saturating_sub(1));
        self.first.saturating_mul(doublings).min(self.longest)
    }

    /// [`delay`](Self::delay), drawn at random between half of it and all
    /// of it, so that many things that failed together do not try again
    /// in step.
    ///
    /// ```
    /// use beckett_core::Backoff;
    /// use std::time::Duration;
    ///
    /// let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    /// let delay = backoff.jittered(2);
    /// assert!(delay >= Duration::from_secs(1) && delay <= Duration::from_secs(2));
    /// ```
    pub fn jittered(&self, failed: u32) -> Duration {
        self.delay(failed)
            .mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn jittered_delays_double_within_half_and_cap() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for failed in 1..=10u32 {
            let full = Duration::from_secs(2u64.pow(failed - 1)).min(Duration::from_secs(60));
            let delay = backoff.jittered(failed);
            assert!(
                delay >= full / 2 && delay <= full,
                "attempt {failed}: {delay:?}"
            );
        }
        assert!(backoff.jittered(u32::MAX) <= Duration::from_secs(60));
    }
}
