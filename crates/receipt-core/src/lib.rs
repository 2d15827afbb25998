//! The receipt core shared by the terminal and the platform: card capture, signature capture,
//! the canonical receipt record, rendering, signing, the watermark and offline verification,
//! and the signed settlement slip.
//! Pure logic: no file or network I/O, no async, no clock (time is always passed in).

pub mod annotate;
pub mod bundle;
pub mod card;
pub mod claims;
pub mod compose;
pub mod contract;
pub mod digest;
pub mod encoding;
pub mod enrolment;
pub mod evidence;
pub mod identity;
pub mod model;
mod prng;
pub mod render;
pub mod revocation;
pub mod samples;
pub mod settlement;
pub mod signature;
pub mod txjson;
pub mod upload;
pub mod verify;
pub mod watermark;
