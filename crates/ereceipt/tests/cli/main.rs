//! Command-line tests of `ereceipt`: the real binary run on files in temporary directories,
//! checking exit codes, messages and written files as a user of the tool meets them.

// A failed unwrap in a test is a test failure with a backtrace, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod annotate;
mod authorisations;
mod bundle;
mod ca;
mod create;
mod demo;
mod evidence;
mod faults;
mod helpers;
mod pngfile;
mod sample;
mod slides;
mod users;
mod verify;
