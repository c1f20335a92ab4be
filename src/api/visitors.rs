//! A visitor's right to erasure: `DELETE /v1/visitors/{id}` deletes every conversation,
//! message, attachment and email of theirs on the token's site, in one call. The platform hears
//! of it as `visitor.erased`; a suppression of their address survives as a keyed hash, so an
//! unsubscribe is still honoured.

use super::{authenticate, ApiError, AppState};
use crate::apply;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

pub(super) async fn erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(visitor): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let site = authenticate(&state, &headers)?;
    let erased = apply::erase(state.store.as_ref(), &site, &visitor, state.clock.now())
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(
        site = %site.id,
        conversations = erased.conversations.len(),
        emails = erased.emails,
        "visitor erased"
    );
    // Answered the same whether anything was held: erasing twice is no error.
    Ok(Json(json!({ "visitor": visitor, "erased": erased })))
}
