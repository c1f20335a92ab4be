//! The outbox, for operators and platforms: what is pending, what failed and why, and a retry
//! once the cause is fixed. `GET /v1/emails?status=&conversation=&limit=` and
//! `POST /v1/emails/{id}/retry`.

use super::{authenticate, views, ApiError, AppState};
use crate::apply;
use crate::store::{EmailStatus, RetryOutcome};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// `pending`, `sent`, `failed` or `cancelled`; all when absent.
    status: Option<String>,
    /// The platform's id of one conversation.
    conversation: Option<String>,
    /// At most this many (default 100, at most 1,000).
    limit: Option<u32>,
}

/// The site's outbox, newest first, with each email's status and the relay's last answer.
#[utoipa::path(get, path = "/v1/emails", tag = "emails", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = views::Emails),
        (status = 400, body = views::ErrorBody),
        (status = 401, body = views::ErrorBody),
    ))]
pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<views::Emails>, ApiError> {
    let site = authenticate(&state, &headers)?;
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(EmailStatus::named(s).ok_or_else(|| ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_query",
            field: Some("status".into()),
            message: format!("`{s}` is not one of {}", EmailStatus::names()),
        })?),
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let mut tx = state.store.begin_read().await.map_err(ApiError::internal)?;
    let conversation = query.conversation.as_deref().filter(|c| !c.is_empty());
    let emails = tx
        .list_emails(&site.id, status, conversation, limit)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(views::Emails {
        emails: emails.iter().map(views::EmailView::from).collect(),
    }))
}

/// Puts a failed, cancelled or pending email back in the queue, to be tried now.
#[utoipa::path(post, path = "/v1/emails/{id}/retry", tag = "emails", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = views::Retried),
        (status = 401, body = views::ErrorBody),
        (status = 404, body = views::ErrorBody),
        (status = 409, body = views::ErrorBody, description = "Sent already"),
        (status = 410, body = views::ErrorBody, description = "Its bytes went under [retention]"),
    ))]
pub(super) async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<views::Retried>, ApiError> {
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
            Ok(Json(views::Retried {
                retried: id,
                next_attempt_at: now.to_rfc3339(),
            }))
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
