//! A visitor's right to erasure: `DELETE /v1/visitors/{id}` deletes every conversation,
//! message, attachment and email of theirs on the token's site, in one call. The platform hears
//! of it as `visitor.erased`; a suppression of their address survives as a keyed hash, so an
//! unsubscribe is still honoured.

use super::{authenticate, views, ApiError, AppState};
use crate::apply;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;

/// Erases a visitor: every conversation, message, attachment, email and webhook of theirs on
/// the site; their suppression stays as a keyed hash. The same answer when nothing was held.
#[utoipa::path(delete, path = "/v1/visitors/{id}", tag = "visitors", security(("bearer" = [])),
    params(("id" = String, Path, description = "The platform's visitor id")),
    responses(
        (status = 200, body = views::VisitorErased),
        (status = 401, body = views::ErrorBody),
    ))]
pub(super) async fn erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(visitor): Path<String>,
) -> Result<Json<views::VisitorErased>, ApiError> {
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
    Ok(Json(views::VisitorErased { visitor, erased }))
}
