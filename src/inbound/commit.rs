//! The group commit: replies that arrive while a transaction commits share the next one, and
//! each is answered only after the commit that holds it.

use super::classify::ours;
use super::route::Reads;
use super::{Analysis, Decision, Inbound, Kind, Outcome, Rejection};
use crate::apply;
use crate::config::{Site, SiteRef};
use crate::domain::{Attachment, AuthorKind, MessageSource};
use crate::store::{Conversation, NewAttachment, NewMessage, SiteState, Tx, WebhookEvent};
use crate::webhooks;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A reply waiting for the group commit, and where its outcome goes.
pub(super) struct Job {
    analysis: Analysis,
    done: oneshot::Sender<anyhow::Result<Outcome>>,
    /// The message's `inbound` span: the committer names the conversation in it once found.
    span: tracing::Span,
}

impl Job {
    /// Answers the session waiting for this reply.
    pub(super) fn answer(self, result: anyhow::Result<Outcome>) {
        if let Some(conversation) = &self.analysis.routing.conversation {
            self.span.record("conversation", conversation.as_str());
        }
        let _ = self.done.send(result);
    }
}

/// At most this many replies share one transaction.
pub(super) const MAX_GROUP: usize = 64;

impl Inbound {
    /// Hands the reply to the group commit (moved, not copied: its attachments may be large),
    /// where it is resolved, checked and stored, and waits for its outcome.
    pub(super) async fn store_reply(&self, analysis: Analysis) -> anyhow::Result<Outcome> {
        let committer = self.committer.get_or_init(|| {
            let (tx, rx) = mpsc::channel(MAX_GROUP * 4);
            // The task's copy has no committer of its own: no cycle keeps the queue open.
            let worker = Inbound {
                committer: Arc::default(),
                ..self.clone()
            };
            tokio::spawn(worker.commit_groups(rx));
            tx
        });
        let mut analysis = analysis;
        self.trim_before_commit(&mut analysis).await;
        let (done, outcome) = oneshot::channel();
        let job = Job {
            analysis,
            done,
            span: tracing::Span::current(),
        };
        committer
            .send(job)
            .await
            .map_err(|_| anyhow::anyhow!("the committer stopped"))?;
        outcome
            .await
            .map_err(|_| anyhow::anyhow!("the committer dropped a reply"))?
    }

    /// For a reply its token routed, trims it knowing the emails it answers, read outside any
    /// transaction (one statement, where a read transaction is three on PostgreSQL): the
    /// look-up then runs beside the other sessions, not inside the group commit, whose cycle
    /// every reply waits on. A reply routed by `In-Reply-To`, or one whose look-up failed, is
    /// trimmed where it is resolved.
    async fn trim_before_commit(&self, analysis: &mut Analysis) {
        let (Some(pk), Some(site)) = (
            analysis.routing.conversation_pk,
            analysis.routing.site.as_deref(),
        ) else {
            return;
        };
        let Some(answered) = self.answered_ids(analysis, site) else {
            return;
        };
        if let Ok(raws) = self.store.answered_emails(pk, &answered).await {
            super::route::trim_sent(analysis, &raws);
        }
    }

    /// Group commit: the replies that arrive while a transaction commits wait for the next
    /// one, and share it. Each is still answered (`250`) only after the commit that holds it,
    /// but many sessions' replies cost one fsync, not one each.
    pub(super) async fn commit_groups(self, mut rx: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_GROUP);
        while rx.recv_many(&mut jobs, MAX_GROUP).await > 0 {
            let mut group: Vec<&mut Analysis> = jobs.iter_mut().map(|j| &mut j.analysis).collect();
            match self.commit_group(&mut group).await {
                Ok(outcomes) => {
                    for (job, outcome) in jobs.drain(..).zip(outcomes) {
                        job.answer(Ok(outcome));
                    }
                }
                // One bad reply must not fail the others: each on its own, then.
                Err(_) if jobs.len() > 1 => {
                    for mut job in jobs.drain(..) {
                        let result = self
                            .commit_group(&mut [&mut job.analysis])
                            .await
                            .map(|mut o| o.remove(0));
                        job.answer(result);
                    }
                }
                Err(e) => {
                    for job in jobs.drain(..) {
                        job.answer(Err(anyhow::anyhow!("{e:#}")));
                    }
                }
            }
        }
    }

    /// Resolves, checks and stores these replies in one transaction; their outcomes, in order.
    /// What the group reads and writes is one statement per kind of row for all of its
    /// replies, not one per reply: on PostgreSQL each statement is a round trip.
    pub(super) async fn commit_group(
        &self,
        group: &mut [&mut Analysis],
    ) -> anyhow::Result<Vec<Outcome>> {
        let mut tx = self.store.begin().await?;
        let pks: Vec<i64> = group
            .iter()
            .filter_map(|a| a.routing.conversation_pk)
            .collect();
        let mut reads = Reads::prefetch(tx.as_mut(), &pks).await?;
        let mut outcomes: Vec<Option<Outcome>> = vec![None; group.len()];
        let mut to_store = Vec::with_capacity(group.len());
        for (i, analysis) in group.iter_mut().enumerate() {
            let pk = self.resolve(analysis, tx.as_mut(), &mut reads).await?;
            match (refusal(analysis), pk) {
                (Some(outcome), _) => outcomes[i] = Some(outcome),
                (None, Some(pk)) => to_store.push((&**analysis, pk)),
                (None, None) => outcomes[i] = Some(Outcome::Rejected(unroutable(analysis))),
            }
        }
        let (stored, work) = self.store_all(tx.as_mut(), &mut reads, &to_store).await?;
        let mut stored = stored.into_iter();
        for outcome in outcomes.iter_mut().filter(|o| o.is_none()) {
            *outcome = stored.next();
        }
        // Waking every daemon's worker costs each a claim and a look at the queues: only for
        // work that is sooner than what they already wait for.
        if work {
            tx.notify_work().await?;
        }
        tx.commit().await?;
        outcomes
            .into_iter()
            .map(|o| o.ok_or_else(|| anyhow::anyhow!("a reply of the group has no outcome")))
            .collect()
    }

    /// Writes each reply into its conversation (read into `reads` by `Inbound::resolve` in
    /// `tx`), in order; their outcomes, in the same order, and whether they made work for the
    /// workers (a webhook queued, an email due sooner). A reply to a conversation an earlier
    /// one of the group changed starts from that change.
    async fn store_all(
        &self,
        tx: &mut dyn Tx,
        reads: &mut Reads,
        replies: &[(&Analysis, i64)],
    ) -> anyhow::Result<(Vec<Outcome>, bool)> {
        let now = self.clock.now();
        let config = self.config.current();
        let public_url = config.api.public_url.as_deref().unwrap_or_default();
        let limit = config.inbound.max_attachment_size;
        let mut made = Vec::with_capacity(replies.len());
        for &(analysis, pk) in replies {
            let conv = reads.stored(pk)?;
            let site = self
                .site(&conv.site_id)
                .ok_or_else(|| anyhow::anyhow!("site no longer configured"))?;
            let quarantined = analysis.verification.decision == Decision::Quarantine;
            let (new, ids) = visitor_message(analysis, conv, public_url, quarantined, now, limit);
            made.push((site, new, ids));
        }
        let rows: Vec<(i64, &NewMessage)> = (replies.iter().zip(&made))
            .map(|((_, pk), (_, new, _))| (*pk, new))
            .collect();
        let mut seqs = tx.insert_new_messages(&rows).await?;
        let mut outcomes = Vec::with_capacity(replies.len());
        let mut touched = HashMap::new();
        let mut hooks = false;
        for (&(analysis, pk), (site, new, ids)) in replies.iter().zip(made) {
            // A second copy in the group finds the first's seq already taken: a duplicate.
            let Some(seq) = seqs.remove(&(pk, new.id.clone())) else {
                outcomes.push(Outcome::Duplicate);
                continue;
            };
            let conv = reads.stored_mut(pk)?;
            outcomes.push(
                self.store_one(tx, &site, analysis, conv, (seq, &new, ids))
                    .await?,
            );
            if matches!(outcomes.last(), Some(Outcome::Stored { .. })) {
                // A stored reply queues its webhooks where the site has any.
                hooks |= site.webhook_url.is_some() || site.chatwoot.is_some();
                touched.insert(pk, site);
            }
        }
        let sooner = self.reschedule(tx, reads, touched).await?;
        Ok((outcomes, hooks || sooner))
    }

    /// What is left of storing one reply once its message `(seq, new, attachment ids)` is
    /// added: its attachments, the emails it proves delivered, what it changes in `conv`
    /// (the due time aside: see [`Inbound::reschedule`]), and the webhooks it fires.
    async fn store_one(
        &self,
        tx: &mut dyn Tx,
        site: &Site,
        analysis: &Analysis,
        conv: &mut Conversation,
        (seq, new, ids): (i64, &NewMessage, Vec<String>),
    ) -> anyhow::Result<Outcome> {
        let now = new.at;
        let pk = conv.pk;
        // Only now, so a duplicate leaves no attachments behind in a shared transaction.
        let parts = analysis.attachments.iter().zip(&analysis.attachment_data);
        for ((info, data), id) in parts.zip(ids) {
            tx.insert_attachment(&NewAttachment {
                id,
                site_id: site.id.clone(),
                conversation_pk: pk,
                name: info.name.clone(),
                content_type: info.content_type.clone(),
                data: data.clone(),
                at: now,
            })
            .await?;
        }
        if analysis.verification.decision == Decision::Quarantine {
            // Held for the platform to review: not the visitor's word until someone says so.
            return Ok(Outcome::Quarantined {
                conversation: conv.id.clone(),
            });
        }
        // An answer proves its email arrived, whatever the outbox says: the daemon that sent
        // it may have died before it could record so, and a retry would only be withdrawn.
        // Only our own Message-IDs can name an email of ours: the rest cost no query.
        let references: Vec<String> = (analysis.references.iter())
            .filter(|id| ours(id, &site.reply_domain))
            .cloned()
            .collect();
        if !references.is_empty() {
            for (email, messages) in tx.confirm_delivered(pk, &references, now).await? {
                if site.webhook_url.is_some() {
                    let hook = webhooks::about_email(
                        &email,
                        messages,
                        WebhookEvent::MessageForwarded,
                        None,
                        now,
                    );
                    tx.enqueue_webhook(&hook).await?;
                }
            }
        }
        apply::visitor_wrote(conv, seq, now);
        conv.replied_by_email = true;
        if !conv.open {
            conv.open = true;
            conv.closed_at = None;
            conv.close_transcript_at = None;
        }
        // The reply is the newest message and the visitor has read all before it: nothing
        // is unread, without asking the database.
        conv.pending_since = None;
        if site.webhook_url.is_some() {
            tx.enqueue_webhook(&webhooks::message_created(conv, new, now))
                .await?;
        }
        if site.chatwoot.is_some() {
            tx.enqueue_webhook(&webhooks::to_chatwoot(conv, new, now))
                .await?;
        }
        Ok(Outcome::Stored {
            conversation: conv.id.clone(),
            message: new.id.clone(),
            trimmed: analysis.trimmed,
            own_copy: analysis.own_copy,
        })
    }

    /// Computes the due time of each conversation a reply was stored in (`touched`, with its
    /// site) and writes them back: once each, however many of the group's replies it took,
    /// with presence and suppressions read once per site, and only for a conversation that
    /// still owes something. Whether any is now due sooner than it was.
    async fn reschedule(
        &self,
        tx: &mut dyn Tx,
        reads: &mut Reads,
        touched: HashMap<i64, SiteRef>,
    ) -> anyhow::Result<bool> {
        // A reply leaves its conversation owing nothing (all read) unless a transcript is
        // owed: its due time is then none, whatever presence and suppression say, and they
        // are read only for the others (on PostgreSQL, three round trips a group fewer).
        let presence_unread = SiteState::default();
        let mut by_site: HashMap<&str, Vec<&str>> = HashMap::new();
        for (pk, site) in &touched {
            let conv = reads.stored(*pk)?;
            if !apply::facts(conv, &presence_unread, false).owes_nothing() {
                let emails = by_site.entry(&site.id).or_default();
                emails.extend(conv.visitor.email.as_deref());
            }
        }
        let mut states = HashMap::new();
        let mut suppressed = HashMap::new();
        for (id, emails) in &by_site {
            apply::presence(tx, &mut states, id).await?;
            suppressed.insert(*id, tx.suppressed_among(id, emails).await?);
        }
        let mut done = Vec::with_capacity(touched.len());
        let mut sooner = false;
        for (pk, site) in &touched {
            // Still the due time as read: the replies changed what it follows from, not it.
            let mut conv = reads.stored(*pk)?.clone();
            let before = conv.due_at;
            let is_suppressed = (conv.visitor.email.as_deref()).is_some_and(|e| {
                (suppressed.get(site.id.as_str())).is_some_and(|s| s.contains(&e.to_lowercase()))
            });
            let state = states.get(&site.id).unwrap_or(&presence_unread);
            let facts = apply::facts(&conv, state, is_suppressed);
            apply::schedule(&mut conv, &facts, site);
            sooner |= due_sooner(before, conv.due_at);
            done.push(conv);
        }
        done.sort_unstable_by_key(|c| c.pk);
        tx.save_conversations(&done).await?;
        Ok(sooner)
    }
}

/// Whether a conversation whose due time went from `before` to `after` is now due sooner: a
/// worker that waits for `before`, or for nothing, would wake too late for it.
fn due_sooner(before: Option<DateTime<Utc>>, after: Option<DateTime<Utc>>) -> bool {
    after.is_some_and(|at| before.is_none_or(|b| at < b))
}

/// What a resolved reply is refused or dropped for, if anything.
pub(super) fn refusal(analysis: &Analysis) -> Option<Outcome> {
    if analysis.kind == Kind::Unroutable {
        return Some(Outcome::Rejected(unroutable(analysis)));
    }
    let v = &analysis.verification;
    if v.decision == Decision::Reject {
        let why = v.reason.clone().unwrap_or_default();
        return Some(Outcome::Rejected(if v.sender_policy.is_none() {
            // The checks did not run: the conversation's site is no longer configured.
            Rejection::UnknownRecipient(why)
        } else if !v.window_open {
            Rejection::WindowClosed
        } else {
            Rejection::Sender(why)
        }));
    }
    if analysis.text.is_empty() && analysis.attachments.is_empty() && analysis.too_large.is_empty()
    {
        return Some(Outcome::Dropped("empty reply".into()));
    }
    None
}

/// The refusal of a message no conversation was found for.
pub(super) fn unroutable(analysis: &Analysis) -> Rejection {
    Rejection::UnknownRecipient(
        (analysis.routing.error.clone())
            .unwrap_or_else(|| "no conversation for this message".into()),
    )
}

pub(super) fn content_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    data_encoding::HEXLOWER.encode(&Sha256::digest(text.as_bytes())[..12])
}

/// The chat message a reply becomes, and the ids its attachments are stored under (their URLs
/// in the message name them).
fn visitor_message(
    analysis: &Analysis,
    conv: &Conversation,
    public_url: &str,
    quarantined: bool,
    now: DateTime<Utc>,
    attachment_limit: usize,
) -> (NewMessage, Vec<String>) {
    // The Message-ID is the message id: a second copy (SMTP and IMAP both) is a duplicate.
    let message_id = analysis
        .message_id
        .clone()
        .unwrap_or_else(|| format!("<{}@replyrelay.invalid>", content_hash(&analysis.text)));
    let ids: Vec<String> = analysis
        .attachments
        .iter()
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    let attachments: Vec<Attachment> = analysis
        .attachments
        .iter()
        .zip(&ids)
        .map(|(info, id)| Attachment {
            name: info.name.clone(),
            url: format!("{public_url}/v1/attachments/{id}"),
            size: Some(info.size as u64),
            content_type: Some(info.content_type.clone()),
        })
        .collect();
    let new = NewMessage {
        id: format!("email:{message_id}"),
        author: AuthorKind::Visitor,
        author_name: analysis
            .from_name
            .clone()
            .or_else(|| conv.visitor.name.clone()),
        text: analysis.message_text(attachment_limit),
        attachments: attachments.clone(),
        source: if quarantined {
            MessageSource::EmailQuarantined
        } else {
            MessageSource::Email
        },
        at: now,
        trimmed: analysis.trimmed,
    };
    (new, ids)
}

#[cfg(test)]
mod tests {
    use super::due_sooner;
    use chrono::{TimeDelta, Utc};

    #[test]
    fn only_a_due_time_earlier_than_before_wakes_the_workers() {
        let t = Utc::now();
        let minute = TimeDelta::minutes(1);
        let cases = [
            (None, None, false),
            (None, Some(t), true),
            (Some(t), None, false),
            (Some(t), Some(t - minute), true),
            (Some(t), Some(t), false),
            (Some(t), Some(t + minute), false),
        ];
        for (before, after, sooner) in cases {
            assert_eq!(due_sooner(before, after), sooner, "{before:?} -> {after:?}");
        }
    }
}
