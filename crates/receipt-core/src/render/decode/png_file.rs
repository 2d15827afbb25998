//! What the PNG container walk hands the pixel decoder: the header and the chunks it needs, and
//! the first refusal met on the way (a leaf both `png` and `png_pixels` use).

use super::refusal::Refusal;

/// What IHDR says.
#[derive(Clone, Copy, Debug)]
pub(super) struct Header {
    pub width: u32,
    pub height: u32,
    pub depth: u8,
    pub colour: u8,
    pub interlaced: bool,
}

impl Header {
    pub(super) fn channels(&self) -> usize {
        match self.colour {
            2 => 3,
            4 => 2,
            6 => 4,
            _ => 1,
        }
    }
}

/// The chunks the pixel decoder needs, and the first refusal found on the way.
pub(super) struct PngFile<'a> {
    pub header: Header,
    pub palette: Option<&'a [u8]>,
    pub trns: Option<&'a [u8]>,
    pub idat: Vec<&'a [u8]>,
    pub payload: Option<String>,
    pub refusal: Option<Refusal>,
}
