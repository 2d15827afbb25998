//! A greyscale drawing surface (one byte per pixel, 0 = ink, 255 = paper).
//! Receipts are drawn bilevel (only 0 and 255) so that their content survives JPEG.

/// Paper white.
pub const PAPER: u8 = 255;
/// Thermal ink black.
pub const INK: u8 = 0;

/// An 8-bit greyscale image in row-major order.
#[derive(Clone, PartialEq, Eq)]
pub struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl std::fmt::Debug for Canvas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Canvas({}x{})", self.width, self.height)
    }
}

impl Canvas {
    /// A blank (all paper) canvas.
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height, pixels: vec![PAPER; (width as usize) * (height as usize)] }
    }

    /// Wraps existing pixels; `None` when the buffer does not match the size.
    pub fn from_pixels(width: u32, height: u32, pixels: Vec<u8>) -> Option<Self> {
        ((width as usize) * (height as usize) == pixels.len()).then_some(Self { width, height, pixels })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    pub fn pixels_mut(&mut self) -> &mut [u8] {
        &mut self.pixels
    }

    pub fn into_pixels(self) -> Vec<u8> {
        self.pixels
    }

    /// The pixel at (x, y), or `None` outside the canvas.
    pub fn get(&self, x: i64, y: i64) -> Option<u8> {
        self.index(x, y).map(|i| self.pixels[i])
    }

    /// Sets one pixel; coordinates outside the canvas are ignored (clipping).
    pub fn set(&mut self, x: i64, y: i64, value: u8) {
        if let Some(i) = self.index(x, y) {
            self.pixels[i] = value;
        }
    }

    /// Fills an axis-aligned rectangle, clipped to the canvas.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, value: u8) {
        let x0 = x.max(0);
        let y0 = y.max(0);
        let x1 = (x + w).min(self.width as i64);
        let y1 = (y + h).min(self.height as i64);
        for yy in y0..y1 {
            for xx in x0..x1 {
                self.set(xx, yy, value);
            }
        }
    }

    /// Fills a disc of radius `r` centred on (cx, cy) in sub-pixel coordinates: a pixel is inked
    /// when its centre lies inside the disc, so the result stays bilevel.
    pub fn fill_disc(&mut self, cx: f32, cy: f32, r: f32, value: u8) {
        let r = r.max(0.5);
        let x0 = (cx - r).floor() as i64;
        let x1 = (cx + r).ceil() as i64;
        let y0 = (cy - r).floor() as i64;
        let y1 = (cy + r).ceil() as i64;
        let r2 = r * r;
        for y in y0..=y1 {
            for x in x0..=x1 {
                let dx = x as f32 + 0.5 - cx;
                let dy = y as f32 + 0.5 - cy;
                if dx * dx + dy * dy <= r2 {
                    self.set(x, y, value);
                }
            }
        }
    }

    /// Copies `src` onto this canvas with its top-left corner at (x, y), clipped; only ink
    /// pixels of `src` (value < 128) are copied, so blits compose like ink on paper.
    pub fn blit_ink(&mut self, src: &Canvas, x: i64, y: i64) {
        for sy in 0..src.height as i64 {
            for sx in 0..src.width as i64 {
                if let Some(v) = src.get(sx, sy) {
                    if v < 128 {
                        self.set(x + sx, y + sy, v);
                    }
                }
            }
        }
    }

    fn index(&self, x: i64, y: i64) -> Option<usize> {
        (x >= 0 && y >= 0 && x < self.width as i64 && y < self.height as i64)
            .then(|| (y as usize) * (self.width as usize) + x as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disc_is_bilevel_and_round() {
        let mut c = Canvas::new(20, 20);
        c.fill_disc(10.0, 10.0, 4.0, INK);
        assert!(c.pixels().iter().all(|&p| p == INK || p == PAPER));
        assert_eq!(c.get(10, 10), Some(INK));
        assert_eq!(c.get(0, 0), Some(PAPER));
        let inked = c.pixels().iter().filter(|&&p| p == INK).count();
        // area of a radius-4 disc is ~50 px
        assert!((40..=60).contains(&inked), "{inked}");
    }

    #[test]
    fn drawing_outside_is_clipped() {
        let mut c = Canvas::new(4, 4);
        c.fill_rect(-10, -10, 12, 12, INK);
        c.set(100, 100, INK);
        assert_eq!(c.get(1, 1), Some(INK));
        assert_eq!(c.get(2, 2), Some(PAPER));
    }
}
