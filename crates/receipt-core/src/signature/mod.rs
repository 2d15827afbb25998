//! The cardholder's handwritten signature (feature T2): captured as a time series, kept in the
//! receipt record as chargeback evidence, checked for plausibility and drawn on the receipt.

mod capture;
mod check;
mod data;
mod error;
mod json;
mod limits;
mod render;

pub use capture::{CaptureConfig, CaptureState, SignatureCapture};
pub use check::{SignatureRejected, SignatureRules};
pub use data::{
    Signature, SignaturePoint, Stroke, DEFAULT_PRESSURE, MAX_COORDINATE_PX, MAX_DURATION_MS, MAX_POINTS, MAX_STROKES,
};
pub use error::SignatureError;
pub use render::{render, StrokeStyle};
