//! Pictures on the pages and the availability badge of a card.
//!
//! Every card and performer page loads its picture from the image routes
//! ([`crate::images`]): the route answers the admin's https URL by a
//! redirect, or the generated poster, so a page never needs to know which
//! (search hits carry only the event's id). The picture is decorative:
//! the title (or the performer's name) is the text right next to it, so
//! `alt=""` keeps a screen reader from reading the name twice.

use maud::{Markup, html};

use super::SaleState;

/// Fewer tickets than this left, on sale: "Only N left".
pub const FEW_LEFT: i64 = 20;

/// An event card's picture.
pub fn event_picture(event_id: i64) -> Markup {
    html! {
        img.card-img src={ "/v1/events/" (event_id) "/image" } alt="" width="600" height="400"
            loading="lazy" decoding="async";
    }
}

/// A performer page's picture.
pub fn performer_picture(performer_id: i64) -> Markup {
    html! {
        img #performer-img .hero-img src={ "/v1/performers/" (performer_id) "/image" } alt=""
            width="600" height="400" decoding="async";
    }
}

/// The badge of a card: the sale state, or "Only N left" while on sale
/// with fewer than [`FEW_LEFT`] tickets (`available`, when known).
pub fn badge(state: SaleState, zone: &str, available: Option<i64>) -> Markup {
    match available {
        Some(n) if state == SaleState::OnSale && (1..FEW_LEFT).contains(&n) => html! {
            span.badge data-state="few-left" { "Only " (n) " left" }
        },
        _ => html! {
            span.badge data-state=(state.key()) { (state.label(zone)) }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_left_only_while_on_sale() {
        let few = badge(SaleState::OnSale, "UTC", Some(3)).into_string();
        assert!(
            few.contains(r#"data-state="few-left">Only 3 left<"#),
            "{few}"
        );
        let plenty = badge(SaleState::OnSale, "UTC", Some(FEW_LEFT)).into_string();
        assert!(plenty.contains(">On sale now<"), "{plenty}");
        let out = badge(SaleState::SoldOut, "UTC", Some(0)).into_string();
        assert!(out.contains(">Sold out<"), "{out}");
        let unknown = badge(SaleState::OnSale, "UTC", None).into_string();
        assert!(unknown.contains(">On sale now<"), "{unknown}");
    }
}
