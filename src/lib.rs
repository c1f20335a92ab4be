//! replyrelay keeps website-chat conversations alive after the visitor has left.
//!
//! The chat platform posts what happens in its chats to the HTTP API; replyrelay decides when a
//! visitor is gone, emails identified visitors the replies they have not read, and turns their
//! email answers back into chat messages in the same thread.
//!
//! How the modules fit, from the edge inwards:
//!
//! - [`config`] — the one TOML file: defaults, per-site overrides, errors with file/line/key.
//! - [`api`] — the HTTP API: `POST /v1/events`, conversations, contacts, unsubscribe, health.
//! - [`events`] — the event JSON parsed into checked values; errors name the field.
//! - [`apply`] — how each event changes stored state, and the due time that follows.
//! - [`triggers`] — *pure*: the conditions of "the visitor is gone" → a due time.
//! - [`compose`] — *mostly pure*: which messages an email shows, the templates, MIME.
//! - [`worker`] — claims due conversations and outbox emails with leases; one step at a time.
//! - [`outbound`] — our SMTP connection pool (lettre) or a maildir folder.
//! - [`listener`] — the SMTP/LMTP listener (smtp-proto) that takes visitors' answers.
//! - [`imap`] — the IMAP poller, the other way answers come in.
//! - [`inbound`] — one incoming email: parse, route by token, verify, group-commit into the thread.
//! - [`reply`] — *pure*: the visitor's new words, with quotes and signatures trimmed away.
//! - [`webhooks`] — events for the chat platform, queued and posted with retries.
//! - [`store`] — the storage traits; SQLite (rusqlite) and PostgreSQL (sqlx) from one SQL.
//! - [`token`] — MAC'd reply and unsubscribe tokens.
//! - [`domain`], [`i18n`], [`clock`], [`metrics`], [`telemetry`] — small shared pieces.
//! - [`app`] — wiring it together for `replyrelay serve` and for tests.

pub mod api;
pub mod app;
pub mod apply;
pub mod cli;
pub mod clock;
pub mod compose;
pub mod config;
pub mod domain;
pub mod events;
pub mod i18n;
pub mod imap;
pub mod inbound;
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
pub mod webhooks;
pub mod worker;
