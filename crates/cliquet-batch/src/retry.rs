//! Running a unit of work again when it lost to a concurrent one.
//!
//! A database may abort a transaction that did nothing wrong: PostgreSQL
//! breaks a deadlock between two transactions by aborting one (SQLSTATE
//! 40P01), and refuses to commit one it cannot serialize (40001). Two
//! batches writing two collections in opposite orders are enough. The
//! aborted work is undone whole, and running it again from its start, in a
//! new transaction, almost always succeeds: the other transaction has
//! ended meanwhile.
//!
//! [`Retry`] is the policy shared by the layers that own a transaction:
//! how many attempts a unit of work gets, and how long to wait between
//! them (a short exponential backoff with random jitter, so that the two
//! losers of a deadlock do not meet again at once). The batch layer re-runs
//! a batch whose subresponse carries [`RetryBatch`]; a resource layer
//! re-runs a single write request in its own transaction with the same
//! policy.

use std::time::Duration;

/// How many times a unit of work that lost to a concurrent one is run,
/// and how long to wait between two runs.
///
/// After the attempt number `n` (from 1) failed, the next one starts after
/// a random delay between half and all of `base_delay × 2^(n-1)`. Once
/// [`attempts`](Self::attempts) runs have failed, the last failure is the
/// answer (a 503 with `Retry-After`, for a transaction conflict).
///
/// ```
/// use std::time::Duration;
/// use cliquet_batch::Retry;
///
/// let retry = Retry::default();
/// assert_eq!(retry.attempts(), 3);
/// assert!(retry.should_retry(2));
/// assert!(!retry.should_retry(3));
/// let wait = retry.delay(2);
/// assert!(wait >= Duration::from_millis(20) && wait <= Duration::from_millis(40));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    attempts: u32,
    base_delay: Duration,
}

impl Retry {
    /// Attempts a unit of work gets by default.
    pub const DEFAULT_ATTEMPTS: u32 = 3;

    /// The default delay before the second attempt (jittered down to half).
    pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(20);

    /// At most `attempts` runs of a unit of work (`0` counts as `1`: the
    /// work always runs once), with the default delays.
    pub fn new(attempts: u32) -> Self {
        Self {
            attempts: attempts.max(1),
            base_delay: Self::DEFAULT_BASE_DELAY,
        }
    }

    /// One attempt only: a conflict is answered at once.
    pub fn never() -> Self {
        Self::new(1)
    }

    /// Sets the delay before the second attempt; later ones double it.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// How many times a unit of work runs at most.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether a unit of work whose `failed` first attempts lost (`failed`
    /// from 1) gets another one.
    pub fn should_retry(&self, failed: u32) -> bool {
        failed < self.attempts
    }

    /// The wait after the attempt number `failed` (from 1) lost: between
    /// half and all of `base_delay × 2^(failed-1)`, at random.
    pub fn delay(&self, failed: u32) -> Duration {
        let exponent = failed.saturating_sub(1).min(16);
        let full = self.base_delay.saturating_mul(1 << exponent);
        let half = full / 2;
        let spread = (full - half).as_micros() as u64;
        let jitter = if spread == 0 {
            0
        } else {
            // A fresh randomly keyed hasher is enough randomness to spread
            // retries apart, without a random-number crate.
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(failed) % (spread + 1)
        };
        half + Duration::from_micros(jitter)
    }

    /// Waits [`delay(failed)`](Self::delay).
    pub async fn pause(&self, failed: u32) {
        let delay = self.delay(failed);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

impl Default for Retry {
    fn default() -> Self {
        Self::new(Self::DEFAULT_ATTEMPTS)
    }
}

/// Put into a subresponse's extensions, says the batch's unit of work lost
/// to a concurrent one (a deadlock, a serialization failure): the batch
/// layer rolls its scope back, discards every subresponse of that attempt,
/// and runs the whole batch again from its first subrequest, in a new
/// scope, as long as its [`Retry`] policy allows. After the last attempt,
/// the batch answers that subresponse (like [`AbortBatch`](crate::AbortBatch)).
///
/// Only mark a subresponse with it when rolling the scope back undoes every
/// subrequest run so far: re-running them must not write twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryBatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_bounded() {
        let retry = Retry::default();
        assert_eq!(retry.attempts(), 3);
        assert!(retry.should_retry(1));
        assert!(retry.should_retry(2));
        assert!(!retry.should_retry(3));
        assert!(!retry.should_retry(4));
        let once = Retry::never();
        assert_eq!(once.attempts(), 1);
        assert!(!once.should_retry(1));
        assert_eq!(Retry::new(0), Retry::never());
        assert!(Retry::new(5).should_retry(4));
        assert!(!Retry::new(5).should_retry(5));
    }

    #[test]
    fn delays_grow_and_are_jittered() {
        let retry = Retry::default().base_delay(Duration::from_millis(10));
        for failed in 1..=4u32 {
            let full = Duration::from_millis(10 * (1 << (failed - 1)));
            for _ in 0..50 {
                let delay = retry.delay(failed);
                assert!(delay >= full / 2 && delay <= full, "{failed}: {delay:?}");
            }
        }
        // Jittered: 200 draws over a 5 ms spread are not all equal.
        let draws: std::collections::HashSet<_> = (0..200).map(|_| retry.delay(1)).collect();
        assert!(draws.len() > 1);
        // No delay configured, no wait; huge counts do not overflow.
        let instant = Retry::default().base_delay(Duration::ZERO);
        assert_eq!(instant.delay(1), Duration::ZERO);
        assert!(retry.delay(u32::MAX) <= Duration::from_millis(10 * (1 << 16)));
    }
}
