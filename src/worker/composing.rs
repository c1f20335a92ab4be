//! Composing, the first step of every round: claim the conversations that are due, check
//! each again, make the emails they owe and put them in the outbox, all in one transaction.
//!
//! On PostgreSQL every statement is a round trip, so a chunk of conversations is read with one
//! statement per kind of row (their messages, their suppressions) and what the chunk writes
//! (emails, bodies, forwarding marks, schedules) goes in one multi-row statement each.

use super::{describe, Step, Worker};
use crate::apply;
use crate::compose;
use crate::store::{Conversation, EmailStatus, Message, OutboxEmail, Tx};
use crate::token::TokenKeys;
use crate::triggers;
use std::collections::{HashMap, HashSet};

impl Worker {
    /// Composes a batch, or [`SIDE_BY_SIDE`] at once when a backlog is due and the database
    /// lets writers work at once (PostgreSQL). One batch's statements run one after the other
    /// on its connection, and its server process waits for this task between them: on the
    /// scheduler row one batch at a time left both cores 40 % idle (`perf record -a`, stop
    /// 36). The batches claim different conversations (`SKIP LOCKED`), as two daemons' do.
    pub(super) async fn compose(&self) -> anyhow::Result<Vec<Step>> {
        use std::sync::atomic::Ordering::Relaxed;
        let (streams, batches) = if self.store.parallel_writes() && self.backlog.load(Relaxed) {
            (SIDE_BY_SIDE, STREAM_BATCHES)
        } else {
            (1, 1)
        };
        // The others each on a task of its own: their reading, binding and recording run on
        // any core.
        let others: Vec<_> = (1..streams)
            .map(|_| {
                let other = self.clone();
                tokio::spawn(async move { other.compose_stream(batches).await })
            })
            .collect();
        // Every stream is waited for, and the first error is the round's.
        let mut steps = self.compose_stream(batches).await;
        let mut backlog = steps.as_ref().is_ok_and(|(_, full)| *full);
        for other in others {
            let theirs = other.await?;
            backlog |= theirs.as_ref().is_ok_and(|(_, full)| *full);
            match (&mut steps, theirs) {
                (Ok((steps, _)), Ok((theirs, _))) => steps.extend(theirs),
                (Ok(_), Err(e)) => steps = Err(e),
                (Err(_), _) => {}
            }
        }
        self.backlog.store(backlog, Relaxed);
        steps.map(|(steps, _)| steps)
    }

    /// Up to `batches` batches one after the other, until one comes back short; with whether
    /// the last came back full (more is due). A stream whose batch is done claims the next at
    /// once: streams side by side do not wait for each other's slowest batch between batches.
    async fn compose_stream(&self, batches: usize) -> anyhow::Result<(Vec<Step>, bool)> {
        let mut steps = Vec::new();
        for _ in 0..batches {
            let batch = self.compose_batch().await?;
            let full = batch.len() >= COMPOSE_BATCH as usize;
            steps.extend(batch);
            if !full {
                return Ok((steps, false));
            }
        }
        Ok((steps, true))
    }

    /// Claims a batch of due conversations and, in one transaction, writes the emails they
    /// still owe to the outbox (one commit for the batch, not one per email).
    ///
    /// Each email is read (what the conversation owes), made (template and MIME: pure work)
    /// and written. Reading and writing need the transaction, so they happen on this task;
    /// making needs neither, so the batch goes in chunks, each made on a blocking thread while
    /// this task reads the next chunk and writes the one before: both cores busy, where three
    /// passes in a row left one idle two thirds of the time. The transaction spans it all, so
    /// nothing read can change before it is written.
    pub(super) async fn compose_batch(&self) -> anyhow::Result<Vec<Step>> {
        let now = self.clock.now();
        let config = self.config.current();
        // Claimed in the transaction that composes: one commit for both. It need not wait for
        // the disk: no email of the batch leaves before the claim that takes it for sending
        // commits, and that commit's sync makes this one durable too. A power cut before then
        // loses the batch whole, and the conversations, still due, are composed again.
        let mut tx = self.store.begin_deferred().await?;
        let convs = tx.claim_due(now, COMPOSE_BATCH).await?;
        if convs.is_empty() {
            return Ok(Vec::new());
        }
        // A handful is made on this thread: handing it over would cost more than it saves.
        let inline = convs.len() < PARALLEL_MAKE;
        // Presence is per site: read once per site for the whole batch.
        let mut states = std::collections::HashMap::new();
        let mut steps = Vec::with_capacity(convs.len());
        let mut making = std::collections::VecDeque::new();
        let mut writes = Writes::default();
        let mut convs = convs.into_iter().peekable();
        while convs.peek().is_some() || !making.is_empty() {
            let mut owed = Vec::with_capacity(MAKE_CHUNK);
            let chunk: Vec<Conversation> = convs.by_ref().take(MAKE_CHUNK).collect();
            let mut read = Read::of(tx.as_mut(), &chunk).await?;
            for conv in chunk {
                match self
                    .plan(tx.as_mut(), &config, &mut states, &mut read, conv, now)
                    .await?
                {
                    Some(email) => owed.push(email),
                    None => steps.push(Step::Rescheduled),
                }
            }
            writes.schedules.append(&mut read.schedules);
            if inline {
                making.push_back(Making::Done(make_chunk(&config, &self.keys, owed, now)));
            } else if !owed.is_empty() {
                let (config, keys) = (config.clone(), self.keys.clone());
                making.push_back(Making::Away(tokio::task::spawn_blocking(move || {
                    make_chunk(&config, &keys, owed, now)
                })));
            }
            // Written in order once the chunk after it is on its way (or there is none).
            if making.len() > MAKING_AHEAD || convs.peek().is_none() {
                let made = match making.pop_front() {
                    Some(Making::Done(made)) => made,
                    Some(Making::Away(handle)) => handle.await?,
                    None => continue,
                };
                for (owed, made) in made {
                    let step = self.record(tx.as_mut(), &config, &mut writes, owed, made, now);
                    steps.push(step.await?);
                }
                writes.flush(tx.as_mut()).await?;
            }
        }
        writes.flush(tx.as_mut()).await?;
        tx.commit().await?;
        Ok(steps)
    }

    /// Reads what one claimed conversation owes now, inside `tx`. `None` when it owes no
    /// email yet: its new due time is already written back.
    #[tracing::instrument(name = "compose", skip_all, fields(site = %conv.site_id, conversation = %conv.id))]
    async fn plan(
        &self,
        tx: &mut dyn crate::store::Tx,
        config: &crate::config::Config,
        states: &mut HashMap<String, crate::store::SiteState>,
        read: &mut Read,
        mut conv: Conversation,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Option<Owed>> {
        let pk = conv.pk;
        let Some(site) = config.site(&conv.site_id) else {
            // The site was removed from the config: nothing to send on its behalf.
            conv.due_at = None;
            read.schedules.push(conv);
            return Ok(None);
        };
        // Everything is checked again now: the visitor may have come back and read.
        let state = apply::presence(tx, states, &site.id).await?;
        let suppressed = conv.visitor.email.as_ref().is_some_and(|e| {
            read.suppressed
                .contains(&(site.id.clone(), e.to_lowercase()))
        });
        let facts = apply::facts(&conv, &state, suppressed);
        match triggers::due(&facts, &site.triggers) {
            Ok(due) if due.at <= now => {
                let mut messages = read.messages.remove(&pk).unwrap_or_default();
                // The email carries the conversation as it stood when the email fell due; a
                // reply written after that is the next email's, as it would have been had the
                // worker woken on time.
                let owed_after = compose::pending(&messages, conv.read_seq)
                    .map(|(_, m)| m.at)
                    .filter(|at| *at > due.at)
                    .min();
                messages.retain(|m| m.at <= due.at);
                Ok(Some(Owed {
                    conv,
                    messages,
                    due,
                    facts,
                    owed_after,
                }))
            }
            other => {
                if let Err(reason) = other {
                    tracing::debug!(reason = describe(reason), "no email owed");
                }
                apply::schedule(&mut conv, &facts, site);
                read.schedules.push(conv);
                Ok(None)
            }
        }
    }

    /// Writes the email a conversation owes, made from what [`Worker::plan`] read, inside `tx`.
    #[tracing::instrument(name = "compose", skip_all, fields(site = %owed.conv.site_id, conversation = %owed.conv.id))]
    async fn record(
        &self,
        tx: &mut dyn Tx,
        config: &crate::config::Config,
        writes: &mut Writes,
        owed: Owed,
        made: Result<compose::Made, compose::MakeError>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Step> {
        let Owed {
            mut conv,
            due,
            facts,
            owed_after,
            ..
        } = owed;
        let pk = conv.pk;
        let site = config.site(&conv.site_id).expect(PLANNED);
        let to = conv
            .visitor
            .email
            .clone()
            .expect("identified: checked by the triggers");
        let made = match made {
            Ok(made) => made,
            Err(e) => {
                let site_id = site.id.clone();
                return unmade(tx, config, writes, conv, &site_id, &to, e, now).await;
            }
        };
        let compose::Made {
            id,
            message_id,
            mail_from,
            raw,
            selection,
            ..
        } = made;
        let email = OutboxEmail {
            id: id.to_string(),
            conversation_pk: pk,
            conversation_id: conv.id.clone(),
            site_id: site.id.clone(),
            message_id: message_id.clone(),
            mail_from,
            rcpt_to: to,
            status: EmailStatus::Pending,
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
            sent_at: None,
            last_error: None,
        };
        let email_id = email.id.clone();
        let metrics = crate::metrics::get();
        metrics.emails_queued.inc();
        metrics
            .send_lateness
            .observe((now - due.at).num_milliseconds().max(0) as f64 / 1000.0);
        (writes.forwarded).extend(
            selection
                .forward
                .iter()
                .map(|seq| (pk, *seq, email_id.clone())),
        );
        conv.unanswered_emails += 1;
        conv.thread.push(message_id);
        if due.kind == triggers::EmailKind::CloseTranscript {
            conv.close_transcript_at = None;
        }
        // Every reply owed when it fell due is now forwarded; what is left is the replies
        // written since: the next due time follows without asking the database again.
        conv.pending_since = owed_after;
        conv.fell_due_at = None;
        let after = triggers::Facts {
            pending_since: owed_after,
            unanswered_emails: conv.unanswered_emails,
            close_transcript_since: conv.close_transcript_at,
            fell_due_at: None,
            ..facts
        };
        apply::schedule(&mut conv, &after, site);
        tracing::info!(email = %email_id, forwarded = selection.forward.len(), "email queued");
        writes.emails.push((email, raw));
        writes.schedules.push(conv);
        Ok(Step::Composed)
    }
}

/// How many due conversations one composing transaction takes on. Its commit (a WAL write and
/// an fsync) and hand-offs are shared by the batch, and a backlog drains in fewer of them;
/// the transaction holds the write lock for a few milliseconds per 100.
const COMPOSE_BATCH: u32 = 256;

/// From this many conversations in a batch, emails are made on blocking threads: below it,
/// the hand-off costs more than it saves.
const PARALLEL_MAKE: usize = 8;

/// Batches composed side by side when a backlog is due, where the database allows it. The
/// scheduler row's p99 on PostgreSQL, stop 36: one 1.29–1.59 s, two 1.16–1.20 s, three
/// 1.02–1.05 s, four 1.09–1.41 s (two rounds each).
const SIDE_BY_SIDE: usize = 3;

/// Batches a stream composes in one round of a backlog, one after the other: the round, and so
/// the wait for shutdown between rounds, stays under a second.
const STREAM_BATCHES: usize = 4;

/// How many emails are made in one piece of a batch.
const MAKE_CHUNK: usize = 32;

/// Chunks being made while this task reads and writes: with two, both cores stay busy.
const MAKING_AHEAD: usize = 2;

/// A chunk of a batch's emails, made here or on a blocking thread.
enum Making {
    Done(Vec<(Owed, Result<compose::Made, compose::MakeError>)>),
    Away(tokio::task::JoinHandle<Vec<(Owed, Result<compose::Made, compose::MakeError>)>>),
}

/// Makes the emails owed, in order: pure work, no I/O.
fn make_chunk(
    config: &crate::config::Config,
    keys: &TokenKeys,
    owed: Vec<Owed>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(Owed, Result<compose::Made, compose::MakeError>)> {
    let public_url = config.api.public_url.as_deref().unwrap_or_default();
    owed.into_iter()
        .map(|o| {
            let site = config.site(&o.conv.site_id).expect(PLANNED);
            let made = compose::make(
                site,
                keys,
                public_url,
                o.due.kind,
                &o.conv,
                &o.messages,
                now,
            );
            (o, made)
        })
        .collect()
}

/// Why a batch's site look-ups after [`Worker::plan`] cannot fail: the batch is planned, made
/// and recorded under one config snapshot, and `plan` set aside conversations of unknown sites.
const PLANNED: &str = "plan found the site in this same config";

/// An email a conversation owes, with what making it needs; read by [`Worker::plan`].
struct Owed {
    conv: crate::store::Conversation,
    messages: Vec<crate::store::Message>,
    due: triggers::Due,
    /// What the triggers saw: the next due time, after this email, follows from them.
    facts: triggers::Facts,
    /// The oldest reply owed that was written after the email fell due, left for the next.
    owed_after: Option<chrono::DateTime<chrono::Utc>>,
}

/// What becomes of a conversation whose email could not be made: a visitor address the mail
/// system cannot take is suppressed (as good as a hard bounce); our own fault (a site's
/// template failing as it renders) keeps the visitor's place, to try again later.
#[allow(clippy::too_many_arguments)]
async fn unmade(
    tx: &mut dyn Tx,
    config: &crate::config::Config,
    writes: &mut Writes,
    mut conv: Conversation,
    site: &str,
    to: &str,
    error: compose::MakeError,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Step> {
    let metrics = crate::metrics::get();
    match error {
        compose::MakeError::Address(e) => {
            tracing::warn!(error = %e, "cannot build an email for this visitor; suppressing the address");
            metrics
                .emails_failed
                .get_or_create(&crate::metrics::label("reason", "invalid_address"))
                .inc();
            tx.suppress(site, to, "invalid_address", &e.to_string(), now)
                .await?;
            crate::metrics::suppressed("invalid_address");
            conv.due_at = None;
            conv.fell_due_at = None;
        }
        compose::MakeError::Other(e) => {
            // The visitor gets the email once it can be made (a fixed template, reloaded).
            tracing::error!(error = %format!("{e:#}"), "cannot make this email; trying again later");
            metrics
                .emails_failed
                .get_or_create(&crate::metrics::label("reason", "compose"))
                .inc();
            conv.due_at = Some(now + config.delivery.retry_initial);
        }
    }
    writes.schedules.push(conv);
    Ok(Step::Rescheduled)
}

/// What a chunk of claimed conversations needs read before it is planned, each kind in one
/// statement; and the schedules of those that owe nothing now, to be written with the rest.
struct Read {
    /// Each conversation's messages, taken out as it is planned.
    messages: HashMap<i64, Vec<Message>>,
    /// (site, lowercased address) of the chunk's visitors who get no email.
    suppressed: HashSet<(String, String)>,
    /// Conversations planned to owe nothing now, with their new due times.
    schedules: Vec<Conversation>,
}

impl Read {
    async fn of(tx: &mut dyn Tx, chunk: &[Conversation]) -> anyhow::Result<Read> {
        let pks: Vec<i64> = chunk.iter().map(|c| c.pk).collect();
        let messages = tx.messages_of(&pks).await?;
        let mut by_site: HashMap<&str, Vec<&str>> = HashMap::new();
        for c in chunk {
            if let Some(email) = &c.visitor.email {
                by_site.entry(&c.site_id).or_default().push(email);
            }
        }
        let mut suppressed = HashSet::new();
        for (site, emails) in by_site {
            for email in tx.suppressed_among(site, &emails).await? {
                suppressed.insert((site.to_string(), email));
            }
        }
        Ok(Read {
            messages,
            suppressed,
            schedules: Vec::new(),
        })
    }
}

/// What composing writes, held until a chunk is recorded and written then in one multi-row
/// statement per kind (all inside the batch's transaction, so nothing is seen half written).
#[derive(Default)]
struct Writes {
    /// New outbox emails with their bytes.
    emails: Vec<(OutboxEmail, Vec<u8>)>,
    /// (conversation pk, seq, email id): the replies each email forwards.
    forwarded: Vec<(i64, i64, String)>,
    /// Conversations with their new due times and counters.
    schedules: Vec<Conversation>,
}

impl Writes {
    /// Writes what is held: the emails first, since the marks name them.
    async fn flush(&mut self, tx: &mut dyn Tx) -> anyhow::Result<()> {
        if !self.emails.is_empty() {
            tx.insert_emails(&self.emails).await?;
            self.emails.clear();
        }
        if !self.forwarded.is_empty() {
            tx.mark_forwarded_many(&self.forwarded).await?;
            self.forwarded.clear();
        }
        if !self.schedules.is_empty() {
            tx.save_schedules(&self.schedules).await?;
            self.schedules.clear();
        }
        Ok(())
    }
}
