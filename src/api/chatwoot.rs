//! `POST /v1/bridges/chatwoot/{site}`: Chatwoot's webhooks for a site that uses Chatwoot,
//! checked against the site's `[site.chatwoot] webhook_secret` and applied as events.
//!
//! Chatwoot cannot send our bearer token, so its own signature is the credential. Every
//! webhook is answered 200 once believed and read, even one replyrelay has no use for (with
//! the reason), so that Chatwoot does not retry it.

use super::{views, ApiError, AppState};
use crate::apply;
use crate::chatwoot::{self, Translated};
use crate::config::SiteRef;
use crate::domain::{AuthorKind, MessageSource};
use crate::events::{Event, EventKind, FieldError};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

/// The one query parameter: the webhook's secret, for a Chatwoot that does not sign.
#[derive(serde::Deserialize)]
pub struct BridgeQuery {
    secret: Option<String>,
}

/// Takes one of Chatwoot's webhooks for `site`.
#[utoipa::path(post, path = "/v1/bridges/chatwoot/{site}", tag = "bridges",
    params(("site" = String, Path, description = "The site whose [site.chatwoot] this is")),
    request_body(content = Object, description = "A Chatwoot webhook, as Chatwoot posts it"),
    responses(
        (status = 200, body = views::BridgeApplied),
        (status = 400, body = views::ErrorBody, description = "The field at fault is named"),
        (status = 401, body = views::ErrorBody, description = "Not signed with the webhook's secret"),
        (status = 404, body = views::ErrorBody, description = "No such site, or it has no [site.chatwoot]"),
    ))]
pub async fn webhook(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    Query(query): Query<BridgeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<views::BridgeApplied>, ApiError> {
    let config = state.config.current();
    let site = SiteRef::by_id(config, &site_id)
        .filter(|s| s.chatwoot.is_some())
        .ok_or_else(|| ApiError::not_found(format!("no site `{site_id}` bridged to Chatwoot")))?;
    let cw = site.chatwoot.as_ref().expect("filtered");
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    chatwoot::verify(
        &cw.webhook_secret,
        header(chatwoot::SIGNATURE_HEADER),
        header(chatwoot::TIMESTAMP_HEADER),
        query.secret.as_deref(),
        &body,
        state.clock.now().timestamp(),
    )
    .map_err(|e| ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        field: None,
        message: e.to_string(),
    })?;
    let payload: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(FieldError::new("body", format!("not valid JSON: {e}"))))?;
    let translated = chatwoot::translate(&payload, &cw.inbox_ids).map_err(ApiError::invalid)?;
    let events = match translated {
        Translated::Events(events) => without_echoes(&state, &site, events).await?,
        Translated::Contact(visitor) => for_each_conversation(&state, &site, visitor).await?,
        Translated::Ignored(why) => {
            return Ok(Json(views::BridgeApplied {
                applied: 0,
                replayed: 0,
                ignored: Some(why),
            }))
        }
    };
    let applied =
        apply::apply_batch(state.store.as_ref(), &site, &events, state.clock.now()).await?;
    state.wake.notify_one();
    Ok(Json(views::BridgeApplied {
        applied: applied.applied,
        replayed: applied.replayed,
        ignored: None,
    }))
}

/// The events without the visitor's email answers coming back: once replyrelay posts an
/// answer into Chatwoot, Chatwoot reports it as a new incoming message, whose words are
/// already in the thread as the answer that came by email.
async fn without_echoes(
    state: &AppState,
    site: &SiteRef,
    events: Vec<Event>,
) -> Result<Vec<Event>, ApiError> {
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        if let EventKind::Message {
            conversation,
            message,
        } = &event.kind
        {
            if message.author == AuthorKind::Visitor {
                let stored = (state.store.conversation_view(&site.id, conversation))
                    .await
                    .map_err(ApiError::internal)?;
                let answered_by_email = stored.is_some_and(|(_, messages)| {
                    messages.iter().any(|m| {
                        m.message.source == MessageSource::Email
                            && m.message.text.trim() == message.text.trim()
                    })
                });
                if answered_by_email {
                    continue;
                }
            }
        }
        out.push(event);
    }
    Ok(out)
}

/// A contact's new name or address, for every conversation of theirs on the site.
async fn for_each_conversation(
    state: &AppState,
    site: &SiteRef,
    visitor: crate::events::VisitorInfo,
) -> Result<Vec<Event>, ApiError> {
    let found = (state.store.find_contacts(&site.id, &visitor.id, None, 1000))
        .await
        .map_err(ApiError::internal)?;
    Ok(found
        .into_iter()
        .filter(|(c, _)| c.visitor.id.as_deref() == Some(visitor.id.as_str()))
        .map(|(c, _)| Event {
            id: None,
            at: None,
            kind: EventKind::Visitor {
                conversation: c.id,
                visitor: visitor.clone(),
            },
            field: String::new(),
        })
        .collect())
}
