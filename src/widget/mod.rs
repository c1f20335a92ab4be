//! Presence and reads from the page itself: `widget.js`, which a site adds beside its chat
//! widget, reports when the visitor's page is shown, hidden or closed, and what they have
//! read, with a short-lived token the platform's backend mints for that page.
//!
//! The files: [`token`] (minting and checking widget tokens), [`report`] (what a page may
//! report, as events), [`limit`] (reports per token), and `widget.js` itself, served as is.
//! The HTTP side is the API's `widget` routes.

pub mod limit;
pub mod report;
pub mod token;

/// The script a page loads from `GET /v1/widget.js`.
pub const SCRIPT: &str = include_str!("widget.js");
