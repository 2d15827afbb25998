//! The real image tools the adversarial and benign-tools sets run, as a forger or an ordinary
//! user would: Pillow and oxipng (PyPI, in the venv `scripts/install-deps` makes, driven by
//! `forge.py`), ImageMagick, optipng, pngcrush and libjpeg-turbo's cjpeg (Debian). Each works
//! on files in a temporary directory. Self-contained (only std and `png`), so the browser test
//! in crates/testkit includes this file too.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The workspace root (this file is in crates/receipt-core/tests/tamper/).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The MMS channel simulator among the test peers.
pub fn mms_adapt_script() -> PathBuf {
    workspace().join("crates/test-peers/src/mms_adapt.py")
}

/// `forge.py`, beside this file.
fn forge_script() -> PathBuf {
    workspace().join("crates/receipt-core/tests/tamper/forge.py")
}

/// The venv's python with Pillow and pyoxipng (`$EReceipt_TEST_VENV`, else the workspace's
/// `target/test-venv`); panics saying how to install them.
pub fn python() -> PathBuf {
    let venv =
        std::env::var_os("EReceipt_TEST_VENV").map_or_else(|| workspace().join("target/test-venv"), PathBuf::from);
    let python = venv.join("bin/python");
    let ok = Command::new(&python).args(["-c", "import PIL, oxipng"]).output().is_ok_and(|o| o.status.success());
    assert!(ok, "{python:?} with Pillow and pyoxipng is missing: run scripts/install-deps");
    python
}

/// Debian's ImageMagick by its path: another `convert` may come first on PATH.
pub const CONVERT: &str = "/usr/bin/convert";

/// A temporary directory the tools read from and write to, by file name; removed on drop.
pub struct Workdir {
    dir: PathBuf,
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Default for Workdir {
    fn default() -> Self {
        Self::new()
    }
}

impl Workdir {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ereceipt-forge-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).unwrap();
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("{name} was not made: {e}"))
    }

    /// Runs `program` with `args` (file names are relative to the directory); panics with its
    /// output when it fails.
    pub fn run(&self, program: &str, args: &[&str]) {
        let out = Command::new(program)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program} ({e}): run scripts/install-deps"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Makes the files `names` with `forge.py` from genuine.png, altered.png and mask.png
    /// (see [`Workdir::prepare`]).
    pub fn forge(&self, python: &Path, names: &[&str]) {
        let dir = self.dir.to_string_lossy().into_owned();
        let script = forge_script().to_string_lossy().into_owned();
        let mut args = vec![script.as_str(), dir.as_str()];
        args.extend_from_slice(names);
        self.run(&python.to_string_lossy(), &args);
    }

    /// Writes what `forge.py` reads: the genuine file, the altered slip, and the mask of the
    /// edit (see [`edit_mask`]).
    pub fn prepare(&self, genuine_png: &[u8], altered: &Grey, mask: &Grey) {
        self.write("genuine.png", genuine_png);
        self.write("altered.png", &altered.png());
        self.write("mask.png", &mask.png());
    }

    /// Keeps the directory's files in `to` (for looking at the forgeries).
    pub fn keep(&self, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(&self.dir).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A greyscale image, independent of the core's types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grey {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl Grey {
    pub fn at(&self, x: u32, y: u32) -> u8 {
        self.pixels[(y * self.width + x) as usize]
    }

    pub fn set(&mut self, x: u32, y: u32, v: u8) {
        self.pixels[(y * self.width + x) as usize] = v;
    }

    /// An 8-bit greyscale PNG (by the `png` crate).
    pub fn png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.width, self.height);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header().unwrap().write_image_data(&self.pixels).unwrap();
        out
    }

    /// Binary PGM (P5) or, with `rgb`, PPM (P6, r = g = b), as cjpeg reads them.
    pub fn pnm(&self, rgb: bool) -> Vec<u8> {
        let mut out = format!("{}\n{} {}\n255\n", if rgb { "P6" } else { "P5" }, self.width, self.height).into_bytes();
        if rgb {
            out.extend(self.pixels.iter().flat_map(|&v| [v, v, v]));
        } else {
            out.extend_from_slice(&self.pixels);
        }
        out
    }

    /// Any PNG as the `png` crate expands it, reduced to its first channel (grey or red) with
    /// alpha ignored: what is drawn, for images whose channels agree.
    pub fn decode_png(bytes: &[u8]) -> Grey {
        let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
        dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0u8; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut buf).unwrap();
        let channels = frame.color_type.samples();
        let pixels = buf[..frame.buffer_size()].chunks_exact(channels).map(|c| c[0]).collect();
        Grey { width: frame.width, height: frame.height, pixels }
    }
}

/// Mask values `forge.py` reads: ink the edit adds, ink it removes, faint strokes placed in
/// blank blocks; anything else is unchanged.
pub const ADD: u8 = 0;
pub const REMOVE: u8 = 128;
pub const FAINT: u8 = 64;

fn ink(v: u8) -> bool {
    v < 128
}

/// The mask of an edit (`genuine` → `altered`), plus the added strokes copied once more as
/// faint strokes into blank 8×8 blocks of the same rows, to the left, found by shifting in
/// whole blocks until every block they touch (grown by one block) holds no ink.
pub fn edit_mask(genuine: &Grey, altered: &Grey) -> Grey {
    let (w, h) = (genuine.width, genuine.height);
    let mut mask = Grey { width: w, height: h, pixels: vec![255; genuine.pixels.len()] };
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        for x in 0..w {
            let (g, a) = (ink(genuine.at(x, y)), ink(altered.at(x, y)));
            if g != a {
                mask.set(x, y, if a { ADD } else { REMOVE });
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            }
        }
    }
    assert!(x1 > x0, "the edit changes no ink");
    let blank = |bx0: u32, by0: u32, bx1: u32, by1: u32| {
        (by0..by1.min(h)).all(|y| (bx0..bx1.min(w)).all(|x| !ink(genuine.at(x, y))))
    };
    let (gx0, gy0) = ((x0 / 8).saturating_sub(1) * 8, (y0 / 8).saturating_sub(1) * 8);
    let (gx1, gy1) = ((x1.div_ceil(8) + 1) * 8, (y1.div_ceil(8) + 1) * 8);
    let shift = (1..=gx0 / 8).map(|k| k * 8).find(|&dx| blank(gx0 - dx, gy0, gx1 - dx, gy1));
    let dx = shift.unwrap_or_else(|| panic!("no blank blocks left of the edit at ({x0}, {y0})"));
    for y in y0..y1 {
        for x in x0..x1 {
            if mask.at(x, y) == ADD {
                mask.set(x - dx, y, FAINT);
            }
        }
    }
    mask
}

/// The golden fixture's amount "RMB 128.50" with its "2" replaced by a copy of its "8"
/// ("188.50"): the glyph boxes were read off the fixture (rows 912..952; "2" at x 438..462,
/// "8" at x 465..489).
pub fn golden_edit(genuine: &Grey) -> Grey {
    let mut altered = genuine.clone();
    for y in 912..952 {
        for x in 436..464 {
            altered.set(x, y, 255);
        }
        for x in 465..489 {
            let v = genuine.at(x, y);
            altered.set(x - 27, y, if ink(v) { 0 } else { 255 });
        }
    }
    altered
}

/// Offsets of the restart markers (RST0..RST7) in a JPEG's entropy-coded data.
pub fn restart_markers(jpeg: &[u8]) -> Vec<usize> {
    let sos = jpeg.windows(2).position(|m| m == [0xff, 0xda]).expect("no SOS");
    let len = usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
    (sos + 2 + len..jpeg.len() - 1).filter(|&i| jpeg[i] == 0xff && (0xd0..=0xd7).contains(&jpeg[i + 1])).collect()
}
