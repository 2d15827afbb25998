//! What the platform talks to: the database (`store`), the delivery channels (SMTP, SMPP, MM7,
//! the local folder), the key material in the data directory, TLS and metrics; and the shapes of setting values.

pub mod delivery;
pub mod keys;
pub mod listener;
pub mod metrics;
pub mod operator_certs;
pub mod secret;
pub mod setting;
pub mod store;
pub mod tls;
