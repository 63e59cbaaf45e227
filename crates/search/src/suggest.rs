//! Turning the events a suggest query matched into typed suggestions.
//!
//! Both backends find candidate events with a prefix- and typo-tolerant
//! query over titles, performers, venues and cities; this module decides
//! which of each event's names matched what the user typed, merges
//! duplicates (a performer on many events is one suggestion, weighted by
//! all of them) and ranks.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::query::{Suggestion, SuggestionKind};
use crate::text::{self, TermMatch};

/// Candidate events a backend fetches per suggest call.
pub const CANDIDATES: usize = 40;
/// Most suggestions an endpoint returns.
pub const MAX_SUGGESTIONS: usize = 10;

/// Event id -> its venue's IANA time zone, kept in memory: an event's
/// venue, and a venue's zone, practically never change, and a stale zone
/// only shifts the date an autocomplete entry shows.
pub type EventZones = moka::sync::Cache<i64, std::sync::Arc<str>>;

/// An [`EventZones`] of up to 200,000 events, each kept for ten minutes.
pub fn event_zones() -> EventZones {
    moka::sync::Cache::builder()
        .max_capacity(200_000)
        .time_to_live(std::time::Duration::from_secs(600))
        .build()
}

/// The names of one matched event.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub event_id: i64,
    pub title: String,
    pub performers: Vec<(i64, String)>,
    pub venue_id: i64,
    pub venue_name: String,
    pub city: String,
    pub country: String,
    pub starts_at: DateTime<Utc>,
    pub popularity: f64,
}

/// Where and when, for an event suggestion.
#[derive(Clone, Copy)]
struct EventFacts<'a> {
    starts_at: DateTime<Utc>,
    city: &'a str,
}

struct Ranked {
    suggestion: Suggestion,
    /// Match kind, then whole-name equality, then name-prefix: lower is better.
    quality: (TermMatch, bool, bool),
    weight: f64,
    first_seen: usize,
}

/// Up to `limit` suggestions for `typed` out of `candidates`.
pub fn rank(typed: &str, candidates: &[Candidate], limit: usize) -> Vec<Suggestion> {
    let query = text::terms(typed);
    if query.is_empty() {
        return Vec::new();
    }
    let folded_typed = query.join(" ");
    let mut by_key: HashMap<(SuggestionKind, String), Ranked> = HashMap::new();
    let mut seen = 0usize;
    let mut offer = |kind: SuggestionKind,
                     name: &str,
                     id: Option<i64>,
                     country: Option<&str>,
                     event: Option<EventFacts<'_>>,
                     weight: f64| {
        let Some(m) = text::matches_all(&query, name) else {
            return;
        };
        let folded = text::terms(name).join(" ");
        let starts = folded.starts_with(&folded_typed);
        let equal = folded == folded_typed;
        let key = (kind, folded);
        seen += 1;
        let entry = by_key.entry(key).or_insert_with(|| Ranked {
            suggestion: Suggestion {
                kind,
                text: name.to_owned(),
                id,
                country: country.map(str::to_owned),
                starts_at: event.map(|e| e.starts_at),
                city: event.map(|e| e.city.to_owned()),
                timezone: None,
            },
            quality: (m, !equal, !starts),
            weight: 0.0,
            first_seen: seen,
        });
        entry.weight += weight.max(0.0) + 1.0;
    };
    for c in candidates {
        offer(
            SuggestionKind::Event,
            &c.title,
            Some(c.event_id),
            None,
            Some(EventFacts {
                starts_at: c.starts_at,
                city: &c.city,
            }),
            c.popularity,
        );
        for (id, name) in &c.performers {
            offer(
                SuggestionKind::Performer,
                name,
                Some(*id),
                None,
                None,
                c.popularity,
            );
        }
        offer(
            SuggestionKind::Venue,
            &c.venue_name,
            Some(c.venue_id),
            None,
            None,
            c.popularity,
        );
        offer(
            SuggestionKind::City,
            &c.city,
            None,
            Some(&c.country),
            None,
            c.popularity,
        );
    }
    let mut ranked: Vec<Ranked> = by_key.into_values().collect();
    ranked.sort_by(|a, b| {
        a.quality
            .cmp(&b.quality)
            .then_with(|| b.weight.total_cmp(&a.weight))
            .then_with(|| a.first_seen.cmp(&b.first_seen))
    });
    ranked
        .into_iter()
        .take(limit.min(MAX_SUGGESTIONS))
        .map(|r| r.suggestion)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: i64, title: &str, performer: &str, popularity: f64) -> Candidate {
        Candidate {
            event_id: id,
            title: title.to_owned(),
            performers: vec![(id * 10, performer.to_owned())],
            venue_id: 1,
            venue_name: "Madison Square Garden".to_owned(),
            city: "New York".to_owned(),
            country: "US".to_owned(),
            starts_at: DateTime::from_timestamp(1_800_000_000 + id * 86_400, 0).expect("instant"),
            popularity,
        }
    }

    #[test]
    fn a_performer_on_many_events_is_one_suggestion_weighted_by_all_of_them() {
        let c = vec![
            candidate(1, "Adele: Live", "Adele", 5.0),
            candidate(2, "Adele: Encore", "Adele", 5.0),
            candidate(3, "Adela and Friends", "Adela", 3.0),
        ];
        let s = rank("adel", &c, 10);
        let performers: Vec<_> = s
            .iter()
            .filter(|s| s.kind == SuggestionKind::Performer)
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(performers, ["Adele", "Adela"]);
        assert!(!s.iter().any(|s| s.kind == SuggestionKind::Venue));
    }

    #[test]
    fn an_event_suggestion_says_when_and_where() {
        let s = rank(
            "adele live",
            &[candidate(7, "Adele: Live", "Adele", 1.0)],
            10,
        );
        let event = s
            .iter()
            .find(|s| s.kind == SuggestionKind::Event)
            .expect("the event is suggested");
        assert_eq!(event.city.as_deref(), Some("New York"));
        assert_eq!(
            event.starts_at.map(|t| t.timestamp()),
            Some(1_800_000_000 + 7 * 86_400)
        );
        let performer = s.iter().find(|s| s.kind == SuggestionKind::Performer);
        assert!(performer.is_none_or(|p| p.starts_at.is_none() && p.city.is_none()));
    }

    #[test]
    fn cities_carry_their_country() {
        let s = rank("new yo", &[candidate(1, "X", "Y", 1.0)], 10);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].kind, SuggestionKind::City);
        assert_eq!(s[0].country.as_deref(), Some("US"));
    }
}
