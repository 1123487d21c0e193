//! Timestamp rules shared by every backend.
//!
//! The *collection timestamp* of `(parent_id, resource_name)` is the
//! greatest `last_modified` of its objects and tombstones, or, for a
//! collection that has none, a stored "empty collection" timestamp (set to
//! "now" the first time it is read).
//!
//! Every write gets a new timestamp, strictly greater than the collection
//! timestamp: `max(now, current + 1)` ([`next_timestamp`]). Timestamps
//! therefore never repeat within a collection and never decrease, even when
//! the clock goes back; under bursts they run ahead of the clock by 1 ms
//! steps, like a revision counter.
//!
//! A write may ask for a given timestamp (replication, `DELETE
//! ?last_modified=`): it is kept when it is greater than the collection
//! timestamp, and it then becomes the collection timestamp.
//!
//! **Deviation from Kinto**: Kinto keeps a requested timestamp that is
//! *smaller* than the collection timestamp (in the past) as it is. That lets
//! a client polling `_since` miss the object, and on PostgreSQL it clashes
//! with the unique index (409). Here such a value is ignored and the write
//! gets a fresh timestamp, like any other.
//!
//! ```
//! use cliquet_storage::timestamp::next_timestamp;
//!
//! assert_eq!(next_timestamp(Some(100), 150, None), 150); // the clock
//! assert_eq!(next_timestamp(Some(100), 90, None), 101); // the clock went back
//! assert_eq!(next_timestamp(Some(100), 150, Some(500)), 500); // a future value is kept
//! assert_eq!(next_timestamp(Some(100), 150, Some(100)), 150); // a past one is not
//! ```

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::Timestamp;

/// The next timestamp of a collection whose timestamp is `current` (`None`
/// for a collection never written nor read), given the clock's `now` and an
/// optionally `requested` value.
pub fn next_timestamp(
    current: Option<Timestamp>,
    now: Timestamp,
    requested: Option<Timestamp>,
) -> Timestamp {
    match current {
        None => requested.unwrap_or(now),
        Some(current) => match requested {
            Some(requested) if requested > current => requested,
            _ => now.max(current.saturating_add(1)),
        },
    }
}

/// A source of "now", in epoch milliseconds. Backends take one so that
/// tests can move time, including backwards.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time in epoch milliseconds.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        now_millis()
    }
}

/// The system time in epoch milliseconds (0 if the clock is before 1970).
pub fn now_millis() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| Timestamp::try_from(elapsed.as_millis()).unwrap_or(Timestamp::MAX))
        .unwrap_or(0)
}

/// A clock that says what it is told, for tests.
///
/// ```
/// use cliquet_storage::timestamp::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_000);
/// clock.set(500); // back in time
/// assert_eq!(clock.now(), 500);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: Timestamp) -> Self {
        Self(AtomicI64::new(now))
    }

    /// Sets the time.
    pub fn set(&self, now: Timestamp) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the time by `delta` milliseconds (negative goes back).
    pub fn advance(&self, delta: Timestamp) {
        self.0.fetch_add(delta, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_write_takes_the_clock_or_the_request() {
        assert_eq!(next_timestamp(None, 42, None), 42);
        assert_eq!(next_timestamp(None, 42, Some(7)), 7);
    }

    #[test]
    fn never_repeats_nor_decreases() {
        let mut current = None;
        for now in [10, 10, 9, 5, 20, 20, 3] {
            let next = next_timestamp(current, now, None);
            if let Some(previous) = current {
                assert!(next > previous);
            }
            current = Some(next);
        }
        assert_eq!(current, Some(22));
    }

    #[test]
    fn requested_values() {
        assert_eq!(next_timestamp(Some(10), 5, Some(11)), 11);
        assert_eq!(next_timestamp(Some(10), 5, Some(10)), 11);
        assert_eq!(next_timestamp(Some(10), 50, Some(3)), 50);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now() > 1_577_836_800_000);
    }

    #[test]
    fn manual_clock_moves() {
        let clock = ManualClock::new(10);
        clock.advance(5);
        assert_eq!(clock.now(), 15);
        clock.advance(-20);
        assert_eq!(clock.now(), -5);
    }
}
