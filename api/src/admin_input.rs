//! Request bodies of the admin catalog writes, and their validation.
//!
//! Types are checked by the JSON extractor (a wrong type is a 400 naming the
//! JSON path); everything else is checked here, before any SQL runs, so each
//! failure names its field: `seat_map.sections[2].rows[0].seats[7].x`.
//! The schema's CHECK constraints stay the last line of defence.
#![allow(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use problem::Problem;
use serde::Deserialize;

/// The most seats one seat map may hold.
pub const MAX_SEATS: usize = 200_000;

/// Event categories the catalog knows.
pub const CATEGORIES: [&str; 5] = ["concert", "sports", "theatre", "comedy", "family"];

/// `POST /v1/venues`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVenue {
    pub name: String,
    pub address: String,
    pub city: String,
    pub country: String,
    pub lat: f64,
    pub lon: f64,
    #[serde(default = "utc")]
    pub timezone: String,
    /// Optional: the seat map can also be uploaded later.
    pub seat_map: Option<SeatMap>,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// `PATCH /v1/venues/{id}`: the fields to change.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenuePatch {
    pub name: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub timezone: Option<String>,
}

/// A venue's seat map: sections, their rows, their seats.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatMap {
    pub sections: Vec<Section>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub name: String,
    /// Lower is better (best-available starts there). Default 0.
    #[serde(default)]
    pub rank: i32,
    pub rows: Vec<Row>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub label: String,
    /// 0 is nearest the stage; defaults to the row's index in the list.
    pub position: Option<i32>,
    pub seats: Vec<Seat>,
}

/// A seat. `number`, `x` and `y` are required; they are optional here only so
/// a missing one is reported at its own path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seat {
    pub number: Option<i32>,
    pub x: Option<f32>,
    pub y: Option<f32>,
    #[serde(default)]
    pub accessible: bool,
}

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

/// `POST /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    pub venue_id: i64,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub category: String,
    pub genre: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `draft` (hidden) or `scheduled` (public). Default `scheduled`.
    #[serde(default = "scheduled")]
    pub status: String,
    #[serde(default)]
    pub popularity: f64,
    pub sale_starts_at: DateTime<Utc>,
    pub sale_ends_at: DateTime<Utc>,
    /// Performer ids, headliner first.
    #[serde(default)]
    pub performers: Vec<i64>,
}

fn scheduled() -> String {
    "scheduled".to_owned()
}

/// `PATCH /v1/events/{id}`. `status` may be `draft`, `scheduled` or
/// `completed`; cancelling has its own route.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    pub venue_id: Option<i64>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub genre: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub status: Option<String>,
    pub popularity: Option<f64>,
    pub sale_starts_at: Option<DateTime<Utc>>,
    pub sale_ends_at: Option<DateTime<Utc>>,
    pub performers: Option<Vec<i64>>,
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
}

/// `POST /v1/events/{id}/ticket-types`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTicketType {
    pub name: String,
    /// `seated` or `general_admission`.
    pub kind: String,
    pub price_cents: i64,
    pub currency: String,
    /// General admission only.
    pub capacity: Option<i32>,
    #[serde(default = "default_hold")]
    pub hold_seconds: i32,
    /// Seated only: the venue sections this tier prices.
    #[serde(default)]
    pub sections: Vec<i64>,
}

fn default_hold() -> i32 {
    600
}

fn text(field: &str, value: &str, max: usize) -> Result<(), Problem> {
    let chars = value.chars().count();
    if value.trim().is_empty() {
        return Err(Problem::invalid_field(field, "must not be empty"));
    }
    if chars > max {
        return Err(Problem::invalid_field(
            field,
            format!("must be at most {max} characters (got {chars})"),
        ));
    }
    Ok(())
}

fn country(field: &str, value: &str) -> Result<(), Problem> {
    if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(Problem::invalid_field(
            field,
            format!("{value:?} is not an ISO 3166-1 alpha-2 code such as \"GB\""),
        ))
    }
}

fn coordinate(field: &str, value: f64, bound: f64) -> Result<(), Problem> {
    if value.is_finite() && (-bound..=bound).contains(&value) {
        Ok(())
    } else {
        Err(Problem::invalid_field(
            field,
            format!("must be between -{bound} and {bound}"),
        ))
    }
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

impl NewVenue {
    /// Checks every field; the seat map under `seat_map`.
    pub fn validate(&self) -> Result<(), Problem> {
        text("name", &self.name, 300)?;
        text("address", &self.address, 500)?;
        text("city", &self.city, 200)?;
        country("country", &self.country)?;
        coordinate("lat", self.lat, 90.0)?;
        coordinate("lon", self.lon, 180.0)?;
        text("timezone", &self.timezone, 64)?;
        if let Some(map) = &self.seat_map {
            map.validate("seat_map")?;
        }
        Ok(())
    }
}

impl VenuePatch {
    /// Checks the fields present.
    pub fn validate(&self) -> Result<(), Problem> {
        if let Some(v) = &self.name {
            text("name", v, 300)?;
        }
        if let Some(v) = &self.address {
            text("address", v, 500)?;
        }
        if let Some(v) = &self.city {
            text("city", v, 200)?;
        }
        if let Some(v) = &self.country {
            country("country", v)?;
        }
        if let Some(v) = self.lat {
            coordinate("lat", v, 90.0)?;
        }
        if let Some(v) = self.lon {
            coordinate("lon", v, 180.0)?;
        }
        if let Some(v) = &self.timezone {
            text("timezone", v, 64)?;
        }
        Ok(())
    }
}

impl SeatMap {
    /// Checks the map; `prefix` is the JSON path of the map itself (empty
    /// when the map is the whole body). No section name, row label, row
    /// position or seat number repeats within its parent; every seat has a
    /// number and finite coordinates.
    pub fn validate(&self, prefix: &str) -> Result<(), Problem> {
        let at = |rest: String| {
            if prefix.is_empty() {
                rest
            } else {
                format!("{prefix}.{rest}")
            }
        };
        if self.sections.is_empty() {
            return Err(Problem::invalid_field(
                at("sections".into()),
                "a seat map needs at least one section",
            ));
        }
        let total = self.seat_count();
        if total > MAX_SEATS {
            return Err(Problem::invalid_field(
                at("sections".into()),
                format!("a seat map holds at most {MAX_SEATS} seats (got {total})"),
            ));
        }
        let mut section_names = HashSet::new();
        for (si, section) in self.sections.iter().enumerate() {
            let sp = format!("sections[{si}]");
            text(&at(format!("{sp}.name")), &section.name, 100)?;
            if !section_names.insert(section.name.as_str()) {
                return Err(Problem::invalid_field(
                    at(format!("{sp}.name")),
                    format!("duplicate section {:?}", section.name),
                ));
            }
            if section.rows.is_empty() {
                return Err(Problem::invalid_field(
                    at(format!("{sp}.rows")),
                    "a section needs at least one row",
                ));
            }
            let mut labels = HashSet::new();
            let mut positions = HashSet::new();
            for (ri, row) in section.rows.iter().enumerate() {
                let rp = format!("{sp}.rows[{ri}]");
                text(&at(format!("{rp}.label")), &row.label, 20)?;
                if !labels.insert(row.label.as_str()) {
                    return Err(Problem::invalid_field(
                        at(format!("{rp}.label")),
                        format!(
                            "duplicate row {:?} in section {:?}",
                            row.label, section.name
                        ),
                    ));
                }
                let position = row
                    .position
                    .unwrap_or(i32::try_from(ri).unwrap_or(i32::MAX));
                if position < 0 {
                    return Err(Problem::invalid_field(
                        at(format!("{rp}.position")),
                        "must not be negative",
                    ));
                }
                if !positions.insert(position) {
                    return Err(Problem::invalid_field(
                        at(format!("{rp}.position")),
                        format!(
                            "two rows of section {:?} are at position {position}",
                            section.name
                        ),
                    ));
                }
                if row.seats.is_empty() {
                    return Err(Problem::invalid_field(
                        at(format!("{rp}.seats")),
                        "a row needs at least one seat",
                    ));
                }
                let mut numbers = HashSet::new();
                for (i, seat) in row.seats.iter().enumerate() {
                    let p = format!("{rp}.seats[{i}]");
                    let Some(number) = seat.number else {
                        return Err(Problem::invalid_field(
                            at(format!("{p}.number")),
                            "every seat needs a number",
                        ));
                    };
                    if number <= 0 {
                        return Err(Problem::invalid_field(
                            at(format!("{p}.number")),
                            "must be a positive integer",
                        ));
                    }
                    if !numbers.insert(number) {
                        return Err(Problem::invalid_field(
                            at(format!("{p}.number")),
                            format!(
                                "duplicate seat: {:?} row {:?} seat {number}",
                                section.name, row.label
                            ),
                        ));
                    }
                    for (name, value) in [("x", seat.x), ("y", seat.y)] {
                        match value {
                            None => {
                                return Err(Problem::invalid_field(
                                    at(format!("{p}.{name}")),
                                    "every seat needs x and y coordinates",
                                ));
                            }
                            Some(v) if !v.is_finite() => {
                                return Err(Problem::invalid_field(
                                    at(format!("{p}.{name}")),
                                    "must be a finite number",
                                ));
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// How many seats the map holds.
    pub fn seat_count(&self) -> usize {
        self.sections
            .iter()
            .flat_map(|s| &s.rows)
            .map(|r| r.seats.len())
            .sum()
    }
}

impl NewPerformer {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), Problem> {
        text("name", &self.name, 300)?;
        text("genre", &self.genre, 100)?;
        if self.description.chars().count() > 20_000 {
            return Err(Problem::invalid_field(
                "description",
                "must be at most 20000 characters",
            ));
        }
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
        if let Some(v) = &self.description
            && v.chars().count() > 20_000
        {
            return Err(Problem::invalid_field(
                "description",
                "must be at most 20000 characters",
            ));
        }
        if let Some(url) = &self.image_url {
            image_url(url)?;
        }
        Ok(())
    }
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
        if self.description.chars().count() > 20_000 {
            return Err(Problem::invalid_field(
                "description",
                "must be at most 20000 characters",
            ));
        }
        category("category", &self.category)?;
        text("genre", &self.genre, 100)?;
        if !(self.popularity.is_finite() && self.popularity >= 0.0) {
            return Err(Problem::invalid_field(
                "popularity",
                "must be a non-negative number",
            ));
        }
        if self.ends_at <= self.starts_at {
            return Err(Problem::invalid_field("ends_at", "must be after starts_at"));
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

    fn map(json: serde_json::Value) -> SeatMap {
        serde_json::from_value(json).expect("parses")
    }

    fn field(result: Result<(), Problem>) -> String {
        result
            .expect_err("must be refused")
            .field
            .expect("names a field")
    }

    #[test]
    fn a_well_formed_map_passes_and_counts_its_seats() {
        let m = map(serde_json::json!({"sections": [
            {"name": "Floor", "rows": [
                {"label": "A", "seats": [{"number": 1, "x": 1.0, "y": 2.0}, {"number": 2, "x": 3.0, "y": 2.0}]},
                {"label": "B", "seats": [{"number": 1, "x": 1.0, "y": 4.0, "accessible": true}]}
            ]},
            {"name": "Balcony", "rank": 1, "rows": [
                {"label": "A", "seats": [{"number": 1, "x": 1.0, "y": 9.0}]}
            ]}
        ]}));
        m.validate("seat_map").expect("valid");
        assert_eq!(m.seat_count(), 4);
    }

    #[test]
    fn each_seat_map_fault_names_its_path() {
        let cases = [
            (
                serde_json::json!({"sections": [{"name": "F", "rows": [{"label": "A", "seats": [
                    {"number": 1, "x": 1.0, "y": 1.0}, {"number": 1, "x": 2.0, "y": 1.0}]}]}]}),
                "seat_map.sections[0].rows[0].seats[1].number",
            ),
            (
                serde_json::json!({"sections": [{"name": "F", "rows": [{"label": "A", "seats": [
                    {"number": 1, "y": 1.0}]}]}]}),
                "seat_map.sections[0].rows[0].seats[0].x",
            ),
            (
                serde_json::json!({"sections": [{"name": "F", "rows": [{"label": "A", "seats": [
                    {"number": 1, "x": 1.0}]}]}]}),
                "seat_map.sections[0].rows[0].seats[0].y",
            ),
            (
                serde_json::json!({"sections": [{"name": "F", "rows": [{"label": "A", "seats": [
                    {"x": 1.0, "y": 1.0}]}]}]}),
                "seat_map.sections[0].rows[0].seats[0].number",
            ),
            (
                serde_json::json!({"sections": [
                    {"name": "F", "rows": [{"label": "A", "seats": [{"number": 1, "x": 1.0, "y": 1.0}]}]},
                    {"name": "F", "rows": [{"label": "A", "seats": [{"number": 1, "x": 1.0, "y": 1.0}]}]}]}),
                "seat_map.sections[1].name",
            ),
            (
                serde_json::json!({"sections": [{"name": "F", "rows": [
                    {"label": "A", "seats": [{"number": 1, "x": 1.0, "y": 1.0}]},
                    {"label": "A", "seats": [{"number": 1, "x": 1.0, "y": 2.0}]}]}]}),
                "seat_map.sections[0].rows[1].label",
            ),
            (
                serde_json::json!({"sections": [{"name": "F", "rows": [
                    {"label": "A", "position": 3, "seats": [{"number": 1, "x": 1.0, "y": 1.0}]},
                    {"label": "B", "position": 3, "seats": [{"number": 1, "x": 1.0, "y": 2.0}]}]}]}),
                "seat_map.sections[0].rows[1].position",
            ),
            (
                serde_json::json!({"sections": [{"name": "F", "rows": [{"label": "A", "seats": []}]}]}),
                "seat_map.sections[0].rows[0].seats",
            ),
            (serde_json::json!({"sections": []}), "seat_map.sections"),
        ];
        for (json, expected) in cases {
            assert_eq!(field(map(json).validate("seat_map")), expected);
        }
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
        };
        row.validate().expect("valid");
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
