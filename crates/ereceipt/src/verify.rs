//! `ereceipt verify`: offline verification of a receipt image.

use std::path::Path;

use anyhow::{Context, Result};
use ereceipt_core::identity::pem_decode;
use ereceipt_core::verify::{verify_image, Verdict, Verification};

use crate::files;

/// Returns the exit code: 0 authentic, 1 tampered, 2 unverifiable.
pub fn run(image: &Path, trust: &Path, json: bool) -> Result<i32> {
    let anchor = pem_decode(&files::read_text(trust)?, "CERTIFICATE")
        .with_context(|| format!("trust anchor {}", trust.display()))?;
    let v = match files::read_limited(image) {
        Ok(bytes) => verify_image(&bytes, &anchor),
        Err(e) => Verification::unverifiable(format!("unreadable file: {e:#}")),
    };
    if json {
        say!("{}", serde_json::to_string(&v)?);
    } else {
        print_text(&v);
    }
    Ok(v.verdict.exit_code())
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
