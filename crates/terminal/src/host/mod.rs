//! The link to an acquirer's host over ISO 8583 (UnionPay-style POS profile): the pure codec
//! (layout, bitmap, fields, framing, MAC, working keys, response codes) that the network link uses.

pub mod bitmap;
pub mod codec;
pub mod codes;
pub mod frame;
pub mod keys;
pub mod layout;
pub mod mac;
