//! The management platform.
pub mod store;
