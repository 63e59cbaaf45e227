//! The accounts routes' bodies and their checks: before any SQL or hashing
//! runs, each failure a 400 naming its field.
#![expect(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use problem::Problem;
use serde::Deserialize;
use utoipa::ToSchema;

/// Longest address (RFC 5321's path limit less the brackets).
pub const EMAIL_MAX: usize = 254;
/// Longest display name (the `users` check).
pub const DISPLAY_NAME_MAX: usize = 200;

/// `POST /v1/accounts`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// The address to verify and sign in with; compared case-insensitively.
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    pub email: String,
    /// 12 to 128 characters, not a common or easily guessed password.
    #[schema(min_length = 12, max_length = 128, format = "password")]
    pub password: String,
    /// How the account is greeted.
    #[schema(min_length = 1, max_length = 200, example = "Ada Lovelace")]
    pub display_name: String,
}

/// `POST /v1/accounts/verify`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmail {
    /// The `token` of the verification link.
    #[schema(min_length = 1, max_length = 200)]
    pub token: String,
}

/// `POST /v1/sessions`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(format = "password")]
    pub password: String,
    /// The 6-digit code of the authenticator app, for an account with the
    /// second factor enrolled (`POST /v1/account/totp`).
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    #[serde(default)]
    pub totp_code: Option<String>,
}

/// `POST /v1/account/totp/confirm`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    /// The app's current 6-digit code.
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    pub totp_code: String,
}

/// `POST /v1/sessions/refresh`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    /// The latest refresh token of the session (each works once).
    #[schema(min_length = 1, max_length = 200)]
    pub refresh_token: String,
}

/// `POST /v1/account/password`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password the account signs in with now.
    #[schema(format = "password")]
    pub current_password: String,
    /// 12 to 128 characters, not a common or easily guessed password.
    #[schema(min_length = 12, max_length = 128, format = "password")]
    pub new_password: String,
}

/// `POST /v1/password-resets`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestPasswordReset {
    /// The account's address; compared case-insensitively.
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    pub email: String,
}

/// `POST /v1/password-resets/complete`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletePasswordReset {
    /// The `token` of the reset link.
    #[schema(min_length = 1, max_length = 200)]
    pub token: String,
    /// The new password: 12 to 128 characters, not a common or easily
    /// guessed password.
    #[schema(min_length = 12, max_length = 128, format = "password")]
    pub password: String,
}

/// An address as stored and compared: trimmed and lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A deliverable-looking address (already normalized): `local@domain`
/// with a dotted domain, at most [`EMAIL_MAX`] characters, that the mailer
/// accepts.
pub fn email(email: &str) -> Result<lettre::Address, Problem> {
    let invalid = |detail: &str| Problem::invalid_field("email", detail);
    if email.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if email.chars().count() > EMAIL_MAX {
        return Err(invalid("must be at most 254 characters"));
    }
    let address: lettre::Address = email
        .parse()
        .map_err(|_| invalid("is not an email address"))?;
    let domain = address.domain();
    if !domain.contains('.')
        || domain.starts_with('[')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(invalid("needs a domain name such as example.com"));
    }
    Ok(address)
}

/// A display name, trimmed: 1 to [`DISPLAY_NAME_MAX`] characters, no
/// control characters.
pub fn display_name(name: &str) -> Result<&str, Problem> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Problem::invalid_field("display_name", "must not be empty"));
    }
    if name.chars().count() > DISPLAY_NAME_MAX {
        return Err(Problem::invalid_field(
            "display_name",
            format!("must be at most {DISPLAY_NAME_MAX} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Problem::invalid_field(
            "display_name",
            "must not contain control characters",
        ));
    }
    Ok(name)
}

/// A new password against `auth::password`'s policy, with the address and
/// the name as guessable words; the problem names the rule (`rule`).
pub fn new_password(password: &str, email: &str, name: &str) -> Result<(), Problem> {
    policy("password", password, email, name)
}

/// [`new_password`] for a body whose field is called `field`
/// (`new_password` in a password change).
pub fn policy(field: &str, password: &str, email: &str, name: &str) -> Result<(), Problem> {
    auth::password::check_policy(password, &[email, name]).map_err(|violation| {
        Problem::invalid_field(field, format!("the password {violation}"))
            .with_extension("rule", violation.rule())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalized_and_checked() {
        assert_eq!(normalize_email("  Ada@Example.COM "), "ada@example.com");
        assert!(email("ada@example.com").is_ok());
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "ada@@example.com",
            "a da@example.com",
            "ada@[127.0.0.1]",
        ] {
            let problem = email(bad).expect_err(bad);
            assert_eq!(problem.field.as_deref(), Some("email"), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(email(&long).is_err());
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(display_name("  Ada  ").ok(), Some("Ada"));
        for bad in ["", "   ", "a\u{7}b"] {
            let problem = display_name(bad).expect_err(bad);
            assert_eq!(problem.field.as_deref(), Some("display_name"));
        }
        assert!(display_name(&"x".repeat(201)).is_err());
    }

    #[test]
    fn a_weak_password_names_the_field_and_the_rule() {
        let problem = new_password("password1234", "ada@example.com", "Ada").expect_err("weak");
        assert_eq!(problem.field.as_deref(), Some("password"));
        assert_eq!(problem.extensions["rule"], "strength");
        let problem = new_password("short", "ada@example.com", "Ada").expect_err("short");
        assert_eq!(problem.extensions["rule"], "min_length");
        assert!(new_password("plum-sofa-harbour-1987", "ada@example.com", "Ada").is_ok());
    }

    #[test]
    fn the_policy_names_the_field_it_is_given() {
        let problem =
            policy("new_password", "password1234", "ada@example.com", "Ada").expect_err("weak");
        assert_eq!(problem.field.as_deref(), Some("new_password"));
        assert_eq!(problem.extensions["rule"], "strength");
    }
}
