//! replyrelay keeps website-chat conversations alive after the visitor has left.
//!
//! The chat platform posts what happens in its chats to the HTTP API; replyrelay decides when a
//! visitor is gone, emails identified visitors the replies they have not read, and turns their
//! email answers back into chat messages in the same thread.
//!
//! Where each behaviour lives, from the edges inwards. A module imports only modules below it
//! in this list or beside it in its layer (a test in `tests/structure.rs` checks there is no
//! import circle). Folders hold the big concerns; their `mod.rs` names their files.
//!
//! **Entry points**
//! - [`app`] — wiring for `replyrelay serve` and tests: [`app::Application`], `open` (the store,
//!   migrated, with its token keys), `serve` (the daemon), `systemd` (READY, watchdog, reload
//!   policy, shutdown grace).
//! - [`cli`] — the one-shot commands: `ingest`, `inspect`, `preview`, `send_test`,
//!   `check-config`, `migrate`.
//!
//! **Edges: what talks to the outside**
//! - [`api`] — the HTTP API: `POST /v1/events`, conversations, contacts, unsubscribe, health,
//!   and the widget's routes (`api::widget`).
//! - [`listener`] — the SMTP/LMTP listener, one file per phase (`ehlo`, `mail`, `rcpt`, `data`).
//! - [`imap`] — the IMAP poller, the other way answers come in.
//! - [`outbound`] — our SMTP connection pool (lettre, with commands pipelined where the relay
//!   offers it) or a maildir folder.
//! - [`webhooks`] — the events for the chat platform: their payloads, signing, posting.
//! - [`trust`] — the one trust store of those three TLS clients (system roots + `ca_file`).
//!
//! **Pipelines: what happens to an event, an email, a reply**
//! - [`worker`] — claims due conversations and outbox emails with leases; one step at a time.
//! - [`apply`] — how each event changes stored state, and the due time that follows.
//! - [`inbound`] — one incoming email: `read` (pure: parse, classify, route by token), `route`
//!   (the conversation, sender and window checks), `commit` (the group commit), `bounce`, `dsn`
//!   (reading delivery reports), `classify` (auto-replies, loops, the reply's words).
//!
//! **Domain rules: pure functions over plain data**
//! - [`triggers`] — the conditions of "the visitor is gone" → a due time.
//! - [`compose`] — which messages an email shows, the templates, MIME.
//! - [`reply`] — the visitor's new words, with quotes and signatures trimmed away.
//! - [`events`] — the event JSON parsed into checked values; errors name the field.
//! - [`chatwoot`] — Chatwoot's webhooks read as events, their signature, and the body that
//!   posts a visitor's email answer back into the Chatwoot conversation.
//! - [`widget`] — what a page may report (presence, reads) with the widget token it was given,
//!   and `widget.js`, which reports it.
//! - [`failure`] — why a delivery failed, and whether the address is dead (hard or soft).
//! - [`brand`] — a site's colour, checked for contrast and given a shade for dark mode.
//!
//! **Foundations**
//! - [`config`] — the one TOML file: `model`, `raw`, `defaults` (every built-in value),
//!   `resolve` and `site` (checks), `locate`/`probe` (errors with file, line and key).
//! - [`store`] — the storage traits (`Store`, and `Tx` as one trait per aggregate), SQLite
//!   (`sqlite/`, over rusqlite) and PostgreSQL (sqlx) built from the SQL in `sql/`.
//! - [`own_templates`] — a site's own Jinja templates, checked at load and rendered.
//! - [`token`] — MAC'd reply, unsubscribe and bounce tokens; [`verp`] — each email's own
//!   bounce address; [`list_unsubscribe`] — each email's own unsubscribe address;
//!   [`erasure`] — the keyed hash an erased visitor's suppression survives as.
//! - [`domain`], [`i18n`], [`clock`], [`metrics`], [`telemetry`], [`stop`] — small shared
//!   pieces: checked values and vocabularies, strings, the injected clock, counters, logs, the
//!   shutdown signal.

pub mod api;
pub mod app;
pub mod apply;
pub mod brand;
pub mod chatwoot;
pub mod cli;
pub mod clock;
pub mod compose;
pub mod config;
pub mod domain;
pub mod erasure;
pub mod events;
pub mod failure;
pub mod i18n;
pub mod imap;
pub mod inbound;
pub mod list_unsubscribe;
pub mod listener;
pub mod metrics;
pub mod outbound;
pub mod own_templates;
pub mod reply;
pub mod stop;
pub mod store;
pub mod telemetry;
pub mod token;
pub mod triggers;
pub mod trust;
pub mod verp;
pub mod webhooks;
pub mod widget;
pub mod worker;
