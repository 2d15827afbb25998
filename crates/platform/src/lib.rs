//! The management platform (T6-T8 on the receiving side, P1-P5): online enrolment of terminals,
//! encrypted upload over mutual TLS, verification, storage on SQLite or PostgreSQL, delivery,
//! the portal and the query API. A library with a thin `main` in the `ereceipt` binary.
//!
//! # Layout
//! The folders are the layers; each may use only those below it:
//! - [`app`], [`settings`]: composition. `App::build` wires everything from the typed
//!   settings; nothing below imports them.
//! - [`web`]: the HTTP edge, `web::api` (JSON) and `web::portal` (HTML) over the services, with
//!   the state their handlers share (`web::state`).
//! - [`services`]: the use cases (ingest, verification, delivery worker, terminals, staff,
//!   chain report), free of HTTP.
//! - [`infra`]: the store, delivery channels, keys, TLS, metrics.
//! - [`domain`]: rules and types with no I/O.

pub mod app;
pub mod domain;
pub mod infra;
pub mod services;
pub mod settings;
pub mod web;
