//! The API's OpenAPI 3.1 document, derived from the handlers' `#[utoipa::path]` attributes
//! and the types they answer with (`views`) and read (`events`' wire structs): served at
//! `GET /v1/openapi.json` and committed as `openapi.json` (a test holds the two equal).

use super::{chatwoot, emails, suppressions, visitors, widget};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "replyrelay",
        description = "Events from the chat platform in; conversations, contacts, the outbox, \
                       suppressions and erasure out. Every /v1 route but unsubscribe and this \
                       document takes `Authorization: Bearer <token>`, which selects the site."
    ),
    paths(
        super::post_events,
        super::get_conversation,
        super::find_contacts,
        super::get_attachment,
        suppressions::list,
        suppressions::lift,
        emails::list,
        emails::retry,
        visitors::erase,
        chatwoot::webhook,
        widget::mint,
        widget::report,
        widget::script,
        super::unsubscribe_page,
        super::unsubscribe,
        super::healthz,
    ),
    modifiers(&Bearer),
)]
struct Api;

/// The bearer token scheme the `security` of each path names.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `POST /v1/events`' body: one event, or `{"events": [...]}`.
pub struct EventsRequest;

impl PartialSchema for EventsRequest {
    fn schema() -> RefOr<Schema> {
        let event = RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Event"));
        let batch = ObjectBuilder::new()
            .property(
                "events",
                ArrayBuilder::new()
                    .items(event.clone())
                    .min_items(Some(1))
                    .max_items(Some(1000)),
            )
            .required("events")
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
            ))
            .build();
        OneOfBuilder::new().item(event).item(batch).into()
    }
}

impl ToSchema for EventsRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("Event".into(), event_schema()));
    }
}

/// One event: for each type, the fields its parser reads, with `type`, `id` and `at`.
fn event_schema() -> RefOr<Schema> {
    let mut one_of = OneOfBuilder::new();
    for (name, wire) in crate::events::wire_schemas() {
        let RefOr::T(Schema::Object(mut object)) = wire else {
            unreachable!("the wire structs are objects");
        };
        let string = || ObjectBuilder::new().schema_type(Type::String);
        object.properties.insert(
            "type".into(),
            string().enum_values(Some([name])).build().into(),
        );
        object.properties.insert(
            "id".into(),
            string()
                .description(Some("The platform's event id: a replay is ignored"))
                .build()
                .into(),
        );
        object.properties.insert(
            "at".into(),
            string()
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::DateTime,
                )))
                .description(Some("When it happened; now if absent"))
                .build()
                .into(),
        );
        object.required.insert(0, "type".into());
        object.title = Some(name.into());
        one_of = one_of.item(Schema::Object(object));
    }
    one_of.into()
}

/// The document, as JSON.
pub fn document() -> String {
    let mut api = Api::openapi();
    api.info.version = env!("CARGO_PKG_VERSION").into();
    api.to_pretty_json().expect("the document serialises") + "\n"
}

/// `GET /v1/openapi.json`.
pub(super) async fn serve() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
        .into_response()
}
