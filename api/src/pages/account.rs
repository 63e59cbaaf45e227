//! The account pages: sign up, confirm the address, and forgotten
//! passwords. Each is a form that `/static/app.js` sends to the JSON
//! accounts API; none shows anything about a visitor.
//!
//! The two pages that mail links open carry their one-time token in the
//! query string. They are `no-store`, so no cache keeps a copy under a key
//! holding the token; the script reads the token, takes it out of the
//! address bar, and `Referrer-Policy` keeps it from leaving the site.

use axum::response::Response;
use maud::{Markup, html};

use super::{layout, page, shell};

/// One labelled input with the paragraph its error goes to.
fn field(id: &str, label: &str, kind: &str, autocomplete: &str, hint: Option<&str>) -> Markup {
    let error = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described = if hint.is_some() {
        format!("{hint_id} {error}")
    } else {
        error.clone()
    };
    html! {
        label for=(id) { (label) }
        @if let Some(hint) = hint { p.hint id=(hint_id) { (hint) } }
        input id=(id) type=(kind) name=(id) autocomplete=(autocomplete) required
            aria-describedby=(described);
        p.field-error id=(error) {}
    }
}

const PASSWORD_HINT: &str =
    "12 or more characters. A long phrase of unrelated words is strong and easy to remember.";

/// The sign-up page.
///
/// Name, address and password, sent to `POST /v1/accounts`; the answer
/// is the same whether or not the address has an account, and the mail
/// says which.
#[utoipa::path(get, path = "/signup", tag = "pages",
    responses((status = 200, description = "The page.", content_type = "text/html", body = String)))]
pub async fn signup_page() -> Response {
    shell(
        "Create an account",
        html! {
            h1 { "Create an account" }
            form #signup-form.account-form novalidate {
                (field("display_name", "Your name", "text", "name", None))
                (field("email", "Email address", "email", "email", None))
                (field("password", "Password", "password", "new-password", Some(PASSWORD_HINT)))
                button #signup-submit type="submit" { "Create account" }
                p #form-error.form-error role="alert" {}
            }
            div #signup-done hidden role="status" {}
            p { "Already have an account? " a href="/login" { "Sign in" } }
        },
    )
}

/// The page a verification mail's link opens.
///
/// Sends the link's token to `POST /v1/accounts/verify` and says whether
/// the address is confirmed. `no-store`.
#[utoipa::path(get, path = "/verify-email", tag = "pages",
    responses((status = 200, description = "The page. `no-store`.", content_type = "text/html",
        body = String)))]
pub async fn verify_email_page() -> Response {
    page(
        layout(
            "Confirm your address",
            html! {
                h1 { "Confirm your address" }
                p #verify-status role="status" { "Confirming your address…" }
                p #verify-next hidden { a href="/login" { "Sign in" } }
            },
        ),
        "no-store",
        &[],
    )
}

/// The forgotten-password page.
///
/// Sends an address to `POST /v1/password-resets`; the answer is the same
/// whether or not it has an account.
#[utoipa::path(get, path = "/forgot-password", tag = "pages",
    responses((status = 200, description = "The page.", content_type = "text/html", body = String)))]
pub async fn forgot_password_page() -> Response {
    shell(
        "Forgot your password",
        html! {
            h1 { "Forgot your password?" }
            p { "Give the address you signed up with: we mail it a link to choose a new password." }
            form #forgot-form.account-form novalidate {
                (field("email", "Email address", "email", "email", None))
                button #forgot-submit type="submit" { "Send the link" }
                p #form-error.form-error role="alert" {}
            }
            div #forgot-done hidden role="status" {}
        },
    )
}

/// The page a password-reset mail's link opens.
///
/// A new password, sent with the link's token to
/// `POST /v1/password-resets/complete`; every earlier session ends.
/// `no-store`.
#[utoipa::path(get, path = "/reset-password", tag = "pages",
    responses((status = 200, description = "The page. `no-store`.", content_type = "text/html",
        body = String)))]
pub async fn reset_password_page() -> Response {
    page(
        layout(
            "Choose a new password",
            html! {
                h1 { "Choose a new password" }
                form #reset-form.account-form novalidate {
                    (field("password", "New password", "password", "new-password", Some(PASSWORD_HINT)))
                    button #reset-submit type="submit" { "Set the new password" }
                    p #form-error.form-error role="alert" {}
                }
                div #reset-done hidden role="status" {
                    p { "Your password is changed, and every device that was signed in is signed out." }
                    p { a href="/login" { "Sign in with the new password" } }
                }
            },
        ),
        "no-store",
        &[],
    )
}
