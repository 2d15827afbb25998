//! `ereceipt verify`: offline verification of a receipt image (or of an MMS receipt's slides),
//! optionally with the platform's evidence (when it stored the receipt) and its CRL (which
//! signers are revoked).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ereceipt_core::annotate::{annotate, AnnotateError};
use ereceipt_core::evidence::EvidenceFile;
use ereceipt_core::identity::pem_decode;
use ereceipt_core::render::canvas::Canvas;
use ereceipt_core::render::png;
use ereceipt_core::revocation::Revocations;
use ereceipt_core::verify::{verify_slides_with, Stored, TimeBasis, TimeFacts, Verification};

use crate::files;

/// What to check the image against.
pub struct Trust<'a> {
    /// The platform's CA certificate (PEM).
    pub ca: &'a Path,
    /// The platform's evidence file for this receipt.
    pub evidence: Option<&'a Path>,
    /// The platform's CRL (DER or PEM, from its `/crl`).
    pub crl: Option<&'a Path>,
}

/// Verifies against the CA alone; returns the exit code (see [`run_with`]).
pub fn run(image: &Path, ca: &Path, json: bool, annotated: Option<&Path>) -> Result<i32> {
    run_with(&[image.to_path_buf()], &Trust { ca, evidence: None, crl: None }, json, annotated)
}

/// Verifies one image, or several as the slides of one receipt (top to bottom); returns the
/// exit code: 0 authentic, 1 tampered, 2 unverifiable, 4 unconfirmed. With `annotated`, also
/// writes the picture of the verdict there.
pub fn run_with(images: &[PathBuf], trust: &Trust<'_>, json: bool, annotated: Option<&Path>) -> Result<i32> {
    let anchor = pem_decode(&files::read_text(trust.ca)?, "CERTIFICATE")
        .with_context(|| format!("trust anchor {}", trust.ca.display()))?;
    let revocations = match trust.crl {
        Some(path) => Some(
            Revocations::from_crl(&files::read_limited(path)?, &anchor)
                .with_context(|| format!("revocation list {}", path.display()))?,
        ),
        None => None,
    };
    // Evidence that does not verify is not an error of the command: the verdict then rests on
    // the terminal's claimed time, and says why.
    let mut evidence_warning = None;
    let stored = match trust.evidence {
        Some(path) => match EvidenceFile::parse(&files::read_limited(path)?).and_then(|e| e.verify(&anchor)) {
            Ok(ack) => Stored::from(&ack),
            Err(e) => {
                evidence_warning = Some(format!("the evidence {} was not used: {e}", path.display()));
                Stored::Unknown
            }
        },
        None => Stored::Unknown,
    };
    let facts = TimeFacts { stored, revocations: revocations.as_ref() };
    let bytes: Result<Vec<Vec<u8>>> = images.iter().map(|path| files::read_limited(path)).collect();
    let mut v = match &bytes {
        Ok(bytes) => verify_slides_with(&bytes.iter().map(Vec::as_slice).collect::<Vec<_>>(), &anchor, &facts),
        Err(e) => Verification::unverifiable(format!("unreadable file: {e:#}")),
    };
    v.warnings.splice(0..0, evidence_warning);
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

/// The picture of one image, or of slides stacked top to bottom.
fn picture_of(images: &[Vec<u8>]) -> Result<Canvas, String> {
    let mut canvases = images.iter().map(|b| png::decode(b).map(|d| d.canvas).map_err(|e| e.to_string()));
    let first = canvases.next().ok_or("no image")??;
    let (width, mut height, mut pixels) = (first.width(), first.height(), first.into_pixels());
    for c in canvases {
        let c = c?;
        if c.width() != width {
            return Err(format!("slides of {width} and {} px wide", c.width()));
        }
        height += c.height();
        pixels.extend_from_slice(c.pixels());
    }
    Canvas::from_pixels(width, height, pixels).ok_or_else(|| "slides do not make one image".to_owned())
}

/// Writes the receipt with its verdict drawn on it. An image that cannot be pictured (not
/// decodable, or of no receipt size) gets a note on stderr and no file: the verdict already
/// says it is unverifiable. A missing font is an error, as for `receipt create`.
fn write_annotated(bytes: Option<&[Vec<u8>]>, v: &Verification, out: &Path) -> Result<()> {
    let canvas = match bytes.map(picture_of) {
        Some(Ok(c)) => c,
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
    let picture = match annotate(&canvas, v, &fonts) {
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
    say!("{}: {}", v.verdict.word(), v.reason);
    say!("feature value {} (threshold {})", v.feature, v.threshold);
    if let Some(r) = &v.receipt {
        say!("receipt {} — {} {} minor units {} at {}", r.id, r.merchant_name, r.amount_minor, r.currency, r.time);
        // A sale's lines are as they always were; any other kind says what it is and refers to.
        if r.kind != ereceipt_core::model::TransactionType::Sale.code() {
            say!("type {}", r.kind);
        }
        if let Some(o) = &r.original {
            say!("original {}", o.summary);
        }
    }
    if let Some(c) = &v.claims {
        say!("authorised {}", crate::receipt::authorised(c.authorisation));
    }
    if let Some(s) = &v.signer {
        say!("signer {} (issuer {}, serial {})", s.subject, s.issuer, s.serial);
    }
    if let Some(at) = &v.judged_at {
        match v.time_basis {
            TimeBasis::PlatformEvidence => say!("time: stored by the platform at {at} (platform evidence)"),
            TimeBasis::TerminalClaim => say!("time: {at} is the terminal's claim (no platform evidence)"),
        }
    }
    for r in &v.regions {
        say!("altered region x={} y={} w={} h={}", r.x, r.y, r.w, r.h);
    }
    for w in &v.warnings {
        say!("warning: {w}");
    }
}
