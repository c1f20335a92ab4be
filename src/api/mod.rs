//! The HTTP API: events in, conversations out, one-click unsubscribe, health.
//!
//! Every `/v1` route but unsubscribe, the widget's and the Chatwoot bridge (whose webhooks are
//! signed with the site's own secret) takes `Authorization: Bearer <token>`; the token selects
//! the site, and a handler only ever reads or writes that site's data. Errors are JSON:
//! `{"error": {"code": "...", "field": "...", "message": "..."}}`.

mod chatwoot;
pub mod demo;
pub mod emails;
pub mod openapi;
mod suppressions;
pub mod views;
mod visitors;
mod widget;

use crate::apply::{self, ApplyError};
use crate::clock::Clock;
use crate::config::{Shared, Site, SiteRef};
use crate::events::{self, FieldError};
use crate::i18n;
use crate::store::Store;
use crate::token::{Purpose, TokenKeys};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use std::sync::Arc;
use tokio::sync::Notify;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The running configuration; replaced whole on reload.
    pub config: Shared,
    pub keys: TokenKeys,
    pub clock: Clock,
    /// Woken after events are stored, so a due email does not wait for the worker's timer.
    pub wake: Arc<Notify>,
    /// Reports per widget token, so a page reporting in a loop is stopped at the door.
    pub widget_limits: Arc<crate::widget::limit::Limits>,
}

/// Largest request body: a full batch of long messages.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The whole answer to a connection over `max_connections`.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Serves the API on `listener` until `shutdown` resolves, then lets requests in progress
/// finish. Unlike a bare `axum::serve`, every connection is bounded: at most
/// `max_connections` at once (more are answered `503` and closed), `idle_timeout` to send
/// headers or between requests, `request_timeout` per request.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    config: &crate::config::ApiConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let max = config.max_connections;
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let request_timeout = config.request_timeout;
    let router = router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| async move {
            match tokio::time::timeout(request_timeout, next.run(req)).await {
                Ok(response) => response,
                Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
            }
        },
    ));
    let mut http = hyper::server::conn::http1::Builder::new();
    // With a timer, the header timeout also closes connections idle between requests.
    http.timer(TokioTimer::new())
        .header_read_timeout(config.idle_timeout);
    tokio::pin!(shutdown);
    loop {
        let (socket, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Over the limit: a clear answer now (the socket's buffer is empty, so this never
            // waits), rather than leaving the client in the kernel's queue, which drops
            // connections silently once full.
            let _ = socket.try_write(BUSY);
            continue;
        };
        let _ = socket.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let conn = http.serve_connection(TokioIo::new(socket), service);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "API connection ended");
                    }
                }
                _ = crate::stop::stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    // Every connection gives its permit back when it is done: wait for all of them.
    let _ = permits.acquire_many(max as u32).await;
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/conversations/{id}", get(get_conversation))
        .route("/v1/contacts", get(find_contacts))
        .route("/v1/suppressions", get(suppressions::list))
        .route("/v1/suppressions/{address}", delete(suppressions::lift))
        .route("/v1/visitors/{id}", delete(visitors::erase))
        .route("/v1/emails", get(emails::list))
        .route("/v1/emails/{id}/retry", post(emails::retry))
        .route("/v1/attachments/{id}", get(get_attachment))
        .route("/v1/widget-tokens", post(widget::mint))
        .route("/v1/bridges/chatwoot/{site}", post(chatwoot::webhook))
        .route(
            "/v1/widget/events",
            post(widget::report).options(widget::preflight),
        )
        .route("/v1/widget.js", get(widget::script))
        .route(
            "/v1/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route("/healthz", get(healthz))
        .route("/v1/openapi.json", get(openapi::serve))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The operator's listener (`[metrics] listen`): `/metrics`, and `/healthz` for probes that
/// may not reach the API.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// An API error: status, a stable code, and what went wrong where.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    field: Option<String>,
    message: String,
}

impl ApiError {
    fn invalid(e: FieldError) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_event",
            field: Some(e.field),
            message: e.message,
        }
    }

    fn not_found(message: String) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            field: None,
            message,
        }
    }

    fn internal(e: anyhow::Error) -> Self {
        tracing::error!(error = %e, "request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            field: None,
            message: "internal error; try again".into(),
        }
    }
}

/// A batch the events rules refused names its field (400); a store failure is ours (500).
impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Invalid(e) => ApiError::invalid(e),
            ApplyError::Store(e) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = views::ErrorBody {
            error: views::ErrorDetail {
                code: self.code.into(),
                field: self.field,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("valid header"),
            );
        }
        response
    }
}

/// The site whose token the request carries.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<SiteRef, ApiError> {
    let unauthorized = |message: &str| ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        field: None,
        message: message.into(),
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("missing Authorization: Bearer <token>"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthorized("expected Authorization: Bearer <token>"))?;
    SiteRef::by_token(state.config.current(), token).ok_or_else(|| unauthorized("unknown token"))
}

/// Events from the chat platform: one event, or `{"events": [...]}` (at most 1,000).
#[utoipa::path(post, path = "/v1/events", tag = "events", security(("bearer" = [])),
    request_body(content = openapi::EventsRequest, description = "One event, or a batch"),
    responses(
        (status = 200, body = views::EventsApplied),
        (status = 400, body = views::ErrorBody, description = "The field at fault is named"),
        (status = 401, body = views::ErrorBody),
    ))]
async fn post_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<views::EventsApplied>, ApiError> {
    let site = authenticate(&state, &headers)?;
    let events = events::parse_body(&body).map_err(ApiError::invalid)?;
    let now = state.clock.now();
    let applied = apply::apply_batch(state.store.as_ref(), &site, &events, now).await?;
    state.wake.notify_one();
    Ok(Json(views::EventsApplied {
        applied: applied.applied,
        replayed: applied.replayed,
    }))
}

/// A conversation, its visitor and its messages, each with its forwarding marker once emailed.
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "conversations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The platform's conversation id")),
    responses(
        (status = 200, body = views::ConversationView),
        (status = 401, body = views::ErrorBody),
        (status = 404, body = views::ErrorBody),
    ))]
async fn get_conversation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<views::ConversationView>, ApiError> {
    let site = authenticate(&state, &headers)?;
    let Some((c, messages)) = state
        .store
        .conversation_view(&site.id, &id)
        .await
        .map_err(ApiError::internal)?
    else {
        return Err(ApiError::not_found(format!(
            "no conversation `{id}` on this site"
        )));
    };
    Ok(Json(views::ConversationView::new(&c, &messages)))
}

/// A file a visitor attached to an email reply. Always served as a download, never rendered,
/// so an HTML attachment cannot run in the platform's origin.
#[utoipa::path(get, path = "/v1/attachments/{id}", tag = "conversations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "As a message's attachment URL names it")),
    responses(
        (status = 200, description = "The file, as a download", content_type = "application/octet-stream"),
        (status = 401, body = views::ErrorBody),
        (status = 404, body = views::ErrorBody),
    ))]
async fn get_attachment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let site = authenticate(&state, &headers)?;
    let Some(a) = state
        .store
        .attachment(&site.id, &id)
        .await
        .map_err(ApiError::internal)?
    else {
        return Err(ApiError::not_found(format!(
            "no attachment `{id}` on this site"
        )));
    };
    let filename: String = a
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let content_type = if a
        .content_type
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/.+-".contains(c))
    {
        a.content_type
    } else {
        "application/octet-stream".into()
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        ],
        a.data,
    )
        .into_response())
}

/// `GET /v1/contacts` parameters.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ContactQuery {
    /// Part of a visitor's name, email or id, or a conversation id; empty lists everyone.
    #[serde(default)]
    q: String,
    /// `open` or `closed`.
    status: Option<String>,
    /// At most this many (default 50, at most 500).
    limit: Option<u32>,
}

/// Finds visitors by name, email or id, with their conversations; newest first.
#[utoipa::path(get, path = "/v1/contacts", tag = "conversations", security(("bearer" = [])),
    params(ContactQuery),
    responses(
        (status = 200, body = views::Contacts),
        (status = 400, body = views::ErrorBody),
        (status = 401, body = views::ErrorBody),
    ))]
async fn find_contacts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ContactQuery>,
) -> Result<Json<views::Contacts>, ApiError> {
    let site = authenticate(&state, &headers)?;
    let open = match query.status.as_deref() {
        None | Some("") => None,
        Some("open") => Some(true),
        Some("closed") => Some(false),
        Some(other) => {
            return Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_query",
                field: Some("status".into()),
                message: format!("`{other}` is not `open` or `closed`"),
            })
        }
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let found = state
        .store
        .find_contacts(&site.id, query.q.trim(), open, limit)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(views::Contacts {
        contacts: (found.iter())
            .map(|(c, suppressed)| views::Contact::new(c, *suppressed))
            .collect(),
    }))
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    lang: &'static str,
    title: String,
    button: String,
    /// Shown instead of the button once done, or when the link is bad.
    message: Option<String>,
}

/// The site and address a genuine unsubscribe token names: the address the email it names
/// went to; for a link from before emails had their own (a conversation's token), the
/// conversation's address.
async fn unsubscribe_target(state: &AppState, token: &str) -> Option<(Site, String, String)> {
    if let Some(id) = TokenKeys::email_id(token) {
        let id = uuid::Uuid::from_bytes(id).to_string();
        let mut tx = state.store.begin_read().await.ok()?;
        let email = tx.email_by_id(&id).await.ok()??;
        drop(tx);
        let site = state.config.current().site(&email.site_id)?.clone();
        state
            .keys
            .verify_email(Purpose::Unsubscribe, &site.id, token)?;
        let cause = format!("the unsubscribe link of {}", email.message_id);
        return Some((site, email.rcpt_to, cause));
    }
    let pk = TokenKeys::number(token)?;
    let mut tx = state.store.begin_read().await.ok()?;
    let conv = tx.conversation_by_pk(pk).await.ok()??;
    drop(tx);
    let site = state.config.current().site(&conv.site_id)?.clone();
    state.keys.verify(Purpose::Unsubscribe, &site.id, token)?;
    let cause = format!("the unsubscribe link of conversation {}", conv.id);
    Some((site, conv.visitor.email?, cause))
}

fn page(site: Option<&Site>, message: Option<fn(&i18n::Strings) -> &String>) -> Html<String> {
    let no_overrides = Default::default();
    let (lang, t) = i18n::strings_for(
        site.map_or(&no_overrides, |s| &s.strings),
        site.map(|s| s.locale.language()).as_deref(),
    );
    let site_name = site.map_or("", |s| s.name.as_str());
    let page = UnsubscribePage {
        lang,
        title: i18n::fill(&t.unsubscribe_title, &[("site", site_name)]),
        button: t.unsubscribe_confirm.clone(),
        message: message.map(|f| i18n::fill(f(&t), &[("site", site_name)])),
    };
    Html(
        page.render()
            .unwrap_or_else(|e| format!("template error: {e}")),
    )
}

/// The link in the email body: a confirmation page, so link scanners do not unsubscribe anyone.
/// The unsubscribe confirmation page an email's link opens. No bearer token: the link's token
/// is MAC'd.
#[utoipa::path(get, path = "/v1/unsubscribe/{token}", tag = "visitors",
    params(("token" = String, Path)),
    responses((status = 200, description = "An HTML page with the button", content_type = "text/html")))]
async fn unsubscribe_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match unsubscribe_target(&state, &token).await {
        Some((site, ..)) => page(Some(&site), None).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            page(None, Some(|t| &t.unsubscribe_invalid)),
        )
            .into_response(),
    }
}

/// RFC 8058 one-click (and the page's button): suppresses the visitor's address for the site.
/// Unsubscribes the address the link's email went to (RFC 8058 one-click).
#[utoipa::path(post, path = "/v1/unsubscribe/{token}", tag = "visitors",
    params(("token" = String, Path)),
    responses((status = 200, description = "An HTML page saying so", content_type = "text/html")))]
async fn unsubscribe(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some((site, email, cause)) = unsubscribe_target(&state, &token).await else {
        return (
            StatusCode::NOT_FOUND,
            page(None, Some(|t| &t.unsubscribe_invalid)),
        )
            .into_response();
    };
    let now = state.clock.now();
    let store = state.store.as_ref();
    match apply::suppress(store, &site, &email, "unsubscribed", &cause, now).await {
        Ok(()) => page(Some(&site), Some(|t| &t.unsubscribe_done)).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// Prometheus metrics; the due backlog is read from the database now.
async fn metrics(State(state): State<AppState>) -> Response {
    let m = crate::metrics::get();
    if let Ok(n) = state.store.due_backlog(state.clock.now()).await {
        m.due_backlog.set(n);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
        .into_response()
}

/// Whether the database answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, body = views::Health),
        (status = 503, body = views::Health, description = "The database does not answer"),
    ))]
async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.meta("schema").await {
        Ok(_) => Json(views::Health {
            status: "ok".into(),
            error: None,
        })
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(views::Health {
                status: "unavailable".into(),
                error: Some(e.to_string()),
            }),
        )
            .into_response(),
    }
}
