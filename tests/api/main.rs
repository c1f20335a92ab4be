//! Integration tests: the daemon driven through its HTTP API, emails received by a real SMTP
//! server on loopback, time moved by a manual clock (never slept).

mod helpers;
mod imap;

mod auth;
mod chatwoot;
mod config_keys;
mod delivery;
mod erasure;
mod events;
mod metrics;
mod modes;
mod openapi;
mod outbox;
mod relay_pipelining;
mod replies;
mod reports;
mod retention;
mod serve;
mod smtp_listener;
mod timeline;
mod triggers;
mod trimming;
mod trust;
mod widget;
