//! The group commit: replies that arrive while a transaction commits share the next one, and
//! each is answered only after the commit that holds it.

use super::classify::ours;
use super::{Analysis, Decision, Inbound, Kind, Outcome, Rejection};
use crate::apply;
use crate::domain::{Attachment, AuthorKind, MessageSource};
use crate::store::{Conversation, NewAttachment, NewMessage, SiteState, Tx, WebhookEvent};
use crate::webhooks;
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

    /// For a reply its token routed, trims it knowing the emails it answers, in a read
    /// transaction of its own: the look-up then runs beside the other sessions, not inside the
    /// group commit, whose cycle every reply waits on. A reply routed by `In-Reply-To`, or one
    /// whose look-up failed, is trimmed where it is resolved.
    async fn trim_before_commit(&self, analysis: &mut Analysis) {
        let (Some(pk), Some(site)) = (
            analysis.routing.conversation_pk,
            analysis.routing.site.clone(),
        ) else {
            return;
        };
        if let Ok(mut tx) = self.store.begin_read().await {
            let _ = (self.trim_knowing_what_was_sent(analysis, &site, pk, tx.as_mut())).await;
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
    pub(super) async fn commit_group(
        &self,
        group: &mut [&mut Analysis],
    ) -> anyhow::Result<Vec<Outcome>> {
        let mut tx = self.store.begin().await?;
        let mut outcomes = Vec::with_capacity(group.len());
        // Presence is per site: read once per site for the whole group.
        let mut states = HashMap::new();
        for analysis in group.iter_mut() {
            let conv = self.resolve(analysis, tx.as_mut()).await?;
            let outcome = match (refusal(analysis), conv) {
                (Some(outcome), _) => outcome,
                (None, Some(conv)) => {
                    self.store_in(tx.as_mut(), &mut states, analysis, conv)
                        .await?
                }
                (None, None) => Outcome::Rejected(unroutable(analysis)),
            };
            outcomes.push(outcome);
        }
        tx.notify_work().await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Writes one reply into its conversation `conv` (read by `Inbound::resolve` in `tx`).
    pub(super) async fn store_in(
        &self,
        tx: &mut dyn Tx,
        states: &mut HashMap<String, SiteState>,
        analysis: &Analysis,
        mut conv: Conversation,
    ) -> anyhow::Result<Outcome> {
        let v = &analysis.verification;
        let pk = conv.pk;
        let site = self
            .site(&conv.site_id)
            .ok_or_else(|| anyhow::anyhow!("site no longer configured"))?;
        let now = self.clock.now();
        let quarantined = v.decision == Decision::Quarantine;
        let config = self.config.current();
        let public_url = config.api.public_url.as_deref().unwrap_or_default();

        let limit = config.inbound.max_attachment_size;
        let (new, ids) = visitor_message(analysis, &conv, public_url, quarantined, now, limit);
        let Some(seq) = tx.insert_message(pk, &new).await? else {
            return Ok(Outcome::Duplicate);
        };
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
        if quarantined {
            // Held for the platform to review: not the visitor's word until someone says so.
            return Ok(Outcome::Quarantined {
                conversation: conv.id,
            });
        }
        // An answer proves its email arrived, whatever the outbox says: the daemon that sent
        // it may have died before it could record so, and a retry would only be withdrawn.
        // Only our own Message-IDs can name an email of ours: the rest cost no query.
        let references: Vec<String> = (analysis.references.iter())
            .filter(|id| ours(id, &site.reply_domain))
            .cloned()
            .collect();
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
        apply::visitor_wrote(&mut conv, seq, now);
        conv.replied_by_email = true;
        if !conv.open {
            conv.open = true;
            conv.closed_at = None;
            conv.close_transcript_at = None;
        }
        // Written once, with its new due time (not saved, then read back and saved again).
        // The reply is the newest message and the visitor has read all before it: nothing
        // is unread, without asking the database.
        conv.pending_since = None;
        let state = apply::presence(tx, states, &site.id).await?;
        apply::settle_counted(tx, &site, &mut conv, &state).await?;
        if site.webhook_url.is_some() {
            tx.enqueue_webhook(&webhooks::message_created(&conv, &new, now))
                .await?;
        }
        if site.chatwoot.is_some() {
            tx.enqueue_webhook(&webhooks::to_chatwoot(&conv, &new, now))
                .await?;
        }
        Ok(Outcome::Stored {
            conversation: conv.id,
            message: new.id,
            trimmed: analysis.trimmed,
            own_copy: analysis.own_copy,
        })
    }
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
    now: chrono::DateTime<chrono::Utc>,
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
