//! The peers the delivery tests talk to, shared by this crate's tests and those of other crates
//! (feature `test-peers`): a real SMTP server (aiosmtpd), an SMSC and an MMSC stand-in on loopback.

// Test peers fail the test loudly on anything that breaks the protocol: that is their job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod mmsc;
pub mod smsc;
pub mod smtp;
