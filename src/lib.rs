//! replyrelay keeps website-chat conversations alive after the visitor has left.
//!
//! The chat platform posts what happens in its chats to the HTTP API; replyrelay decides when a
//! visitor is gone, emails identified visitors the replies they have not read, and (in later
//! work) turns their email answers back into chat messages.
//!
//! How the modules fit, from the edge inwards:
//!
//! - [`config`] — the one TOML file: defaults, per-site overrides, errors with file/line/key.
//! - [`api`] — axum routes: `POST /v1/events`, `GET /v1/conversations/{id}`, unsubscribe, health.
//! - [`events`] — the event JSON parsed into checked values; errors name the field.
//! - [`apply`] — how each event changes stored state, and the due time that follows.
//! - [`triggers`] — *pure*: the six conditions of "the visitor is gone" → a due time.
//! - [`compose`] — *mostly pure*: which messages an email shows, the askama templates, MIME.
//! - [`worker`] — claims due conversations and outbox emails with leases; one step at a time.
//! - [`outbound`] — lettre SMTP relay or a maildir folder.
//! - [`store`] — the storage traits and the SQLite backend.
//! - [`token`] — MAC'd reply and unsubscribe tokens.
//! - [`domain`], [`i18n`], [`clock`], [`telemetry`] — small shared pieces.
//! - [`app`] — wiring it together for `replyrelay serve` and for tests.

pub mod api;
pub mod app;
pub mod apply;
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
pub mod reply;
pub mod store;
pub mod telemetry;
pub mod token;
pub mod triggers;
pub mod webhooks;
pub mod worker;
