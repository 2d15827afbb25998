//! The legend band above an annotated receipt: the verdict in English and Chinese on the
//! verdict's colour, the reason or the number of altered areas, and what the red box means.

use super::{Style, BAND, BAND_TEXT, GREYS, OUTLINE, STRIP, STRIP_TEXT, TINTED};
use crate::render::canvas::{Canvas, INK};
use crate::render::text::{Fonts, RenderError, TextStyle};
use crate::verify::Verdict;

/// Lines of the reason shown at most; a longer reason ends in an ellipsis (the full text is
/// printed beside the picture anyway).
const MAX_REASON_LINES: usize = 3;

/// The band as palette indices, `width` px wide, as many rows as its text needs.
pub(super) fn draw(
    width: u32,
    verdict: Verdict,
    reason: &str,
    areas: usize,
    style: &Style,
    fonts: &Fonts,
) -> Result<Vec<u8>, RenderError> {
    let heading = match verdict {
        Verdict::Authentic => "AUTHENTIC  真实",
        Verdict::Tampered => "TAMPERED  已篡改",
        Verdict::Unverifiable => "UNVERIFIABLE  无法验证",
        Verdict::Unconfirmed => "UNCONFIRMED  未能确认",
    };
    let body = TextStyle::regular(style.body);
    let text_width = (i64::from(width) - 2 * style.pad).max(1) as u32;
    let mut lines: Vec<String> = match (verdict, areas) {
        (Verdict::Authentic, _) => vec!["Signed by the terminal and unaltered".into(), "终端签名，内容未被改动".into()],
        (Verdict::Tampered, n) if n > 0 => vec![
            format!("Altered in {n} place{}, outlined in red", if n == 1 { "" } else { "s" }),
            format!("{n} 处内容被改动，已用红框标出"),
        ],
        (Verdict::Tampered, _) => reason_lines(reason, body, text_width, fonts, "图片或签名数据被改动")?,
        (Verdict::Unverifiable, _) => reason_lines(reason, body, text_width, fonts, "无法确认这张签购单的真伪")?,
        (Verdict::Unconfirmed, _) => {
            reason_lines(reason, body, text_width, fonts, "签名终端的证书已被吊销，无法确认签购单是否早于吊销")?
        }
    };
    // Wrap the fixed lines too: at narrow widths the Chinese may not fit on one line.
    let mut wrapped = Vec::new();
    for line in lines.drain(..) {
        wrapped.extend(fonts.wrap(&line, body, text_width)?);
    }

    let head = TextStyle::bold(style.heading);
    let (head_h, body_h) = (line_height(fonts, head), line_height(fonts, body));
    let band_h = 2 * style.pad + head_h + style.pad / 2 + body_h * wrapped.len() as i64;
    let mut mask = Canvas::new(width, band_h as u32);
    let mut y = style.pad;
    fonts.draw_top(&mut mask, style.pad, y, heading, head)?;
    y += head_h + style.pad / 2;
    for line in &wrapped {
        fonts.draw_top(&mut mask, style.pad, y, line, body)?;
        y += body_h;
    }
    let mut px: Vec<u8> = mask.pixels().iter().map(|&p| if p == INK { BAND_TEXT } else { BAND }).collect();
    if verdict == Verdict::Tampered && areas > 0 {
        px.extend(key_strip(width, style, fonts)?);
    }
    Ok(px)
}

/// A light strip under the band: a sample of the outline, then what it means.
fn key_strip(width: u32, style: &Style, fonts: &Fonts) -> Result<Vec<u8>, RenderError> {
    let body = TextStyle::regular(style.body);
    let body_h = line_height(fonts, body);
    let strip_h = body_h + style.pad;
    let mut mask = Canvas::new(width, strip_h as u32);
    let (sw, sh) = (i64::from(style.body) * 2, i64::from(style.body));
    let text_x = style.pad + sw + style.pad;
    fonts.draw_top(&mut mask, text_x, style.pad / 2, "altered content  被改动的内容", body)?;
    let mut px: Vec<u8> = mask.pixels().iter().map(|&p| if p == INK { STRIP_TEXT } else { STRIP }).collect();
    let (row, s) = (width as usize, i64::from(style.stroke));
    let top = (strip_h - sh) / 2;
    for y in top..top + sh {
        for x in style.pad..style.pad + sw {
            let edge = y < top + s || y >= top + sh - s || x < style.pad + s || x >= style.pad + sw - s;
            if let Some(p) = px.get_mut(y as usize * row + x as usize) {
                *p = if edge { OUTLINE } else { TINTED + GREYS - 1 };
            }
        }
    }
    Ok(px)
}

/// Line pitch for text in `style`: the font's line box plus a little leading.
fn line_height(fonts: &Fonts, style: TextStyle) -> i64 {
    i64::from(fonts.line_height(style.size) + style.size / 6)
}

/// The reason wrapped to at most [`MAX_REASON_LINES`], then a Chinese summary line.
/// Characters no loaded font has are shown as `?` rather than failing the whole picture.
fn reason_lines(
    reason: &str,
    style: TextStyle,
    width: u32,
    fonts: &Fonts,
    zh: &str,
) -> Result<Vec<String>, RenderError> {
    let mut text: String =
        reason.chars().map(|c| if fonts.check(c.encode_utf8(&mut [0; 4])).is_ok() { c } else { '?' }).collect();
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    let mut lines = fonts.wrap(&text, style, width)?;
    if lines.len() > MAX_REASON_LINES {
        lines.truncate(MAX_REASON_LINES);
        let ellipsis = if fonts.check("…").is_ok() { "…" } else { "..." };
        if let Some(last) = lines.last_mut() {
            while !last.is_empty() && fonts.measure_styled(&format!("{last}{ellipsis}"), style)? > width {
                last.pop();
            }
            last.push_str(ellipsis);
        }
    }
    lines.push(zh.to_owned());
    Ok(lines)
}
