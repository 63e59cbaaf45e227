//! How problems appear in the generated API description.
//!
//! [`Problem`] is a schema, and [`responses`] builds the problem+json
//! answers an error type documents through `utoipa::IntoResponses`, so each
//! handler's error statuses come from its error type and its extractors, in
//! one place each, rather than being written out per route.

use std::borrow::Cow;
use std::collections::BTreeMap;

use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder, Schema};

use crate::{ApiJson, CONTENT_TYPE, Problem};

/// What `IntoResponses::responses` returns.
pub type Responses = BTreeMap<String, RefOr<Response>>;

/// problem+json responses, one per `(status, description)`.
pub fn responses(entries: &[(u16, &str)]) -> Responses {
    entries
        .iter()
        .map(|&(status, description)| (status.to_string(), problem_response(description).into()))
        .collect()
}

/// One problem+json response.
pub fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

impl utoipa::PartialSchema for Problem {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "An RFC 9457 problem document. Extension members (such as the seats \
                 that were not available) may follow.",
            ))
            .property(
                "type",
                string("A URI naming the problem type, relative to the API docs."),
            )
            .property("title", string("The status's canonical reason."))
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some("The HTTP status code.")),
            )
            .property("detail", string("What went wrong this time."))
            .property(
                "code",
                string("Stable snake_case code, such as `invalid_field`."),
            )
            .property(
                "field",
                string("The request field (body path, query parameter or header) at fault."),
            )
            .required("type")
            .required("title")
            .required("status")
            .required("code")
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .into()
    }
}

impl utoipa::ToSchema for Problem {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Problem")
    }
}

/// The body extractor's refusals.
impl<T> utoipa::IntoResponses for ApiJson<T> {
    fn responses() -> Responses {
        responses(&[
            (
                400,
                "The body is not JSON, not `application/json`, or a field is wrong; `field` names it.",
            ),
            (408, "The body stopped arriving before it was complete."),
            (413, "The body is larger than this route accepts."),
        ])
    }
}

#[cfg(test)]
mod tests {
    use utoipa::{IntoResponses, PartialSchema};

    use super::*;

    #[test]
    fn the_problem_schema_requires_the_members_every_problem_has() {
        let schema = serde_json::to_value(Problem::schema()).expect("serializes");
        assert_eq!(
            schema["required"],
            serde_json::json!(["type", "title", "status", "code"])
        );
        assert_eq!(schema["additionalProperties"], true);
        let example = serde_json::to_value(Problem::invalid_field("x", "y")).expect("serializes");
        for member in example.as_object().expect("object").keys() {
            assert!(
                schema["properties"].get(member).is_some(),
                "{member} is not in the schema"
            );
        }
    }

    #[test]
    fn the_body_extractor_documents_400_408_and_413_as_problem_json() {
        let answers = ApiJson::<()>::responses();
        assert_eq!(answers.keys().collect::<Vec<_>>(), ["400", "408", "413"]);
        let json = serde_json::to_value(&answers["400"]).expect("serializes");
        assert_eq!(
            json["content"][CONTENT_TYPE]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
    }
}
