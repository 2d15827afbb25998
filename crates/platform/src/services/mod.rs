//! The platform's use cases, each over the narrow dependencies it needs (store, keys, clock, its
//! own settings), knowing nothing of HTTP or HTML: the JSON API and the portal are two edges
//! over these.

pub mod chain;
pub mod crl;
pub mod customer_login;
pub mod delivery;
pub mod ingest;
pub mod lineage;
pub mod links;
pub mod operators;
pub mod retention;
pub mod settlement;
pub mod staff;
pub mod staff_enrolment;
pub mod staff_login;
pub mod terminals;
pub mod verification;
