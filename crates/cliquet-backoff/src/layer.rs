//! [`BackoffLayer`] and [`BackoffHandle`]: the configuration, shared with
//! every service the layer makes and changeable while they run.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http::HeaderValue;
use tower_layer::Layer;

use crate::BackoffService;
use crate::settings::{
    BackoffSettings, DEFAULT_RETRY_AFTER_SECONDS, SettingsError, check_percentage,
};

/// A tower layer that adds the protocol's `Backoff` and `Retry-After`
/// headers and enforces its read-only mode.
///
/// - `Backoff: <seconds>` on every response (errors, redirects and `304`
///   included) while a backoff is set, or on a random share of them when a
///   percentage is set too.
/// - `Retry-After: <seconds>` on `503` and `429` responses, and on `409`
///   responses with errno 122, unless they already have one. A `503` that
///   is JSON but carries no errno (a heartbeat's health map) is left
///   without it, as the protocol wants.
/// - In read-only mode, a request whose method is not `GET`, `HEAD` or
///   `OPTIONS` is answered, without reaching the inner service, with `405`
///   errno 115 `"Method not allowed on this endpoint."` and no `Allow`
///   header.
///
/// The backoff, its percentage and the read-only switch live behind a
/// [`BackoffHandle`] (see [`BackoffLayer::handle`]): changing them through
/// the handle changes what every service made by this layer does from the
/// next response on, without a restart.
///
/// Clones of a layer share these switches: a clone is the same layer, and
/// the builder methods [`backoff`](BackoffLayer::backoff),
/// [`percentage`](BackoffLayer::percentage) and
/// [`readonly`](BackoffLayer::readonly) change every clone. Start from
/// [`BackoffLayer::new`] for an independent layer.
///
/// The layer keeps the inner service's response body type: the `405` it
/// writes itself is built with the body's `From<Bytes>`, so stacking it adds
/// no wrapper type.
#[derive(Clone)]
pub struct BackoffLayer {
    pub(crate) shared: Arc<Shared>,
}

/// The configuration read on every response.
pub(crate) struct Shared {
    pub(crate) state: Arc<State>,
    pub(crate) retry_after: HeaderValue,
    pub(crate) sampler: Sampler,
}

type Sampler = Arc<dyn Fn() -> f64 + Send + Sync>;

/// The values a [`BackoffHandle`] changes at run time.
pub(crate) struct State {
    /// The backoff seconds plus one; 0 for none.
    backoff: AtomicU64,
    /// The bits of the percentage; NaN for none.
    percentage: AtomicU64,
    readonly: AtomicBool,
}

impl State {
    fn new() -> Self {
        Self {
            backoff: AtomicU64::new(0),
            percentage: AtomicU64::new(f64::NAN.to_bits()),
            readonly: AtomicBool::new(false),
        }
    }

    pub(crate) fn backoff(&self) -> Option<u64> {
        self.backoff.load(Ordering::Relaxed).checked_sub(1)
    }

    fn set_backoff(&self, seconds: Option<u64>) {
        let stored = seconds.map_or(0, |s| s.saturating_add(1));
        self.backoff.store(stored, Ordering::Relaxed);
    }

    pub(crate) fn percentage(&self) -> Option<f64> {
        let percentage = f64::from_bits(self.percentage.load(Ordering::Relaxed));
        (!percentage.is_nan()).then_some(percentage)
    }

    fn set_percentage(&self, percentage: Option<f64>) {
        let bits = percentage.unwrap_or(f64::NAN).to_bits();
        self.percentage.store(bits, Ordering::Relaxed);
    }

    pub(crate) fn readonly(&self) -> bool {
        self.readonly.load(Ordering::Relaxed)
    }

    fn set_readonly(&self, readonly: bool) {
        self.readonly.store(readonly, Ordering::Relaxed);
    }
}

impl Shared {
    /// The `Backoff` value for one response, after the random draw.
    pub(crate) fn backoff_header(&self) -> Option<HeaderValue> {
        let seconds = self.state.backoff()?;
        if let Some(percentage) = self.state.percentage()
            && (self.sampler)() >= percentage / 100.0
        {
            return None;
        }
        Some(HeaderValue::from(seconds))
    }
}

impl Default for BackoffLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl BackoffLayer {
    /// A layer that sends no `Backoff`, sends `Retry-After: 30`, and lets
    /// every method through.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Arc::new(State::new()),
                retry_after: HeaderValue::from(DEFAULT_RETRY_AFTER_SECONDS),
                sampler: Arc::new(uniform),
            }),
        }
    }

    /// The layer the settings describe.
    ///
    /// # Errors
    ///
    /// When a setting is out of range (see [`BackoffSettings::validate`]).
    pub fn from_settings(settings: &BackoffSettings) -> Result<Self, SettingsError> {
        settings.validate()?;
        let layer = Self::new().retry_after(settings.retry_after_seconds);
        let handle = layer.handle();
        handle.set_backoff(settings.backoff);
        handle.set_percentage(settings.backoff_percentage)?;
        handle.set_readonly(settings.readonly);
        Ok(layer)
    }

    /// Sends `Backoff: <seconds>` (on every response, unless a percentage
    /// is set).
    pub fn backoff(self, seconds: u64) -> Self {
        self.shared.state.set_backoff(Some(seconds));
        self
    }

    /// Sends `Backoff` on this percentage of responses only, each response
    /// drawn independently.
    ///
    /// # Panics
    ///
    /// When `percentage` is not between 0 and 100; use
    /// [`BackoffLayer::from_settings`] or [`BackoffHandle::set_percentage`]
    /// to get an error instead.
    pub fn percentage(self, percentage: f64) -> Self {
        if let Err(error) = check_percentage(percentage) {
            panic!("{error}");
        }
        self.shared.state.set_percentage(Some(percentage));
        self
    }

    /// Switches the read-only mode.
    pub fn readonly(self, readonly: bool) -> Self {
        self.shared.state.set_readonly(readonly);
        self
    }

    /// Sets the `Retry-After` seconds (the `retry_after_seconds` setting;
    /// Kinto uses 3).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.shared_mut().retry_after = HeaderValue::from(seconds);
        self
    }

    /// Replaces the random draw behind the percentage: a function returning
    /// numbers uniformly distributed in `[0, 1)`. A response gets the header
    /// when the draw is below `percentage / 100`. Mostly for tests, to make
    /// the draw deterministic.
    pub fn sampler(mut self, sampler: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.shared_mut().sampler = Arc::new(sampler);
        self
    }

    /// A handle on the backoff, its percentage and the read-only switch of
    /// this layer and of every service it makes, before or after they are
    /// made.
    pub fn handle(&self) -> BackoffHandle {
        BackoffHandle {
            state: self.shared.state.clone(),
        }
    }

    fn shared_mut(&mut self) -> &mut Shared {
        // The shared state itself stays shared: only the immutable parts are
        // copied when this layer was cloned.
        if Arc::get_mut(&mut self.shared).is_none() {
            self.shared = Arc::new(Shared {
                state: self.shared.state.clone(),
                retry_after: self.shared.retry_after.clone(),
                sampler: self.shared.sampler.clone(),
            });
        }
        Arc::get_mut(&mut self.shared).expect("just made unique")
    }
}

impl fmt::Debug for BackoffLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackoffLayer")
            .field("backoff", &self.shared.state.backoff())
            .field("percentage", &self.shared.state.percentage())
            .field("readonly", &self.shared.state.readonly())
            .field("retry_after", &self.shared.retry_after)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for BackoffLayer {
    type Service = BackoffService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BackoffService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Changes the backoff and the read-only mode of a [`BackoffLayer`] (and of
/// the services it made) while they serve.
///
/// Cheap to clone; every clone acts on the same layer. Changes apply from
/// the next response on.
///
/// ```
/// use cliquet_backoff::BackoffLayer;
///
/// let layer = BackoffLayer::new();
/// let handle = layer.handle();
/// // An operator sees the database struggle: ask clients to slow down.
/// handle.set_backoff(Some(60));
/// assert_eq!(handle.backoff(), Some(60));
/// // ... and back to normal.
/// handle.set_backoff(None);
/// ```
#[derive(Clone)]
pub struct BackoffHandle {
    state: Arc<State>,
}

impl BackoffHandle {
    /// The current backoff seconds.
    pub fn backoff(&self) -> Option<u64> {
        self.state.backoff()
    }

    /// Sets the backoff seconds, or stops sending `Backoff` with `None`.
    pub fn set_backoff(&self, seconds: Option<u64>) {
        self.state.set_backoff(seconds);
    }

    /// The current percentage of responses that get `Backoff`; `None` for
    /// all of them.
    pub fn percentage(&self) -> Option<f64> {
        self.state.percentage()
    }

    /// Sets the percentage of responses that get `Backoff`; `None` for all.
    ///
    /// # Errors
    ///
    /// When `percentage` is not between 0 and 100; the percentage is then
    /// left as it was.
    pub fn set_percentage(&self, percentage: Option<f64>) -> Result<(), SettingsError> {
        if let Some(percentage) = percentage {
            check_percentage(percentage)?;
        }
        self.state.set_percentage(percentage);
        Ok(())
    }

    /// Whether the read-only mode is on.
    pub fn readonly(&self) -> bool {
        self.state.readonly()
    }

    /// Switches the read-only mode (a maintenance switch).
    pub fn set_readonly(&self, readonly: bool) {
        self.state.set_readonly(readonly);
    }
}

impl fmt::Debug for BackoffHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackoffHandle")
            .field("backoff", &self.backoff())
            .field("percentage", &self.percentage())
            .field("readonly", &self.readonly())
            .finish()
    }
}

/// A uniform draw in `[0, 1)` from a per-thread xorshift generator seeded
/// from the standard library's random hash keys: good enough to spread a
/// header over a share of responses, and no dependency.
fn uniform() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(0xC11C_u64) | 1);
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        // The top 53 bits as a fraction of 2^53.
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_draws_stay_in_range_and_spread() {
        let draws: Vec<f64> = (0..10_000).map(|_| uniform()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let below_half = draws.iter().filter(|d| **d < 0.5).count();
        // A fair draw lands here with overwhelming probability (> 20 sigma).
        assert!((4_000..6_000).contains(&below_half), "{below_half}");
    }

    #[test]
    fn handle_round_trips_values() {
        let layer = BackoffLayer::new();
        let handle = layer.handle();
        assert_eq!(handle.backoff(), None);
        handle.set_backoff(Some(0));
        assert_eq!(handle.backoff(), Some(0));
        handle.set_backoff(Some(u64::MAX));
        assert_eq!(handle.backoff(), Some(u64::MAX - 1));
        handle.set_backoff(None);
        assert_eq!(handle.backoff(), None);

        assert_eq!(handle.percentage(), None);
        handle.set_percentage(Some(25.0)).unwrap();
        assert_eq!(handle.percentage(), Some(25.0));
        assert!(handle.set_percentage(Some(101.0)).is_err());
        assert!(handle.set_percentage(Some(f64::NAN)).is_err());
        assert_eq!(handle.percentage(), Some(25.0));

        assert!(!handle.readonly());
        handle.set_readonly(true);
        assert!(layer.handle().readonly());
    }

    #[test]
    fn clones_of_a_layer_share_the_switches_but_not_the_builder_values() {
        let layer = BackoffLayer::new();
        let other = layer.clone().retry_after(3);
        layer.handle().set_backoff(Some(5));
        assert_eq!(other.handle().backoff(), Some(5));
        assert_eq!(other.shared.retry_after, "3");
        assert_eq!(layer.shared.retry_after, "30");
    }

    #[test]
    #[should_panic(expected = "backoff_percentage")]
    fn an_invalid_percentage_panics_in_the_builder() {
        let _ = BackoffLayer::new().percentage(150.0);
    }
}
