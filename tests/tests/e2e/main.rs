//! End-to-end tests: real Postgres, real Redis, real service processes.

mod accounts;
mod admin;
mod api_keys;
mod booking;
mod catalog;
mod hardening;
mod images;
mod indexer;
mod notifications;
mod pages;
mod passwords;
mod processes;
mod ratelimits;
mod schema;
mod search;
mod search_api;
mod services;
mod totp;
mod web;
mod web_sessions;
