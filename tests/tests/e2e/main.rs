//! End-to-end tests: real Postgres, real Redis, real service processes.

mod accounts;
mod admin;
mod booking;
mod catalog;
mod hardening;
mod indexer;
mod pages;
mod processes;
mod ratelimits;
mod schema;
mod search;
mod search_api;
mod services;
mod web;
