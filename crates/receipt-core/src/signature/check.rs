//! Is this plausibly a signature? Rejects nothing, a dot, and scribbles too small to be one,
//! with a reason the cashier can read out (English and Chinese).

use serde::{Deserialize, Serialize};

use super::data::Signature;

/// Thresholds for [`Signature::check`], in CSS pixels of the signing area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureRules {
    /// A signature whose points all fit in a square this wide is a dot.
    pub dot_size_px: u32,
    /// Smallest bounding box width.
    pub min_width_px: u32,
    /// Smallest bounding box height.
    pub min_height_px: u32,
    /// Fewest points (signature_pad drops points closer than 5 px, so this is low).
    pub min_points: usize,
    /// Shortest total pen-down travel.
    pub min_path_length_px: u32,
}

impl Default for SignatureRules {
    fn default() -> Self {
        Self { dot_size_px: 5, min_width_px: 40, min_height_px: 10, min_points: 8, min_path_length_px: 60 }
    }
}

/// Why a signature was not accepted. `Display` is the English message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureRejected {
    /// Nothing was drawn.
    #[error("{}", self.message_en())]
    Empty,
    /// Every point lies within a few pixels: a tap, not a signature.
    #[error("{}", self.message_en())]
    Dot,
    /// The bounding box is below the minimum size.
    #[error("{}", self.message_en())]
    TooSmall { width_px: u32, height_px: u32, min_width_px: u32, min_height_px: u32 },
    /// Fewer points than the rules ask for.
    #[error("{}", self.message_en())]
    TooFewPoints { points: usize, min_points: usize },
    /// The pen travelled less than the rules ask for.
    #[error("{}", self.message_en())]
    TooShort { length_px: u32, min_length_px: u32 },
    /// Over a storage limit (strokes, points or duration): the pen was kept on the pad far too long.
    #[error("{}", self.message_en())]
    TooLarge,
}

impl SignatureRejected {
    /// The reason in English, for the cashier's screen.
    pub fn message_en(&self) -> String {
        match self {
            Self::Empty => "No signature was drawn. Please ask the cardholder to sign.".into(),
            Self::Dot => "The signature is only a dot. Please ask the cardholder to sign in full.".into(),
            Self::TooSmall { width_px, height_px, min_width_px, min_height_px } => format!(
                "The signature is too small ({width_px}×{height_px} px, at least \
                 {min_width_px}×{min_height_px} px needed). Please ask the cardholder to sign larger."
            ),
            Self::TooFewPoints { points, min_points } => format!(
                "The signature is too simple ({points} points, at least {min_points} needed). \
                 Please ask the cardholder to sign in full."
            ),
            Self::TooShort { length_px, min_length_px } => format!(
                "The signature is too short ({length_px} px of pen travel, at least \
                 {min_length_px} px needed). Please ask the cardholder to sign in full."
            ),
            Self::TooLarge => "The signature took too long or has too many strokes. \
                 Please clear it and ask the cardholder to sign again."
                .into(),
        }
    }

    /// The reason in Simplified Chinese, for the cashier's screen.
    pub fn message_zh(&self) -> String {
        match self {
            Self::Empty => "未检测到签名，请持卡人签名。".into(),
            Self::Dot => "签名只是一个点，请持卡人完整签名。".into(),
            Self::TooSmall { width_px, height_px, min_width_px, min_height_px } => format!(
                "签名太小（{width_px}×{height_px} 像素，至少需要 \
                 {min_width_px}×{min_height_px} 像素），请持卡人签大一些。"
            ),
            Self::TooFewPoints { points, min_points } => {
                format!("签名过于简单（{points} 个点，至少需要 {min_points} 个），请持卡人完整签名。")
            }
            Self::TooShort { length_px, min_length_px } => {
                format!("签名笔画太短（{length_px} 像素，至少需要 {min_length_px} 像素），请持卡人完整签名。")
            }
            Self::TooLarge => "签名时间过长或笔画过多，请清除后让持卡人重新签名。".into(),
        }
    }
}

impl Signature {
    /// Accepts a plausible signature; otherwise says why not. Checks run from the most to the
    /// least obvious problem, so the cashier hears the most useful reason.
    pub fn check(&self, rules: &SignatureRules) -> Result<(), SignatureRejected> {
        let Some((x0, y0, x1, y1)) = self.bounding_box() else {
            return Err(SignatureRejected::Empty);
        };
        // Sizes in whole CSS pixels; i64 because a hand-built signature may span all of i32.
        let width_px = ((i64::from(x1) - i64::from(x0)) / 10) as u32;
        let height_px = ((i64::from(y1) - i64::from(y0)) / 10) as u32;
        if width_px <= rules.dot_size_px && height_px <= rules.dot_size_px {
            return Err(SignatureRejected::Dot);
        }
        if width_px < rules.min_width_px || height_px < rules.min_height_px {
            return Err(SignatureRejected::TooSmall {
                width_px,
                height_px,
                min_width_px: rules.min_width_px,
                min_height_px: rules.min_height_px,
            });
        }
        let points = self.point_count();
        if points < rules.min_points {
            return Err(SignatureRejected::TooFewPoints { points, min_points: rules.min_points });
        }
        let length = self.path_length_px();
        if length < f64::from(rules.min_path_length_px) {
            return Err(SignatureRejected::TooShort {
                length_px: length as u32,
                min_length_px: rules.min_path_length_px,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::data::{SignaturePoint, Stroke};
    use super::*;

    /// A signature from (x, y) pairs in whole CSS pixels, one stroke, 10 ms apart.
    pub(crate) fn stroke_px(points: &[(i32, i32)]) -> Signature {
        let points = points
            .iter()
            .enumerate()
            .map(|(i, &(x, y))| SignaturePoint { x: x * 10, y: y * 10, t: i as u32 * 10, pressure: 500 })
            .collect();
        Signature { started_at_ms: 1_000, strokes: vec![Stroke { points }] }
    }

    fn zigzag(width: i32, height: i32, n: i32) -> Signature {
        let pts: Vec<(i32, i32)> = (0..n).map(|i| (i * width / (n - 1), if i % 2 == 0 { 0 } else { height })).collect();
        stroke_px(&pts)
    }

    #[test]
    fn accepts_a_plausible_signature() {
        assert_eq!(zigzag(200, 60, 12).check(&SignatureRules::default()), Ok(()));
    }

    #[test]
    fn rejects_empty_dot_small_simple_and_short() {
        let rules = SignatureRules::default();
        assert_eq!(Signature::default().check(&rules), Err(SignatureRejected::Empty));
        assert_eq!(stroke_px(&[(100, 100), (103, 102), (101, 104)]).check(&rules), Err(SignatureRejected::Dot));
        assert!(matches!(
            zigzag(30, 30, 12).check(&rules),
            Err(SignatureRejected::TooSmall { width_px: 30, height_px: 30, .. })
        ));
        assert!(matches!(zigzag(200, 2, 12).check(&rules), Err(SignatureRejected::TooSmall { .. })));
        assert_eq!(zigzag(200, 60, 4).check(&rules), Err(SignatureRejected::TooFewPoints { points: 4, min_points: 8 }));
        let strict = SignatureRules { min_path_length_px: 10_000, ..rules };
        assert!(matches!(zigzag(200, 60, 12).check(&strict), Err(SignatureRejected::TooShort { .. })));
    }

    #[test]
    fn messages_read_in_both_languages() {
        let r = SignatureRejected::TooSmall { width_px: 30, height_px: 8, min_width_px: 40, min_height_px: 10 };
        assert_eq!(
            r.to_string(),
            "The signature is too small (30×8 px, at least 40×10 px needed). \
             Please ask the cardholder to sign larger."
        );
        assert!(r.message_zh().contains("30×8"));
        for r in [SignatureRejected::Empty, SignatureRejected::Dot, SignatureRejected::TooLarge] {
            assert!(!r.message_en().is_empty() && !r.message_zh().is_empty());
            assert!(!r.message_en().contains("  "), "{}", r.message_en());
        }
    }
}
