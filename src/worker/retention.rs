//! Retention, applied by the worker when it has nothing better to do: emails' bytes and old
//! closed conversations dropped in small batches, each its own short transaction, so that no
//! long write holds up delivery (composing and sending come first in every round).

use super::{Step, Worker};
use crate::config::RetentionConfig;
use chrono::{DateTime, TimeDelta, Utc};

/// Rows per transaction: a batch of bodies is a few milliseconds of writing.
const BODIES_PER_BATCH: u32 = 500;
/// Conversations per transaction (each takes its messages, attachments and emails along).
const CONVERSATIONS_PER_BATCH: u32 = 50;
/// After a look that found nothing to expire, the next is this much later.
const LOOK_EVERY: TimeDelta = TimeDelta::minutes(1);

/// What is old enough to go at `now`: emails made before the first instant, conversations
/// closed and quiet since before the second.
pub fn cutoffs(
    now: DateTime<Utc>,
    r: &RetentionConfig,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let before = |period: Option<std::time::Duration>| {
        period
            .and_then(|p| TimeDelta::from_std(p).ok())
            .and_then(|p| now.checked_sub_signed(p))
    };
    (before(r.email_bodies), before(r.conversations))
}

impl Worker {
    /// One batch of expiry, if it is time to look; [`Step::Expired`] when it dropped anything
    /// (and there may be more).
    pub(super) async fn expire_batch(&self) -> anyhow::Result<Vec<Step>> {
        let now = self.clock.now();
        if now
            < *self
                .retention_next
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        {
            return Ok(Vec::new());
        }
        let (bodies, conversations) = cutoffs(now, &self.config.current().retention);
        if bodies.is_none() && conversations.is_none() {
            self.look_again_at(now + LOOK_EVERY);
            return Ok(Vec::new());
        }
        let mut tx = self.store.begin().await?;
        let dropped = match bodies {
            Some(before) => tx.expire_email_bodies(before, BODIES_PER_BATCH).await?,
            None => 0,
        };
        let deleted = match conversations {
            Some(before) => {
                tx.expire_conversations(before, CONVERSATIONS_PER_BATCH)
                    .await?
            }
            None => 0,
        };
        tx.commit().await?;
        let m = crate::metrics::get();
        m.expired_email_bodies.inc_by(dropped);
        m.expired_conversations.inc_by(deleted);
        if dropped == 0 && deleted == 0 {
            self.look_again_at(now + LOOK_EVERY);
            return Ok(Vec::new());
        }
        Ok(vec![Step::Expired])
    }

    fn look_again_at(&self, at: DateTime<Utc>) {
        *self
            .retention_next
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn what_is_old_enough_to_go() {
        let now = DateTime::from_timestamp(1_772_445_600, 0).unwrap();
        let day = Duration::from_secs(86_400);
        let table = [
            (Some(day * 30), None, Some(now - TimeDelta::days(30)), None),
            (None, None, None, None),
            (
                Some(day),
                Some(day * 365),
                Some(now - TimeDelta::days(1)),
                Some(now - TimeDelta::days(365)),
            ),
        ];
        for (email_bodies, conversations, want_bodies, want_conversations) in table {
            let r = RetentionConfig {
                email_bodies,
                conversations,
            };
            assert_eq!(cutoffs(now, &r), (want_bodies, want_conversations), "{r:?}");
        }
    }
}
