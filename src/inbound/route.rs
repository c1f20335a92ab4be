//! Finding a reply's conversation: its reply token (a MAC, no database) or our Message-ID in
//! `In-Reply-To`/`References`; then the sender and reach-window checks under the site's policy, and
//! the reply trimmed again knowing the emails of ours it answers.

use super::classify::{ours, sent_email};
use super::{Analysis, Decision, Envelope, Inbound, Kind, Routing, SenderCheck, TokenCheck, Via};
use crate::config::{Config, SenderPolicy};
use crate::store::{Conversation, Tx};
use crate::token::{Purpose, TokenKeys};
use chrono::{DateTime, Utc};
use mail_parser::Message;
use std::collections::{HashMap, HashSet};

/// The first reply token among `addresses` whose MAC verifies for a configured site: the
/// address that carried it, the site and the conversation number. `Err` says why a token
/// that was there did not do.
pub(super) fn route_token(
    config: &Config,
    keys: Option<&TokenKeys>,
    addresses: &[String],
) -> Result<Option<Token>, String> {
    let mut error = None;
    for address in addresses {
        let Some(token) = reply_token(address) else {
            continue;
        };
        let Some(keys) = keys else {
            return Err(super::NO_DATABASE.into());
        };
        if TokenKeys::number(&token).is_none() {
            error = Some("malformed reply token".to_string());
            continue;
        }
        // The site is under the MAC, not in the token: try each (a MAC costs a
        // microsecond, and a daemon serves a handful of sites).
        let verified = config.sites.iter().find_map(|site| {
            let pk = keys.verify(Purpose::Reply, &site.id, &token)?;
            Some((site.id.clone(), pk))
        });
        match verified {
            Some((site, pk)) => {
                return Ok(Some(Token {
                    address: address.clone(),
                    site,
                    pk,
                }))
            }
            None => error = Some(FORGED.to_string()),
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

/// Routes by reply token: a reply token in the recipients, the envelope's first (it is
/// what the MTA says this copy is for; LMTP delivers one copy per recipient), then the
/// headers a reply address can be in. A token that does not verify is refused, even if
/// `In-Reply-To` would route.
pub(super) fn route(
    message: &Message<'_>,
    envelope: &Envelope,
    config: &Config,
    keys: Option<&TokenKeys>,
    analysis: &mut Analysis,
) {
    let mut addresses: Vec<String> = envelope.rcpt_to.clone();
    for list in [message.to(), message.cc()].into_iter().flatten() {
        addresses.extend(list.iter().filter_map(|a| a.address()).map(String::from));
    }
    for (name, value) in message.headers_raw() {
        if name.eq_ignore_ascii_case("Delivered-To") || name.eq_ignore_ascii_case("X-Original-To") {
            addresses.push(value.trim().trim_matches(['<', '>']).to_string());
        }
    }
    match route_token(config, keys, &addresses) {
        Ok(Some(token)) => {
            analysis.routing.via = Via::Token;
            analysis.routing.address = Some(token.address);
            analysis.routing.site = Some(token.site);
            analysis.routing.conversation_pk = Some(token.pk);
            analysis.verification.token = TokenCheck::Valid;
        }
        Ok(None) => {}
        Err(e) => {
            analysis.verification.token = if e == FORGED {
                TokenCheck::Forged
            } else {
                TokenCheck::None
            };
            analysis.routing.error = Some(e);
        }
    }
}

/// At most this many of the emails a reply names are looked for as quoted copies: a client
/// quotes the one it answers, and `References` may name every email of a long thread.
const MAX_ANSWERED: usize = 3;

impl Inbound {
    /// The reads of routing and verification, inside `tx`: the conversation a token names
    /// (it must exist and be of the token's site), else the one whose email our Message-ID in
    /// `In-Reply-To`/`References` names; then, for a reply, the sender and reach-window checks.
    /// Run where the reply is stored, in the same transaction, so the conversation is read
    /// once and what was checked is what is written. Returns the conversation's pk, if routed;
    /// the conversation itself is in `reads` (read there once for a whole group).
    ///
    /// Running it again on the same analysis gives the same answer (a group commit that
    /// failed is retried reply by reply).
    pub(super) async fn resolve(
        &self,
        analysis: &mut Analysis,
        tx: &mut dyn Tx,
        reads: &mut Reads,
    ) -> anyhow::Result<Option<i64>> {
        let mut conv = None;
        if let Some(pk) = analysis.routing.conversation_pk {
            let site = analysis.routing.site.as_deref().unwrap_or_default();
            match reads.conversation(tx, pk).await? {
                Some(c) if c.site_id == site => conv = Some(c.pk),
                found => {
                    // A genuine MAC on a number that is no conversation of that site's.
                    let error = if found.is_some() {
                        FORGED
                    } else {
                        "unknown reply token"
                    };
                    analysis.verification.token = if found.is_some() {
                        TokenCheck::Forged
                    } else {
                        TokenCheck::None
                    };
                    analysis.routing = Routing {
                        via: Via::None,
                        error: Some(error.into()),
                        ..Routing::default()
                    };
                }
            }
        } else if analysis.routing.error.is_none() {
            let config = self.config.current();
            let any_site = |id: &&String| (config.sites.iter()).any(|s| ours(id, &s.reply_domain));
            for id in analysis.references.iter().filter(any_site) {
                let Some(email) = tx.email_by_message_id(id).await? else {
                    continue;
                };
                let Some(c) = reads.conversation(tx, email.conversation_pk).await? else {
                    continue;
                };
                analysis.routing.via = Via::InReplyTo;
                analysis.routing.site = Some(c.site_id.clone());
                analysis.routing.conversation_pk = Some(c.pk);
                conv = Some(c.pk);
                break;
            }
            if conv.is_none() {
                analysis.routing.error = Some("no reply token and no Message-ID of ours".into());
            }
        }
        let Some(pk) = conv else {
            analysis.not_routed();
            return Ok(None);
        };
        let site = reads.stored(pk)?.site_id.clone();
        let last_email = match analysis.kind {
            Kind::Reply => reads.last_email_at(tx, pk).await?,
            _ => None,
        };
        let conv = reads.stored(pk)?;
        analysis.routing.conversation = Some(conv.id.clone());
        if analysis.kind == Kind::Reply {
            self.verify(analysis, conv, last_email);
            if !analysis.sent_checked {
                (self.trim_knowing_what_was_sent(analysis, &site, pk, tx)).await?;
            }
        }
        Ok(Some(pk))
    }

    /// Trims the reply again, knowing the emails of ours it answers: their copies are cut
    /// however the client quoted them. Read in `tx`.
    pub(super) async fn trim_knowing_what_was_sent(
        &self,
        analysis: &mut Analysis,
        site_id: &str,
        pk: i64,
        tx: &mut dyn Tx,
    ) -> anyhow::Result<()> {
        if let Some(answered) = self.answered_ids(analysis, site_id) {
            let raws = tx.answered_emails(pk, &answered).await?;
            trim_sent(analysis, &raws);
        }
        Ok(())
    }

    /// The `Message-ID`s of ours a reply to a site names (at most [`MAX_ANSWERED`]); `None`
    /// where the site is no longer configured.
    pub(super) fn answered_ids(&self, analysis: &Analysis, site_id: &str) -> Option<Vec<String>> {
        let config = self.config.current();
        let site = config.sites.iter().find(|s| s.id == site_id)?;
        Some(
            (analysis.references.iter())
                .filter(|id| ours(id, &site.reply_domain))
                .take(MAX_ANSWERED)
                .cloned()
                .collect(),
        )
    }

    /// Sender and reach-window checks, under the site's policy: `last_email` is when the
    /// conversation's newest email was made.
    pub(super) fn verify(
        &self,
        analysis: &mut Analysis,
        conv: &Conversation,
        last_email: Option<DateTime<Utc>>,
    ) {
        let Some(site) = self.site(&conv.site_id) else {
            analysis.verification.reason = Some("site no longer configured".into());
            return;
        };
        let visitor = conv.visitor.email.as_deref().map(str::to_lowercase);
        let from = analysis.from.as_deref().map(str::to_lowercase);
        let from_domain = from
            .as_deref()
            .and_then(|f| f.rsplit_once('@'))
            .map(|(_, d)| d);
        let results = analysis.auth_results.iter().map(String::as_str);
        let dmarc_fail_by = from_domain
            .and_then(|d| super::auth::dmarc_failure(results, &site.trusted_authserv_ids, d));
        analysis.verification.sender = match (&visitor, &from) {
            (Some(v), Some(f)) if v == f && dmarc_fail_by.is_some() => SenderCheck::DmarcFail,
            (Some(v), Some(f)) if v == f => SenderCheck::Match,
            (Some(_), Some(_)) => SenderCheck::Mismatch,
            _ => SenderCheck::Unknown,
        };
        analysis.verification.dmarc_fail_by = dmarc_fail_by;
        let now = self.clock.now();
        analysis.verification.window_open =
            last_email.is_some_and(|t| now < t + site.triggers.reach_window);
        let policy = site.sender_policy;
        analysis.verification.sender_policy = Some(policy);
        let (decision, reason) = decide(
            analysis.verification.window_open,
            analysis.verification.sender,
            policy,
            analysis.from.as_deref(),
        );
        analysis.verification.decision = decision;
        analysis.verification.reason = reason;
    }
}

/// What the replies of a group read, each once for all of them, and the conversations as the
/// group's replies change them.
#[derive(Default)]
pub(super) struct Reads {
    /// Conversations by pk, as read (locked) in the transaction, then changed by the replies
    /// stored before: the next reply to the same conversation starts from there.
    conversations: HashMap<i64, Conversation>,
    /// Conversations looked for and not found: not asked for again.
    missing: HashSet<i64>,
    /// When each conversation's newest email was made (`None`: it has none), for the reach
    /// window.
    last_email_at: HashMap<i64, Option<DateTime<Utc>>>,
}

impl Reads {
    /// Reads conversations `pks` (those the group's reply tokens name) and when each last had
    /// an email, in one statement for all of them.
    pub(super) async fn prefetch(tx: &mut dyn Tx, pks: &[i64]) -> anyhow::Result<Self> {
        let mut pks = pks.to_vec();
        pks.sort_unstable();
        pks.dedup();
        let mut conversations = HashMap::with_capacity(pks.len());
        // A conversation not stored has no email either.
        let mut last_email_at: HashMap<i64, Option<DateTime<Utc>>> =
            pks.iter().map(|pk| (*pk, None)).collect();
        for (c, last) in tx.conversations_with_last_email(&pks).await? {
            last_email_at.insert(c.pk, last);
            conversations.insert(c.pk, c);
        }
        Ok(Reads {
            missing: (pks.iter().copied())
                .filter(|pk| !conversations.contains_key(pk))
                .collect(),
            last_email_at,
            conversations,
        })
    }

    /// Conversation `pk`, read from `tx` unless read before.
    async fn conversation(
        &mut self,
        tx: &mut dyn Tx,
        pk: i64,
    ) -> anyhow::Result<Option<&Conversation>> {
        if !self.conversations.contains_key(&pk) && !self.missing.contains(&pk) {
            match tx.conversation_by_pk(pk).await? {
                Some(c) => _ = self.conversations.insert(pk, c),
                None => _ = self.missing.insert(pk),
            }
        }
        Ok(self.conversations.get(&pk))
    }

    /// When conversation `pk` last had an email, read from `tx` unless read before.
    async fn last_email_at(
        &mut self,
        tx: &mut dyn Tx,
        pk: i64,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        if let Some(at) = self.last_email_at.get(&pk) {
            return Ok(*at);
        }
        let at = tx.last_email_at(pk).await?;
        self.last_email_at.insert(pk, at);
        Ok(at)
    }

    /// Conversation `pk`, which an earlier step found.
    pub(super) fn stored(&self, pk: i64) -> anyhow::Result<&Conversation> {
        (self.conversations.get(&pk)).ok_or_else(|| anyhow::anyhow!("conversation {pk} not read"))
    }

    /// [`Reads::stored`], to change.
    pub(super) fn stored_mut(&mut self, pk: i64) -> anyhow::Result<&mut Conversation> {
        (self.conversations.get_mut(&pk))
            .ok_or_else(|| anyhow::anyhow!("conversation {pk} not read"))
    }
}

/// A reply token whose MAC verified.
pub(super) struct Token {
    /// The address that carried it.
    pub(super) address: String,
    /// The site whose MAC it is.
    pub(super) site: String,
    /// The conversation it names (its primary key).
    pub(super) pk: i64,
}

/// Why a token whose MAC does not verify is refused.
pub(super) const FORGED: &str = "forged reply token";

/// The token of a `reply+TOKEN@domain` address.
pub(super) fn reply_token(address: &str) -> Option<String> {
    let address = address.trim().trim_matches(['<', '>']);
    let (local, _) = address.rsplit_once('@')?;
    let lower = local.to_ascii_lowercase();
    lower.strip_prefix("reply+").map(String::from)
}

/// What is done with a routed reply: refused once the reach-back window has closed; otherwise
/// posted when the sender is the visitor, and else as the site's policy says. The reason goes
/// with anything but a plain accept.
pub(super) fn decide(
    window_open: bool,
    sender: SenderCheck,
    policy: SenderPolicy,
    from: Option<&str>,
) -> (Decision, Option<String>) {
    if !window_open {
        return (
            Decision::Reject,
            Some("the reach-back window has closed".to_string()),
        );
    }
    if sender == SenderCheck::Match {
        return (Decision::Accept, None);
    }
    let from = from.unwrap_or("(none)");
    let why = if sender == SenderCheck::DmarcFail {
        format!("sender {from} fails DMARC, as the operator's MTA says: someone else wrote it")
    } else {
        format!("sender {from} is not the visitor's address")
    };
    let decision = match policy {
        SenderPolicy::Strict => Decision::Reject,
        SenderPolicy::Quarantine => Decision::Quarantine,
        SenderPolicy::Accept => Decision::Accept,
    };
    (decision, Some(why))
}

/// Trims a reply again with the emails of ours it answers (their bytes, `raws`): their
/// copies are cut however the client quoted them.
pub(super) fn trim_sent(analysis: &mut Analysis, raws: &[Vec<u8>]) {
    let sent: Vec<_> = raws.iter().filter_map(|r| sent_email(r)).collect();
    if !sent.is_empty() {
        analysis.set_text(&sent);
    }
    analysis.sent_checked = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_follows_window_sender_and_policy() {
        use SenderCheck::{DmarcFail, Match, Mismatch, Unknown};
        use SenderPolicy as P;
        let table = [
            (false, Match, P::Accept, Decision::Reject, true),
            (false, Mismatch, P::Accept, Decision::Reject, true),
            (true, Match, P::Strict, Decision::Accept, false),
            (true, Mismatch, P::Strict, Decision::Reject, true),
            (true, Unknown, P::Strict, Decision::Reject, true),
            (true, Mismatch, P::Quarantine, Decision::Quarantine, true),
            (true, Unknown, P::Quarantine, Decision::Quarantine, true),
            (true, Mismatch, P::Accept, Decision::Accept, true),
            (true, DmarcFail, P::Strict, Decision::Reject, true),
            (true, DmarcFail, P::Quarantine, Decision::Quarantine, true),
        ];
        for (open, sender, policy, want, has_reason) in table {
            let (got, reason) = decide(open, sender, policy, Some("x@y.example"));
            assert_eq!(got, want, "{open} {sender} {policy:?}");
            assert_eq!(reason.is_some(), has_reason, "{open} {sender} {policy:?}");
        }
    }
}
