//! End-to-end tests: real Postgres, real Redis, real service processes.

mod admin;
mod booking;
mod catalog;
mod indexer;
mod pages;
mod processes;
mod schema;
mod search;
mod search_api;
mod services;
mod web;
