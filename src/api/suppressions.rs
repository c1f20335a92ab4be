//! The suppression list of a site: who gets no email and why, and lifting a suppression — an
//! operator whose relay misbehaved for an hour must be able to give those visitors back.
//!
//! `GET /v1/suppressions?q=&reason=&limit=` and `DELETE /v1/suppressions/{address}`.

use super::{authenticate, ApiError, AppState};
use crate::apply;
use crate::store::SUPPRESSION_REASONS as REASONS;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

#[derive(serde::Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    reason: Option<String>,
    limit: Option<u32>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let rows: Vec<Value> = found
        .iter()
        .map(|s| {
            json!({"email": s.email, "reason": s.reason, "at": s.at.to_rfc3339(), "cause": s.cause})
        })
        .collect();
    Ok(Json(json!({ "suppressions": rows })))
}

pub(super) async fn lift(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(address): Path<String>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({ "lifted": address.to_lowercase() })))
}
