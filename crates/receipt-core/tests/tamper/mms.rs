//! The MMS channel (issue 14, "MMS that still verifies"). Corpus receipts (sales and refunds,
//! short and long merchant names, both widths) go as the MM7 composer sends them, the slides of
//! `render::slides`, and for contrast as the whole slip in one image (what was sent before),
//! through the channel simulator `crates/test-peers/src/mms_adapt.py` (Pillow; written from the
//! published limits, not from our code) in each content class, and are verified after. The same
//! receipts with one amount digit replaced on the signed slip before sending must be caught.
//!
//! `cargo test --release -p ereceipt-core --test tamper -- mms --nocapture` prints the table;
//! `TAMPER_MMS=n` sets the number of receipts (default 30).

use std::io::Write as _;
use std::process::{Command, Stdio};

use ereceipt_core::render::canvas::Canvas;
use ereceipt_core::render::{png, slides};
use ereceipt_core::verify::{verify_image, verify_slides, Verdict, Verification};
use serde_json::{json, Value};

use crate::attacks::{paste_same_place, receipt_png, top_cluster};
use crate::corpus::{self, make, Authority, Spec};
use crate::tools::{mms_adapt_script, python, Workdir};
use crate::{par_map, Ctx};

const DEFAULT_RECEIPTS: usize = 30;

/// One content class as the simulator applies it.
struct Class {
    name: &'static str,
    /// The simulator's settings (box or longest side, budget, mode).
    manifest: fn() -> Value,
    /// Whether the slides must all verify in it (the target); where no full-resolution layout
    /// can survive, the row is measured and explained instead.
    slides_survive: bool,
}

const CLASSES: [Class; 4] = [
    Class {
        name: "640×480, 100 KB, handset (adapts what exceeds)",
        manifest: || json!({"box": [640, 480], "budget": 100 * 1024, "mode": "handset"}),
        slides_survive: true,
    },
    Class {
        name: "640×480, 100 KB, MMSC (every image to JPEG)",
        manifest: || json!({"box": [640, 480], "budget": 100 * 1024, "mode": "transcoder"}),
        slides_survive: false,
    },
    Class {
        name: "640×480, 300 KB, MMSC (every image to JPEG)",
        manifest: || json!({"box": [640, 480], "budget": 300 * 1024, "mode": "transcoder"}),
        slides_survive: true,
    },
    Class {
        name: "1024 px, 280 KB, Signal (every image to JPEG)",
        manifest: || json!({"longest": 1024, "budget": 280 * 1024, "mode": "transcoder"}),
        slides_survive: true,
    },
];

/// The two layouts sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Slides,
    Whole,
}

/// One receipt as sent: genuine and edited, each in both layouts (file names in the workdir).
struct Sent {
    seed: u64,
    refund: bool,
    /// [genuine, edited] × the layout's file names.
    slides: [Vec<String>; 2],
    whole: [String; 2],
    /// Bytes of the slides as sent (what an MMSC counts, without SMIL and text).
    slides_bytes: usize,
}

/// What the simulator did to one message and the verdict after it.
struct Outcome {
    verdict: Verdict,
    reason: String,
    quality: Option<u64>,
    scale: f64,
}

/// `spec`'s receipt with the yuan digit of its amount replaced by another receipt's pixels (a
/// genuine rendering of another digit, same size), or `None` when no such variant keeps the size.
fn amount_edit(spec: Spec, ctx: &Ctx, a: &Canvas) -> Option<Canvas> {
    let amount = corpus::amount_of(spec.seed);
    let digit = amount / 100 % 10;
    [5, 3, 7, 1, 9].into_iter().map(|k| (digit + k) % 10).filter(|&d| !(amount < 1000 && d == 0)).find_map(|d| {
        let other = Spec { amount_minor: Some(amount - digit * 100 + d * 100), ..spec };
        let alt = make(other, &ctx.real.terminals[spec.terminal()], &ctx.fonts).ok()?.receipt.image;
        (alt.height() == a.height()).then(|| {
            let mut e = a.clone();
            paste_same_place(&mut e, &alt, top_cluster(a, &alt));
            e
        })
    })
}

fn prepare(i: usize, ctx: &Ctx, dir: &Workdir) -> Sent {
    let seed = i as u64;
    let spec = Spec { refund: i % 3 == 1, ..Spec::corpus(seed) };
    let made = make(spec, &ctx.real.terminals[spec.terminal()], &ctx.fonts).unwrap();
    let r = &made.receipt;
    let edited = amount_edit(spec, ctx, &r.image).expect("no amount variant of the same size");
    let mut slides_bytes = 0;
    let mut write_slides = |tag: &str, img: &Canvas| -> Vec<String> {
        slides::cut_canvas(img)
            .iter()
            .enumerate()
            .map(|(k, band)| {
                let name = format!("r{seed}-{tag}-s{k}.png");
                let bytes = png::encode(band, None).unwrap();
                if tag == "g" {
                    slides_bytes += bytes.len();
                }
                dir.write(&name, &bytes);
                name
            })
            .collect()
    };
    let slides = [write_slides("g", &r.image), write_slides("e", &edited)];
    let whole = [format!("r{seed}-g-whole.png"), format!("r{seed}-e-whole.png")];
    dir.write(&whole[0], &r.png);
    dir.write(&whole[1], &receipt_png(&edited, Some(&r.qr_text)));
    Sent { seed, refund: spec.refund, slides, whole, slides_bytes }
}

/// Runs the simulator over every message in `class`; the adapted file paths and what it did.
fn adapt(class: &Class, dir: &Workdir, messages: &[(String, Vec<String>)]) -> Vec<Value> {
    let mut manifest = (class.manifest)();
    manifest["messages"] = messages
        .iter()
        .map(|(out, parts)| {
            let parts: Vec<String> = parts.iter().map(|p| dir.path(p).display().to_string()).collect();
            json!({"parts": parts, "out": dir.path(out).display().to_string()})
        })
        .collect();
    let mut child = Command::new(python())
        .arg(mms_adapt_script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(manifest.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "mms_adapt.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), messages.len(), "one answer per message");
    lines
}

fn judge(done: &Value, layout: Layout, ctx: &Ctx) -> Outcome {
    let files: Vec<Vec<u8>> =
        done["parts"].as_array().unwrap().iter().map(|p| std::fs::read(p.as_str().unwrap()).unwrap()).collect();
    let anchor = &ctx.real.ca.cert_der;
    let v: Verification = match layout {
        Layout::Slides => verify_slides(&files.iter().map(Vec::as_slice).collect::<Vec<_>>(), anchor),
        Layout::Whole => verify_image(&files[0], anchor),
    };
    Outcome {
        verdict: v.verdict,
        reason: v.reason,
        quality: done["quality"].as_u64(),
        scale: done["scale"].as_f64().unwrap(),
    }
}

/// One row of the table: a class and a layout, over the corpus.
struct Row {
    class: usize,
    layout: Layout,
    /// [genuine, edited] outcomes per receipt.
    outcomes: Vec<[Outcome; 2]>,
}

impl Row {
    fn verified(&self) -> usize {
        self.outcomes.iter().filter(|o| o[0].verdict == Verdict::Authentic).count()
    }
    fn caught(&self) -> usize {
        self.outcomes.iter().filter(|o| o[1].verdict != Verdict::Authentic).count()
    }
    /// The range of JPEG qualities the genuine messages went out at, and the smallest scale.
    fn adaptation(&self) -> String {
        let q: Vec<u64> = self.outcomes.iter().filter_map(|o| o[0].quality).collect();
        let scale = self.outcomes.iter().map(|o| o[0].scale).fold(1.0, f64::min);
        let q = match (q.iter().min(), q.iter().max()) {
            (Some(lo), Some(hi)) if lo == hi => format!("JPEG q{lo}"),
            (Some(lo), Some(hi)) => format!("JPEG q{lo}–{hi}"),
            _ => "unchanged".into(),
        };
        let some = self.outcomes.iter().filter(|o| o[0].quality.is_some()).count();
        let q =
            if some > 0 && some < self.outcomes.len() { format!("{q} ({some} of {})", self.outcomes.len()) } else { q };
        if scale < 1.0 {
            format!("{q}, scaled to {scale:.2}")
        } else {
            q
        }
    }
}

fn table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| class | layout | adapted to | verify (authentic) | one-digit amount edit caught |\n|---|---|---|---:|---:|\n",
    );
    for r in rows {
        let n = r.outcomes.len();
        let layout = if r.layout == Layout::Slides { "slides" } else { "whole slip" };
        let pct = |k: usize| format!("{k}/{n} ({:.0}%)", 100.0 * k as f64 / n.max(1) as f64);
        t.push_str(&format!(
            "| {} | {layout} | {} | {} | {} |\n",
            CLASSES[r.class].name,
            r.adaptation(),
            pct(r.verified()),
            pct(r.caught())
        ));
    }
    t
}

#[test]
fn mms_channel() {
    let n: usize = std::env::var("TAMPER_MMS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_RECEIPTS);
    let started = std::time::Instant::now();
    let ctx = Ctx { fonts: corpus::fonts(), real: Authority::new("Test Root"), rogue: Authority::new("Test Root") };
    let dir = Workdir::new();
    let sent: Vec<Sent> = par_map(n, |i| prepare(i, &ctx, &dir));
    // Every message of every class, then the simulator once per class (the classes side by side).
    let mut messages = Vec::new();
    for s in &sent {
        for (e, tag) in ["g", "e"].iter().enumerate() {
            messages.push((Layout::Slides, e, format!("r{}-{tag}-slides", s.seed), s.slides[e].clone()));
            messages.push((Layout::Whole, e, format!("r{}-{tag}-whole-out", s.seed), vec![s.whole[e].clone()]));
        }
    }
    let answers: Vec<Vec<Value>> = std::thread::scope(|scope| {
        let runs: Vec<_> = CLASSES
            .iter()
            .enumerate()
            .map(|(c, class)| {
                let list: Vec<(String, Vec<String>)> =
                    messages.iter().map(|(_, _, out, parts)| (format!("c{c}-{out}"), parts.clone())).collect();
                let dir = &dir;
                scope.spawn(move || adapt(class, dir, &list))
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let adapted = started.elapsed();
    let mut rows = Vec::new();
    for (c, answers) in answers.iter().enumerate() {
        for layout in [Layout::Slides, Layout::Whole] {
            let picked: Vec<&Value> =
                messages.iter().zip(answers).filter(|((l, ..), _)| *l == layout).map(|(_, a)| a).collect();
            let judged: Vec<Outcome> = par_map(picked.len(), |i| judge(picked[i], layout, &ctx));
            let mut it = judged.into_iter();
            let outcomes = (0..sent.len()).map(|_| [it.next().unwrap(), it.next().unwrap()]).collect();
            rows.push(Row { class: c, layout, outcomes });
        }
    }

    let sizes: Vec<usize> = sent.iter().map(|s| s.slides_bytes).collect();
    let refunds = sent.iter().filter(|s| s.refund).count();
    println!("\n{}", table(&rows));
    println!(
        "- {n} receipts ({refunds} refunds; 4 terminals, long merchant names among them; one in five 384 px wide), \
         slides as sent: {}–{} bytes per receipt, {}–{} slides",
        sizes.iter().min().unwrap(),
        sizes.iter().max().unwrap(),
        sent.iter().map(|s| s.slides[0].len()).min().unwrap(),
        sent.iter().map(|s| s.slides[0].len()).max().unwrap(),
    );
    println!("- simulator {:.1} s, suite {:.1} s\n", adapted.as_secs_f64(), started.elapsed().as_secs_f64());

    let mut problems = Vec::new();
    for r in &rows {
        let class = &CLASSES[r.class];
        for (s, o) in sent.iter().zip(&r.outcomes) {
            if o[1].verdict == Verdict::Authentic {
                problems.push(format!("{}: edited receipt {} verified as authentic", class.name, s.seed));
            }
            if r.layout == Layout::Slides && class.slides_survive && o[0].verdict != Verdict::Authentic {
                problems
                    .push(format!("{}: slides of receipt {} {:?}: {}", class.name, s.seed, o[0].verdict, o[0].reason));
            }
        }
    }
    assert!(problems.is_empty(), "MMS evaluation failed:\n{}", problems.join("\n"));
}
