//! A JSON body extractor whose rejections are problem+json naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::Problem;

/// A JSON body. Malformed JSON, a wrong content type or a field of the
/// wrong type is a 400 whose `field` is the JSON path of the problem.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_media_type);
        if !is_json {
            return Err(Problem::invalid_field(
                "content-type",
                "expected application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(rejection.status(), "payload_too_large")
                    .with_field("body")
                    .with_detail(rejection.body_text())
            } else if rejection.body_text().contains("timeout") {
                // The port's body timeout (tower-http's TimeoutBody) fired:
                // the client stopped sending before the body was complete.
                Problem::new(axum::http::StatusCode::REQUEST_TIMEOUT, "request_timeout")
                    .with_field("body")
                    .with_detail("the request body did not arrive in time")
            } else {
                Problem::invalid_field("body", "could not read the request body")
            }
        })?;
        if let Some(field) = nul_field(&bytes) {
            return Err(Problem::invalid_field(
                field,
                "must not contain the NUL character (U+0000)",
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(value) => Ok(Self(value)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let parent = if path == "." || path.is_empty() {
                    None
                } else {
                    Some(path)
                };
                // A missing or unknown member is named by serde's message,
                // not by the path (which stops at its object).
                let member = named_member(&inner.to_string());
                let field = match (parent, member) {
                    // serde_path_to_error's path already ends with an
                    // unknown member; a missing one it cannot reach.
                    (Some(parent), Some(member))
                        if parent == member || parent.ends_with(&format!(".{member}")) =>
                    {
                        parent
                    }
                    (Some(parent), Some(member)) => format!("{parent}.{member}"),
                    (None, Some(member)) => member,
                    (Some(parent), None) => parent,
                    (None, None) => "body".to_owned(),
                };
                let detail = if inner.is_syntax() || inner.is_eof() {
                    format!("malformed JSON: {inner}")
                } else {
                    inner.to_string()
                };
                Err(Problem::invalid_field(field, detail))
            }
        }
    }
}

/// The member a "missing field `x`" or "unknown field `x`" message names.
fn named_member(message: &str) -> Option<String> {
    ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| {
            let rest = message.strip_prefix(prefix)?;
            let end = rest.find('`')?;
            Some(rest[..end].to_owned()).filter(|m| !m.is_empty())
        })
}

/// `application/json`, compared case-insensitively as RFC 9110 says media
/// types are, with or without parameters (`; charset=utf-8`).
fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// The JSON path of the first string (member name or value) holding U+0000,
/// which no text column can store. JSON can only carry it as the escape
/// `\u0000`, so bodies without that escape are not parsed twice.
fn nul_field(bytes: &[u8]) -> Option<String> {
    let escaped = bytes
        .windows(6)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && w[2..].iter().all(|&b| b == b'0'));
    if !escaped {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    find_nul(&value, &mut String::new())
}

fn find_nul(value: &serde_json::Value, path: &mut String) -> Option<String> {
    let here = |path: &String| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.clone()
        }
    };
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Some(here(path)),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = find_nul(item, path);
            path.truncate(len);
            found
        }),
        serde_json::Value::Object(members) => members.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                // A member name: name the object that holds it.
                return Some(here(path));
            }
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = find_nul(item, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_case_insensitive_and_may_carry_parameters() {
        for ok in [
            "application/json",
            "APPLICATION/JSON",
            "Application/Json; charset=utf-8",
            " application/json ;charset=UTF-8",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for refused in [
            "text/plain",
            "application/jsonx",
            "application/json-patch+json",
            "",
        ] {
            assert!(!is_json_media_type(refused), "{refused}");
        }
    }

    #[test]
    fn missing_and_unknown_members_are_named() {
        assert_eq!(
            named_member("missing field `genre` at line 1 column 29").as_deref(),
            Some("genre")
        );
        assert_eq!(
            named_member("unknown field `colour`, expected one of `name`, `genre`").as_deref(),
            Some("colour")
        );
        assert_eq!(
            named_member("invalid type: integer `1`, expected a string"),
            None
        );
    }

    #[test]
    fn a_nul_anywhere_is_found_with_its_path() {
        let cases = [
            (r#"{"name":"a\u0000b"}"#, Some("name")),
            (r#"{"a":{"b":["x","\u0000"]}}"#, Some("a.b[1]")),
            (r#"{"k\u0000":1}"#, Some("body")),
            (r#"{"a":{"k\u0000":1}}"#, Some("a")),
            (r#""\u0000""#, Some("body")),
            (r#"{"name":"a\\u0000b"}"#, None),
            (r#"{"name":"plain"}"#, None),
        ];
        for (body, want) in cases {
            assert_eq!(nul_field(body.as_bytes()).as_deref(), want, "{body}");
        }
    }
}
