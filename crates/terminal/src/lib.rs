//! The terminal side (T1-T8 as the phone sees them): online enrolment, the durable local
//! outbox, sales composed into chained receipts, and store-and-forward upload over mutual TLS.

pub mod authorisation;
pub mod client;
pub mod device;
pub mod enrol;
pub mod host;
pub mod outbox;
pub mod reprint;
pub mod resend;
pub mod sale;
pub mod settings;
pub mod slip;
pub mod sync;
pub mod ui;
