//! The widget's routes: `POST /v1/widget-tokens` (the platform's backend mints a page's token
//! with its site token), `POST /v1/widget/events` (the page reports presence and reads with
//! it), and `GET /v1/widget.js` (the script that does).
//!
//! CORS is answered here rather than by a layer: which origins may report depends on the site,
//! and the site is known only from the token inside the body, which no CORS layer reads. The
//! origin is checked again on the report itself, since a `text/plain` POST needs no preflight.

use super::{authenticate, views, ApiError, AppState};
use crate::apply::{self, ApplyError};
use crate::events::FieldError;
use crate::metrics::{self, label};
use crate::widget::{report, token};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// What the platform asks for.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The conversation the page shows.
    conversation: String,
    /// Seconds the token is good for (default 14,400, at most 86,400).
    ttl: Option<i64>,
}

/// Mints a widget token for one conversation of the caller's site.
#[utoipa::path(post, path = "/v1/widget-tokens", tag = "widget", security(("bearer" = [])),
    request_body = TokenRequest,
    responses(
        (status = 200, body = views::WidgetToken),
        (status = 400, body = views::ErrorBody, description = "The field at fault is named"),
        (status = 401, body = views::ErrorBody),
    ))]
pub async fn mint(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<views::WidgetToken>, ApiError> {
    let site = authenticate(&state, &headers)?;
    let request: TokenRequest = serde_json::from_slice(&body)
        .map_err(|e| FieldError::new("body", format!("not valid JSON: {e}")))
        .and_then(|v| crate::events::wire(v, ""))
        .map_err(ApiError::invalid)?;
    if request.conversation.is_empty() || request.conversation.len() > 256 {
        return Err(ApiError::invalid(FieldError::new(
            "conversation",
            "must be 1 to 256 bytes",
        )));
    }
    let ttl = request.ttl.map(chrono::TimeDelta::seconds);
    let expires_at = token::expiry(state.clock.now(), ttl)
        .map_err(|m| ApiError::invalid(FieldError::new("ttl", m)))?;
    let claim = token::WidgetClaim {
        site: site.id.clone(),
        conversation: request.conversation,
        expires_at,
    };
    Ok(Json(views::WidgetToken {
        token: token::mint(&state.keys, &claim),
        expires_at,
    }))
}

/// A page's report: presence or a read, for the conversation its widget token names.
#[utoipa::path(post, path = "/v1/widget/events", tag = "widget",
    request_body(content = report::WireReport, content_type = "text/plain",
        description = "JSON, sent as text/plain so a browser needs no preflight"),
    responses(
        (status = 200, body = views::EventsApplied),
        (status = 400, body = views::ErrorBody, description = "The field at fault is named"),
        (status = 401, body = views::ErrorBody, description = "The token is forged or expired"),
        (status = 403, body = views::ErrorBody, description = "Another conversation's token, or an origin the site does not allow"),
        (status = 429, body = views::ErrorBody, description = "Too many reports with this token"),
    ))]
pub async fn report(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_string);
    let (outcome, response) = match take_report(&state, origin.as_deref(), &body).await {
        Ok(applied) => ("applied", Json(applied).into_response()),
        Err((outcome, e)) => (outcome, e.into_response()),
    };
    metrics::get()
        .widget_reports
        .get_or_create(&label("outcome", outcome))
        .inc();
    let mut response = response;
    // The page may read the answer only from an origin the token's site allows.
    if let Some(origin) = origin.filter(|o| origin_allowed(&state, o)) {
        allow_origin(response.headers_mut(), &origin);
    }
    response
}

/// The report checked and applied, or its outcome label and error.
async fn take_report(
    state: &AppState,
    origin: Option<&str>,
    body: &[u8],
) -> Result<views::EventsApplied, (&'static str, ApiError)> {
    let report = report::parse(body).map_err(|e| ("invalid", ApiError::invalid(e)))?;
    let claim = token::verify(&state.keys, &report.token, state.clock.now())
        .map_err(|e| ("unauthorized", unauthorized(e.to_string())))?;
    let config = state.config.current();
    let site = crate::config::SiteRef::by_id(config, &claim.site).ok_or_else(|| {
        (
            "unauthorized",
            unauthorized("the token's site is gone".into()),
        )
    })?;
    if claim.conversation != report.conversation {
        return Err((
            "forbidden",
            forbidden("the token is for another conversation"),
        ));
    }
    match origin {
        Some(o) if site.allowed_origins.iter().any(|a| a == o) => {}
        Some(_) => {
            return Err((
                "forbidden",
                forbidden("this origin is not in the site's allowed_origins"),
            ))
        }
        None => return Err(("forbidden", forbidden("a report needs an Origin header"))),
    }
    if !state.widget_limits.allow(&report.token) {
        return Err((
            "limited",
            ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "rate_limited",
                field: None,
                message: "too many reports with this token; slow down".into(),
            },
        ));
    }
    let events = report::events(&report).map_err(|e| ("invalid", ApiError::invalid(e)))?;
    let applied = apply::apply_batch(state.store.as_ref(), &site, &events, state.clock.now())
        .await
        .map_err(|e| match e {
            ApplyError::Invalid(e) => ("invalid", ApiError::invalid(e)),
            ApplyError::Store(e) => ("error", ApiError::internal(e)),
        })?;
    state.wake.notify_one();
    Ok(views::EventsApplied {
        applied: applied.applied,
        replayed: applied.replayed,
    })
}

/// The preflight a page's `fetch` makes when it sends more than a simple request: allowed for
/// an origin some site allows (the report itself is checked against its own site's).
pub async fn preflight(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    match origin.filter(|o| origin_allowed(&state, o)) {
        Some(origin) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            let h = response.headers_mut();
            allow_origin(h, origin);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            response
        }
        None => forbidden("this origin is not in any site's allowed_origins").into_response(),
    }
}

/// `widget.js`, for a page to load beside its chat widget.
#[utoipa::path(get, path = "/v1/widget.js", tag = "widget",
    responses((status = 200, description = "The script", content_type = "text/javascript")))]
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        crate::widget::SCRIPT,
    )
        .into_response()
}

/// Whether some site lets pages of `origin` report.
fn origin_allowed(state: &AppState, origin: &str) -> bool {
    state
        .config
        .current()
        .sites
        .iter()
        .any(|s| s.allowed_origins.iter().any(|a| a == origin))
}

fn allow_origin(headers: &mut HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
}

fn unauthorized(message: String) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        field: Some("token".into()),
        message,
    }
}

fn forbidden(message: &str) -> ApiError {
    ApiError {
        status: StatusCode::FORBIDDEN,
        code: "forbidden",
        field: None,
        message: message.into(),
    }
}
