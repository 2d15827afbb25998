//! Just enough PNG to craft test images by hand: split a file into chunks, rebuild it with
//! correct CRCs, and write a plain white greyscale image (stored, uncompressed deflate).

pub const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// One chunk: its 4-letter type and its data.
#[derive(Clone, Debug)]
pub struct Chunk {
    pub kind: [u8; 4],
    pub data: Vec<u8>,
}

impl Chunk {
    pub fn new(kind: &[u8; 4], data: Vec<u8>) -> Self {
        Self { kind: *kind, data }
    }

    pub fn is(&self, kind: &[u8; 4]) -> bool {
        &self.kind == kind
    }
}

/// The chunks of a well-formed PNG.
pub fn chunks(png: &[u8]) -> Vec<Chunk> {
    assert!(png.starts_with(SIGNATURE), "not a PNG");
    let mut at = SIGNATURE.len();
    let mut out = Vec::new();
    while at < png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = png[at + 4..at + 8].try_into().unwrap();
        out.push(Chunk { kind, data: png[at + 8..at + 8 + len].to_vec() });
        at += 12 + len;
    }
    out
}

/// A PNG file of `chunks`, with their CRCs computed.
pub fn build(chunks: &[Chunk]) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    for c in chunks {
        out.extend_from_slice(&(c.data.len() as u32).to_be_bytes());
        out.extend_from_slice(&c.kind);
        out.extend_from_slice(&c.data);
        let mut crc_input = c.kind.to_vec();
        crc_input.extend_from_slice(&c.data);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    out
}

/// Width and height from the IHDR chunk.
pub fn size(png: &[u8]) -> (u32, u32) {
    let ihdr = chunks(png).into_iter().find(|c| c.is(b"IHDR")).expect("IHDR");
    (u32::from_be_bytes(ihdr.data[0..4].try_into().unwrap()), u32::from_be_bytes(ihdr.data[4..8].try_into().unwrap()))
}

/// A white 8-bit greyscale image of `width`×`height`, with `extra` chunks (e.g. a receipt's
/// `tEXt`) before the image data.
pub fn white_image(width: u32, height: u32, extra: &[Chunk]) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale, deflate, no filter, no interlace
    let mut raw = Vec::with_capacity(((width + 1) * height) as usize);
    for _ in 0..height {
        raw.push(0); // filter type None
        raw.extend(std::iter::repeat_n(255u8, width as usize));
    }
    let mut all = vec![Chunk::new(b"IHDR", ihdr)];
    all.extend_from_slice(extra);
    all.push(Chunk::new(b"IDAT", zlib_stored(&raw)));
    all.push(Chunk::new(b"IEND", Vec::new()));
    build(&all)
}

/// A zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len())); // BFINAL on the last, BTYPE 00
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn crc32_matches_the_png_specification() {
    // The CRC of an empty IEND chunk, as every PNG file ends with it.
    assert_eq!(crc32(b"IEND"), 0xae42_6082);
}
