//! Drawing the slip: a bilevel canvas, text and layout, the QR code, and PNG/JPEG at the edge.

/// The `tEXt` keyword under which a receipt PNG carries its QR payload (written by `png`, read
/// by `decode`).
pub const TEXT_KEYWORD: &str = "ereceipt";

pub mod canvas;
pub mod decode;
pub mod png;
pub mod qr;
pub mod slides;
pub mod slip;
pub mod text;
