//! Pure, deterministic generation: the same seed and start date always give
//! the same catalog, value for value. Nothing here touches the database.

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, Utc};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use crate::places::{CITIES, City};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// RNG seed.
    pub seed: u64,
    /// Number of events.
    pub events: usize,
    /// Number of demo shoppers (plus one admin).
    pub users: usize,
    /// Day the twelve months of events start from (usually today, UTC).
    pub start_date: NaiveDate,
    /// Seat inventory is materialized for seated events whose sale is open
    /// at this instant.
    pub now: DateTime<Utc>,
}

/// A demo user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: &'static str,
}

/// A performer (artist, team, company).
#[derive(Debug, Clone, PartialEq)]
pub struct Performer {
    pub performer_id: i64,
    pub name: String,
    pub genre: &'static str,
    pub description: String,
    /// Zipf-like weight in (0, 1]; drives event popularity.
    pub weight: f64,
    pub category: Category,
}

/// Event category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Concert,
    Sports,
    Theatre,
    Comedy,
    Family,
}

impl Category {
    /// The value stored in `events.category`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Concert => "concert",
            Category::Sports => "sports",
            Category::Theatre => "theatre",
            Category::Comedy => "comedy",
            Category::Family => "family",
        }
    }
}

/// Kinds of venue, each with its own seat map shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueKind {
    /// Standing only: general admission.
    Club,
    /// Small, one seated section.
    ComedyClub,
    /// Orchestra, mezzanine, balcony.
    Theatre,
    /// Seated bowl around a standing floor.
    Arena,
    /// Two-tier bowl, about 50,000 seats.
    Stadium,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Venue {
    pub venue_id: i64,
    pub name: String,
    pub address: String,
    pub city: &'static str,
    pub country: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub timezone: &'static str,
    pub currency: &'static str,
    pub kind: VenueKind,
    /// Standing capacity for general admission (clubs, arena floors).
    pub standing_capacity: i32,
    pub sections: Vec<Section>,
    /// The stage, floor or pitch outline in the seats' coordinates.
    pub stage: Option<Vec<[f32; 2]>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub section_id: i64,
    pub name: String,
    /// 0 is the best; seated price tiers follow it.
    pub rank: i32,
    pub rows: Vec<SeatRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeatRow {
    pub row_id: i64,
    pub label: String,
    pub position: i32,
    pub seats: Vec<Seat>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Seat {
    pub seat_id: i64,
    pub number: i32,
    pub x: f32,
    pub y: f32,
    pub accessible: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: i64,
    pub venue_id: i64,
    pub title: String,
    pub description: String,
    pub category: Category,
    pub genre: &'static str,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: &'static str,
    pub popularity: f64,
    pub sale_starts_at: DateTime<Utc>,
    pub sale_ends_at: DateTime<Utc>,
    /// Doors open an hour before the start (half an hour for family shows).
    pub doors_at: DateTime<Utc>,
    /// Headliner first.
    pub performer_ids: Vec<i64>,
    pub ticket_types: Vec<TicketType>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TicketType {
    pub ticket_type_id: i64,
    pub name: String,
    pub seated: bool,
    pub price_cents: i64,
    pub currency: &'static str,
    /// General admission only.
    pub capacity: Option<i32>,
    pub hold_seconds: i32,
    /// Seated tiers: the venue sections they price.
    pub section_ids: Vec<i64>,
}

impl Event {
    /// Whether shoppers can buy now, so its seat inventory must exist.
    pub fn sale_open(&self, now: DateTime<Utc>) -> bool {
        self.status == "scheduled" && self.sale_starts_at <= now && now < self.sale_ends_at
    }
}

/// The whole generated catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub users: Vec<User>,
    pub performers: Vec<Performer>,
    pub venues: Vec<Venue>,
    pub events: Vec<Event>,
}

impl Catalog {
    /// Seats across every venue's seat map.
    pub fn venue_seat_count(&self) -> usize {
        self.venues.iter().map(Venue::seat_count).sum()
    }
}

impl Venue {
    /// Seats in this venue's seat map.
    pub fn seat_count(&self) -> usize {
        self.sections
            .iter()
            .flat_map(|s| &s.rows)
            .map(|r| r.seats.len())
            .sum()
    }
}

/// Ids handed out in generation order, so they are deterministic too.
#[derive(Debug, Default)]
struct Ids {
    section: i64,
    row: i64,
    seat: i64,
    ticket_type: i64,
}

impl Ids {
    fn next(counter: &mut i64) -> i64 {
        *counter += 1;
        *counter
    }
}

/// Generates a catalog.
pub fn generate(spec: &Spec) -> Catalog {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut ids = Ids::default();
    let users = users(&mut rng, spec.users);
    let performers = performers(&mut rng, performer_count(spec.events));
    let venues = venues(&mut rng, &mut ids);
    let events = events(&mut rng, &mut ids, spec, &venues, &performers);
    Catalog {
        users,
        performers,
        venues,
        events,
    }
}

fn performer_count(events: usize) -> usize {
    (events / 5).clamp(60, 8_000)
}

fn uuid_from(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

const FIRST_NAMES: &[&str] = &[
    "Ava", "Leo", "Maya", "Noah", "Iris", "Omar", "Lena", "Theo", "Zara", "Felix", "Nina", "Hugo",
    "Ruby", "Elias", "Sofia", "Jonah", "Clara", "Mateo", "Freya", "Idris", "Alma", "Kai", "Lucia",
    "Rafael", "Ines", "Arlo", "Mila", "Soren", "Yara", "Otis",
];
const LAST_NAMES: &[&str] = &[
    "Rivers",
    "Stone",
    "Vance",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Castillo",
    "Nakamura",
    "Kowalski",
    "Byrne",
    "Haddad",
    "Ferreira",
    "Lund",
    "Adeyemi",
    "Marsh",
    "Delacroix",
    "Quinn",
    "Sato",
    "Navarro",
    "Holm",
    "Ashby",
    "Reyes",
    "Novak",
    "Fontaine",
    "Calloway",
    "Park",
    "Mercer",
    "Blake",
];
const ADJECTIVES: &[&str] = &[
    "Electric",
    "Velvet",
    "Midnight",
    "Golden",
    "Silver",
    "Neon",
    "Crimson",
    "Wild",
    "Hollow",
    "Northern",
    "Paper",
    "Glass",
    "Lunar",
    "Static",
    "Copper",
    "Hidden",
    "Burning",
    "Quiet",
    "Restless",
    "Broken",
    "Satellite",
    "Wandering",
];
const NOUNS: &[&str] = &[
    "Wolves", "Harbors", "Echoes", "Lanterns", "Tides", "Comets", "Sparrows", "Engines", "Ghosts",
    "Mirrors", "Rivers", "Pilots", "Kites", "Thieves", "Embers", "Signals", "Orchards", "Hearts",
];
const MASCOTS: &[&str] = &[
    "Falcons", "Titans", "Mariners", "Bears", "Comets", "Knights", "Wolves", "Rangers", "Storm",
    "Royals", "Hawks", "Lions", "Pioneers", "Thunder", "Raptors", "Monarchs",
];
const SHOW_WORDS: &[&str] = &[
    "Orchard",
    "Lighthouse",
    "Winter",
    "Garden",
    "Masquerade",
    "Crossing",
    "Kingdom",
    "Letters",
    "Harvest",
    "Tempest",
    "Carousel",
    "Voyage",
    "Mirror",
    "Silence",
    "Crown",
    "Bridge",
];

const CONCERT_GENRES: &[&str] = &[
    "rock",
    "pop",
    "hip-hop",
    "jazz",
    "electronic",
    "classical",
    "country",
    "indie",
    "metal",
    "latin",
    "r&b",
    "folk",
];
const SPORTS_GENRES: &[&str] = &[
    "football",
    "basketball",
    "ice hockey",
    "baseball",
    "soccer",
    "tennis",
];
const THEATRE_GENRES: &[&str] = &["musical", "drama", "opera", "ballet"];
const COMEDY_GENRES: &[&str] = &["stand-up", "improv", "sketch"];
const FAMILY_GENRES: &[&str] = &["circus", "magic", "kids", "on ice"];

fn users(rng: &mut ChaCha8Rng, count: usize) -> Vec<User> {
    let mut users = vec![User {
        user_id: uuid_from(rng),
        email: "admin@demo.ticketing.test".to_owned(),
        display_name: "Demo Admin".to_owned(),
        role: "admin",
    }];
    for i in 1..=count {
        let first = FIRST_NAMES.choose(rng).copied().unwrap_or("Ava");
        let last = LAST_NAMES.choose(rng).copied().unwrap_or("Stone");
        users.push(User {
            user_id: uuid_from(rng),
            email: format!("user{i:02}@demo.ticketing.test"),
            display_name: format!("{first} {last}"),
            role: "user",
        });
    }
    users
}

fn performers(rng: &mut ChaCha8Rng, count: usize) -> Vec<Performer> {
    let mut out = Vec::with_capacity(count);
    let mut seen = std::collections::HashSet::new();
    let mut rank = 0usize;
    while out.len() < count {
        rank += 1;
        // Category mix of the performer pool: concerts dominate, as they do
        // in real catalogs.
        let roll: f64 = rng.random();
        let category = match roll {
            r if r < 0.50 => Category::Concert,
            r if r < 0.65 => Category::Sports,
            r if r < 0.80 => Category::Theatre,
            r if r < 0.92 => Category::Comedy,
            _ => Category::Family,
        };
        let (mut name, genre, description) = performer_identity(rng, category);
        // The word lists give a few thousand distinct names; large catalogs
        // need more, so collisions get a middle initial or an ensemble word.
        let original = name.clone();
        let person = matches!(category, Category::Concert | Category::Comedy);
        let mut attempt = 0usize;
        while seen.contains(&name) {
            name = if category == Category::Sports {
                team_variant(&original, attempt)
            } else {
                disambiguate(&original, person, attempt)
            };
            attempt += 1;
        }
        seen.insert(name.clone());
        // Zipf-like: a few performers draw most of the demand.
        let weight = 1.0 / (rank as f64).powf(0.9);
        out.push(Performer {
            performer_id: out.len() as i64 + 1,
            name,
            genre,
            description,
            weight,
            category,
        });
    }
    // Shuffle weights' link to ids so popular performers are not just the
    // low ids; deterministic because the RNG is.
    let mut weights: Vec<f64> = out.iter().map(|p| p.weight).collect();
    for i in (1..weights.len()).rev() {
        let j = rng.random_range(0..=i);
        weights.swap(i, j);
    }
    for (p, w) in out.iter_mut().zip(weights) {
        p.weight = w;
    }
    out
}

const ENSEMBLE_WORDS: &[&str] = &[
    "Collective",
    "Ensemble",
    "Project",
    "Trio",
    "Quartet",
    "Orchestra",
    "Revue",
    "Society",
];

/// Club colours that tell two teams of one city and mascot apart.
const TEAM_COLOURS: &[&str] = &[
    "Red", "Blue", "Gold", "Silver", "Green", "Black", "White", "Crimson", "Navy", "Scarlet",
    "Emerald", "Orange",
];

/// Another team name for "<City> <Mascot>" when it is taken: a club colour
/// before the mascot ("Lisbon Red Falcons"), then a numbered side.
fn team_variant(name: &str, attempt: usize) -> String {
    let (city, mascot) = name.rsplit_once(' ').unwrap_or((name, ""));
    let colour = TEAM_COLOURS[attempt % TEAM_COLOURS.len()];
    match attempt / TEAM_COLOURS.len() {
        0 => format!("{city} {colour} {mascot}"),
        round => format!("{city} {colour} {mascot} {}", round + 1),
    }
}

fn disambiguate(name: &str, person: bool, attempt: usize) -> String {
    if let ([first, last], true, 0..26) = (
        name.split(' ').collect::<Vec<_>>().as_slice(),
        person,
        attempt,
    ) {
        return format!("{first} {}. {last}", (b'A' + attempt as u8) as char);
    }
    let word = ENSEMBLE_WORDS[attempt % ENSEMBLE_WORDS.len()];
    match attempt / ENSEMBLE_WORDS.len() {
        0 => format!("{name} {word}"),
        round => format!("{name} {word} {}", round + 1),
    }
}

fn pick<'a>(rng: &mut ChaCha8Rng, list: &'a [&'a str]) -> &'a str {
    list.choose(rng).copied().unwrap_or(list[0])
}

fn performer_identity(rng: &mut ChaCha8Rng, category: Category) -> (String, &'static str, String) {
    match category {
        Category::Concert => {
            let genre = *CONCERT_GENRES.choose(rng).unwrap_or(&"rock");
            let name = if rng.random_bool(0.5) {
                format!("The {} {}", pick(rng, ADJECTIVES), pick(rng, NOUNS))
            } else {
                format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES))
            };
            let description =
                format!("{name} bring their {genre} sound to stages around the world.");
            (name, genre, description)
        }
        Category::Sports => {
            let genre = *SPORTS_GENRES.choose(rng).unwrap_or(&"football");
            let city: &City = CITIES.choose(rng).unwrap_or(&CITIES[0]);
            let name = format!("{} {}", city.name, pick(rng, MASCOTS));
            let description = format!("Professional {genre} club from {}.", city.name);
            (name, genre, description)
        }
        Category::Theatre => {
            let genre = *THEATRE_GENRES.choose(rng).unwrap_or(&"drama");
            let name = format!(
                "{} {} Company",
                pick(rng, ADJECTIVES),
                pick(rng, SHOW_WORDS)
            );
            let description = format!("A touring {genre} company.");
            (name, genre, description)
        }
        Category::Comedy => {
            let genre = *COMEDY_GENRES.choose(rng).unwrap_or(&"stand-up");
            let name = format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES));
            let description = format!("{name} does {genre} comedy.");
            (name, genre, description)
        }
        Category::Family => {
            let genre = *FAMILY_GENRES.choose(rng).unwrap_or(&"circus");
            let name = format!("Cirque {} {}", pick(rng, ADJECTIVES), pick(rng, SHOW_WORDS));
            let description = format!("A {genre} show for all ages.");
            (name, genre, description)
        }
    }
}

fn row_label(position: usize, letters: bool) -> String {
    if !letters {
        return (position + 1).to_string();
    }
    // A..Z, then AA, BB, ... as theatres do.
    let letter = (b'A' + (position % 26) as u8) as char;
    letter.to_string().repeat(position / 26 + 1)
}

/// Straight rows facing a stage at the top of the plane.
fn straight_section(
    ids: &mut Ids,
    name: &str,
    rank: i32,
    rows: usize,
    per_row: usize,
    y0: f32,
) -> Section {
    let mut section = Section {
        section_id: Ids::next(&mut ids.section),
        name: name.to_owned(),
        rank,
        rows: Vec::with_capacity(rows),
    };
    for r in 0..rows {
        // Rows further back are a little wider, as in a real hall.
        let n = per_row + r / 3;
        let y = y0 + r as f32 * 16.0;
        let seats = (0..n)
            .map(|i| Seat {
                seat_id: Ids::next(&mut ids.seat),
                number: i as i32 + 1,
                x: 500.0 + (i as f32 - (n as f32 - 1.0) / 2.0) * 14.0,
                y,
                accessible: r == 0 && (i == 0 || i + 1 == n),
            })
            .collect();
        section.rows.push(SeatRow {
            row_id: Ids::next(&mut ids.row),
            label: row_label(r, true),
            position: r as i32,
            seats,
        });
    }
    section
}

/// Sections spread around a bowl (arena, stadium); rows step outwards.
fn bowl(
    ids: &mut Ids,
    prefix: u32,
    sections: usize,
    rows: usize,
    per_row: usize,
    inner_radius: f32,
) -> Vec<Section> {
    let span = std::f32::consts::TAU / sections as f32;
    (0..sections)
        .map(|s| {
            let start = s as f32 * span;
            // Sections along the long sides (facing the centre) are the best.
            let facing = (start + span / 2.0).sin().abs();
            let rank = if facing > 0.8 {
                0
            } else if facing > 0.4 {
                1
            } else {
                2
            };
            let mut section = Section {
                section_id: Ids::next(&mut ids.section),
                name: format!("{}", prefix + s as u32 + 1),
                rank,
                rows: Vec::with_capacity(rows),
            };
            for r in 0..rows {
                // A row is about 1.7 seat widths deep, as in a real bowl.
                let radius = inner_radius + r as f32 * 9.0;
                let seats = (0..per_row)
                    .map(|i| {
                        let theta = start + span * (i as f32 + 0.5) / per_row as f32;
                        Seat {
                            seat_id: Ids::next(&mut ids.seat),
                            number: i as i32 + 1,
                            x: 500.0 + radius * theta.cos(),
                            y: 500.0 + radius * theta.sin() * 0.75,
                            accessible: r == 0 && i == 0,
                        }
                    })
                    .collect();
                section.rows.push(SeatRow {
                    row_id: Ids::next(&mut ids.row),
                    label: row_label(r, false),
                    position: r as i32,
                    seats,
                });
            }
            section
        })
        .collect()
}

/// Where the performance happens, for the seat map: a stage above the
/// straight rows of halls, the floor inside an arena's bowl, the pitch
/// inside a stadium's.
fn stage(kind: VenueKind) -> Option<Vec<[f32; 2]>> {
    let rect =
        |x0: f32, y0: f32, x1: f32, y1: f32| Some(vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]]);
    match kind {
        VenueKind::Club => None,
        VenueKind::ComedyClub => rect(400.0, 60.0, 600.0, 100.0),
        VenueKind::Theatre => rect(330.0, 30.0, 670.0, 80.0),
        VenueKind::Arena => {
            // An ellipse inside the bowl (the bowl squashes y by 0.75).
            let points = (0..24)
                .map(|i| {
                    let t = std::f32::consts::TAU * i as f32 / 24.0;
                    [500.0 + 190.0 * t.cos(), 500.0 + 190.0 * 0.75 * t.sin()]
                })
                .collect();
            Some(points)
        }
        VenueKind::Stadium => rect(170.0, 300.0, 830.0, 700.0),
    }
}

fn seat_map(ids: &mut Ids, kind: VenueKind) -> Vec<Section> {
    match kind {
        VenueKind::Club => Vec::new(),
        VenueKind::ComedyClub => vec![straight_section(ids, "Main Room", 0, 12, 14, 120.0)],
        VenueKind::Theatre => vec![
            straight_section(ids, "Orchestra", 0, 20, 26, 100.0),
            straight_section(ids, "Mezzanine", 1, 8, 30, 460.0),
            straight_section(ids, "Balcony", 2, 10, 32, 620.0),
        ],
        // 16 x 20 x 25 = 8,000 seats around a standing floor.
        VenueKind::Arena => bowl(ids, 100, 16, 20, 25, 220.0),
        // Lower bowl 24 x 30 x 36 plus upper bowl 24 x 28 x 36 = about 50,000.
        VenueKind::Stadium => {
            let mut sections = bowl(ids, 100, 24, 30, 36, 600.0);
            let mut upper = bowl(ids, 200, 24, 28, 36, 930.0);
            for s in &mut upper {
                s.rank += 2;
            }
            sections.append(&mut upper);
            sections
        }
    }
}

fn venues(rng: &mut ChaCha8Rng, ids: &mut Ids) -> Vec<Venue> {
    let mut venues = Vec::new();
    for (c, city) in CITIES.iter().enumerate() {
        let mut kinds = vec![VenueKind::Club, VenueKind::ComedyClub, VenueKind::Theatre];
        if c % 2 == 0 {
            kinds.push(VenueKind::Theatre);
        }
        if c % 3 != 2 {
            kinds.push(VenueKind::Arena);
        }
        if c < 3 {
            kinds.push(VenueKind::Stadium);
        }
        for kind in kinds {
            let word = pick(rng, SHOW_WORDS);
            let name = match kind {
                VenueKind::Club => format!("The {} Room", pick(rng, ADJECTIVES)),
                VenueKind::ComedyClub => format!("{} Comedy Cellar", city.name),
                VenueKind::Theatre => format!("{word} Theatre {}", city.name),
                VenueKind::Arena => format!("{} {} Arena", city.name, word),
                VenueKind::Stadium => format!("{} National Stadium", city.name),
            };
            // Within a few kilometres of the city centre.
            let lat = city.lat + rng.random_range(-0.04..0.04);
            let lon = city.lon + rng.random_range(-0.05..0.05);
            let standing_capacity = match kind {
                VenueKind::Club => rng.random_range(3..=20) * 100,
                VenueKind::Arena => 2_000,
                VenueKind::Stadium => 8_000,
                _ => 0,
            };
            venues.push(Venue {
                venue_id: venues.len() as i64 + 1,
                address: format!(
                    "{} {} Street",
                    rng.random_range(1..400),
                    pick(rng, SHOW_WORDS)
                ),
                name,
                city: city.name,
                country: city.country,
                lat: (lat * 1e6).round() / 1e6,
                lon: (lon * 1e6).round() / 1e6,
                timezone: city.timezone,
                currency: city.currency,
                kind,
                standing_capacity,
                sections: seat_map(ids, kind),
                stage: stage(kind),
            });
        }
    }
    venues
}

fn venue_weight(kind: VenueKind) -> f64 {
    match kind {
        VenueKind::Club => 3.0,
        VenueKind::ComedyClub => 2.0,
        VenueKind::Theatre => 2.5,
        VenueKind::Arena => 2.0,
        VenueKind::Stadium => 1.0,
    }
}

fn categories_for(kind: VenueKind) -> &'static [Category] {
    match kind {
        VenueKind::Club => &[Category::Concert, Category::Concert, Category::Comedy],
        VenueKind::ComedyClub => &[Category::Comedy],
        VenueKind::Theatre => &[
            Category::Theatre,
            Category::Theatre,
            Category::Concert,
            Category::Comedy,
            Category::Family,
        ],
        VenueKind::Arena => &[
            Category::Concert,
            Category::Concert,
            Category::Sports,
            Category::Family,
        ],
        VenueKind::Stadium => &[Category::Sports, Category::Sports, Category::Concert],
    }
}

fn base_price_cents(category: Category, kind: VenueKind) -> i64 {
    let base = match category {
        Category::Concert => 4_500,
        Category::Sports => 5_500,
        Category::Theatre => 6_000,
        Category::Comedy => 2_500,
        Category::Family => 3_000,
    };
    match kind {
        VenueKind::Stadium | VenueKind::Arena => base * 3 / 2,
        _ => base,
    }
}

/// Rough purchasing-power scaling so prices look plausible in each currency.
fn currency_factor(currency: &str) -> f64 {
    match currency {
        "SEK" => 10.0,
        "DKK" => 7.0,
        "MXN" => 18.0,
        "BRL" => 5.0,
        "CZK" => 23.0,
        "AUD" => 1.5,
        "CAD" => 1.35,
        _ => 1.0,
    }
}

fn events(
    rng: &mut ChaCha8Rng,
    ids: &mut Ids,
    spec: &Spec,
    venues: &[Venue],
    performers: &[Performer],
) -> Vec<Event> {
    let mut by_category: std::collections::HashMap<&str, Vec<&Performer>> =
        std::collections::HashMap::new();
    for p in performers {
        by_category.entry(p.category.as_str()).or_default().push(p);
    }
    let total_weight: f64 = venues.iter().map(|v| venue_weight(v.kind)).sum();
    let day0 = spec.start_date.and_time(NaiveTime::MIN).and_utc();
    let mut events = Vec::with_capacity(spec.events);
    for event_index in 0..spec.events {
        // Venue, weighted by kind.
        let mut roll = rng.random_range(0.0..total_weight);
        let venue = venues
            .iter()
            .find(|v| {
                roll -= venue_weight(v.kind);
                roll < 0.0
            })
            .unwrap_or(&venues[0]);
        let category = *categories_for(venue.kind)
            .choose(rng)
            .unwrap_or(&Category::Concert);
        let pool = by_category
            .get(category.as_str())
            .map_or(&[][..], Vec::as_slice);
        let headliner = pool
            .choose_weighted(rng, |p| p.weight)
            .ok()
            .copied()
            .or_else(|| performers.first());
        let Some(headliner) = headliner else { break };
        let mut performer_ids = vec![headliner.performer_id];
        let mut title = match category {
            Category::Concert => {
                let tour = format!("{} {} Tour", pick(rng, ADJECTIVES), pick(rng, SHOW_WORDS));
                format!("{}: {}", headliner.name, tour)
            }
            Category::Sports => headliner.name.clone(),
            Category::Theatre => {
                format!("{} of the {}", pick(rng, SHOW_WORDS), pick(rng, SHOW_WORDS))
            }
            Category::Comedy => format!(
                "{}: {} {}",
                headliner.name,
                pick(rng, ADJECTIVES),
                pick(rng, NOUNS)
            ),
            Category::Family => format!("{} Live", headliner.name),
        };
        // Support act or opponent.
        if let Some(second) = pool
            .choose(rng)
            .filter(|p| p.performer_id != headliner.performer_id)
        {
            if category == Category::Sports {
                title = format!("{} vs {}", headliner.name, second.name);
                performer_ids.push(second.performer_id);
            } else if category == Category::Concert && rng.random_bool(0.6) {
                performer_ids.push(second.performer_id);
            }
        }
        let description = format!(
            "{} at {}, {}. {}",
            title, venue.name, venue.city, headliner.description
        );
        let day = rng.random_range(1..=365u64);
        let minutes = rng.random_range(0..6) * 15
            + if category == Category::Family {
                14 * 60
            } else {
                19 * 60
            };
        // Shows start in the evening (family shows in the afternoon) of the
        // venue's own clock, whatever that is in UTC.
        let local = (day0 + Days::new(day))
            .date_naive()
            .and_time(NaiveTime::MIN)
            + Duration::minutes(minutes);
        let starts_at = venue
            .timezone
            .parse::<chrono_tz::Tz>()
            .ok()
            .and_then(|tz| local.and_local_timezone(tz).earliest())
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc));
        let ends_at = starts_at + Duration::minutes(rng.random_range(6..=12) * 15);
        // Sales open 2 to 10 weeks before the show and close at its start.
        let sale_starts_at = starts_at - Duration::days(rng.random_range(14..=70));
        let sale_ends_at = starts_at;
        let status = if rng.random_bool(0.02) {
            "cancelled"
        } else {
            "scheduled"
        };
        let noise: f64 = rng.random_range(0.5..1.5);
        let popularity =
            (headliner.weight * noise * venue_weight(venue.kind).sqrt() * 100.0 * 1000.0).round()
                / 1000.0;
        let ticket_types = ticket_types(rng, ids, venue, category, headliner.weight);
        events.push(Event {
            event_id: event_index as i64 + 1,
            venue_id: venue.venue_id,
            title,
            description,
            category,
            genre: headliner.genre,
            starts_at,
            ends_at,
            status,
            popularity,
            sale_starts_at,
            sale_ends_at,
            doors_at: starts_at
                - Duration::minutes(if category == Category::Family { 30 } else { 60 }),
            performer_ids,
            ticket_types,
        });
    }
    events
}

fn ticket_types(
    rng: &mut ChaCha8Rng,
    ids: &mut Ids,
    venue: &Venue,
    category: Category,
    weight: f64,
) -> Vec<TicketType> {
    // Popular acts charge more.
    let base = base_price_cents(category, venue.kind) as f64
        * (0.8 + weight.sqrt())
        * currency_factor(venue.currency);
    let round = |cents: f64| ((cents / 100.0).round() as i64).max(1) * 100 - 1;
    let hold_seconds = if venue.kind == VenueKind::Stadium {
        480
    } else {
        600
    };
    let mut types = Vec::new();
    let max_rank = venue.sections.iter().map(|s| s.rank).max();
    if let Some(max_rank) = max_rank {
        const TIER_NAMES: &[&str] = &[
            "Premium",
            "Standard",
            "Value",
            "Upper Standard",
            "Upper Value",
        ];
        for rank in 0..=max_rank {
            let section_ids: Vec<i64> = venue
                .sections
                .iter()
                .filter(|s| s.rank == rank)
                .map(|s| s.section_id)
                .collect();
            if section_ids.is_empty() {
                continue;
            }
            let factor = 1.6 / (1.0 + rank as f64 * 0.45);
            types.push(TicketType {
                ticket_type_id: Ids::next(&mut ids.ticket_type),
                name: TIER_NAMES
                    .get(rank as usize)
                    .copied()
                    .unwrap_or("Standard")
                    .to_owned(),
                seated: true,
                price_cents: round(base * factor),
                currency: venue.currency,
                capacity: None,
                hold_seconds,
                section_ids,
            });
        }
    }
    if venue.standing_capacity > 0 {
        let name = if venue.kind == VenueKind::Club {
            "General Admission"
        } else {
            "Floor Standing"
        };
        types.push(TicketType {
            ticket_type_id: Ids::next(&mut ids.ticket_type),
            name: name.to_owned(),
            seated: false,
            price_cents: round(base * rng.random_range(0.8..1.1)),
            currency: venue.currency,
            capacity: Some(venue.standing_capacity),
            hold_seconds,
            section_ids: Vec::new(),
        });
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sports_teams_are_named_city_then_mascot_and_the_seed_decides() {
        let spec = Spec {
            seed: 7,
            events: 20_000,
            users: 1,
            start_date: NaiveDate::from_ymd_opt(2026, 12, 7).expect("a date"),
            now: DateTime::<Utc>::from_timestamp(1_796_000_000, 0).expect("an instant"),
        };
        let names = |spec: &Spec| -> Vec<String> {
            performers(
                &mut ChaCha8Rng::seed_from_u64(spec.seed),
                performer_count(spec.events),
            )
            .into_iter()
            .filter(|p| p.category == Category::Sports)
            .map(|p| p.name)
            .collect()
        };
        let teams = names(&spec);
        assert!(teams.len() > 400, "{}", teams.len());
        for team in &teams {
            let city = CITIES
                .iter()
                .find(|c| team.starts_with(&format!("{} ", c.name)))
                .unwrap_or_else(|| panic!("{team} starts with no city"));
            let rest: Vec<&str> = team[city.name.len() + 1..].split(' ').collect();
            let (colour, mascot) = match rest.as_slice() {
                [mascot] => (None, *mascot),
                [colour, mascot] | [colour, mascot, _] => (Some(*colour), *mascot),
                _ => panic!("{team} is not a team name"),
            };
            assert!(MASCOTS.contains(&mascot), "{team}");
            assert!(colour.is_none_or(|c| TEAM_COLOURS.contains(&c)), "{team}");
        }
        assert_eq!(teams, names(&spec));
        assert_ne!(teams, names(&Spec { seed: 8, ..spec }));
    }
}
