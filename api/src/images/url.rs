//! The rule for an image URL an admin sets on an event or a performer.
//!
//! https only, with a host and no user name or password, at most 2,000
//! characters. Plain http is refused even for loopback: the pages load the
//! image from another origin, so an http URL would be mixed content on
//! the https site, and a loopback URL means nothing in a shopper's
//! browser. (Tests serve their images by intercepting an https URL.)
#![expect(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use problem::Problem;
use reqwest::Url;

/// The longest image URL accepted.
pub const MAX_LEN: usize = 2_000;

/// Checks an image URL, naming `field` when it is refused.
pub fn validate(field: &str, value: &str) -> Result<(), Problem> {
    let refuse = |why: &str| Err(Problem::invalid_field(field, why.to_owned()));
    if value.chars().count() > MAX_LEN {
        return refuse("must be at most 2000 characters");
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("must not contain spaces or control characters");
    }
    let Ok(url) = Url::parse(value) else {
        return refuse("must be an absolute https URL");
    };
    if url.scheme() != "https" || !value.to_ascii_lowercase().starts_with("https://") {
        return refuse("must be an https URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return refuse("must name a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("must not carry a user name or password");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(value: &str) -> Option<String> {
        validate("image_url", value)
            .err()
            .map(|p| p.field.unwrap_or_default())
    }

    #[test]
    fn https_urls_pass() {
        for ok in [
            "https://img.example.test/a.jpg",
            "https://cdn.example.test:8443/posters/1.png?w=600&h=400",
            "https://[2001:db8::1]/x.svg",
        ] {
            assert_eq!(refused(ok), None, "{ok}");
        }
    }

    #[test]
    fn anything_else_is_a_400_naming_the_field() {
        let long = format!("https://img.example.test/{}", "a".repeat(MAX_LEN));
        for bad in [
            "http://img.example.test/a.jpg",
            "http://127.0.0.1:8000/a.jpg",
            "ftp://img.example.test/a.jpg",
            "javascript:alert(1)",
            "data:image/svg+xml,<svg/>",
            "//img.example.test/a.jpg",
            "/relative.jpg",
            "https://",
            "https://user:secret@img.example.test/a.jpg",
            "https://img.example.test/a b.jpg",
            "",
            long.as_str(),
        ] {
            assert_eq!(refused(bad).as_deref(), Some("image_url"), "{bad}");
        }
    }
}
