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
    /// An http(s) URL.
    #[schema(format = "uri", max_length = 2000)]
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
    /// An http(s) URL.
    #[schema(format = "uri", max_length = 2000)]
    pub image_url: Option<String>,
}

impl NewPerformer {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), Problem> {
        text("name", &self.name, 300)?;
        text("genre", &self.genre, 100)?;
        description(&self.description)?;
        if let Some(url) = &self.image_url {
            image_url(url)?;
        }
        Ok(())
    }
}

fn image_url(url: &str) -> Result<(), Problem> {
    if (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= 2000 {
        Ok(())
    } else {
        Err(Problem::invalid_field(
            "image_url",
            "must be an http(s) URL of at most 2000 characters",
        ))
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
        if let Some(url) = &self.image_url {
            image_url(url)?;
        }
        Ok(())
    }
}
