//! The outbox, for operators and platforms: what is pending, what failed and why, and a retry
//! once the cause is fixed. `GET /v1/emails?status=&conversation=&limit=` and
//! `POST /v1/emails/{id}/retry`.

use super::{authenticate, ApiError, AppState};
use crate::apply;
use crate::store::{EmailStatus, OutboxEmail, RetryOutcome};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

/// The statuses a listing may ask for.
const STATUSES: [&str; 4] = ["pending", "sent", "failed", "cancelled"];

#[derive(serde::Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    conversation: Option<String>,
    limit: Option<u32>,
}

/// One email as the API shows it.
pub fn view(e: &OutboxEmail) -> Value {
    let pending = e.status == EmailStatus::Pending;
    json!({
        "id": e.id,
        "conversation": e.conversation_id,
        "to": e.rcpt_to,
        "message_id": e.message_id,
        "status": e.status.as_str(),
        "attempts": e.attempts,
        "created_at": e.created_at.to_rfc3339(),
        "next_attempt_at": pending.then(|| e.next_attempt_at.to_rfc3339()),
        "sent_at": e.sent_at.map(|t| t.to_rfc3339()),
        "last_answer": e.last_error,
    })
}

pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let site = authenticate(&state, &headers)?;
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) if STATUSES.contains(&s) => Some(EmailStatus::parse(s)),
        Some(s) => {
            return Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_query",
                field: Some("status".into()),
                message: format!("`{s}` is not one of {}", STATUSES.join(", ")),
            })
        }
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let mut tx = state.store.begin_read().await.map_err(ApiError::internal)?;
    let conversation = query.conversation.as_deref().filter(|c| !c.is_empty());
    let emails = tx
        .list_emails(&site.id, status, conversation, limit)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        json!({ "emails": emails.iter().map(view).collect::<Vec<_>>() }),
    ))
}

pub(super) async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let site = authenticate(&state, &headers)?;
    let now = state.clock.now();
    let outcome = apply::retry_email(state.store.as_ref(), &site, &id, now)
        .await
        .map_err(ApiError::internal)?;
    let refused = |status, code, message: &str| ApiError {
        status,
        code,
        field: None,
        message: message.to_string(),
    };
    match outcome {
        RetryOutcome::Queued => {
            state.wake.notify_one();
            Ok(Json(
                json!({ "retried": id, "next_attempt_at": now.to_rfc3339() }),
            ))
        }
        RetryOutcome::NotFound => Err(ApiError::not_found(format!("no email `{id}` on this site"))),
        RetryOutcome::AlreadySent => Err(refused(
            StatusCode::CONFLICT,
            "already_sent",
            "the relay took this email already",
        )),
        RetryOutcome::BytesGone => Err(refused(
            StatusCode::GONE,
            "retention",
            "its bytes were dropped under [retention] email_bodies: nothing to send",
        )),
    }
}
