//! The management platform.
pub mod pg_cluster;
pub mod store;
