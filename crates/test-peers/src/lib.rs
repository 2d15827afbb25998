//! Independent peers for ereceipt's tests and benchmarks, kept out of the product: a real SMTP
//! server (aiosmtpd), a MIME reader (Python's `email`), a real SMSC over TLS (node-smpp), an
//! SMSC and an MMSC stand-in on loopback (plain or TLS, with a CA of their own), SMGP 3.0, CMPP
//! 3.0 and SGIP 1.2 gateways (Python `struct`), an ISO 8583 acquirer host (pyiso8583), a
//! wiretap, a throwaway PostgreSQL cluster, and a small filesystem to fill up. None of them uses
//! ereceipt code, so none can share a mistake with what it checks.

// The protocol peers fail the test loudly on anything that breaks the protocol: that is their
// job. The PostgreSQL cluster reports errors instead, as the benchmark uses it too.
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod carrier_gateway;
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod iso_host;
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod journal;
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod mime;
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod mmsc;
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod node;
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod node_smsc;
pub mod pg_cluster;
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod sgip;
pub mod small_fs;
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod smsc;
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod smtp;
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod tap;
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod tls;
