//! What an authentic receipt file may not contain, one variant per class of the policy, each
//! naming the chunk, marker or property (docs/verification.md, "tolerance per format", explains why).

use std::fmt;

/// A PNG chunk type, shown as its four letters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ChunkName(pub [u8; 4]);

impl fmt::Display for ChunkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for ChunkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// A structure or pixel property that viewers may render differently from what is checked, or
/// that only a forger or an exotic tool writes. The message names it in the policy's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    // ---- PNG ----
    /// A critical chunk other than IHDR, PLTE, IDAT, IEND.
    #[error("unknown critical chunk {0}: decoders that know it may show other pixels")]
    UnknownCritical(ChunkName),
    /// acTL, fcTL or fdAT.
    #[error("animated PNG ({0}): browsers show its animation frames, not the image that was checked")]
    Animated(ChunkName),
    /// iCCP, cICP, mDCv or cLLi.
    #[error("colour management chunk {0}: colour-managed viewers show other grey levels")]
    ColourManaged(ChunkName),
    /// gAMA other than sRGB's.
    #[error("gAMA {0} is not sRGB's 45455: colour-managed viewers show other grey levels")]
    Gamma(u32),
    /// cHRM other than sRGB's primaries.
    #[error("cHRM primaries are not sRGB's: colour-managed viewers show other colours")]
    Chromaticities,
    /// tRNS that makes a colour the image uses transparent.
    #[error("tRNS makes {0} transparent: viewers show whatever lies behind it")]
    Transparency(String),
    /// A pixel with alpha below opaque.
    #[error("alpha {alpha} at pixel ({x}, {y}): viewers show whatever lies behind it")]
    Alpha { x: u32, y: u32, alpha: u16 },
    /// A pixel (or a used palette entry) that is not neutral grey.
    #[error("colour at pixel ({x}, {y}): the slip is grey, so a viewer would show something the check ignores")]
    Colour { x: u32, y: u32 },
    /// A used palette entry that is not neutral grey.
    #[error("colour in palette entry {0}: the slip is grey, so a viewer would show something the check ignores")]
    PaletteColour(u8),
    /// 16-bit samples that are not 8-bit ones widened.
    #[error("16-bit sample at pixel ({x}, {y}) is not an 8-bit level widened (v*257)")]
    Wide16 { x: u32, y: u32 },
    /// sBIT that declares fewer significant bits than the samples hold.
    #[error("sBIT declares fewer significant bits than the samples hold")]
    SignificantBits,
    /// EXIF orientation other than 1 in a PNG eXIf chunk.
    #[error("eXIf orientation {0}: viewers rotate or mirror the image")]
    PngOrientation(u16),
    /// The image data is not one zlib stream of exactly the size IHDR implies in consecutive
    /// IDAT chunks.
    #[error("IDAT: {0}")]
    ImageData(&'static str),
    /// A chunk whose CRC does not match.
    #[error("corrupt file: CRC mismatch in chunk {0}")]
    Crc(ChunkName),
    /// Bytes after IEND.
    #[error("{0} bytes after IEND")]
    AfterIend(usize),
    /// An ancillary chunk outside the allow-list.
    #[error("ancillary chunk {0} is not on the allow-list of what ordinary tools write")]
    Chunk(ChunkName),
    /// A chunk where it may not be (e.g. a second IHDR, PLTE after IDAT).
    #[error("chunk {0} out of order or repeated")]
    Order(ChunkName),
    /// A palette index beyond the entries of PLTE (decoders disagree on its colour).
    #[error("palette index {0} beyond the entries of PLTE")]
    PaletteIndex(u8),
    /// More chunks or segments than any genuine file has.
    #[error("more than {0} chunks or segments")]
    TooManyChunks(usize),
    /// Text chunks larger than a receipt needs.
    #[error("text chunks of more than {0} bytes")]
    Text(usize),

    // ---- JPEG ----
    /// Arithmetic coding (SOF9-11, SOF13-15, DAC).
    #[error("arithmetic coding (marker FF{0:02X}): not every viewer decodes it")]
    Arithmetic(u8),
    /// Lossless JPEG (SOF3).
    #[error("lossless JPEG (SOF3): not every viewer decodes it")]
    Lossless,
    /// Hierarchical JPEG (SOF5-7, DHP, EXP).
    #[error("hierarchical JPEG (marker FF{0:02X}): not every viewer decodes it")]
    Hierarchical(u8),
    /// Four components: CMYK or YCCK.
    #[error("CMYK/YCCK JPEG (4 components): viewers convert it to colours differently")]
    Cmyk,
    /// A component count other than 1 or 3, or sample precision other than 8 bits.
    #[error("JPEG frame of {0}")]
    Frame(String),
    /// Adobe APP14 stating a transform other than the standard one.
    #[error("Adobe APP14 transform {0} is not the standard one: viewers convert its colours differently")]
    Adobe(u8),
    /// APP2 ICC_PROFILE.
    #[error("ICC profile (APP2): colour-managed viewers show other grey levels")]
    IccProfile,
    /// APP2 MPF.
    #[error("MPF (APP2): the file holds several images and viewers may show another one")]
    Mpf,
    /// EXIF orientation other than 1 in APP1.
    #[error("EXIF orientation {0}: viewers rotate or mirror the image")]
    JpegOrientation(u16),
    /// XMP orientation other than 1.
    #[error("XMP orientation {0}: viewers may rotate or mirror the image")]
    XmpOrientation(char),
    /// EXIF that cannot be read (so its orientation is unknown).
    #[error("EXIF that cannot be read: its orientation and thumbnail are unknown")]
    Exif,
    /// A thumbnail (EXIF IFD1, JFIF, JFXX): file browsers and mail clients show it instead.
    #[error("thumbnail ({0}): file browsers and mail clients show it instead of the image")]
    Thumbnail(&'static str),
    /// RST markers out of sequence, missing or without DRI.
    #[error("restart markers: {0}")]
    Restart(String),
    /// Bytes after EOI (e.g. a second image appended).
    #[error("{0} bytes after EOI")]
    AfterEoi(usize),
    /// Quantisation coarser than quality 70: too lossy to bound its noise.
    #[error(
        "quantisation table {table} is coarser than quality 70 (entry {entry}: {value} > {limit}): too lossy to check"
    )]
    Quality { table: u8, entry: usize, value: u16, limit: u16 },
    /// A marker or APP segment outside the allow-list, or where it may not be.
    #[error("JPEG {0} is not on the allow-list of what ordinary encoders write")]
    Segment(String),
    /// Chroma sampled finer than luma (the grey levels would be interpolated).
    #[error("JPEG sampling: luma is subsampled, viewers interpolate it differently")]
    Sampling,
}
