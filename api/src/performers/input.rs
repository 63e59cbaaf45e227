//! Request bodies of the performer writes, and their validation: before
//! any SQL runs, each failure a 400 naming its field.
#![expect(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use problem::Problem;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::admin::{description, text};
use crate::images::url::validate as validate_image_url;

/// `POST /v1/performers`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerformer {
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub genre: String,
    #[serde(default)]
    #[schema(max_length = 20000, default = "")]
    pub description: String,
    /// The performer's picture: an https URL (no user name or password).
    /// Without one, `GET /v1/performers/{id}/image` draws a poster from the
    /// name and genre.
    #[schema(format = "uri", max_length = 2000, pattern = "^https://")]
    pub image_url: Option<String>,
}

/// `PATCH /v1/performers/{id}`'s body: the fields to change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PerformerPatch {
    #[schema(min_length = 1, max_length = 300)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub genre: Option<String>,
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    /// An https URL for the performer's picture; `null` removes it (back
    /// to the generated poster).
    #[serde(default, deserialize_with = "crate::events::input::present")]
    #[schema(value_type = Option<String>, format = "uri", max_length = 2000, pattern = "^https://")]
    pub image_url: Option<Option<String>>,
}

impl NewPerformer {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), Problem> {
        text("name", &self.name, 300)?;
        text("genre", &self.genre, 100)?;
        description(&self.description)?;
        if let Some(url) = &self.image_url {
            validate_image_url("image_url", url)?;
        }
        Ok(())
    }
}

impl PerformerPatch {
    /// Checks the fields present.
    pub fn validate(&self) -> Result<(), Problem> {
        if let Some(v) = &self.name {
            text("name", v, 300)?;
        }
        if let Some(v) = &self.genre {
            text("genre", v, 100)?;
        }
        if let Some(v) = &self.description {
            description(v)?;
        }
        if let Some(Some(url)) = &self.image_url {
            validate_image_url("image_url", url)?;
        }
        Ok(())
    }
}
