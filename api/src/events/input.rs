//! Request bodies of the event and ticket-type writes, and their
//! validation: before any SQL runs, each failure a 400 naming its field. A
//! patch is applied to the stored row and the result validated whole.
#![expect(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use problem::Problem;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::admin::{description, text};
use crate::schema::{Category, EventEditStatus, NewEventStatus, TicketKind};

/// Event categories the catalog knows.
pub const CATEGORIES: [&str; 5] = ["concert", "sports", "theatre", "comedy", "family"];

/// `POST /v1/events`'s body. `ends_at` is after `starts_at`, and the sale
/// (`sale_starts_at` to `sale_ends_at`) ends by the time the event ends.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// The venue.
    #[schema(minimum = 1)]
    pub venue_id: i64,
    #[schema(min_length = 1, max_length = 300)]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 20000, default = "")]
    pub description: String,
    #[schema(value_type = Category)]
    pub category: String,
    #[schema(min_length = 1, max_length = 100)]
    pub genre: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// When the doors open: at or before `starts_at`, at most 24 hours
    /// before. Optional.
    #[serde(default)]
    pub doors_at: Option<DateTime<Utc>>,
    /// `draft` (hidden) or `scheduled` (public). Default `scheduled`.
    #[serde(default = "scheduled")]
    #[schema(value_type = NewEventStatus, default = "scheduled")]
    pub status: String,
    /// Demand signal for ranking; any non-negative scale.
    #[serde(default)]
    #[schema(minimum = 0.0, default = 0.0)]
    pub popularity: f64,
    pub sale_starts_at: DateTime<Utc>,
    pub sale_ends_at: DateTime<Utc>,
    /// Performer ids, headliner first, each once.
    #[serde(default)]
    #[schema(default = json!([]))]
    pub performers: Vec<i64>,
    /// The event's picture: an https URL (no user name or password). Without
    /// one, `GET /v1/events/{id}/image` draws a poster from the title and
    /// genre.
    #[serde(default)]
    #[schema(format = "uri", max_length = 2000, pattern = "^https://")]
    pub image_url: Option<String>,
}

/// A patch field that tells "absent" (`None`) from `null` (`Some(None)`).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn scheduled() -> String {
    "scheduled".to_owned()
}

/// `PATCH /v1/events/{id}`'s body: the fields present replace the stored
/// ones, and the result is checked whole, as a new event is.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    #[schema(minimum = 1)]
    pub venue_id: Option<i64>,
    #[schema(min_length = 1, max_length = 300)]
    pub title: Option<String>,
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    #[schema(value_type = Option<Category>)]
    pub category: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub genre: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// When the doors open (set; a patch cannot clear it).
    pub doors_at: Option<DateTime<Utc>>,
    /// `draft`, `scheduled` or `completed`; `POST .../cancel` cancels.
    #[schema(value_type = Option<EventEditStatus>)]
    pub status: Option<String>,
    #[schema(minimum = 0.0)]
    pub popularity: Option<f64>,
    pub sale_starts_at: Option<DateTime<Utc>>,
    pub sale_ends_at: Option<DateTime<Utc>>,
    /// Performer ids, headliner first; replaces the list.
    pub performers: Option<Vec<i64>>,
    /// An https URL for the event's picture; `null` removes it (back to
    /// the generated poster).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = "uri", max_length = 2000, pattern = "^https://")]
    pub image_url: Option<Option<String>>,
}

/// An event's editable columns, as stored; a patch is applied to this and
/// the result validated as a whole.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub venue_id: i64,
    pub title: String,
    pub description: String,
    pub category: String,
    pub genre: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: String,
    pub popularity: f64,
    pub sale_starts_at: DateTime<Utc>,
    pub sale_ends_at: DateTime<Utc>,
    pub doors_at: Option<DateTime<Utc>>,
    pub image_url: Option<String>,
}

/// `POST /v1/events/{id}/ticket-types`'s body. A seated tier lists
/// `sections` and no `capacity`; general admission the reverse.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketType {
    /// Unique within the event.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// `seated` or `general_admission`.
    #[schema(value_type = TicketKind)]
    pub kind: String,
    #[schema(minimum = 0)]
    pub price_cents: i64,
    /// ISO 4217.
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: String,
    /// General admission only.
    #[schema(minimum = 1)]
    pub capacity: Option<i32>,
    /// How long a hold on these tickets lasts.
    #[serde(default = "default_hold")]
    #[schema(minimum = 30, maximum = 3600, default = 600)]
    pub hold_seconds: i32,
    /// Seated only: the venue sections this tier prices (sections of the
    /// event's venue, each once, not priced by another tier).
    #[serde(default)]
    #[schema(default = json!([]))]
    pub sections: Vec<i64>,
}

fn default_hold() -> i32 {
    600
}

fn category(field: &str, value: &str) -> Result<(), Problem> {
    if CATEGORIES.contains(&value) {
        Ok(())
    } else {
        Err(Problem::invalid_field(
            field,
            format!("{value:?} is not one of {}", CATEGORIES.join(", ")),
        ))
    }
}

fn performer_ids(field: &str, ids: &[i64]) -> Result<(), Problem> {
    let mut seen = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        if *id <= 0 {
            return Err(Problem::invalid_field(
                format!("{field}[{i}]"),
                "must be a positive id",
            ));
        }
        if !seen.insert(*id) {
            return Err(Problem::invalid_field(
                format!("{field}[{i}]"),
                format!("performer {id} is listed twice"),
            ));
        }
    }
    Ok(())
}

impl NewEvent {
    /// The row this body would store.
    pub fn row(&self) -> EventRow {
        EventRow {
            venue_id: self.venue_id,
            title: self.title.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            genre: self.genre.clone(),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            status: self.status.clone(),
            popularity: self.popularity,
            sale_starts_at: self.sale_starts_at,
            sale_ends_at: self.sale_ends_at,
            doors_at: self.doors_at,
            image_url: self.image_url.clone(),
        }
    }

    /// Checks every field; a new event is `draft` or `scheduled`.
    pub fn validate(&self) -> Result<(), Problem> {
        if !matches!(self.status.as_str(), "draft" | "scheduled") {
            return Err(Problem::invalid_field(
                "status",
                "a new event is \"draft\" or \"scheduled\"",
            ));
        }
        performer_ids("performers", &self.performers)?;
        self.row().validate()
    }
}

impl EventPatch {
    /// Applies the patch to the stored row; the caller validates the result.
    pub fn apply(&self, row: &EventRow) -> Result<EventRow, Problem> {
        if let Some(status) = &self.status
            && !matches!(status.as_str(), "draft" | "scheduled" | "completed")
        {
            return Err(Problem::invalid_field(
                "status",
                "must be \"draft\", \"scheduled\" or \"completed\"; POST .../cancel cancels",
            ));
        }
        if let Some(ids) = &self.performers {
            performer_ids("performers", ids)?;
        }
        let mut out = row.clone();
        macro_rules! set {
            ($($f:ident),*) => {$(
                if let Some(v) = &self.$f {
                    out.$f = v.clone();
                }
            )*};
        }
        set!(
            venue_id,
            title,
            description,
            category,
            genre,
            starts_at,
            ends_at,
            status,
            popularity,
            sale_starts_at,
            sale_ends_at
        );
        if let Some(doors) = self.doors_at {
            out.doors_at = Some(doors);
        }
        if let Some(url) = &self.image_url {
            out.image_url.clone_from(url);
        }
        Ok(out)
    }
}

impl EventRow {
    /// Checks the row as a whole, naming the field at fault. When two fields
    /// disagree, the later one in the pair is named.
    pub fn validate(&self) -> Result<(), Problem> {
        if self.venue_id <= 0 {
            return Err(Problem::invalid_field("venue_id", "must be a positive id"));
        }
        text("title", &self.title, 300)?;
        description(&self.description)?;
        category("category", &self.category)?;
        text("genre", &self.genre, 100)?;
        if let Some(url) = &self.image_url {
            crate::images::url::validate("image_url", url)?;
        }
        if !(self.popularity.is_finite() && self.popularity >= 0.0) {
            return Err(Problem::invalid_field(
                "popularity",
                "must be a non-negative number",
            ));
        }
        if self.ends_at <= self.starts_at {
            return Err(Problem::invalid_field("ends_at", "must be after starts_at"));
        }
        if let Some(doors) = self.doors_at
            && (doors > self.starts_at || self.starts_at - doors > chrono::Duration::hours(24))
        {
            return Err(Problem::invalid_field(
                "doors_at",
                "must be at or before starts_at, and at most 24 hours before",
            ));
        }
        if self.sale_ends_at <= self.sale_starts_at {
            return Err(Problem::invalid_field(
                "sale_ends_at",
                "must be after sale_starts_at",
            ));
        }
        if self.sale_ends_at > self.ends_at {
            return Err(Problem::invalid_field(
                "sale_ends_at",
                "the sale must end by the time the event ends",
            ));
        }
        Ok(())
    }
}

impl NewTicketType {
    /// Checks every field; a seated tier lists sections and no capacity,
    /// general admission the reverse.
    pub fn validate(&self) -> Result<(), Problem> {
        text("name", &self.name, 100)?;
        if self.price_cents < 0 {
            return Err(Problem::invalid_field(
                "price_cents",
                "must not be negative",
            ));
        }
        if !(self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(Problem::invalid_field(
                "currency",
                format!(
                    "{:?} is not an ISO 4217 code such as \"EUR\"",
                    self.currency
                ),
            ));
        }
        if !(30..=3600).contains(&self.hold_seconds) {
            return Err(Problem::invalid_field(
                "hold_seconds",
                "must be between 30 and 3600",
            ));
        }
        match self.kind.as_str() {
            "seated" => {
                if self.capacity.is_some() {
                    return Err(Problem::invalid_field(
                        "capacity",
                        "a seated tier's capacity is its seats; leave capacity out",
                    ));
                }
                if self.sections.is_empty() {
                    return Err(Problem::invalid_field(
                        "sections",
                        "a seated tier prices at least one section",
                    ));
                }
                let mut seen = HashSet::new();
                for (i, id) in self.sections.iter().enumerate() {
                    if !seen.insert(*id) {
                        return Err(Problem::invalid_field(
                            format!("sections[{i}]"),
                            format!("section {id} is listed twice"),
                        ));
                    }
                }
            }
            "general_admission" => {
                match self.capacity {
                    Some(c) if c > 0 => {}
                    Some(_) => {
                        return Err(Problem::invalid_field("capacity", "must be positive"));
                    }
                    None => {
                        return Err(Problem::invalid_field(
                            "capacity",
                            "general admission needs a capacity",
                        ));
                    }
                }
                if !self.sections.is_empty() {
                    return Err(Problem::invalid_field(
                        "sections",
                        "general admission has no sections",
                    ));
                }
            }
            other => {
                return Err(Problem::invalid_field(
                    "kind",
                    format!("{other:?} is not \"seated\" or \"general_admission\""),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(result: Result<(), Problem>) -> String {
        result
            .expect_err("must be refused")
            .field
            .expect("names a field")
    }

    #[test]
    fn event_windows_are_checked_after_a_patch_is_applied() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        let row = EventRow {
            venue_id: 1,
            title: "Show".into(),
            description: String::new(),
            category: "concert".into(),
            genre: "rock".into(),
            starts_at: t("2027-06-01T19:00:00Z"),
            ends_at: t("2027-06-01T22:00:00Z"),
            status: "scheduled".into(),
            popularity: 1.0,
            sale_starts_at: t("2027-01-01T10:00:00Z"),
            sale_ends_at: t("2027-06-01T19:00:00Z"),
            doors_at: Some(t("2027-06-01T18:00:00Z")),
            image_url: None,
        };
        row.validate().expect("valid");
        for doors in ["2027-06-01T19:30:00Z", "2027-05-31T18:00:00Z"] {
            let patch = EventPatch {
                doors_at: Some(t(doors)),
                ..EventPatch::default()
            };
            assert_eq!(
                field(patch.apply(&row).expect("applies").validate()),
                "doors_at",
                "{doors}"
            );
        }
        let moved_early = EventPatch {
            ends_at: Some(t("2027-06-01T18:00:00Z")),
            ..EventPatch::default()
        };
        assert_eq!(
            field(moved_early.apply(&row).expect("applies").validate()),
            "ends_at"
        );
        let bad_status = EventPatch {
            status: Some("cancelled".into()),
            ..EventPatch::default()
        };
        assert_eq!(
            bad_status
                .apply(&row)
                .expect_err("refused")
                .field
                .as_deref(),
            Some("status")
        );
    }

    #[test]
    fn ticket_type_kinds_need_their_own_fields() {
        let tt = |json: serde_json::Value| -> NewTicketType {
            serde_json::from_value(json).expect("parses")
        };
        let base = serde_json::json!({"name": "GA", "kind": "general_admission", "price_cents": 100, "currency": "EUR"});
        assert_eq!(field(tt(base.clone()).validate()), "capacity");
        let mut ok = base.clone();
        ok["capacity"] = 10.into();
        tt(ok).validate().expect("valid");
        let seated = serde_json::json!({"name": "A", "kind": "seated", "price_cents": 100, "currency": "EUR", "sections": [1, 1]});
        assert_eq!(field(tt(seated).validate()), "sections[1]");
        let lower = serde_json::json!({"name": "A", "kind": "seated", "price_cents": 100, "currency": "eur", "sections": [1]});
        assert_eq!(field(tt(lower).validate()), "currency");
    }
}
