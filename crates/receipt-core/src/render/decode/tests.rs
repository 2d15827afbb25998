//! Refusal classes, one test each, on files crafted with the `png` crate, by hand-written
//! chunks and with markers inserted into JPEG files; plus the decoder against the png crate.
