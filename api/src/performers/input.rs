//! Request bodies of the performer writes, and their validation: before
//! any SQL runs, each failure a 400 naming its field.
#![expect(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use problem::Problem;
use serde::Deserialize;

use crate::admin::{description, text};

/// `POST /v1/performers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPerformer {
    pub name: String,
    pub genre: String,
    #[serde(default)]
    pub description: String,
    pub image_url: Option<String>,
}

/// `PATCH /v1/performers/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformerPatch {
    pub name: Option<String>,
    pub genre: Option<String>,
    pub description: Option<String>,
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
