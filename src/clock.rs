//! Where "now" comes from.
//!
//! Every time-dependent rule (the 5-minute and 30-minute triggers, retry backoff, leases) asks a
//! [`Clock`] rather than the system, so tests can move time forward instead of sleeping.

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::{Arc, Mutex};

/// A source of the current time.
#[derive(Clone, Debug)]
pub enum Clock {
    /// The wall clock; what the daemon uses.
    System,
    /// A clock that only moves when told to; what tests use.
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    /// A manual clock starting at `start`.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock::Manual(Arc::new(Mutex::new(start)))
    }

    /// The current time, truncated to milliseconds: that is what storage keeps, so comparing a
    /// stored time with `now()` never disagrees by a sub-millisecond remainder.
    pub fn now(&self) -> DateTime<Utc> {
        let t = match self {
            Clock::System => Utc::now(),
            Clock::Manual(t) => *t.lock().expect("clock lock poisoned"),
        };
        crate::domain::from_millis(t.timestamp_millis())
    }

    /// Moves a manual clock forward; the system clock cannot be moved.
    pub fn advance(&self, by: TimeDelta) {
        match self {
            Clock::System => panic!("the system clock cannot be advanced"),
            Clock::Manual(t) => *t.lock().expect("clock lock poisoned") += by,
        }
    }
}
