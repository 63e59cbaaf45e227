//! The web's session cookie, and the cross-site check on the writes it
//! authenticates.
//!
//! A browser signs in through `POST /v1/web/sessions` and gets its
//! session as a cookie that scripts cannot read (`HttpOnly`), that no
//! other site's request carries (`SameSite=Strict`), and that only TLS
//! carries when served over TLS (`Secure`, then under the `__Host-` name,
//! which also pins it to this host and `Path=/`). Its value is a token of
//! the session (with `sid`) that lasts as long as the session; like every
//! session token it stops working once [`crate::Users`] finds the session
//! ended.
//!
//! A cookie rides along on every request to the site, whoever made the
//! page that sent it, so a write (any method but GET, HEAD, OPTIONS)
//! authenticated by the cookie must also show it comes from our own
//! pages: `Sec-Fetch-Site: same-origin`, or, from a browser that does not
//! send `Sec-Fetch-*`, an `Origin` equal to the request's own host. A
//! request with neither is refused: every browser sends one of them on a
//! cross-origin write. The JSON-only bodies are a second line: a
//! cross-site HTML form can send neither `application/json` nor `DELETE`.
//! Bearer tokens are never sent by a browser on its own, so they need no
//! such check.

use axum::http::{HeaderMap, HeaderValue, Method, header};

/// The cookie's name over TLS: the `__Host-` prefix makes the browser
/// refuse it unless `Secure`, `Path=/` and without `Domain`.
pub const SECURE_NAME: &str = "__Host-session";
/// The cookie's name over plain HTTP (development on loopback).
pub const PLAIN_NAME: &str = "session";

/// How the session cookie is named and flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebCookie {
    /// `Secure` and `__Host-` (served over TLS).
    pub secure: bool,
}

impl WebCookie {
    /// The cookie's name.
    pub fn name(self) -> &'static str {
        if self.secure { SECURE_NAME } else { PLAIN_NAME }
    }

    /// `Set-Cookie` for a session token that lasts `max_age_secs`.
    pub fn set(self, token: &str, max_age_secs: u64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={token}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}",
            self.name()
        ))
        .ok()
    }

    /// `Set-Cookie` that removes the cookie.
    pub fn clear(self) -> HeaderValue {
        let value = if self.secure {
            "__Host-session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
        } else {
            "session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        };
        HeaderValue::from_static(value)
    }

    /// The cookie's value in `headers`, if the request carries it.
    pub fn read(self, headers: &HeaderMap) -> Option<&str> {
        let name = self.name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// Where a request's credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `Authorization: Bearer`.
    Bearer,
    /// The session cookie.
    Cookie,
}

/// Whether a write authenticated by the cookie comes from our own pages
/// (see the module doc). Safe methods always pass.
pub fn same_origin_write(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST))
    else {
        return false;
    };
    let (Ok(origin), Ok(host)) = (origin.to_str(), host.to_str()) else {
        return false;
    };
    origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        let plain = WebCookie { secure: false }.set("t", 60).expect("value");
        assert_eq!(
            plain,
            "session=t; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        let tls = WebCookie { secure: true }.set("t", 60).expect("value");
        assert_eq!(
            tls,
            "__Host-session=t; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(
            WebCookie { secure: true }
                .clear()
                .to_str()
                .expect("ascii")
                .contains("Max-Age=0")
        );
    }

    #[test]
    fn the_cookie_is_found_among_others_in_any_cookie_header() {
        let cookie = WebCookie { secure: false };
        let h = headers(&[
            ("cookie", "a=1; sessionx=no"),
            ("cookie", "b=2;  session=tok "),
        ]);
        assert_eq!(cookie.read(&h), Some("tok"));
        assert_eq!(cookie.read(&headers(&[("cookie", "session=")])), None);
        // The plain name is not the TLS one.
        assert_eq!(WebCookie { secure: true }.read(&h), None);
    }

    #[test]
    fn writes_pass_only_from_the_same_origin() {
        let post = Method::POST;
        assert!(same_origin_write(&Method::GET, &headers(&[])));
        assert!(same_origin_write(
            &post,
            &headers(&[("sec-fetch-site", "same-origin")])
        ));
        for site in ["cross-site", "same-site", "none"] {
            let h = headers(&[
                ("sec-fetch-site", site),
                ("origin", "http://a"),
                ("host", "a"),
            ]);
            assert!(!same_origin_write(&post, &h), "{site}");
        }
        assert!(same_origin_write(
            &post,
            &headers(&[
                ("origin", "http://127.0.0.1:8000"),
                ("host", "127.0.0.1:8000")
            ])
        ));
        assert!(!same_origin_write(
            &post,
            &headers(&[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:8000")
            ])
        ));
        assert!(!same_origin_write(
            &post,
            &headers(&[("origin", "null"), ("host", "127.0.0.1:8000")])
        ));
        assert!(!same_origin_write(&Method::DELETE, &headers(&[])));
    }
}
