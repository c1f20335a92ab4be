//! The suppression list of a site: who gets no email and why, and lifting a suppression — an
//! operator whose relay misbehaved for an hour must be able to give those visitors back.
//!
//! `GET /v1/suppressions?q=&reason=&limit=` and `DELETE /v1/suppressions/{address}`.

use super::{authenticate, views, ApiError, AppState};
use crate::apply;
use crate::store::SUPPRESSION_REASONS as REASONS;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Part of the address (case-insensitive); empty lists all.
    #[serde(default)]
    q: String,
    /// `unsubscribed`, `hard_bounce`, `soft_bounced`, `complained`, `invalid_address`.
    reason: Option<String>,
    /// At most this many (default 100, at most 1,000).
    limit: Option<u32>,
}

/// The site's suppressed addresses, newest first, with why and what caused it.
#[utoipa::path(get, path = "/v1/suppressions", tag = "visitors", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = views::Suppressions),
        (status = 400, body = views::ErrorBody),
        (status = 401, body = views::ErrorBody),
    ))]
pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<views::Suppressions>, ApiError> {
    let site = authenticate(&state, &headers)?;
    let reason = query.reason.as_deref().filter(|r| !r.is_empty());
    if let Some(r) = reason.filter(|r| !REASONS.contains(r)) {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_query",
            field: Some("reason".into()),
            message: format!("`{r}` is not one of {}", REASONS.join(", ")),
        });
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let mut tx = state.store.begin_read().await.map_err(ApiError::internal)?;
    let found = tx
        .suppressions(&site.id, query.q.trim(), reason, limit)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(views::Suppressions {
        suppressions: found.iter().map(views::SuppressionView::from).collect(),
    }))
}

/// Lifts a suppression (any case of the address): the platform gets `visitor.unsuppressed`.
#[utoipa::path(delete, path = "/v1/suppressions/{address}", tag = "visitors",
    security(("bearer" = [])),
    params(("address" = String, Path)),
    responses(
        (status = 200, body = views::Lifted),
        (status = 401, body = views::ErrorBody),
        (status = 404, body = views::ErrorBody, description = "Not suppressed"),
    ))]
pub(super) async fn lift(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(address): Path<String>,
) -> Result<Json<views::Lifted>, ApiError> {
    let site = authenticate(&state, &headers)?;
    let now = state.clock.now();
    let lifted = apply::lift(state.store.as_ref(), &site, &address, now)
        .await
        .map_err(ApiError::internal)?;
    if !lifted {
        return Err(ApiError::not_found(format!(
            "`{address}` is not suppressed on this site"
        )));
    }
    state.wake.notify_one();
    Ok(Json(views::Lifted {
        lifted: address.to_lowercase(),
    }))
}
