//! The HTTP edge: the JSON API (`api`, terminals and integrators) and the HTML portal
//! (`portal`, browsers), both thin over `crate::services`; `limits` holds the per-client
//! limiters they share.

pub mod api;
pub mod limits;
pub mod portal;
