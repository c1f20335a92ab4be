//! A delivery report or complaint recorded against the email it is about.
//!
//! What a report may do is decided by [`action`], a pure function: only a failure fails the
//! email; only a failure that proves the address dead, for the address the email went to,
//! suppresses it; a complaint suppresses as the visitor's own "stop"; delays and success
//! notices change nothing.

use super::{Analysis, Bounce, Inbound, Outcome, ReportKind};
use crate::apply;
use crate::failure::Reason;
use crate::store::EmailStatus;
use crate::webhooks;

/// What a report does to the email it names and to its recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// Nothing: a delay, a success notice, or a report about another address.
    Ignore(&'static str),
    /// The email failed; with `suppress`, its address is dead and gets no more email.
    Fail { suppress: bool },
    /// The visitor marked the email as spam: no more email to them.
    Complaint,
}

/// What `report` does to an email that went to `rcpt_to`. A report that names recipients is
/// about one of them: where none is the email's, it is about another message or forged, and
/// does nothing. A report that names none may fail the email but suppress its address only
/// when it came to the email's own bounce address, which vouches for the recipient.
///
/// A recipient named only as the original one (the email's address forwarded, aliased or
/// routed on to another final address) ties the report to the email, which failed, but the
/// final address's death is no proof the email's address is dead: it is not suppressed.
pub(super) fn action(report: &Bounce, rcpt_to: &str) -> Action {
    let named = (report.recipients.iter()).any(|r| r.recipient.is_some());
    let ours = report.recipients.iter().any(|r| r.names(rcpt_to));
    if named && !ours {
        return Action::Ignore("report about another recipient");
    }
    let for_ours = (report.recipients.iter()).filter(|r| {
        r.recipient
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(rcpt_to))
    });
    let vouched = !named && report.bounce_address.is_some();
    match report.kind {
        ReportKind::Complaint
            if report
                .feedback_type
                .is_some_and(|t| !t.is_the_recipients_stop()) =>
        {
            Action::Ignore("feedback report that is no complaint of the recipient's")
        }
        ReportKind::Complaint => Action::Complaint,
        ReportKind::Delayed => Action::Ignore("delivery delayed; still being tried"),
        ReportKind::Delivered => Action::Ignore("delivery notice"),
        ReportKind::Failed => Action::Fail {
            suppress: (ours && for_ours.clone().any(|r| r.hard)) || (vouched && report.hard),
        },
    }
}

/// What a report says of one recipient: its status, address and reason.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Said<'a> {
    /// The status code, for the email's failure reason.
    pub status: Option<&'a str>,
    /// The address it names, for the same.
    pub recipient: Option<&'a str>,
    /// Why, which decides whether the failure counts towards a run of soft bounces.
    pub reason: Option<Reason>,
}

/// What `report` says of the email's own recipient `rcpt_to`, where it names it among others
/// (prose that names the reporting host's postmaster first); else its summary, the first
/// failed recipient's.
pub(super) fn said_of<'a>(report: &'a Bounce, rcpt_to: &str) -> Said<'a> {
    match report.recipients.iter().find(|r| r.names(rcpt_to)) {
        Some(r) => Said {
            status: r.status.as_deref(),
            recipient: r.recipient.as_deref(),
            reason: Some(r.reason),
        },
        None => Said {
            status: report.status.as_deref(),
            recipient: report.recipient.as_deref(),
            reason: report.reason,
        },
    }
}

/// Whether a report about the email that went to `rcpt_to` is to be believed: it came to the
/// email's own bounce address, which only the email's mail systems know, or it names that
/// recipient beside the email's `Message-ID`. A report naming a Message-ID alone could be
/// made by anyone who saw the email's headers.
pub(super) fn believed(report: &Bounce, rcpt_to: &str) -> bool {
    report.bounce_address.is_some() || report.recipients.iter().any(|r| r.names(rcpt_to))
}

impl Inbound {
    pub(super) async fn record_bounce(&self, analysis: &Analysis) -> anyhow::Result<Outcome> {
        let report = analysis.bounce.as_ref().expect("a report");
        let mut tx = self.store.begin().await?;
        let email = match (&report.bounce_address, &report.original_message_id) {
            (Some(address), _) => tx.email_by_mail_from(address).await?,
            (None, Some(id)) => tx.email_by_message_id(id).await?,
            (None, None) => None,
        };
        let Some(email) = email else {
            return Ok(Outcome::Dropped("report for no email of ours".into()));
        };
        if !believed(report, &email.rcpt_to) {
            return Ok(Outcome::Unbelieved);
        }
        let Some(site) = self.site(&email.site_id) else {
            return Ok(Outcome::Dropped(
                "report for a site no longer configured".into(),
            ));
        };
        let now = self.clock.now();
        // A second report about an email that failed already (an MTA's repeat) is no second
        // failure of the address.
        let first_failure = email.status != EmailStatus::Failed;
        let said = said_of(report, &email.rcpt_to);
        let suppress = match action(report, &email.rcpt_to) {
            Action::Ignore(why) => return Ok(Outcome::Dropped(why.into())),
            Action::Complaint => Some("complained"),
            Action::Fail { suppress } => {
                let reason = format!(
                    "bounced{}{}",
                    (said.status).map(|s| format!(": {s}")).unwrap_or_default(),
                    (said.recipient)
                        .map(|r| format!(" for {r}"))
                        .unwrap_or_default(),
                );
                tx.set_email_failed(&email.id, &reason).await?;
                if site.webhook_url.is_some() {
                    tx.enqueue_webhook(&webhooks::bounced(&email, &reason, now))
                        .await?;
                }
                suppress.then_some("hard_bounce")
            }
        };
        tx.commit().await?;
        let store = self.store.as_ref();
        let cause = format!(
            "report {} about {}",
            analysis.message_id.as_deref().unwrap_or("(no Message-ID)"),
            email.message_id
        );
        if let Some(why) = suppress {
            apply::suppress(store, &site, &email.rcpt_to, why, &cause, now).await?;
        } else if first_failure
            && report.kind == ReportKind::Failed
            && said.reason.is_some_and(|r| r.counts_as_soft_bounce())
        {
            let delivery = &self.config.current().delivery;
            apply::soft_bounce(store, &site, &email.rcpt_to, &cause, delivery, now).await?;
        }
        Ok(Outcome::BounceRecorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::{FeedbackType, RecipientStatus};

    fn report(kind: ReportKind, rcpt: Option<&str>, hard: bool) -> Bounce {
        Bounce {
            kind,
            recipients: vec![RecipientStatus {
                recipient: rcpt.map(String::from),
                hard,
                ..RecipientStatus::default()
            }],
            hard,
            ..Bounce::default()
        }
    }

    #[test]
    fn a_report_acts_only_on_its_own_address() {
        let ana = "Ana@Visitor.example";
        let table = [
            (
                report(ReportKind::Failed, Some("ana@visitor.example"), true),
                Action::Fail { suppress: true },
            ),
            (
                report(ReportKind::Failed, Some("ana@visitor.example"), false),
                Action::Fail { suppress: false },
            ),
            (
                report(ReportKind::Failed, None, true),
                Action::Fail { suppress: false },
            ),
            (
                report(ReportKind::Failed, Some("eve@x.example"), true),
                Action::Ignore("report about another recipient"),
            ),
            (
                report(ReportKind::Delayed, Some("ana@visitor.example"), false),
                Action::Ignore("delivery delayed; still being tried"),
            ),
            (
                report(ReportKind::Delivered, Some("ana@visitor.example"), false),
                Action::Ignore("delivery notice"),
            ),
            (
                report(ReportKind::Complaint, Some("ana@visitor.example"), false),
                Action::Complaint,
            ),
            (
                report(ReportKind::Complaint, None, false),
                Action::Complaint,
            ),
        ];
        let feedback = |t: &str| {
            let mut r = report(ReportKind::Complaint, Some("ana@visitor.example"), false);
            r.feedback_type = Some(FeedbackType::parse(t));
            r
        };
        let table = table.into_iter().chain([
            // The recipient's own acts stop the email; machines' reports do not.
            (feedback("abuse"), Action::Complaint),
            (feedback("Fraud"), Action::Complaint),
            (feedback("opt-out"), Action::Complaint),
            (
                feedback("auth-failure"),
                Action::Ignore("feedback report that is no complaint of the recipient's"),
            ),
            (
                feedback("not-spam"),
                Action::Ignore("feedback report that is no complaint of the recipient's"),
            ),
            (
                feedback("virus"),
                Action::Ignore("feedback report that is no complaint of the recipient's"),
            ),
        ]);
        let verp = |mut r: Bounce| {
            r.bounce_address = Some("bounce+t@reply.acme.example".into());
            r
        };
        let table = table.into_iter().chain([
            // The email's own bounce address vouches for the one recipient it went to.
            (
                verp(report(ReportKind::Failed, None, true)),
                Action::Fail { suppress: true },
            ),
            (
                verp(report(ReportKind::Failed, Some("eve@x.example"), true)),
                Action::Ignore("report about another recipient"),
            ),
        ]);
        // The email's address forwarded to another, which is dead: the email failed, the
        // visitor's own address is not proven dead.
        let forwarded = |mut r: Bounce| {
            r.recipients[0].original_recipient = Some("ana@visitor.example".into());
            r
        };
        let table = table.into_iter().chain([(
            forwarded(report(
                ReportKind::Failed,
                Some("ana@forward.example"),
                true,
            )),
            Action::Fail { suppress: false },
        )]);
        for (r, want) in table {
            assert_eq!(
                action(&r, ana),
                want,
                "{:?} {:?}",
                r.kind,
                r.recipients[0].recipient
            );
        }
    }

    #[test]
    fn what_a_report_says_is_what_it_says_of_the_emails_recipient() {
        let postmaster = RecipientStatus {
            recipient: Some("postmaster@mx.example".into()),
            status: Some("5.0.0".into()),
            reason: Reason::Undefined,
            ..RecipientStatus::default()
        };
        let ana = RecipientStatus {
            recipient: Some("ana@visitor.example".into()),
            status: Some("5.2.2".into()),
            reason: Reason::MailboxFull,
            ..RecipientStatus::default()
        };
        let mut r = report(ReportKind::Failed, None, false);
        r.recipients = vec![postmaster, ana];
        r.status = Some("5.0.0".into());
        r.recipient = Some("postmaster@mx.example".into());
        r.reason = Some(Reason::Undefined);
        let want = |status, recipient, reason| Said {
            status: Some(status),
            recipient: Some(recipient),
            reason: Some(reason),
        };
        assert_eq!(
            said_of(&r, "Ana@Visitor.example"),
            want("5.2.2", "ana@visitor.example", Reason::MailboxFull)
        );
        // Not named: the report's summary.
        assert_eq!(
            said_of(&r, "eve@x.example"),
            want("5.0.0", "postmaster@mx.example", Reason::Undefined)
        );
    }

    #[test]
    fn a_report_is_believed_by_its_envelope_or_its_recipient() {
        let ana = "ana@visitor.example";
        let mut verp = report(ReportKind::Failed, None, true);
        verp.bounce_address = Some("bounce+t@reply.acme.example".into());
        let table = [
            (verp, true),
            (
                report(ReportKind::Failed, Some("ANA@visitor.example"), true),
                true,
            ),
            (report(ReportKind::Failed, None, true), false),
            (report(ReportKind::Complaint, None, false), false),
            (
                report(ReportKind::Failed, Some("eve@x.example"), true),
                false,
            ),
        ];
        let mut forwarded = report(ReportKind::Failed, Some("ana@forward.example"), true);
        forwarded.recipients[0].original_recipient = Some(ana.into());
        for (r, want) in table.into_iter().chain([(forwarded, true)]) {
            assert_eq!(believed(&r, ana), want, "{r:?}");
        }
    }
}
