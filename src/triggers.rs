//! When is a visitor "gone"? The six conditions of README's "How replyrelay decides to send" as
//! one pure function.
//!
//! [`due`] turns what is known about a conversation into the instant an email becomes due, or
//! the reason none will be. It is computed whenever an event changes a conversation and stored
//! in an indexed column, so the scheduler only ever looks at conversations that are due; it is
//! computed again at send time, so a visitor who came back in between gets no email.
//!
//! The events carry their own clock (`at`), and an email that fell due by it stays due: before
//! each event is applied, [`fell_due_before`] says whether the email was already due when it
//! happened, and the instant is kept (`fell_due_at`). A later event withdraws it only for the
//! visitor's reasons, which clear that instant: they read, came back, the message was deleted,
//! the address was suppressed. So agents who come back a second after the email fell due do not
//! withdraw it, however the platform batched the events and whenever the worker woke.

use crate::domain::Mode;
use chrono::{DateTime, TimeDelta, Utc};

/// The per-site knobs the triggers read.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerSettings {
    pub mode: Mode,
    /// Trigger (a): this long after the visitor left the site.
    pub after_departure: TimeDelta,
    /// Trigger (b): this long after the visitor's last activity.
    pub after_idle: TimeDelta,
    /// Condition 5: wait until no agent has written for this long, so a burst is one email.
    pub batch_quiet: TimeDelta,
    /// Condition 6: no email once the visitor's last message is this old.
    pub reach_window: TimeDelta,
    /// Condition 6: at most this many emails since the visitor last wrote.
    pub max_unanswered: u32,
}

/// Everything the rules need to know about one conversation, as plain data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// The visitor gave an email address.
    pub identified: bool,
    /// The address unsubscribed, hard-bounced or complained.
    pub suppressed: bool,
    /// The oldest agent or bot message after the read cursor that is neither deleted nor
    /// forwarded: `None` means there is nothing to tell the visitor.
    pub pending_since: Option<DateTime<Utc>>,
    /// The newest agent or bot message, read or not (condition 5).
    pub last_agent_message_at: Option<DateTime<Utc>>,
    /// When the visitor left the site, if they have not come back since.
    pub left_at: Option<DateTime<Utc>>,
    /// The visitor's last sign of life: a message, a read, a presence event.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// When the conversation began; stands in for activity and messages never seen.
    pub started_at: DateTime<Utc>,
    /// When the last agent of the site went offline, while none is online.
    pub agents_offline_since: Option<DateTime<Utc>>,
    /// The visitor's newest message (chat or email), opening the reach-back window.
    pub last_visitor_message_at: Option<DateTime<Utc>>,
    /// Emails sent since the visitor last wrote.
    pub unanswered_emails: u32,
    /// The conversation was closed at this time and its transcript is still owed.
    pub close_transcript_since: Option<DateTime<Utc>>,
    /// An email fell due at this instant by the events' clock and no reason of the visitor's
    /// has withdrawn it since: it is due at the latest then, whatever came after.
    pub fell_due_at: Option<DateTime<Utc>>,
}

/// What the email that falls due will carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailKind {
    /// The replies the visitor has not read (or the transcript, in `transcript` mode).
    Replies,
    /// The full transcript owed because the conversation was closed.
    CloseTranscript,
}

/// An email is owed at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    pub at: DateTime<Utc>,
    pub kind: EmailKind,
}

/// Why no email is owed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotDue {
    ModeOff,
    NotIdentified,
    Suppressed,
    NothingUnread,
    ReachWindowClosed,
    TooManyUnanswered,
}

/// When the next email for this conversation is due, or why none is.
pub fn due(facts: &Facts, settings: &TriggerSettings) -> Result<Due, NotDue> {
    // Conditions 1 and 2.
    if settings.mode == Mode::Off {
        return Err(NotDue::ModeOff);
    }
    if !facts.identified {
        return Err(NotDue::NotIdentified);
    }
    if facts.suppressed {
        return Err(NotDue::Suppressed);
    }
    // Condition 6, the count half: it only resets when the visitor writes.
    if facts.unanswered_emails >= settings.max_unanswered {
        return Err(NotDue::TooManyUnanswered);
    }

    let mut due = if let Some(closed_at) = facts.close_transcript_since {
        // The conversation is over: the transcript goes at once, carrying any unread reply.
        Due {
            at: closed_at,
            kind: EmailKind::CloseTranscript,
        }
    } else {
        // Condition 3.
        let pending_since = facts.pending_since.ok_or(NotDue::NothingUnread)?;
        // Condition 4: the earliest of the three ways of being gone. Idle always applies; a
        // conversation with no recorded activity counts from its start.
        let idle = facts.last_activity_at.unwrap_or(facts.started_at) + settings.after_idle;
        let departed = facts.left_at.map(|t| t + settings.after_departure);
        let gone = [Some(idle), departed, facts.agents_offline_since]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(idle);
        // Condition 5: never before the burst has ended; and never before the reply exists.
        let quiet = facts
            .last_agent_message_at
            .map(|t| t + settings.batch_quiet)
            .unwrap_or(pending_since);
        Due {
            at: gone.max(quiet).max(pending_since),
            kind: EmailKind::Replies,
        }
    };

    // Due already by the events' clock: what came after (agents back, another reply) does not
    // put it off.
    if let Some(fell) = facts.fell_due_at {
        due.at = due.at.min(fell);
    }

    // Condition 6, the time half: the window must still be open when the email goes.
    let window_opened = facts.last_visitor_message_at.unwrap_or(facts.started_at);
    if due.at >= window_opened + settings.reach_window {
        return Err(NotDue::ReachWindowClosed);
    }
    Ok(due)
}

impl Facts {
    /// Whether [`due`] gives no email for these facts whatever the site's presence
    /// (`agents_offline_since`) and the address's suppression say: nothing unread and no
    /// closing transcript is owed. Those two need not be read for such a conversation (a reply
    /// just stored leaves its conversation so).
    pub fn owes_nothing(&self) -> bool {
        self.pending_since.is_none() && self.close_transcript_since.is_none()
    }
}

/// The instant an email had fallen due by `at`, when an event that happened at `at` is about to
/// be applied to a conversation with these `facts`: what [`Facts::fell_due_at`] keeps.
pub fn fell_due_before(
    facts: &Facts,
    settings: &TriggerSettings,
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    due(facts, settings).ok().map(|d| d.at).filter(|d| *d <= at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + TimeDelta::minutes(min)
    }

    fn settings() -> TriggerSettings {
        TriggerSettings {
            mode: Mode::Unread,
            after_departure: TimeDelta::minutes(5),
            after_idle: TimeDelta::minutes(30),
            batch_quiet: TimeDelta::seconds(60),
            reach_window: TimeDelta::days(30),
            max_unanswered: 5,
        }
    }

    #[test]
    fn what_owes_nothing_is_due_never_whatever_presence_and_suppression_say() {
        let owing = [
            waiting(),
            Facts {
                pending_since: None,
                close_transcript_since: Some(t(2)),
                ..waiting()
            },
        ];
        for facts in owing {
            assert!(!facts.owes_nothing());
        }
        let read = Facts {
            pending_since: None,
            ..waiting()
        };
        let variants = [
            read.clone(),
            Facts {
                fell_due_at: Some(t(3)),
                left_at: Some(t(1)),
                ..read.clone()
            },
            Facts {
                unanswered_emails: 9,
                identified: false,
                ..read.clone()
            },
        ];
        for facts in variants {
            assert!(facts.owes_nothing());
            for suppressed in [false, true] {
                for agents_offline_since in [None, Some(t(0)), Some(t(100))] {
                    for mode in [Mode::Unread, Mode::Off] {
                        let facts = Facts {
                            suppressed,
                            agents_offline_since,
                            ..facts.clone()
                        };
                        let settings = TriggerSettings { mode, ..settings() };
                        assert!(due(&facts, &settings).is_err(), "{facts:?}");
                    }
                }
            }
        }
    }

    /// A visitor who wrote at 0 and got an agent reply at 1.
    fn waiting() -> Facts {
        Facts {
            identified: true,
            pending_since: Some(t(1)),
            last_agent_message_at: Some(t(1)),
            last_activity_at: Some(t(0)),
            started_at: t(0),
            last_visitor_message_at: Some(t(0)),
            ..Facts::default()
        }
    }

    #[test]
    fn idle_trigger() {
        assert_eq!(due(&waiting(), &settings()).unwrap().at, t(30));
    }

    #[test]
    fn departure_trigger() {
        let f = Facts {
            left_at: Some(t(2)),
            ..waiting()
        };
        assert_eq!(due(&f, &settings()).unwrap().at, t(7));
    }

    #[test]
    fn agents_offline_trigger_waits_only_for_the_burst() {
        let f = Facts {
            agents_offline_since: Some(t(1)),
            ..waiting()
        };
        assert_eq!(
            due(&f, &settings()).unwrap().at,
            t(1) + TimeDelta::seconds(60)
        );
    }

    #[test]
    fn a_late_reply_waits_for_quiet() {
        let f = Facts {
            left_at: Some(t(0)),
            pending_since: Some(t(20)),
            last_agent_message_at: Some(t(21)),
            ..waiting()
        };
        assert_eq!(
            due(&f, &settings()).unwrap().at,
            t(21) + TimeDelta::seconds(60)
        );
    }

    #[test]
    fn nothing_owed() {
        let s = settings();
        let f = waiting();
        assert_eq!(
            due(
                &Facts {
                    identified: false,
                    ..f.clone()
                },
                &s
            ),
            Err(NotDue::NotIdentified)
        );
        assert_eq!(
            due(
                &Facts {
                    suppressed: true,
                    ..f.clone()
                },
                &s
            ),
            Err(NotDue::Suppressed)
        );
        assert_eq!(
            due(
                &Facts {
                    pending_since: None,
                    ..f.clone()
                },
                &s
            ),
            Err(NotDue::NothingUnread)
        );
        assert_eq!(
            due(
                &Facts {
                    unanswered_emails: 5,
                    ..f.clone()
                },
                &s
            ),
            Err(NotDue::TooManyUnanswered)
        );
        assert_eq!(
            due(
                &f,
                &TriggerSettings {
                    mode: Mode::Off,
                    ..s.clone()
                }
            ),
            Err(NotDue::ModeOff)
        );
        let old = Facts {
            last_visitor_message_at: Some(t(0) - TimeDelta::days(30)),
            ..f
        };
        assert_eq!(due(&old, &s), Err(NotDue::ReachWindowClosed));
    }

    #[test]
    fn close_transcript_goes_at_once() {
        let f = Facts {
            pending_since: None,
            close_transcript_since: Some(t(3)),
            ..waiting()
        };
        assert_eq!(
            due(&f, &settings()),
            Ok(Due {
                at: t(3),
                kind: EmailKind::CloseTranscript
            })
        );
    }

    #[test]
    fn an_email_that_fell_due_stays_due_through_what_is_not_the_visitors() {
        let s = settings();
        // The reply at 1 was quiet by 2; every agent went offline at 3: the email fell due then.
        let offline = Facts {
            agents_offline_since: Some(t(3)),
            ..waiting()
        };
        assert_eq!(
            fell_due_before(&offline, &s, t(3) - TimeDelta::seconds(1)),
            None
        );
        let fell = fell_due_before(&offline, &s, t(4));
        assert_eq!(fell, Some(t(3)));
        // The agents came back at 4 and an agent wrote again at 5: still due at 3.
        let later = Facts {
            agents_offline_since: None,
            last_agent_message_at: Some(t(5)),
            fell_due_at: fell,
            ..waiting()
        };
        assert_eq!(due(&later, &s).unwrap().at, fell.unwrap());
        // Without the kept instant, the final state alone would put it off to the idle trigger.
        let forgotten = Facts {
            fell_due_at: None,
            ..later.clone()
        };
        assert_eq!(due(&forgotten, &s).unwrap().at, t(30));
        // The visitor's reasons still withdraw it: nothing left unread, or suppressed.
        let read = Facts {
            pending_since: None,
            ..later.clone()
        };
        assert_eq!(due(&read, &s), Err(NotDue::NothingUnread));
        let suppressed = Facts {
            suppressed: true,
            ..later
        };
        assert_eq!(due(&suppressed, &s), Err(NotDue::Suppressed));
    }
}
