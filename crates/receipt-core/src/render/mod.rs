//! Drawing the slip: a bilevel canvas, text and layout, the QR code, and PNG/JPEG at the edge.

pub mod canvas;
pub mod decode;
pub mod png;
pub mod qr;
pub mod slip;
pub mod text;
