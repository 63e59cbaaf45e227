//! `POST /v1/admin/api-keys`'s body and its validation: before any SQL
//! runs, each failure a 400 naming its field.
//!
//! A key's name is 1 to 100 characters; its scopes are a non-empty set of
//! known ones ([`auth::api_keys::Scope`]: `catalog:read`, `catalog:write`),
//! duplicates collapsed. The schema checks both again (`api_keys`).
#![expect(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use auth::api_keys::Scope;
use problem::Problem;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::admin::text;

/// The longest name a key may have, in characters.
pub const NAME_MAX: usize = 100;

/// `POST /v1/admin/api-keys`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for, to tell keys apart in the list.
    #[schema(min_length = 1, max_length = 100, example = "box office sync")]
    pub name: String,
    /// What the key may do; at least one.
    #[schema(value_type = Vec<crate::schema::ApiKeyScope>, min_items = 1,
        example = json!(["catalog:write"]))]
    pub scopes: Vec<String>,
}

impl NewApiKey {
    /// Checks every field; the scopes, parsed, sorted and without
    /// duplicates.
    pub fn validate(&self) -> Result<Vec<Scope>, Problem> {
        text("name", &self.name, NAME_MAX)?;
        if self.scopes.is_empty() {
            return Err(Problem::invalid_field(
                "scopes",
                "must name at least one scope (catalog:read, catalog:write)",
            ));
        }
        let mut scopes = self
            .scopes
            .iter()
            .map(|s| s.parse::<Scope>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| Problem::invalid_field("scopes", reason))?;
        scopes.sort_unstable();
        scopes.dedup();
        Ok(scopes)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(value: serde_json::Value) -> NewApiKey {
        serde_json::from_value(value).expect("deserializes")
    }

    #[test]
    fn scopes_are_parsed_sorted_and_deduplicated() {
        let key = body(json!({
            "name": "sync",
            "scopes": ["catalog:write", "catalog:read", "catalog:write"],
        }));
        assert_eq!(
            key.validate().expect("valid"),
            [Scope::CatalogRead, Scope::CatalogWrite]
        );
    }

    #[test]
    fn each_refusal_names_its_field() {
        for (value, field) in [
            (json!({"name": "", "scopes": ["catalog:read"]}), "name"),
            (json!({"name": "  ", "scopes": ["catalog:read"]}), "name"),
            (
                json!({"name": "x".repeat(NAME_MAX + 1), "scopes": ["catalog:read"]}),
                "name",
            ),
            (json!({"name": "sync", "scopes": []}), "scopes"),
            (
                json!({"name": "sync", "scopes": ["catalog:admin"]}),
                "scopes",
            ),
            (
                json!({"name": "sync", "scopes": ["catalog:read", "users:write"]}),
                "scopes",
            ),
        ] {
            let problem = body(value.clone()).validate().expect_err("refused");
            assert_eq!(problem.status, 400, "{value}");
            assert_eq!(problem.field.as_deref(), Some(field), "{value}");
        }
        let longest = body(json!({"name": "é".repeat(NAME_MAX), "scopes": ["catalog:read"]}));
        assert!(longest.validate().is_ok(), "characters, not bytes");
    }
}
