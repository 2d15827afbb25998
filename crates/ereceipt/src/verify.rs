//! `ereceipt verify`: offline verification of a receipt image.

use std::path::Path;

use anyhow::{Context, Result};
use ereceipt_core::annotate::{annotate, AnnotateError};
use ereceipt_core::identity::pem_decode;
use ereceipt_core::render::png;
use ereceipt_core::verify::{verify_image, Verdict, Verification};

use crate::files;

/// Returns the exit code: 0 authentic, 1 tampered, 2 unverifiable.
/// With `annotated`, also writes the picture of the verdict there.
pub fn run(image: &Path, trust: &Path, json: bool, annotated: Option<&Path>) -> Result<i32> {
    let anchor = pem_decode(&files::read_text(trust)?, "CERTIFICATE")
        .with_context(|| format!("trust anchor {}", trust.display()))?;
    let bytes = files::read_limited(image);
    let v = match &bytes {
        Ok(bytes) => verify_image(bytes, &anchor),
        Err(e) => Verification::unverifiable(format!("unreadable file: {e:#}")),
    };
    if json {
        say!("{}", serde_json::to_string(&v)?);
    } else {
        print_text(&v);
    }
    if let Some(out) = annotated {
        write_annotated(bytes.as_deref().ok(), &v, out)?;
    }
    Ok(v.verdict.exit_code())
}

/// Writes the receipt with its verdict drawn on it. An image that cannot be pictured (not
/// decodable, or of no receipt size) gets a note on stderr and no file: the verdict already
/// says it is unverifiable. A missing font is an error, as for `receipt create`.
fn write_annotated(bytes: Option<&[u8]>, v: &Verification, out: &Path) -> Result<()> {
    let decoded = match bytes.map(png::decode) {
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            eprintln!("no annotated picture: {e}");
            return Ok(());
        }
        None => {
            eprintln!("no annotated picture: the image could not be read");
            return Ok(());
        }
    };
    let fonts = files::load_fonts(None)?;
    let picture = match annotate(&decoded.canvas, v, &fonts) {
        Ok(p) => p,
        Err(e @ AnnotateError::Size(..)) => {
            eprintln!("no annotated picture: {e}");
            return Ok(());
        }
        Err(e) => return Err(e).context("cannot draw the annotated picture"),
    };
    files::write_replace(out, &picture)
}

fn print_text(v: &Verification) {
    let word = match v.verdict {
        Verdict::Authentic => "AUTHENTIC",
        Verdict::Tampered => "TAMPERED",
        Verdict::Unverifiable => "UNVERIFIABLE",
    };
    say!("{word}: {}", v.reason);
    say!("feature value {} (threshold {})", v.feature, v.threshold);
    if let Some(r) = &v.receipt {
        say!("receipt {} — {} {} minor units {} at {}", r.id, r.merchant_name, r.amount_minor, r.currency, r.time);
    }
    if let Some(s) = &v.signer {
        say!("signer {} (issuer {}, serial {})", s.subject, s.issuer, s.serial);
    }
    for r in &v.regions {
        say!("altered region x={} y={} w={} h={}", r.x, r.y, r.w, r.h);
    }
}
