//! Domain rules with no I/O: what a staff credential is and how it is checked, what a login code
//! is and how often one may be asked for. The store applies these rules atomically; services and
//! the web edge name them.

pub mod credentials;
pub mod login_codes;
