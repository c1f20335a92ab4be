//! Reports per widget token: a page that reports in a loop (a bug, or a token lifted from a
//! page) is answered `429` before it reaches the store. The buckets are `governor`'s.

use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;

/// Reports a token may make in a burst: a page shown and hidden a few times, and a read per
/// message of a lively chat.
pub const BURST: u32 = 30;
/// And then, on average, per minute.
pub const PER_MINUTE: u32 = 60;
/// Tokens tracked before the ones whose buckets are full again are forgotten.
const TRACKED: usize = 10_000;

/// The buckets, one per token.
pub struct Limits(DefaultKeyedRateLimiter<String>);

impl Default for Limits {
    fn default() -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(PER_MINUTE).expect("non-zero"))
            .allow_burst(NonZeroU32::new(BURST).expect("non-zero"));
        Self(DefaultKeyedRateLimiter::keyed(quota))
    }
}

impl Limits {
    /// Whether `token` may report now; counts the report when it may.
    pub fn allow(&self, token: &str) -> bool {
        if self.0.len() > TRACKED {
            self.0.retain_recent();
        }
        self.0.check_key(&token.to_string()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_burst_and_no_more_and_others_are_untouched() {
        let limits = Limits::default();
        for _ in 0..BURST {
            assert!(limits.allow("w1.a"));
        }
        assert!(!limits.allow("w1.a"));
        assert!(limits.allow("w1.b"));
    }
}
