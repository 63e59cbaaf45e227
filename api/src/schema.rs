//! Names for the API description: closed sets of strings that the code
//! keeps as `String` and checks by hand (so each refusal keeps its own
//! message and names its field), listed here so the description can show
//! their values. Nothing is built from these types.
//!
//! The tests below hold the description to the code wherever a type only
//! names a body or a parameter: these sets against the checks, the bodies
//! the database builds against their SQL and tables, the search crate's
//! bodies against their restatement in [`crate::search::schema`], and the
//! query-string types against the parsers.

use utoipa::ToSchema;

/// An event category.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Category {
    Concert,
    Sports,
    Theatre,
    Comedy,
    Family,
}

/// An event's status. Public reads never show a `draft`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum EventStatus {
    Draft,
    Scheduled,
    Cancelled,
    Completed,
}

/// The status a new event may have: `draft` (hidden) or `scheduled`
/// (public).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum NewEventStatus {
    Draft,
    Scheduled,
}

/// The status a patch may set; cancelling has its own route
/// (`POST /v1/events/{id}/cancel`).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum EventEditStatus {
    Draft,
    Scheduled,
    Completed,
}

/// A ticket type's kind: `seated` prices sections of the venue, general
/// admission has a capacity.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum TicketKind {
    Seated,
    GeneralAdmission,
}

/// A user's role. A `scanner` (door staff) gets no more than a `user` on
/// today's routes.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
    Scanner,
}

/// What an API key may do: `catalog:write`, the admin catalog writes;
/// `catalog:read`, an authenticated read identity.
#[derive(Debug, ToSchema)]
pub enum ApiKeyScope {
    #[schema(rename = "catalog:read")]
    CatalogRead,
    #[schema(rename = "catalog:write")]
    CatalogWrite,
}

#[cfg(test)]
mod tests {
    //! The description against the code: the closed sets against the
    //! checks, the types that only name a body against what builds it (the
    //! SQL, the tables, the search crate's types), and the query-string
    //! types against the parsers.

    use std::collections::BTreeSet;

    use serde_json::{Value, json};
    use utoipa::{IntoParams, PartialSchema};

    use super::*;

    /// The `enum` values of a schema.
    fn values<T: PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).expect("serializes");
        schema["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .map(|v| v.as_str().expect("a string").to_owned())
            .collect()
    }

    fn doc() -> Value {
        serde_json::to_value(crate::openapi()).expect("serializes")
    }

    /// The object schemas `schema` stands for: through `$ref`, `allOf`
    /// and the non-null branch of a nullable `oneOf`.
    fn objects<'a>(doc: &'a Value, schema: &'a Value) -> Vec<&'a Value> {
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.trim_start_matches("#/components/schemas/");
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "{r} is not in the description");
            return objects(doc, target);
        }
        let mut out = Vec::new();
        for key in ["allOf", "oneOf", "anyOf"] {
            for branch in schema[key].as_array().into_iter().flatten() {
                out.extend(objects(doc, branch));
            }
        }
        if schema["properties"].is_object() {
            out.push(schema);
        }
        out
    }

    /// The member names of the object `schema` stands for.
    fn members(doc: &Value, schema: &Value) -> BTreeSet<String> {
        objects(doc, schema)
            .into_iter()
            .flat_map(|o| o["properties"].as_object().expect("properties").keys())
            .cloned()
            .collect()
    }

    /// The schema of member `name`, or of an array's items.
    fn member<'a>(doc: &'a Value, schema: &'a Value, name: &str) -> &'a Value {
        objects(doc, schema)
            .into_iter()
            .map(|o| &o["properties"][name])
            .find(|m| !m.is_null())
            .unwrap_or_else(|| panic!("no member {name}"))
    }

    fn items<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
        if let Some(r) = schema["$ref"].as_str() {
            return items(
                doc,
                &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
            );
        }
        if schema["items"].is_object() {
            return &schema["items"];
        }
        schema["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|branch| items(doc, branch))
            .find(|i| !i.is_null())
            .unwrap_or(&Value::Null)
    }

    /// Every member name of `schema` and of the objects it contains.
    fn all_members(doc: &Value, schema: &Value, out: &mut BTreeSet<String>) {
        for name in members(doc, schema) {
            let m = member(doc, schema, &name).clone();
            all_members(doc, &m, out);
            let i = items(doc, &m).clone();
            if !i.is_null() {
                all_members(doc, &i, out);
            }
            out.insert(name);
        }
    }

    fn named(name: &str) -> Value {
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    /// Checks that `value` (a serialized body with every optional member
    /// present) has exactly the members the schema names, at every level.
    fn assert_shape(doc: &Value, schema: &Value, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                let keys: BTreeSet<String> = map.keys().cloned().collect();
                assert_eq!(keys, members(doc, schema), "members of {at}");
                for (k, v) in map {
                    assert_shape(doc, member(doc, schema, k), v, &format!("{at}.{k}"));
                }
            }
            Value::Array(list) => {
                for v in list {
                    assert_shape(doc, items(doc, schema), v, &format!("{at}[]"));
                }
            }
            _ => {}
        }
    }

    /// The keys of the `json_build_object` calls in `sql`: each quoted
    /// word directly followed by a comma.
    fn sql_keys(sql: &str) -> BTreeSet<String> {
        let parts: Vec<&str> = sql.split('\'').collect();
        (1..parts.len() - 1)
            .step_by(2)
            .filter(|&i| parts[i + 1].starts_with(','))
            .filter(|&i| parts[i].chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .map(|i| parts[i].to_owned())
            .collect()
    }

    /// The columns of `table`, from the migrations.
    fn columns(table: &str) -> BTreeSet<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("migrations")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        let mut out = BTreeSet::new();
        for file in files {
            let sql = std::fs::read_to_string(file).expect("reads");
            if let Some(start) = sql.find(&format!("create table {table} (")) {
                for line in sql[start..].lines().skip(1) {
                    let line = line.trim();
                    if line.starts_with(");") {
                        break;
                    }
                    let first = line.split_whitespace().next().unwrap_or_default();
                    let constraint = [
                        "check",
                        "unique",
                        "primary",
                        "foreign",
                        "constraint",
                        "--",
                        "references",
                    ];
                    if !first.is_empty()
                        && !constraint.iter().any(|c| first.starts_with(c))
                        && !line.starts_with('(')
                    {
                        out.insert(first.to_owned());
                    }
                }
            }
            let alter = format!("alter table {table} add column ");
            for line in sql.lines().filter(|l| l.starts_with(&alter)) {
                out.extend(
                    line[alter.len()..]
                        .split_whitespace()
                        .next()
                        .map(str::to_owned),
                );
            }
        }
        assert!(!out.is_empty(), "no table {table}");
        out
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn each_set_lists_what_the_code_accepts() {
        assert_eq!(values::<Category>(), crate::events::input::CATEGORIES);
        assert_eq!(values::<Category>(), crate::search::params::CATEGORIES);
        assert_eq!(
            values::<Role>(),
            [
                auth::Role::User.as_str(),
                auth::Role::Admin.as_str(),
                auth::Role::Scanner.as_str()
            ]
        );
        let scopes: Vec<&str> = auth::api_keys::Scope::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(values::<ApiKeyScope>(), scopes);
        assert_eq!(
            values::<EventStatus>(),
            ["draft", "scheduled", "cancelled", "completed"]
        );
        let sorts: Vec<&str> = search::Sort::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(values::<crate::search::schema::SearchSort>(), sorts);
        let kinds: Vec<Value> = [
            search::SuggestionKind::Event,
            search::SuggestionKind::Performer,
            search::SuggestionKind::Venue,
            search::SuggestionKind::City,
        ]
        .iter()
        .map(|k| serde_json::to_value(k).expect("serializes"))
        .collect();
        assert_eq!(
            json!(values::<crate::search::schema::SuggestionKind>()),
            json!(kinds)
        );
        for order in values::<crate::events::list::ListOrder>() {
            let query = crate::events::list::parse(&[("sort".to_owned(), order.clone())]);
            assert!(query.is_ok(), "sort={order}");
        }
    }

    #[test]
    fn the_event_statuses_and_ticket_kinds_are_the_ones_validation_takes() {
        use crate::events::input::{EventPatch, NewEvent, NewTicketType};

        let event = |status: &str| -> NewEvent {
            serde_json::from_value(json!({
                "venue_id": 1, "title": "Show", "category": "concert", "genre": "rock",
                "starts_at": "2027-06-01T19:00:00Z", "ends_at": "2027-06-01T22:00:00Z",
                "sale_starts_at": "2027-01-01T10:00:00Z", "sale_ends_at": "2027-06-01T19:00:00Z",
                "status": status,
            }))
            .expect("parses")
        };
        for status in ["draft", "scheduled", "cancelled", "completed"] {
            assert_eq!(
                event(status).validate().is_ok(),
                values::<NewEventStatus>().contains(&status.to_owned()),
                "new event {status}"
            );
            let patch = EventPatch {
                status: Some(status.to_owned()),
                ..EventPatch::default()
            };
            assert_eq!(
                patch.apply(&event("draft").row()).is_ok(),
                values::<EventEditStatus>().contains(&status.to_owned()),
                "patch {status}"
            );
        }
        for kind in ["seated", "general_admission", "standing"] {
            let tier: NewTicketType = serde_json::from_value(json!({
                "name": "A", "kind": kind, "price_cents": 100, "currency": "EUR",
            }))
            .expect("parses");
            let field = tier.validate().err().and_then(|p| p.field);
            assert_eq!(
                field.as_deref() != Some("kind"),
                values::<TicketKind>().contains(&kind.to_owned()),
                "{kind}"
            );
        }
    }

    #[test]
    fn the_pages_built_in_sql_have_the_members_their_types_name() {
        let doc = doc();
        for (name, sql) in [
            ("EventPage", crate::events::get::EVENT_SQL),
            ("VenuePage", crate::venues::get::VENUE_SQL),
            ("PerformerPage", crate::performers::get::PERFORMER_SQL),
        ] {
            let mut described = BTreeSet::new();
            all_members(&doc, &named(name), &mut described);
            assert_eq!(sql_keys(sql), described, "{name}");
        }
    }

    #[test]
    fn the_stored_rows_have_the_members_their_types_name() {
        let doc = doc();
        let with = |table: &str, extra: &[&str]| {
            let mut all = columns(table);
            all.extend(set(extra));
            all
        };
        let cases = [
            (
                "StoredEvent",
                with(
                    "events",
                    &["performers", "ticket_types", "seats_materialized"],
                ),
            ),
            ("StoredTicketType", with("ticket_types", &["sections"])),
            (
                "CreatedTicketType",
                with("ticket_types", &["sections", "seats_materialized"]),
            ),
            ("StoredVenue", with("venues", &["seat_map"])),
            ("SeatMapSize", set(&["sections", "rows", "seats"])),
            ("StoredPerformer", columns("performers")),
        ];
        for (name, expected) in cases {
            assert_eq!(members(&doc, &named(name)), expected, "{name}");
        }
    }

    #[test]
    fn the_search_bodies_have_the_members_their_types_name() {
        use search::query::{Highlights, HitVenue};

        let doc = doc();
        let hit = search::Hit {
            event_id: 1,
            title: "Show".into(),
            category: "concert".into(),
            genre: "rock".into(),
            starts_at: chrono::Utc::now(),
            venue: HitVenue {
                id: 2,
                name: "Hall".into(),
                city: "London".into(),
                country: "GB".into(),
            },
            performers: vec![search::PerformerRef {
                id: 3,
                name: "Band".into(),
            }],
            min_price_cents: 100,
            max_price_cents: 200,
            currency: "EUR".into(),
            display_min_price_cents: Some(109),
            available_tickets: 5,
            sold_out: false,
            popularity: 1.0,
            distance_km: Some(1.5),
            highlights: Highlights {
                title: Some("<em>Show</em>".into()),
                performers: vec!["<em>Band</em>".into()],
            },
        };
        let count = search::FacetCount {
            value: "rock".into(),
            count: 1,
        };
        let facets = search::Facets {
            category: vec![count.clone()],
            genre: vec![count.clone()],
            city: vec![count.clone()],
            price: search::PriceBucket::with_counts(
                &search::query::PRICE_BUCKETS,
                &[1, 0, 0, 0, 0],
            ),
            month: vec![count],
        };
        let suggestion = search::Suggestion {
            kind: search::SuggestionKind::Event,
            text: "Show".into(),
            id: Some(1),
            country: Some("GB".into()),
            starts_at: Some(chrono::Utc::now()),
            city: Some("London".into()),
            timezone: Some("Europe/London".into()),
        };
        let results = json!({
            "total": 1, "page": 1, "size": 20, "hits": [hit], "facets": facets, "took_ms": 1.0,
            "display_currency": "USD", "rates_version": 1,
        });
        assert_shape(&doc, &named("SearchResults"), &results, "SearchResults");
        let suggestions = json!({"q": "lon", "suggestions": [suggestion], "took_ms": 1.0});
        assert_shape(&doc, &named("Suggestions"), &suggestions, "Suggestions");
    }

    /// The query parameters `P` documents.
    fn documented<P: IntoParams>() -> BTreeSet<String> {
        P::into_params(|| None)
            .into_iter()
            .map(|p| p.name)
            .collect()
    }

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// For each parameter, a query in which it matters: without it the
    /// parser answers differently. So each documented parameter is read.
    #[test]
    fn every_documented_query_parameter_is_read() {
        use crate::search::params::{SearchParams, SuggestParams, suggest_query};
        let search_query = |p: &[(String, String)]| {
            crate::search::params::search_query(
                p,
                &search::Rates {
                    version: 1,
                    per_usd: [("USD".to_owned(), 1.0), ("EUR".to_owned(), 0.92)].into(),
                },
            )
            .ok()
        };

        let search: &[(&str, &[(&str, &str)])] = &[
            ("q", &[("q", "jazz")]),
            ("keyword", &[("keyword", "jazz")]),
            ("start", &[("start", "2026-12-01")]),
            ("end", &[("end", "2026-12-01")]),
            ("city", &[("city", "London,Paris")]),
            ("country", &[("country", "gb")]),
            ("category", &[("category", "comedy")]),
            ("genre", &[("genre", "rock")]),
            ("venue_id", &[("venue_id", "1")]),
            ("performer_id", &[("performer_id", "2")]),
            ("min_price", &[("min_price", "10")]),
            ("max_price", &[("max_price", "10")]),
            ("available", &[("available", "true")]),
            ("lat", &[("lat", "51.5"), ("lon", "0")]),
            ("lon", &[("lat", "51.5"), ("lon", "0")]),
            (
                "radius_km",
                &[("lat", "51.5"), ("lon", "0"), ("radius_km", "5")],
            ),
            ("sort", &[("sort", "date")]),
            ("page", &[("page", "2")]),
            ("size", &[("size", "5")]),
            ("pageSize", &[("pageSize", "5")]),
            ("facets", &[("facets", "false")]),
            ("currency", &[("currency", "EUR")]),
        ];
        let names: BTreeSet<String> = search.iter().map(|(n, _)| (*n).to_owned()).collect();
        assert_eq!(names, documented::<SearchParams>());
        for (name, query) in search {
            let with = pairs(query);
            let without: Vec<_> = with.iter().filter(|(k, _)| k != name).cloned().collect();
            assert!(search_query(&with).is_some(), "{name}");
            assert_ne!(search_query(&with), search_query(&without), "{name}");
        }

        assert_eq!(documented::<SuggestParams>(), set(&["q", "limit"]));
        assert!(suggest_query(&[]).is_err(), "q is required");
        assert_ne!(
            suggest_query(&pairs(&[("q", "lon"), ("limit", "3")])).ok(),
            suggest_query(&pairs(&[("q", "lon")])).ok()
        );

        assert_eq!(
            documented::<crate::events::list::ListParams>(),
            set(&["sort", "limit", "after", "on_sale"])
        );
        let parse = |q: &[(&str, &str)]| crate::events::list::parse(&pairs(q)).ok();
        assert_ne!(parse(&[("sort", "upcoming")]), parse(&[]));
        assert_ne!(parse(&[("limit", "5")]), parse(&[]));
        assert!(parse(&[("after", "zz")]).is_none(), "after is read");
        assert_ne!(parse(&[("on_sale", "true")]), parse(&[]));
    }
}
