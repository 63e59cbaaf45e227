//! The demo catalog: venues in real cities with seat maps (theatres, arenas,
//! stadiums), performers, twelve months of events, ticket types and seat
//! inventory for the events on sale.
//!
//! [`generate`] is pure and deterministic for a given [`Spec`];
//! [`load`] bulk-loads a catalog with binary `COPY` through tokio-postgres.

mod generate;
mod load;
mod places;

pub use generate::{
    Catalog, Category, Event, Performer, Seat, SeatRow, Section, Spec, TicketType, User, Venue,
    VenueKind, generate,
};
pub use load::{LoadError, LoadReport, load, materialize_open_inventory};
pub use places::{CITIES, City};
