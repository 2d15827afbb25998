//! End-to-end tests of the platform with real terminals, in their own crate because they need
//! both `ereceipt-platform` and `ereceipt-terminal` (neither may depend on the other). The code
//! is in `tests/platform/`: one test binary, one harness (`helpers.rs`, `web.rs`). This library
//! is empty; it exists because Cargo wants a target besides the tests.
