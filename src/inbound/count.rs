//! The inbound metrics: what arrived, and what became of it.

use super::{Kind, Outcome};

/// Counts what became of an inbound message.
pub(super) fn count(outcome: &Outcome, kind: Kind) {
    let m = crate::metrics::get();
    let reason = match (outcome, kind) {
        (
            Outcome::Stored {
                trimmed, own_copy, ..
            },
            _,
        ) => {
            m.replies_stored.inc();
            if !trimmed {
                m.replies_untrimmed.inc();
            }
            if *own_copy {
                m.replies_own_copy_cut.inc();
            }
            return;
        }
        (Outcome::Rejected(r), _) => r.label(),
        (Outcome::Unbelieved, _) => "forged_report",
        (Outcome::Unsubscribed, _) | (_, Kind::Unsubscribe) => "unsubscribe",
        (_, Kind::AutoReply) => "auto_reply",
        (_, Kind::Loop) => "loop",
        (_, Kind::Bounce) | (Outcome::BounceRecorded, _) => "bounce",
        (Outcome::Duplicate, _) => "duplicate",
        (Outcome::Quarantined { .. }, _) => "quarantine",
        (Outcome::Dropped(_), _) => "empty",
    };
    m.replies_rejected
        .get_or_create(&crate::metrics::label("reason", reason))
        .inc();
}

/// Counts a recipient refused at `RCPT TO`, before any message came.
pub(super) fn refused(rejection: &super::Rejection) {
    crate::metrics::get()
        .replies_rejected
        .get_or_create(&crate::metrics::label("reason", rejection.label()))
        .inc();
}

/// Counts a message arriving through `entry` (`smtp`, `lmtp`, `imap`, `ingest`).
pub fn received(entry: &str) {
    crate::metrics::get()
        .replies_received
        .get_or_create(&crate::metrics::label("via", entry))
        .inc();
}
