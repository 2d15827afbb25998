//! The management platform (T6-T8 on the receiving side, P1): online enrolment of terminals,
//! encrypted upload over mutual TLS, verification, storage on SQLite or PostgreSQL, the query
//! API. A library with a thin `main` in the `ereceipt` binary.

pub mod accounts;
pub mod app;
pub mod chain;
pub mod delivery;
pub mod http;
pub mod ingest;
pub mod keys;
pub mod metrics;
pub mod otp;
pub mod pg_cluster;
pub mod portal;
pub mod settings;
pub mod state;
pub mod store;
pub mod terminals;
#[cfg(any(test, feature = "test-peers"))]
#[doc(hidden)]
pub mod testing;
pub mod tls;
pub mod users;
pub mod verification;
