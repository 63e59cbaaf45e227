//! Time: an instant on the venue's wall clock.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A moment in a venue's zone, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTime {
    /// "Sat 12 Dec 2026".
    pub date: String,
    /// "19:15".
    pub time: String,
    /// The zone's abbreviation then: "EST", "BST", or an offset such as
    /// "+03" where the zone has no letters.
    pub zone: String,
    /// RFC 3339 with the local offset, for `<time datetime>`.
    pub machine: String,
}

impl LocalTime {
    /// "Sat 12 Dec 2026, 19:15 EST".
    pub fn full(&self) -> String {
        format!("{}, {} {}", self.date, self.time, self.zone)
    }
}

/// `at` in the IANA zone `zone` (UTC when the name is unknown).
pub fn local(at: DateTime<Utc>, zone: &str) -> LocalTime {
    let tz = Tz::from_str(zone).unwrap_or(Tz::UTC);
    let t = at.with_timezone(&tz);
    LocalTime {
        date: t.format("%a %-d %b %Y").to_string(),
        time: t.format("%H:%M").to_string(),
        zone: t.format("%Z").to_string(),
        machine: t.to_rfc3339(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_the_venue_s_wall_clock_with_its_abbreviation() {
        let at: DateTime<Utc> = "2026-12-13T00:15:00Z".parse().expect("time");
        let ny = local(at, "America/New_York");
        assert_eq!(ny.full(), "Sat 12 Dec 2026, 19:15 EST");
        assert_eq!(ny.machine, "2026-12-12T19:15:00-05:00");
        let summer: DateTime<Utc> = "2027-07-01T18:30:00Z".parse().expect("time");
        assert_eq!(
            local(summer, "Europe/London").full(),
            "Thu 1 Jul 2027, 19:30 BST"
        );
        assert_eq!(
            local(summer, "Europe/Prague").full(),
            "Thu 1 Jul 2027, 20:30 CEST"
        );
        assert_eq!(local(summer, "Not/AZone").zone, "UTC");
        // Letters where the tz database has them, the offset where not.
        assert_eq!(local(at, "Australia/Melbourne").zone, "AEDT");
        assert_eq!(local(at, "America/Sao_Paulo").zone, "-03");
        assert_eq!(local(summer, "Europe/Dublin").zone, "IST");
    }
}
