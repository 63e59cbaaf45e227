//! Request bodies of the venue writes, and their validation.
//!
//! Types are checked by the JSON extractor (a wrong type is a 400 naming the
//! JSON path); everything else is checked here, before any SQL runs, so each
//! failure names its field: `seat_map.sections[2].rows[0].seats[7].x`.
//! The schema's CHECK constraints stay the last line of defence.
#![expect(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use std::collections::HashSet;

use problem::Problem;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::admin::text;

/// The most seats one seat map may hold.
pub const MAX_SEATS: usize = 200_000;

/// `POST /v1/venues`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVenue {
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    #[schema(min_length = 1, max_length = 500)]
    pub address: String,
    #[schema(min_length = 1, max_length = 200)]
    pub city: String,
    /// ISO 3166-1 alpha-2.
    #[schema(pattern = "^[A-Z]{2}$", example = "GB")]
    pub country: String,
    #[schema(minimum = -90.0, maximum = 90.0)]
    pub lat: f64,
    #[schema(minimum = -180.0, maximum = 180.0)]
    pub lon: f64,
    /// An IANA time zone name, for showing local times.
    #[serde(default = "utc")]
    #[schema(
        min_length = 1,
        max_length = 64,
        default = "UTC",
        example = "Europe/London"
    )]
    pub timezone: String,
    /// Optional: the seat map can also be uploaded later
    /// (`PUT /v1/venues/{id}/seat-map`).
    pub seat_map: Option<SeatMap>,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// `PATCH /v1/venues/{id}`'s body: the fields to change. The seat map has
/// its own route, `PUT /v1/venues/{id}/seat-map`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VenuePatch {
    #[schema(min_length = 1, max_length = 300)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 500)]
    pub address: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[schema(pattern = "^[A-Z]{2}$", example = "GB")]
    pub country: Option<String>,
    #[schema(minimum = -90.0, maximum = 90.0)]
    pub lat: Option<f64>,
    #[schema(minimum = -180.0, maximum = 180.0)]
    pub lon: Option<f64>,
    /// An IANA time zone name.
    #[schema(min_length = 1, max_length = 64, example = "Europe/London")]
    pub timezone: Option<String>,
}

/// A venue's seat map: sections, their rows, their seats. Section names
/// are unique in the venue, row labels and positions in their section,
/// seat numbers in their row; at most 200,000 seats. A fault is a 400
/// whose `field` is its path, such as
/// `seat_map.sections[2].rows[0].seats[7].x`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatMap {
    #[schema(min_items = 1)]
    pub sections: Vec<Section>,
    /// Optional: the stage, field or pitch as a polygon of `[x, y]`
    /// points in the seats' drawing coordinates (3 to 64 points), drawn on
    /// the seat map for orientation.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Vec<f32>>>, min_items = 3, max_items = 64)]
    pub stage: Option<Vec<[f32; 2]>>,
}

/// A section of a seat map.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SeatMapSection)]
pub struct Section {
    /// Unique in the venue.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Lower is better (best-available starts there).
    #[serde(default)]
    #[schema(default = 0)]
    pub rank: i32,
    #[schema(min_items = 1)]
    pub rows: Vec<Row>,
}

/// A row of a seat map section.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SeatMapRow)]
pub struct Row {
    /// Unique in the section.
    #[schema(min_length = 1, max_length = 20)]
    pub label: String,
    /// 0 is nearest the stage; defaults to the row's index in the list.
    /// Unique in the section.
    #[schema(minimum = 0)]
    pub position: Option<i32>,
    #[schema(min_items = 1)]
    pub seats: Vec<Seat>,
}

// `number`, `x` and `y` are required; they are optional here only so a
// missing one is reported at its own path.
/// A seat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SeatMapSeat)]
pub struct Seat {
    /// Unique in the row.
    #[schema(value_type = i32, required = true, minimum = 1)]
    pub number: Option<i32>,
    /// Drawing coordinates.
    #[schema(value_type = f32, required = true)]
    pub x: Option<f32>,
    #[schema(value_type = f32, required = true)]
    pub y: Option<f32>,
    #[serde(default)]
    #[schema(default = false)]
    pub accessible: bool,
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

/// An IANA time zone name the tz database knows ("Europe/London").
fn time_zone(field: &str, value: &str) -> Result<(), Problem> {
    text(field, value, 64)?;
    value.parse::<chrono_tz::Tz>().map(|_| ()).map_err(|_| {
        Problem::invalid_field(
            field,
            format!("{value:?} is not an IANA time zone name (such as \"Europe/London\")"),
        )
    })
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

impl NewVenue {
    /// Checks every field; the seat map under `seat_map`.
    pub fn validate(&self) -> Result<(), Problem> {
        text("name", &self.name, 300)?;
        text("address", &self.address, 500)?;
        text("city", &self.city, 200)?;
        country("country", &self.country)?;
        coordinate("lat", self.lat, 90.0)?;
        coordinate("lon", self.lon, 180.0)?;
        time_zone("timezone", &self.timezone)?;
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
            time_zone("timezone", v)?;
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
        if let Some(stage) = &self.stage {
            if !(3..=64).contains(&stage.len()) {
                return Err(Problem::invalid_field(
                    at("stage".into()),
                    format!("a stage outline has 3 to 64 points (got {})", stage.len()),
                ));
            }
            if let Some(i) = stage
                .iter()
                .position(|p| !(p[0].is_finite() && p[1].is_finite()))
            {
                return Err(Problem::invalid_field(
                    at(format!("stage[{i}]")),
                    "coordinates must be finite numbers",
                ));
            }
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
}
