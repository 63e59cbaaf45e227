//! Real cities with real coordinates, currencies and time zones.

/// A city venues are placed in.
#[derive(Debug)]
pub struct City {
    pub name: &'static str,
    /// ISO 3166-1 alpha-2.
    pub country: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub timezone: &'static str,
    /// ISO 4217; all have two minor digits.
    pub currency: &'static str,
}

macro_rules! city {
    ($name:literal, $country:literal, $lat:literal, $lon:literal, $tz:literal, $cur:literal) => {
        City {
            name: $name,
            country: $country,
            lat: $lat,
            lon: $lon,
            timezone: $tz,
            currency: $cur,
        }
    };
}

/// The first three get a stadium.
pub const CITIES: &[City] = &[
    city!(
        "New York",
        "US",
        40.7128,
        -74.0060,
        "America/New_York",
        "USD"
    ),
    city!("London", "GB", 51.5074, -0.1278, "Europe/London", "GBP"),
    city!(
        "Los Angeles",
        "US",
        34.0522,
        -118.2437,
        "America/Los_Angeles",
        "USD"
    ),
    city!("Chicago", "US", 41.8781, -87.6298, "America/Chicago", "USD"),
    city!("Toronto", "CA", 43.6532, -79.3832, "America/Toronto", "CAD"),
    city!("Paris", "FR", 48.8566, 2.3522, "Europe/Paris", "EUR"),
    city!("Berlin", "DE", 52.5200, 13.4050, "Europe/Berlin", "EUR"),
    city!("Madrid", "ES", 40.4168, -3.7038, "Europe/Madrid", "EUR"),
    city!("Barcelona", "ES", 41.3874, 2.1686, "Europe/Madrid", "EUR"),
    city!(
        "Amsterdam",
        "NL",
        52.3676,
        4.9041,
        "Europe/Amsterdam",
        "EUR"
    ),
    city!("Dublin", "IE", 53.3498, -6.2603, "Europe/Dublin", "EUR"),
    city!("Manchester", "GB", 53.4808, -2.2426, "Europe/London", "GBP"),
    city!("Munich", "DE", 48.1351, 11.5820, "Europe/Berlin", "EUR"),
    city!("Milan", "IT", 45.4642, 9.1900, "Europe/Rome", "EUR"),
    city!("Rome", "IT", 41.9028, 12.4964, "Europe/Rome", "EUR"),
    city!("Lisbon", "PT", 38.7223, -9.1393, "Europe/Lisbon", "EUR"),
    city!("Vienna", "AT", 48.2082, 16.3738, "Europe/Vienna", "EUR"),
    city!(
        "Stockholm",
        "SE",
        59.3293,
        18.0686,
        "Europe/Stockholm",
        "SEK"
    ),
    city!(
        "Copenhagen",
        "DK",
        55.6761,
        12.5683,
        "Europe/Copenhagen",
        "DKK"
    ),
    city!(
        "Sydney",
        "AU",
        -33.8688,
        151.2093,
        "Australia/Sydney",
        "AUD"
    ),
    city!(
        "Melbourne",
        "AU",
        -37.8136,
        144.9631,
        "Australia/Melbourne",
        "AUD"
    ),
    city!("Austin", "US", 30.2672, -97.7431, "America/Chicago", "USD"),
    city!(
        "Nashville",
        "US",
        36.1627,
        -86.7816,
        "America/Chicago",
        "USD"
    ),
    city!(
        "Seattle",
        "US",
        47.6062,
        -122.3321,
        "America/Los_Angeles",
        "USD"
    ),
    city!("Boston", "US", 42.3601, -71.0589, "America/New_York", "USD"),
    city!(
        "Mexico City",
        "MX",
        19.4326,
        -99.1332,
        "America/Mexico_City",
        "MXN"
    ),
    city!(
        "São Paulo",
        "BR",
        -23.5505,
        -46.6333,
        "America/Sao_Paulo",
        "BRL"
    ),
    city!(
        "Montreal",
        "CA",
        45.5019,
        -73.5674,
        "America/Toronto",
        "CAD"
    ),
    city!("Prague", "CZ", 50.0755, 14.4378, "Europe/Prague", "CZK"),
    city!("Edinburgh", "GB", 55.9533, -3.1883, "Europe/London", "GBP"),
];
