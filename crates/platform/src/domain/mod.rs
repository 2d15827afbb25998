//! Domain rules with no I/O: what a staff credential is and how it is checked, what a login code
//! is and how often one may be asked for, what a delivery's channel, state and steps are, how a
//! typed amount filter reads in each currency, which carrier a number's SMS goes through and
//! what its text may say. The store applies these rules atomically and
//! decodes its rows into these types; services and the web edge name them.

pub mod amounts;
pub mod credentials;
pub mod delivery;
pub mod limits;
pub mod lineage;
pub mod login_codes;
pub mod pull_code;
pub mod sms_routing;
pub mod sms_templates;
