//! The accounts mails' templates: address verification, "someone tried to
//! sign up with your address", password reset. Each is text and HTML
//! (compiled templates: `format!` and maud, in the `mail` crate's
//! [`frame`]); the `mail` crate's [`mail::Mailer`] sends them off the
//! request.

use std::time::Duration;

use mail::{Mail, frame};
use maud::html;

/// Hours or minutes, for "this link works for ...".
fn lifetime(ttl: Duration) -> String {
    let secs = ttl.as_secs();
    match secs {
        s if s >= 7_200 => format!("{} hours", s / 3_600),
        s if s >= 3_600 => "1 hour".to_owned(),
        s if s >= 120 => format!("{} minutes", s / 60),
        _ => format!("{secs} seconds"),
    }
}

/// The address-verification mail of a new account.
pub fn verification(public_url: &str, name: &str, token: &str, ttl: Duration) -> Mail {
    let link = format!("{public_url}/verify-email?token={token}");
    let valid = lifetime(ttl);
    let text = format!(
        "Hello {name},\n\n\
         Confirm your email address to finish creating your Ticketing account:\n\n\
         {link}\n\n\
         The link works once, for {valid}. If you did not sign up, ignore this mail: \
         no account is created without the confirmation.\n"
    );
    let html = frame(
        "Confirm your email address",
        html! {
            p { "Hello " (name) "," }
            p { "Confirm your email address to finish creating your Ticketing account:" }
            p { a href=(link) { "Confirm my address" } }
            p { "Or open this address: " br; code { (link) } }
            p { "The link works once, for " (valid) ". If you did not sign up, ignore this mail: no account is created without the confirmation." }
        },
    );
    Mail {
        subject: "Confirm your email address".to_owned(),
        text,
        html,
        attachments: Vec::new(),
    }
}

/// The mail an address's owner gets when someone signs up with it again.
pub fn someone_tried(public_url: &str) -> Mail {
    let site = format!("{public_url}/");
    let text = format!(
        "Hello,\n\n\
         Someone just tried to create a Ticketing account with this email address, \
         which already has one. Nothing was changed.\n\n\
         If it was you, sign in with your password instead: {site}\n\n\
         If it was not you, you can ignore this mail; your account is safe.\n"
    );
    let html = frame(
        "Someone tried to sign up with your address",
        html! {
            p { "Hello," }
            p { "Someone just tried to create a Ticketing account with this email address, which already has one. Nothing was changed." }
            p { "If it was you, " a href=(site) { "sign in" } " with your password instead." }
            p { "If it was not you, you can ignore this mail; your account is safe." }
        },
    );
    Mail {
        subject: "Someone tried to sign up with your address".to_owned(),
        text,
        html,
        attachments: Vec::new(),
    }
}

/// The password-reset mail: a link to `{PUBLIC_URL}/reset-password` with
/// the token, which works once, for `ttl`.
pub fn password_reset(public_url: &str, name: &str, token: &str, ttl: Duration) -> Mail {
    let link = format!("{public_url}/reset-password?token={token}");
    let valid = lifetime(ttl);
    let text = format!(
        "Hello {name},\n\n\
         Someone asked to reset the password of your Ticketing account. \
         To choose a new password, open this link:\n\n\
         {link}\n\n\
         The link works once, for {valid}. Setting a new password signs you out \
         everywhere. If you did not ask for this, ignore this mail: your password \
         stays as it is.\n"
    );
    let html = frame(
        "Reset your password",
        html! {
            p { "Hello " (name) "," }
            p { "Someone asked to reset the password of your Ticketing account. To choose a new password, follow this link:" }
            p { a href=(link) { "Choose a new password" } }
            p { "Or open this address: " br; code { (link) } }
            p { "The link works once, for " (valid) ". Setting a new password signs you out everywhere. If you did not ask for this, ignore this mail: your password stays as it is." }
        },
    );
    Mail {
        subject: "Reset your password".to_owned(),
        text,
        html,
        attachments: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verification_mail_carries_the_link_in_both_parts() {
        let mail = verification(
            "https://tickets.example",
            "Ada <b>",
            "abc_-123",
            Duration::from_secs(86_400),
        );
        let link = "https://tickets.example/verify-email?token=abc_-123";
        assert!(mail.text.contains(link), "{}", mail.text);
        assert!(mail.text.contains("24 hours"));
        let html = mail.html.into_string();
        assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
        assert!(
            html.contains("Ada &lt;b&gt;"),
            "the name is escaped: {html}"
        );
    }

    #[test]
    fn the_someone_tried_mail_links_the_site_and_attaches_nothing() {
        let mail = someone_tried("https://tickets.example");
        assert!(
            mail.text.contains("https://tickets.example/"),
            "{}",
            mail.text
        );
        assert!(
            mail.html
                .into_string()
                .contains(r#"href="https://tickets.example/""#)
        );
        assert!(mail.attachments.is_empty());
    }

    #[test]
    fn the_password_reset_mail_carries_the_link_in_both_parts() {
        let mail = password_reset(
            "https://tickets.example",
            "Ada <b>",
            "abc_-123",
            Duration::from_secs(3_600),
        );
        assert_eq!(mail.subject, "Reset your password");
        let link = "https://tickets.example/reset-password?token=abc_-123";
        assert!(mail.text.contains(link), "{}", mail.text);
        assert!(mail.text.contains("1 hour"), "{}", mail.text);
        let html = mail.html.into_string();
        assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
        assert!(
            html.contains("Ada &lt;b&gt;"),
            "the name is escaped: {html}"
        );
    }
}
