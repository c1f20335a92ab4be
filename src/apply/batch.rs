//! A batch of events in one transaction, with a few statements for the whole batch rather than
//! a few per event: replays, new conversations, stored message ids, suppressions and the
//! conversations themselves are read or written together, and the new messages are written
//! together (before anything reads messages, and at the end). On PostgreSQL every statement
//! is a round trip; per event, that was about 1.5 of them.

use super::event::{apply_one, reads_messages, starts, unknown_conversation, Unread};
use super::{facts, schedule, Applied, ApplyError};
use crate::config::Site;
use crate::events::{Event, EventKind};
use crate::store::{Conversation, NewMessage, SiteState, Store, Tx};
use crate::triggers;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// Applies a batch of events for `site`, all or nothing.
pub async fn apply_batch(
    store: &dyn Store,
    site: &Site,
    events: &[Event],
    now: DateTime<Utc>,
) -> Result<Applied, ApplyError> {
    let mut tx = store.begin().await?;
    // An event may describe the past; one from the future (clock skew) happened now.
    let times: Vec<DateTime<Utc>> = events
        .iter()
        .map(|e| e.at.map_or(now, |t| t.min(now)))
        .collect();
    let replayed = replays(tx.as_mut(), site, events, now).await?;
    let fresh = || {
        events
            .iter()
            .zip(&times)
            .zip(&replayed)
            .filter(|(_, r)| !**r)
    };
    let mut batch = Batch {
        touched: HashMap::new(),
        stale: HashSet::new(),
        suppressed: HashMap::new(),
        state: tx.site_state(&site.id).await?,
        owing_read: false,
    };
    let by_id = batch
        .read(tx.as_mut(), site, fresh().map(|((e, at), _)| (e, *at)))
        .await?;
    let mut messages = NewMessages::read(tx.as_mut(), &by_id, fresh().map(|((e, _), _)| e)).await?;
    let mut outcome = Applied::default();
    let mut presence_changed = false;
    for ((event, &at), &replay) in events.iter().zip(&times).zip(&replayed) {
        if replay {
            outcome.replayed += 1;
            continue;
        }
        if reads_messages(&event.kind) {
            messages.write(tx.as_mut()).await?;
        }
        let conv_id = match (&event.kind, event.kind.conversation()) {
            (EventKind::Agents { online }, _) => {
                batch
                    .agents(tx.as_mut(), site, *online, at, &mut messages)
                    .await?;
                presence_changed = true;
                outcome.applied += 1;
                continue;
            }
            (_, Some(id)) => id,
            (_, None) => continue,
        };
        let Some(&pk) = by_id.get(conv_id) else {
            return Err(unknown_conversation(event, conv_id));
        };
        batch
            .keep_fell_due(tx.as_mut(), site, pk, at, &mut messages)
            .await?;
        let c = batch.touched.get_mut(&pk).expect("read with the batch");
        match apply_one(tx.as_mut(), site, event, at, c, &mut messages).await? {
            Unread::Followed => {}
            Unread::Recount => {
                batch.stale.insert(pk);
            }
            // A message id already stored, earlier in this batch or before: not applied.
            Unread::Replayed => {
                outcome.replayed += 1;
                continue;
            }
        }
        outcome.applied += 1;
    }
    if presence_changed {
        tx.save_site_state(&site.id, &batch.state).await?;
    }
    messages.write(tx.as_mut()).await?;
    batch.finish(tx.as_mut(), site).await?;
    tx.notify_work().await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Which events are replays: their id was taken before, or earlier in this batch. The ids are
/// recorded as taken in the same statement.
async fn replays(
    tx: &mut dyn Tx,
    site: &Site,
    events: &[Event],
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<bool>> {
    let ids: Vec<&str> = events.iter().filter_map(|e| e.id.as_deref()).collect();
    let mut new = if ids.is_empty() {
        HashSet::new()
    } else {
        tx.events_seen(&site.id, &ids, now).await?
    };
    // The first event with a new id takes it; any later one with the same id is a replay.
    Ok(events
        .iter()
        .map(|e| e.id.as_ref().is_some_and(|id| !new.remove(id)))
        .collect())
}

/// The batch's new messages: the ids its conversations hold, stored or added, the sequence
/// numbers taken for them, and the rows not written yet.
pub(super) struct NewMessages {
    /// `(conversation pk, message id)` stored before the batch or added in it: a message
    /// event naming one is a replay.
    taken: HashSet<(i64, String)>,
    /// Sequence numbers taken for this batch, one per message event, in order: a message's
    /// is known at once, so its effects (what the visitor has read) are exact in memory
    /// before the row is written.
    seqs: std::vec::IntoIter<i64>,
    /// Added, not yet written: `(conversation pk, seq, message)`.
    unwritten: Vec<(i64, i64, NewMessage)>,
}

impl NewMessages {
    /// What the batch's message `events` need: which of their ids are stored, and a sequence
    /// number for each, in two statements.
    async fn read<'e>(
        tx: &mut dyn Tx,
        by_id: &HashMap<&str, i64>,
        events: impl Iterator<Item = &'e Event>,
    ) -> anyhow::Result<Self> {
        let pairs: Vec<(i64, &str)> = events
            .filter_map(|e| match &e.kind {
                EventKind::Message {
                    conversation,
                    message,
                } => Some((*by_id.get(conversation.as_str())?, message.id.as_str())),
                _ => None,
            })
            .collect();
        let taken = if pairs.is_empty() {
            HashSet::new()
        } else {
            tx.stored_message_ids(&pairs).await?
        };
        Ok(Self {
            taken,
            seqs: tx.reserve_seqs(pairs.len()).await?.into_iter(),
            unwritten: Vec::new(),
        })
    }

    /// Adds a message to conversation `pk`; its seq, or `None` if the id is taken.
    pub(super) fn add(&mut self, pk: i64, m: NewMessage) -> Option<i64> {
        if !self.taken.insert((pk, m.id.clone())) {
            return None;
        }
        let seq = self
            .seqs
            .next()
            .expect("a seq was taken for every message event");
        self.unwritten.push((pk, seq, m));
        Some(seq)
    }

    /// Writes what was added since the last time.
    async fn write(&mut self, tx: &mut dyn Tx) -> anyhow::Result<()> {
        if self.unwritten.is_empty() {
            return Ok(());
        }
        let rows: Vec<(i64, i64, &NewMessage)> = self
            .unwritten
            .iter()
            .map(|(pk, seq, m)| (*pk, *seq, m))
            .collect();
        tx.insert_messages(&rows).await?;
        self.unwritten.clear();
        Ok(())
    }
}

/// What a batch holds in memory between its events.
struct Batch {
    /// Every conversation the batch touched, by pk: read once, written once at the end.
    touched: HashMap<i64, Conversation>,
    /// Those whose `pending_since` a read or a deletion may have changed: asked of the
    /// database again only when it matters.
    stale: HashSet<i64>,
    /// Whether a conversation's address is suppressed, asked once per batch (events do not
    /// change it).
    suppressed: HashMap<i64, bool>,
    /// The site's presence as the batch has changed it so far, written once at the end.
    state: SiteState,
    /// Whether every conversation owing email is in `touched` (an `agents` event needs them).
    owing_read: bool,
}

impl Batch {
    /// Reads the conversations the (not replayed) `events` name, each with the instant of its
    /// first event, and starts those not stored whose first event can start one. Returns the
    /// pk of each by id. Three statements: the stored ones, the new ones, their suppressions.
    async fn read<'e>(
        &mut self,
        tx: &mut dyn Tx,
        site: &Site,
        events: impl Iterator<Item = (&'e Event, DateTime<Utc>)>,
    ) -> anyhow::Result<HashMap<&'e str, i64>> {
        let mut first: HashMap<&str, (&EventKind, DateTime<Utc>)> = HashMap::new();
        for (event, at) in events {
            if let Some(id) = event.kind.conversation() {
                first.entry(id).or_insert((&event.kind, at));
            }
        }
        let mut named: Vec<&str> = first.keys().copied().collect();
        named.sort_unstable();
        let mut stored = tx.conversations(&site.id, &named).await?;
        let known: HashSet<&str> = stored.iter().map(|c| c.id.as_str()).collect();
        // Started in id order, as `conversations` locks them: two batches never wait on each
        // other in a circle.
        let new: Vec<(&str, DateTime<Utc>)> = named
            .iter()
            .filter(|id| !known.contains(*id))
            .filter_map(|id| starts(first[id].0).then_some((*id, first[id].1)))
            .collect();
        if !new.is_empty() {
            stored.extend(tx.create_conversations(&site.id, &new).await?);
        }
        let mut by_id = HashMap::new();
        for c in stored {
            let id = named[named.binary_search(&c.id.as_str()).expect("asked for")];
            by_id.insert(id, c.pk);
            self.touched.insert(c.pk, c);
        }
        self.ask_suppressed(tx, site).await?;
        Ok(by_id)
    }

    /// Asks, in one statement, whether the addresses of touched conversations not asked yet
    /// are suppressed.
    async fn ask_suppressed(&mut self, tx: &mut dyn Tx, site: &Site) -> anyhow::Result<()> {
        let unasked: Vec<(i64, &str)> = (self.touched.values())
            .filter(|c| !self.suppressed.contains_key(&c.pk))
            .filter_map(|c| Some((c.pk, c.visitor.email.as_deref()?)))
            .collect();
        if unasked.is_empty() {
            return Ok(());
        }
        let emails: Vec<&str> = unasked.iter().map(|(_, e)| *e).collect();
        let found = tx.suppressed_among(&site.id, &emails).await?;
        let known: Vec<(i64, bool)> = (unasked.iter())
            .map(|(pk, e)| (*pk, found.contains(&e.to_lowercase())))
            .collect();
        self.suppressed.extend(known);
        Ok(())
    }

    /// An `agents` event: presence changes what every conversation owing email is due on, so
    /// each first keeps the instant its email fell due before the change.
    async fn agents(
        &mut self,
        tx: &mut dyn Tx,
        site: &Site,
        online: u32,
        at: DateTime<Utc>,
        messages: &mut NewMessages,
    ) -> anyhow::Result<()> {
        self.read_owing(tx, site).await?;
        let pks: Vec<i64> = self.touched.keys().copied().collect();
        for pk in pks {
            self.keep_fell_due(tx, site, pk, at, messages).await?;
        }
        self.state.agents_online = Some(online);
        self.state.agents_offline_since = match online {
            0 => self.state.agents_offline_since.or(Some(at)),
            _ => None,
        };
        Ok(())
    }

    /// Writes every touched conversation back with its new due time, in one statement per
    /// few hundred.
    async fn finish(mut self, tx: &mut dyn Tx, site: &Site) -> anyhow::Result<()> {
        // Visitor events may have given addresses since the batch was read.
        self.ask_suppressed(tx, site).await?;
        let mut done: Vec<Conversation> = Vec::with_capacity(self.touched.len());
        for (pk, mut c) in self.touched {
            if self.stale.contains(&pk) {
                c.pending_since = tx.pending_since(c.pk, c.read_seq).await?;
            }
            let suppressed = self.suppressed.get(&pk).copied().unwrap_or(false);
            let facts = facts(&c, &self.state, suppressed);
            schedule(&mut c, &facts, site);
            done.push(c);
        }
        done.sort_unstable_by_key(|c| c.pk);
        tx.save_conversations(&done).await?;
        Ok(())
    }

    async fn read_owing(&mut self, tx: &mut dyn Tx, site: &Site) -> anyhow::Result<()> {
        if std::mem::replace(&mut self.owing_read, true) {
            return Ok(());
        }
        for pk in tx.owing_conversations(&site.id).await? {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.touched.entry(pk) {
                if let Some(c) = tx.conversation_by_pk(pk).await? {
                    slot.insert(c);
                }
            }
        }
        self.ask_suppressed(tx, site).await
    }

    /// Before an event that happened at `at` is applied to conversation `pk`: if its email
    /// had fallen due by then, the instant is kept (see [`triggers::fell_due_before`]).
    async fn keep_fell_due(
        &mut self,
        tx: &mut dyn Tx,
        site: &Site,
        pk: i64,
        at: DateTime<Utc>,
        messages: &mut NewMessages,
    ) -> anyhow::Result<()> {
        let Some(c) = self.touched.get_mut(&pk) else {
            return Ok(());
        };
        let owes = c.pending_since.is_some() || c.close_transcript_at.is_some();
        let Some(email) = c.visitor.email.as_deref().filter(|_| owes) else {
            return Ok(());
        };
        let suppressed = match self.suppressed.get(&pk) {
            Some(known) => *known,
            None => {
                let known = tx.is_suppressed(&site.id, email).await?;
                self.suppressed.insert(pk, known);
                known
            }
        };
        let fell = |c: &Conversation| {
            triggers::fell_due_before(&facts(c, &self.state, suppressed), &site.triggers, at)
        };
        // A stale `pending_since` is no later than the exact one, and a later one only puts the
        // email off: when the stale one says "not due yet", so would the exact one.
        if fell(c).is_some() && self.stale.remove(&pk) {
            messages.write(tx).await?;
            c.pending_since = tx.pending_since(c.pk, c.read_seq).await?;
        }
        if let Some(at) = fell(c) {
            c.fell_due_at = Some(at);
        }
        Ok(())
    }
}
