//! The terminal side.
