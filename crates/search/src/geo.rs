//! Great-circle distance and geohash cells.
//!
//! Tantivy has no geo type: each document carries the geohash cells of its
//! point at every precision up to [`MAX_PRECISION`] as indexed terms, and its
//! lat/lon as fast fields. A radius query first keeps the documents in the
//! few cells covering the circle, then measures exactly.

/// Mean Earth radius, as Elasticsearch uses for `arc` distances.
pub const EARTH_RADIUS_KM: f64 = 6_371.008_8;
/// Longest geohash a document is indexed under (about 1.2 km x 0.6 km).
pub const MAX_PRECISION: usize = 6;

const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// Haversine distance in kilometres.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// The geohash of a point at `precision` characters.
pub fn encode(lat: f64, lon: f64, precision: usize) -> String {
    let (mut lat_lo, mut lat_hi) = (-90.0, 90.0);
    let (mut lon_lo, mut lon_hi) = (-180.0, 180.0);
    let mut out = String::with_capacity(precision);
    let mut even = true;
    let (mut bits, mut ch) = (0, 0usize);
    while out.len() < precision {
        if even {
            let mid = (lon_lo + lon_hi) / 2.0;
            if lon >= mid {
                ch = (ch << 1) | 1;
                lon_lo = mid;
            } else {
                ch <<= 1;
                lon_hi = mid;
            }
        } else {
            let mid = (lat_lo + lat_hi) / 2.0;
            if lat >= mid {
                ch = (ch << 1) | 1;
                lat_lo = mid;
            } else {
                ch <<= 1;
                lat_hi = mid;
            }
        }
        even = !even;
        bits += 1;
        if bits == 5 {
            out.push(BASE32[ch] as char);
            bits = 0;
            ch = 0;
        }
    }
    out
}

/// Every prefix of the point's geohash, 1 to [`MAX_PRECISION`] characters.
pub fn cells(lat: f64, lon: f64) -> Vec<String> {
    let full = encode(lat, lon, MAX_PRECISION);
    (1..=MAX_PRECISION).map(|n| full[..n].to_owned()).collect()
}

/// Cell height and width in degrees at `precision`.
fn cell_size(precision: usize) -> (f64, f64) {
    let bits = 5 * precision as i32;
    let lon_bits = (bits + 1) / 2;
    let lat_bits = bits / 2;
    (180.0 / 2f64.powi(lat_bits), 360.0 / 2f64.powi(lon_bits))
}

/// Geohash cells whose union covers the circle, or `None` when the circle is
/// too large, or too near a pole or the antimeridian, for cells to help (the
/// caller then measures every document).
pub fn covering_cells(lat: f64, lon: f64, radius_km: f64) -> Option<Vec<String>> {
    let dlat = radius_km / 111.32;
    let cos = lat.to_radians().cos();
    if cos < 0.05 {
        return None;
    }
    let dlon = radius_km / (111.32 * cos);
    if lat + dlat > 90.0 || lat - dlat < -90.0 || lon + dlon > 180.0 || lon - dlon < -180.0 {
        return None;
    }
    // The finest precision whose cells are at least as large as the
    // circle's bounding box: then the box touches at most the centre's cell
    // and its neighbours, and sampling the box's corners, edges' midpoints
    // and centre finds them all.
    let precision = (1..=MAX_PRECISION).rev().find(|&p| {
        let (h, w) = cell_size(p);
        h >= dlat && w >= dlon
    })?;
    let mut out: Vec<String> = Vec::with_capacity(9);
    for i in [-1.0, 0.0, 1.0] {
        for j in [-1.0, 0.0, 1.0] {
            let cell = encode(lat + i * dlat, lon + j * dlon, precision);
            if !out.contains(&cell) {
                out.push(cell);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_geohashes() {
        // Examples from the geohash literature.
        assert_eq!(encode(57.64911, 10.40744, 11), "u4pruydqqvj");
        assert_eq!(encode(42.6, -5.6, 5), "ezs42");
    }

    #[test]
    fn distances_match_known_city_pairs() {
        // London to Paris, about 344 km.
        let d = distance_km(51.5074, -0.1278, 48.8566, 2.3522);
        assert!((d - 343.5).abs() < 2.0, "{d}");
        assert!(distance_km(10.0, 10.0, 10.0, 10.0).abs() < 1e-9);
    }

    #[test]
    fn covering_cells_contain_every_point_of_the_circle() {
        for &(lat, lon, r) in &[
            (51.5, -0.12, 50.0),
            (40.7, -74.0, 5.0),
            (-33.9, 151.2, 300.0),
        ] {
            let cover = covering_cells(lat, lon, r).expect("cover");
            let p = cover[0].len();
            for k in 0..360 {
                let bearing = (k as f64).to_radians();
                for frac in [0.3, 0.7, 0.99] {
                    let d = r * frac / EARTH_RADIUS_KM;
                    let (p1, l1) = (lat.to_radians(), lon.to_radians());
                    let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * bearing.cos()).asin();
                    let l2 = l1
                        + (bearing.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
                    let cell = encode(p2.to_degrees(), l2.to_degrees(), p);
                    assert!(cover.contains(&cell), "{cell} not in {cover:?}");
                }
            }
        }
    }

    #[test]
    fn huge_or_polar_circles_are_not_covered() {
        assert!(covering_cells(89.9, 0.0, 10.0).is_none());
        assert!(covering_cells(0.0, 179.99, 10.0).is_none());
        assert!(covering_cells(0.0, 0.0, 15_000.0).is_none());
    }
}
